"""Every config under configs/ loads, and its model builds (no forward).

Catches typos in field names, bad recipe values, unknown clamp_mm types and
models no adapter understands. On 2 busy cores loading an mmdet config takes
seconds and building the ImageNet/COCO/ADE20K models minutes: the default
run loads the small project configs and one config per upstream family
(REPRESENTATIVES) and builds the small models; the rest is marked slow.
"""
import glob
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_ROOT = osp.join(REPO, 'configs')
#: Folders of the small models trained here.
SMALL_MODEL_FOLDERS = ('fashion_mnist', 'fmnist_quant', 'dense',
                       'dense_quant')

torch.set_num_threads(1)
pytest.importorskip('mmdet')
pytest.importorskip('mmseg')
pytest.importorskip('mmpretrain')


def list_configs():
    """Complete configs: everything but the partial bases in ``_base_``
    folders (``configs/_base_/float`` holds complete float recipes)."""
    found = []
    for path in sorted(glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'),
                                 recursive=True)):
        relative = osp.relpath(path, CONFIG_ROOT)
        parts = relative.split(osp.sep)
        if '_base_' in parts[:-1] and parts[:2] != ['_base_', 'float']:
            continue
        found.append(relative)
    return found


def is_small(relative: str) -> bool:
    return relative.split(osp.sep)[0] in SMALL_MODEL_FOLDERS


CONFIGS = list_configs()
#: Loaded in the default run: one per float base and recipe kind.
REPRESENTATIVES = ('deit_t_w4a8.py', 'deit_t_mixed.py', 'vit_s_w8a8.py',
                   'swin_t_w4a8.py', 'swin_t_mrcnn_w4a8.py',
                   'swin_s_mrcnn_mixed.py', 'swin_t_cascade_mrcnn_w8a8.py',
                   'swin_t_upernet_ade20k_w4a8.py')


def load(relative: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(CONFIG_ROOT, relative))


def is_quant_config(cfg) -> bool:
    return (cfg.get('test_cfg') or {}).get('type') == 'clamp_mm.QuantTestLoop'


def test_every_required_config_exists():
    names = set(CONFIGS)
    for model in ('swin_t_mrcnn', 'swin_s_mrcnn', 'swin_t_cascade_mrcnn',
                  'swin_s_cascade_mrcnn', 'swin_t_upernet_ade20k',
                  'swin_s_upernet_ade20k', 'deit_t', 'deit_s', 'deit_b',
                  'vit_s', 'vit_b', 'swin_t', 'swin_s'):
        for bits in ('w4a8', 'w8a8'):
            assert f'{model}_{bits}.py' in names, (model, bits)
    assert 'fmnist_quant/vit_fmnist_clamp_w4a8.py' in names
    assert any(name.endswith('_mixed.py') for name in names)


@pytest.mark.parametrize('relative', [
    relative if is_small(relative) or relative in REPRESENTATIVES else
    pytest.param(relative, marks=pytest.mark.slow) for relative in CONFIGS
])
def test_config_loads_and_its_quant_settings_validate(relative):
    from clamp_mm.engine.preflight import check_loop_cfg
    cfg = load(relative)
    assert 'model' in cfg
    if osp.dirname(relative) in ('', 'fmnist_quant', 'dense_quant'):
        # Quantization configs: the loop, its recipe, generator and
        # calibrator all build; each names the checkpoint to download.
        assert is_quant_config(cfg), relative
        check_loop_cfg(cfg)
        text = open(osp.join(CONFIG_ROOT, relative)).read()
        assert 'checkpoint' in text.lower()


def build_and_check(relative: str) -> None:
    from mmengine.registry import MODELS, DefaultScope

    from clamp_mm.engine.target_module import resolve_target
    cfg = load(relative)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor', None) is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if is_quant_config(cfg):
        quantized = (cfg.test_cfg or {}).get('quantized_module')
        _, _, adapter = resolve_target(model, quantized)
        assert adapter.blocks(), relative


@pytest.mark.parametrize('relative', [c for c in CONFIGS if is_small(c)])
def test_small_model_builds(relative):
    build_and_check(relative)


@pytest.mark.slow
@pytest.mark.parametrize('relative', [c for c in CONFIGS if not is_small(c)])
def test_large_model_builds(relative):
    build_and_check(relative)
