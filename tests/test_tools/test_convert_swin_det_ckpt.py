"""tools/convert_swin_det_ckpt.py on a randomly initialised Cascade Mask
R-CNN Swin written in the old (Swin-Transformer-Object-Detection) layout."""
import importlib.util
import os.path as osp

import pytest
import torch
from swin_det_layout import to_old_layout

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FLOAT_CONFIG = osp.join(
    REPO, 'configs', '_base_', 'float',
    'cascade-mask-rcnn_swin-t-p4-w7_fpn_giou-4conv1f_ms-crop-3x_coco.py')

torch.set_num_threads(1)
pytest.importorskip('mmdet')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'convert_tool', osp.join(REPO, 'tools', 'convert_swin_det_ckpt.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_cascade_config(folder) -> str:
    """The float Cascade Swin config, with a narrow and shallow backbone."""
    path = osp.join(folder, 'small_cascade.py')
    with open(path, 'w') as file:
        file.write(f"""_base_ = '{FLOAT_CONFIG}'
model = dict(
    backbone=dict(embed_dims=16, depths=[1, 1, 2, 1],
                  num_heads=[1, 2, 2, 4], init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128]))
""")
    return path


def build(config: str) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model_and_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('convert')
    config = small_cascade_config(str(folder))
    model = build(config)
    expected = model.state_dict()
    old = to_old_layout(expected)
    assert any(k.startswith('backbone.layers.') for k in old)
    source = folder / 'old_layout.pth'
    torch.save(dict(state_dict=old, meta=dict(CLASSES=('a', 'b'))), source)
    return config, model, str(source), folder


def test_round_trip_restores_every_tensor(model_and_files):
    config, model, source, folder = model_and_files
    expected = model.state_dict()
    destination = str(folder / 'converted.pth')
    load_tool().main([source, destination])
    converted = torch.load(destination, weights_only=True)
    assert converted['meta']['dataset_meta'] == dict(classes=('a', 'b'))
    state = converted['state_dict']
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    # The model loads it strictly.
    model.load_state_dict(state, strict=True)


def test_refuses_converted_input(model_and_files, capsys):
    config, model, source, folder = model_and_files
    expected = model.state_dict()
    tool = load_tool()
    already = str(folder / 'already.pth')
    torch.save(dict(state_dict=expected), already)
    with pytest.raises(SystemExit) as exit_info:
        tool.main([already, str(folder / 'out1.pth')])
    assert exit_info.value.code == tool.EXIT_BAD_INPUT
    assert 'already in the mmdet 3.x layout' in capsys.readouterr().err


@pytest.mark.slow
def test_config_check_accepts_the_right_and_refuses_the_wrong_model(
        model_and_files, capsys):
    """--config builds the config's model (a minute on 2 busy cores)."""
    config, model, source, folder = model_and_files
    expected = model.state_dict()
    tool = load_tool()
    tool.main([source, str(folder / 'checked.pth'), '--config', config])
    # A checkpoint of another width does not fit the config: nothing
    # written.
    wide = to_old_layout({
        key: torch.zeros(tuple(2 * s for s in value.shape))
        if key == 'backbone.patch_embed.projection.weight' else value
        for key, value in expected.items()
    })
    wrong = str(folder / 'wrong.pth')
    torch.save(dict(state_dict=wide), wrong)
    destination = folder / 'out2.pth'
    with pytest.raises(SystemExit):
        tool.main([wrong, str(destination), '--config', config])
    assert 'does not fit' in capsys.readouterr().err
    assert not destination.exists()
