"""The OpenMMLab stack works here: models built from the packages' own shipped
configs (random init, nothing downloaded) run one CPU forward in test mode."""
import pytest
import torch
from mmengine.hub import get_config
from mmengine.registry import init_default_scope


def _package_config(name: str):
    """Load ``package::path`` from the installed wheel, pretrained weights off."""
    cfg = get_config(name)
    cfg.model.backbone.init_cfg = None
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None
    return cfg


def _build(cfg, scope: str):
    """Build ``cfg.model`` with ``scope`` as the default scope, as a run does."""
    from mmengine.registry import MODELS
    init_default_scope(scope)
    return MODELS.build(cfg.model).eval()


def _random_image(height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8,
                         generator=generator)


def test_mmdet_mask_rcnn_swin_t_forward():
    from mmdet.structures import DetDataSample
    cfg = _package_config('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py')
    model = _build(cfg, 'mmdet')
    sample = DetDataSample(metainfo=dict(
        img_shape=(224, 224), ori_shape=(224, 224), scale_factor=(1., 1.)))
    with torch.no_grad():
        [result] = model.test_step(
            dict(inputs=[_random_image(224, 224)], data_samples=[sample]))
    instances = result.pred_instances
    assert instances.bboxes.shape[1] == 4
    assert len(instances.masks) == len(instances.bboxes)
    assert ((instances.labels >= 0) & (instances.labels < 80)).all()


def test_mmseg_upernet_swin_t_ade20k_forward():
    from mmseg.structures import SegDataSample
    cfg = _package_config(
        'mmseg::swin/'
        'swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py')
    model = _build(cfg, 'mmseg')
    sample = SegDataSample(metainfo=dict(
        img_shape=(512, 512), ori_shape=(512, 512), pad_shape=(512, 512)))
    with torch.no_grad():
        [result] = model.test_step(
            dict(inputs=[_random_image(512, 512)], data_samples=[sample]))
    assert result.seg_logits.data.shape == (150, 512, 512)
    assert result.pred_sem_seg.data.shape == (1, 512, 512)


@pytest.mark.parametrize('name', [
    'mmpretrain::deit/deit-tiny_4xb256_in1k.py',
    'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
])
def test_mmpretrain_classifier_forward(name):
    from mmpretrain.structures import DataSample
    cfg = get_config(name)
    model = _build(cfg, 'mmpretrain')
    with torch.no_grad():
        [result] = model.test_step(
            dict(inputs=[_random_image(224, 224)], data_samples=[DataSample()]))
    assert result.pred_score.shape == (1000,)
    assert torch.isclose(result.pred_score.sum(), torch.tensor(1.0))


@pytest.mark.parametrize('name', [
    'deit_tiny_patch16_224', 'swin_tiny_patch4_window7_224'])
def test_timm_forward(name):
    import timm
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 224, 224))
    assert logits.shape == (1, 1000)
    assert torch.isfinite(logits).all()
