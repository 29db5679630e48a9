"""A tiny classification task for end-to-end runs of the quantization loop.

An mmengine ``BaseModel`` holding a 2-block timm ViT (16x16 inputs, 4x4
tokens), a dataset labelled by the predictions of a fixed float checkpoint
(so the FP model scores exactly 1.0 top-1 once that checkpoint is loaded,
and anything else, e.g. the random initialisation, scores less), and a
top-1 metric. Everything runs on CPU in about a second.
"""
import os.path as osp

import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch.utils.data import Dataset

NUM_CLASSES = 4
NUM_TEST_IMAGES = 16
IMAGE_SIZE = 16


def make_vit() -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=IMAGE_SIZE, patch_size=4, embed_dim=16,
                             depth=2, num_heads=2, mlp_ratio=2.0,
                             num_classes=NUM_CLASSES)


class TinyViTClassifier(BaseModel):
    """``classifier`` is a timm ViT; ``predict`` returns label dicts."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.classifier = make_vit()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        images = torch.stack(inputs) if isinstance(inputs, list) else inputs
        logits = self.classifier(images)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = torch.as_tensor(data_samples)
            return dict(loss=torch.nn.functional.cross_entropy(
                logits, labels))
        return [
            dict(pred=int(logit.argmax()), logits=logit.detach(),
                 label=int(label))
            for logit, label in zip(logits, data_samples)
        ]


def test_images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(NUM_TEST_IMAGES, 3, IMAGE_SIZE, IMAGE_SIZE,
                       generator=generator)


class TinyLabelledImages(Dataset):
    """Fixed random images labelled by ``label_file``'s predictions."""

    METAINFO = dict(classes=tuple(str(i) for i in range(NUM_CLASSES)))

    def __init__(self, label_file: str):
        self.images = test_images()
        self.labels = torch.load(label_file, weights_only=True)

    @property
    def metainfo(self):
        return self.METAINFO

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return dict(inputs=self.images[index],
                    data_samples=int(self.labels[index]))


class TinyTop1(BaseMetric):
    """Top-1 accuracy of ``TinyViTClassifier`` predictions."""

    default_prefix = 'tiny'

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append(
                (sample['pred'] == sample['label'], sample['logits']))

    def compute_metrics(self, results):
        correct = sum(int(hit) for hit, _ in results)
        return dict(top1=correct / len(results))


def register() -> None:
    """Register the three classes in mmengine's root registries (done on
    import too, so a config's ``custom_imports=['tiny_task']`` suffices)."""
    MODELS.register_module(module=TinyViTClassifier, force=True)
    DATASETS.register_module(module=TinyLabelledImages, force=True)
    METRICS.register_module(module=TinyTop1, force=True)


register()


def write_float_checkpoint(folder: str, seed: int = 0) -> tuple:
    """Save a float checkpoint and the labels its model predicts.

    Returns:
        tuple[str, str]: Checkpoint path, label file path.
    """
    torch.manual_seed(seed)
    model = TinyViTClassifier().eval()
    with torch.no_grad():
        labels = model.classifier(test_images()).argmax(-1)
    checkpoint = osp.join(folder, 'tiny_float.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    label_file = osp.join(folder, 'tiny_labels.pth')
    torch.save(labels, label_file)
    return checkpoint, label_file


def tiny_loop_cfg(**overrides) -> dict:
    """A QuantTestLoop config with tiny generator and search settings."""
    cfg = dict(
        type='clamp_mm.QuantTestLoop',
        recipe=dict(weight_bits=4, act_bits=8),
        generator=dict(type='clamp_mm.ClampGenerator', iterations=2,
                       warmup_iterations=1, batch_size=4, progress=False),
        num_images=4,
        calibrator=dict(type='clamp_mm.EvolutionaryCalibrator',
                        population_size=3, tournament_size=2, passes=1,
                        cycles=2, children_per_cycle=2,
                        refresh_iterations=1, progress_bar=False,
                        plots=False))
    cfg.update(overrides)
    return cfg


def tiny_runner_cfg(work_dir: str, label_file: str, checkpoint: str,
                    **loop_overrides) -> dict:
    """A full Runner config for the tiny task."""
    return dict(
        work_dir=work_dir,
        model=dict(type='TinyViTClassifier'),
        test_dataloader=dict(
            dataset=dict(type='TinyLabelledImages', label_file=label_file),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=8,
            num_workers=0),
        test_evaluator=dict(type='TinyTop1'),
        test_cfg=tiny_loop_cfg(**loop_overrides),
        load_from=checkpoint,
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING',
        randomness=dict(seed=123))


def write_config_file(folder: str, label_file: str, **loop_overrides) -> str:
    """A config file for tools/quantize.py running the tiny task.

    The test process must put this file's folder on PYTHONPATH:
    ``custom_imports`` imports ``tiny_task`` to register the classes.
    """
    from mmengine.config import Config
    cfg = tiny_runner_cfg(None, label_file, None, **loop_overrides)
    cfg.pop('work_dir')
    cfg.pop('load_from')
    cfg['custom_imports'] = dict(imports=['tiny_task'],
                                 allow_failed_imports=False)
    path = osp.join(folder, 'tiny_quant_cfg.py')
    Config(cfg).dump(path)
    return path
