"""The checkpoint layout of Microsoft's Swin-Transformer-Object-Detection
(mmdet 2.x era), made from mmdet 3.x weights: what
tools/convert_swin_det_ckpt.py reads (the inverse of its conversion)."""
import torch

# The key layout of that repository's SwinTransformer, from mmdet 3.x's.
NEW_TO_OLD = [('backbone.stages.', 'backbone.layers.'),
              ('.attn.w_msa.', '.attn.'),
              ('.ffn.layers.0.0.', '.mlp.fc1.'),
              ('.ffn.layers.1.', '.mlp.fc2.'),
              ('backbone.patch_embed.projection.',
               'backbone.patch_embed.proj.')]
# The original patch merging concatenates the 2x2 neighbours in the order
# (0,0), (1,0), (0,1), (1,1); mmdet's unfold in (0,0), (0,1), (1,0), (1,1).
MERGE_ORDER = [0, 2, 1, 3]


def to_old_layout(state_dict: dict) -> dict:
    """mmdet 3.x detector weights under the old names, with the old
    patch-merging channel order."""
    old = {}
    for key, value in state_dict.items():
        new_key = key
        for new, previous in NEW_TO_OLD:
            new_key = new_key.replace(new, previous)
        if '.downsample.reduction.' in key:
            out_channels, in_channels = value.shape
            value = value.reshape(out_channels, in_channels // 4, 4)
            value = value.transpose(1, 2)[:, MERGE_ORDER].reshape(
                out_channels, in_channels)
        elif '.downsample.norm.' in key:
            value = value.reshape(-1, 4).t()[MERGE_ORDER].reshape(-1)
        old[new_key] = value.clone()
    return old
