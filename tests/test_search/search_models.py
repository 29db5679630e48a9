"""Tiny models of every supported family, for the search tests.

Each factory returns ``(model, (height, width))`` or raises ``pytest.skip``
when the family's library or adapter is not available here, so the
parametrized tests grow with the adapters.
"""
import pytest
import torch


def _timm_vit():
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=32,
                             depth=2, num_heads=2, mlp_ratio=2,
                             num_classes=10), (32, 32)


def _timm_swin():
    from timm.models.swin_transformer import SwinTransformer
    return SwinTransformer(img_size=32, patch_size=4, window_size=4,
                           embed_dim=16, depths=(1, 1), num_heads=(1, 2),
                           num_classes=10), (32, 32)


def _mmpretrain_vit():
    from mmpretrain.models import ImageClassifier
    model = ImageClassifier(
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=32, patch_size=8),
        neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=10,
                  in_channels=32))
    return model, (32, 32)


def _mmpretrain_swin():
    from mmpretrain.models import ImageClassifier
    model = ImageClassifier(
        backbone=dict(type='SwinTransformer',
                      arch=dict(embed_dims=16, depths=[1, 1],
                                num_heads=[1, 2]),
                      img_size=32, patch_size=4, window_size=4,
                      out_indices=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    return model, (32, 32)


def _mmdet_swin():
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=16, depths=(1, 1), num_heads=(1, 2),
                           window_size=4, out_indices=(0, 1),
                           init_cfg=None), (32, 32)


def _mmseg_swin():
    from mmseg.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=16, depths=(1, 1), num_heads=(1, 2),
                           window_size=4, out_indices=(0, 1),
                           init_cfg=None), (32, 32)


def _mmseg_vit():
    from mmseg.models.backbones import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dims=32,
                             num_layers=2, num_heads=2, mlp_ratio=2,
                             out_indices=(1, ), init_cfg=None), (32, 32)


FACTORIES = dict(timm_vit=_timm_vit, timm_swin=_timm_swin,
                 mmpretrain_vit=_mmpretrain_vit,
                 mmpretrain_swin=_mmpretrain_swin, mmdet_swin=_mmdet_swin,
                 mmseg_swin=_mmseg_swin, mmseg_vit=_mmseg_vit)


def build_tiny(family: str, seed: int = 0):
    """A tiny eval-mode model of ``family`` with its adapter, or skip."""
    from clamp_mm.models import find_adapter
    torch.manual_seed(seed)
    try:
        model, size = FACTORIES[family]()
    except ImportError as error:
        pytest.skip(f'{family}: library not importable ({error})')
    model.eval()
    try:
        find_adapter(model)
    except TypeError as error:
        pytest.skip(f'{family}: no adapter yet ({error})')
    return model, size


def quantized_tiny(family: str, recipe=None, num_images: int = 4,
                   seed: int = 0):
    """A tiny model of ``family`` quantized and calibrated on noise.

    Returns:
        tuple: ``(float_model, quantized_model, images)``; the float model
        is an untouched copy (for reruns of the same search).
    """
    import copy

    from clamp_mm.search import initialise_from_observers
    model, (height, width) = build_tiny(family, seed)
    float_model = copy.deepcopy(model)
    images = torch.randn(num_images, 3, height, width,
                         generator=torch.Generator().manual_seed(seed))
    recipe = dict(weight_bits=4, act_bits=8) if recipe is None else recipe
    quantized = initialise_from_observers(model, images, recipe)
    return float_model, quantized, images


def quantizer_state(model):
    """``{name: (bits, scale, zero_point)}`` of every quantizer."""
    from clamp_mm.quant import iter_quantizers
    return {
        name: (q.bits, q.scale.clone(), q.zero_point.clone())
        for name, q in iter_quantizers(model)
    }


def fitness_through_model(model, images, block_name, block_input='fp',
                          kernel_size=3, temperature=0.2,
                          output_mae_weight=1.0):
    """The search's fitness of ``block_name``, computed with whole-model runs.

    The reference for the local (one-block) computation: the FP model runs
    whole for the FP tokens and output; the quantized model runs whole with
    only that block quantized (``block_input='fp'``: the block then sees
    the FP input) or fully quantized (``'quantized'``), and the block's
    output is read by a hook.
    """
    import copy

    from clamp_mm.models import find_adapter
    from clamp_mm.quant import set_quant_mode
    from clamp_mm.search.fitness import neighbourhood_info_nce, output_mae
    adapter = find_adapter(model)
    fp_model = set_quant_mode(copy.deepcopy(model), 'off')
    fp_adapter = find_adapter(fp_model)
    block = dict(adapter.blocks())[block_name]
    fp_block = dict(fp_adapter.blocks())[block_name]
    captured = {}

    def capture(key):

        def hook(module, args, kwargs, output):
            output = output[0] if isinstance(output, tuple) else output
            captured[key] = adapter.block_output_grid(block_name, output,
                                                      args, kwargs)

        return hook

    with torch.no_grad():
        handle = fp_block.register_forward_hook(capture('fp'),
                                                with_kwargs=True)
        fp_output = fp_adapter.forward_images(images)
        handle.remove()
        quantized_output = adapter.forward_images(images)
        if block_input == 'fp':
            set_quant_mode(model, 'off')
            set_quant_mode(block, 'quantize')
        handle = block.register_forward_hook(capture('quantized'),
                                             with_kwargs=True)
        adapter.forward_images(images)
        handle.remove()
        set_quant_mode(model, 'quantize')
    contrastive = neighbourhood_info_nce(captured['quantized'],
                                         captured['fp'], kernel_size,
                                         temperature)
    return float(contrastive) + output_mae_weight * float(
        output_mae(quantized_output, fp_output))
