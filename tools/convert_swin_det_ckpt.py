"""Convert a Swin detector checkpoint of Microsoft's Swin-Transformer-Object-
Detection (mmdet 2.x era) to mmdet 3.x keys.

    python tools/convert_swin_det_ckpt.py \\
        cascade_mask_rcnn_swin_tiny_patch4_window7.pth cascade_swin_t.pth \\
        --config configs/swin_t_cascade_mrcnn_w4a8.py

That repository's Swin backbone names its parts as the classification code
does (``layers.N.blocks.M.attn.qkv``, ``mlp.fc1``, ``patch_embed.proj``) and
orders the channels of its patch merging differently from mmdet 3.x's
``SwinTransformer`` (``stages.N.blocks.M.attn.w_msa.qkv``, ``ffn.layers``,
``patch_embed.projection``). The backbone is converted with mmdet's own
``swin_converter`` (the one its ``convert_weights=True`` applies to
classification checkpoints); necks and heads keep their names, which did not
change between mmdet 2.x and 3.x for (Cascade) Mask R-CNN. The optimizer
state is dropped; the class names move to ``meta['dataset_meta']``.

With ``--config`` the result is checked against the config's model (every
key present, every shape equal) before anything is written.
"""
import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2
BACKBONE_PREFIX = 'backbone.'


class ConversionError(ValueError):
    """The input is not a checkpoint this tool converts."""


def convert_state_dict(state_dict: dict) -> OrderedDict:
    """mmdet 2.x-era Swin detector weights -> mmdet 3.x keys.

    Args:
        state_dict (dict): The detector's weights; backbone keys start with
            ``backbone.layers`` / ``backbone.patch_embed``.

    Returns:
        OrderedDict: The weights under mmdet 3.x names.

    Raises:
        ConversionError: When the backbone is already in mmdet 3.x layout
            or holds no Swin keys.
    """
    from mmdet.models.backbones.swin import swin_converter
    backbone = OrderedDict(
        (key[len(BACKBONE_PREFIX):], value)
        for key, value in state_dict.items()
        if key.startswith(BACKBONE_PREFIX))
    if any(key.startswith('stages.') for key in backbone):
        raise ConversionError('the backbone is already in the mmdet 3.x '
                              'layout (backbone.stages.*): nothing to convert')
    if not any(key.startswith('layers.') for key in backbone):
        raise ConversionError(
            'no Swin backbone keys (backbone.layers.*) found; expected a '
            'checkpoint of Swin-Transformer-Object-Detection')
    converted = OrderedDict(
        (key, value) for key, value in state_dict.items()
        if not key.startswith(BACKBONE_PREFIX))
    # swin_converter returns its keys with the 'backbone.' prefix again.
    converted.update(swin_converter(backbone))
    return converted


def convert_meta(meta: dict) -> dict:
    """Keep plain provenance; mmdet 2.x's ``CLASSES`` becomes mmdet 3.x's
    ``dataset_meta['classes']``."""
    converted = {
        key: value
        for key, value in (meta or {}).items()
        if key in ('mmdet_version', 'mmcv_version', 'epoch', 'iter')
    }
    converted = {key: str(value) for key, value in converted.items()}
    classes = (meta or {}).get('CLASSES')
    if classes is not None:
        converted['dataset_meta'] = dict(classes=tuple(classes))
    converted['converted_by'] = 'clamp_mm tools/convert_swin_det_ckpt.py'
    return converted


def load_checkpoint_dict(path: str) -> dict:
    """The checkpoint as a dict with ``state_dict`` (and ``meta``)."""
    import clamp_mm  # noqa: F401  torch.load allow-list for OpenMMLab files
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ConversionError(f'{path} holds a {type(checkpoint).__name__}, '
                              'expected a checkpoint dict')
    if 'state_dict' not in checkpoint:
        checkpoint = dict(state_dict=checkpoint)
    return checkpoint


def check_against_config(state_dict: dict, config: str) -> None:
    """Raise unless ``state_dict`` fits the model of ``config`` exactly."""
    import tempfile

    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    from clamp_mm.engine.checkpoint_check import check_checkpoint_fits
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, 'converted.pth')
        torch.save(dict(state_dict=state_dict), path)
        check_checkpoint_fits(model, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a Swin-Transformer-Object-Detection checkpoint '
        '(mmdet 2.x era) to mmdet 3.x keys')
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='where to write the converted one')
    parser.add_argument(
        '--config', help='check the result against this config\'s model '
        'before writing')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing DST')
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f'convert_swin_det_ckpt.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def main(argv=None) -> str:
    args = parse_args(argv)
    import torch
    if not osp.isfile(args.src):
        fail(f'{args.src} does not exist')
    if osp.exists(args.dst) and not args.force:
        fail(f'{args.dst} exists; pass --force to replace it')
    if args.config is not None and not osp.isfile(args.config):
        fail(f'config {args.config} does not exist')
    try:
        checkpoint = load_checkpoint_dict(args.src)
        state_dict = convert_state_dict(checkpoint['state_dict'])
        if args.config is not None:
            check_against_config(state_dict, args.config)
    except ValueError as error:  # ConversionError, CheckpointMismatchError
        fail(' '.join(str(error).split()))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(state_dict=state_dict, meta=convert_meta(checkpoint.get('meta'))),
        args.dst)
    print(f'wrote {len(state_dict)} tensors in mmdet 3.x layout to '
          f'{args.dst}')
    return args.dst


if __name__ == '__main__':
    main()
