"""The models a benchmark runs on: how to load them and how to score them.

Two kinds of task:

- ``classification``: the Fashion-MNIST classifiers of
  ``configs/fashion_mnist`` (mmpretrain), scored by top-1 on the test split
  (or, to choose defaults on, the held-out ``'val'`` split of the training
  images) as one tensor batch (fast: no data pipeline per image);
- ``detection`` / ``segmentation``: the small Mask R-CNN and UperNet of
  ``configs/dense`` on the composite sets, scored by the config's own
  evaluator (mmdet CocoMetric: bbox and segm mAP; mmseg IoUMetric: mIoU).

Only the backbone of a dense model is quantized (method.md section 1).
Labelled test data is read only to score a finished model, never to choose
anything.
"""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import nn

#: Where tools/train_dense.py puts checkpoints too large to ship.
DENSE_CACHE_DIR = osp.expanduser('~/.cache/clamp_mm/checkpoints')


@dataclass
class ModelSpec:
    """One benchmarked model.

    Args:
        key (str): Short name on the command line.
        config (str): Float model config.
        checkpoint (str): Float weights; for dense models also looked up in
            :data:`DENSE_CACHE_DIR` under the same file name.
        task (str): ``'classification'``, ``'detection'`` or
            ``'segmentation'``.
        scope (str): OpenMMLab scope that builds the model.
        metrics (tuple[str, ...]): Evaluator keys reported, the first one
            being the headline figure (``'top1'`` for classifiers).
        resolution (tuple[int, int], optional): (H, W) of the calibration
            images; None for the classifier's own input size.
            Defaults to None.
        grey_inputs (bool): The model was trained on grey images served as
            3 identical channels (Fashion-MNIST). Defaults to False.
    """
    key: str
    config: str
    checkpoint: str
    task: str
    scope: str
    metrics: Tuple[str, ...]
    resolution: Optional[Tuple[int, int]] = None
    grey_inputs: bool = False

    @property
    def is_dense(self) -> bool:
        """True for detection and segmentation models."""
        return self.task != 'classification'

    def find_checkpoint(self) -> Optional[str]:
        """The checkpoint path that exists, or None."""
        candidates = [self.checkpoint]
        if self.is_dense:
            candidates.append(
                osp.join(DENSE_CACHE_DIR, osp.basename(self.checkpoint)))
        for path in candidates:
            if osp.isfile(path):
                return path
        return None


def _classifier(key: str) -> ModelSpec:
    return ModelSpec(key, f'configs/fashion_mnist/{key}_fmnist.py',
                     f'checkpoints/fmnist_{key}.pth', 'classification',
                     'mmpretrain', ('top1', 'agreement'), grey_inputs=True)


#: Every model the benchmark knows, by command-line key.
MODEL_SPECS: Dict[str, ModelSpec] = {
    'vit': _classifier('vit'),
    'deit': _classifier('deit'),
    'swin': _classifier('swin'),
    # Trained on 'train55k' only: the val split is unseen by these two.
    'timm_vit': _classifier('timm_vit'),
    'vit_deep': _classifier('vit_deep'),
    'mask_rcnn': ModelSpec(
        'mask_rcnn', 'configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py',
        'checkpoints/mask-rcnn_swin-nano_fpn_composite-128.pth', 'detection',
        'mmdet', ('coco/bbox_mAP', 'coco/segm_mAP'), (128, 128)),
    'cascade_mask_rcnn': ModelSpec(
        'cascade_mask_rcnn',
        'configs/dense/cascade-mask-rcnn_swin-nano_fpn_composite-128.py',
        'checkpoints/cascade-mask-rcnn_swin-nano_fpn_composite-128.pth',
        'detection', 'mmdet', ('coco/bbox_mAP', 'coco/segm_mAP'), (128, 128)),
    'upernet': ModelSpec(
        'upernet', 'configs/dense/upernet_swin-nano_composite-128.py',
        'checkpoints/upernet_swin-nano_composite-128.pth', 'segmentation',
        'mmseg', ('mIoU', ), (128, 128)),
}


def _scope_registry(scope: str, name: str):
    module = __import__(f'{scope}.registry', fromlist=[name])
    return getattr(module, name)


def load_float_model(spec: ModelSpec, allow_random_init: bool = False
                     ) -> Tuple[nn.Module, str]:
    """Build the float model of ``spec`` and load its weights.

    Args:
        spec (ModelSpec): The model.
        allow_random_init (bool): Keep the random initialisation when the
            checkpoint is missing (``--quick`` smoke runs) instead of
            failing. Defaults to False.

    Returns:
        tuple[nn.Module, str]: The model to quantize in eval mode, and
        where its weights came from (recorded in the report). That is the
        built model itself when an adapter understands it, else its first
        child one does (the timm model inside an mmpretrain
        ``TimmClassifier``), as ``tools/quantize.py`` picks it.
    """
    from mmengine.registry import init_default_scope

    import clamp_mm  # noqa: F401  (compat patches, registries)
    from clamp_mm.pipeline.float_model import load_float_model as load
    from clamp_mm.engine.target_module import resolve_target
    if not osp.isfile(spec.config):
        raise FileNotFoundError(f'config {spec.config} of model {spec.key!r} '
                                'is missing')
    # The task's scope stays the default: evaluation builds in it.
    init_default_scope(spec.scope)
    checkpoint = spec.find_checkpoint()
    if checkpoint is None and not allow_random_init:
        raise FileNotFoundError(
            f'no checkpoint for model {spec.key!r} at {spec.checkpoint}: '
            f'train it (tools/train_classifier.py or tools/train_dense.py '
            f'{spec.config}) or pass --allow-random-init for a smoke run')
    model, origin = load(spec.config, checkpoint, spec.scope,
                         allow_random_init)
    if checkpoint is None:
        origin = f'{spec.config}, RANDOMLY INITIALISED (no {spec.checkpoint})'
    target_name, target, _ = resolve_target(model)
    if target_name:
        origin += f' (quantized: its `{target_name}`, {type(target).__name__})'
    return target.eval(), origin


#: Images of each split a classifier can be scored on.
_EVAL_SPLIT_SIZES = {'test': 10000, 'val': 5000}
#: Where real calibration images are drawn from, by scored split: never from
#: the scored images (``'train55k'`` leaves the 5,000 val images out).
_CALIBRATION_SPLITS = {'test': 'train', 'val': 'train55k'}


class ClassificationTask:
    """Top-1 of a Fashion-MNIST classifier on (a prefix of) a split.

    Args:
        spec (ModelSpec): The model.
        adapter (ModelAdapter): Adapter of the float model (mean and std,
            input size).
        num_test (int, optional): First ``num_test`` images of the split;
            None for all of them. Defaults to None.
        batch_size (int): Images per forward. Defaults to 500.
        eval_split (str): ``'test'`` (10,000 images, to score finished
            models) or ``'val'`` (the 5,000 held-out training images, to
            choose on; real calibration images then come from
            ``'train55k'``). Defaults to ``'test'``.
    """

    def __init__(self, spec: ModelSpec, adapter, num_test: Optional[int] = None,
                 batch_size: int = 500, eval_split: str = 'test') -> None:
        from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
        if eval_split not in _EVAL_SPLIT_SIZES:
            raise ValueError(f'eval_split={eval_split!r}, expected one of '
                             f'{list(_EVAL_SPLIT_SIZES)}')
        self.spec = spec
        self.eval_split = eval_split
        mean, std = adapter.mean_std
        self.images, self.labels = load_fashion_mnist_images(
            num_test or _EVAL_SPLIT_SIZES[eval_split], split=eval_split,
            image_size=adapter.input_size[0], seed=None, mean=mean, std=std,
            return_labels=True)
        self.batch_size = batch_size
        self.fp_predictions: Optional[torch.Tensor] = None

    def set_reference(self, model: nn.Module, adapter) -> None:
        """Keep the float model's predictions; later evaluations also
        report ``agreement``, the share (%) of test images on which a model
        predicts what the float model predicts."""
        self.fp_predictions = self._predict(adapter)

    @torch.no_grad()
    def _predict(self, adapter) -> torch.Tensor:
        return torch.cat([
            adapter.forward_images(
                self.images[start:start + self.batch_size]).argmax(-1)
            for start in range(0, self.num_test, self.batch_size)
        ])

    @property
    def num_test(self) -> int:
        """Number of images scored (of the test or val split)."""
        return len(self.labels)

    def evaluate(self, model: nn.Module, adapter) -> Dict[str, float]:
        """``top1`` (%) of ``model`` (its adapter runs it), and
        ``agreement`` (%) with the float predictions once a reference is
        set."""
        predictions = self._predict(adapter)
        metrics = {
            'top1': 100.0 * float((predictions == self.labels).float().mean())
        }
        if self.fp_predictions is not None:
            metrics['agreement'] = 100.0 * float(
                (predictions == self.fp_predictions).float().mean())
        return metrics

    def real_images(self, adapter, num_images: int, seed: int
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Real calibration images of the training split, and their labels.

        Drawn by the project's :class:`clamp_mm.synth.RealDataGenerator`
        from the training split (never the test split); when the task
        scores the val split, from ``'train55k'``, the training images
        outside it.
        """
        from clamp_mm.datasets.fashion_mnist import FashionMNIST
        from clamp_mm.synth import RealDataGenerator
        dataset = FashionMNIST(split=_CALIBRATION_SPLITS[self.eval_split],
                               pipeline=[],
                               image_size=adapter.input_size[0])
        generator = RealDataGenerator(dataset=dataset, seed=seed,
                                      progress=False)
        images = generator.generate(adapter, num_images)
        # The same seeded draw RealDataGenerator makes, to read the labels.
        indices = torch.randperm(
            len(dataset),
            generator=torch.Generator().manual_seed(seed))[:num_images]
        labels = torch.tensor(
            [dataset.get_data_info(int(i))['gt_label'] for i in indices])
        return images, labels


class DenseTask:
    """The config's own test dataloader and evaluator for a dense model.

    Args:
        spec (ModelSpec): The model.
        num_test (int, optional): First ``num_test`` test images; None for
            the whole test set. Defaults to None.
        data_dir (str, optional): Another composite build
            (``tools/make_composite_datasets.py --out-dir``) whose validation
            scenes are scored instead of the config's, e.g. a build of
            another seed to diagnose on scenes the test split does not
            contain. None keeps the config's data. Defaults to None.
    """

    def __init__(self, spec: ModelSpec, num_test: Optional[int] = None,
                 data_dir: Optional[str] = None) -> None:
        self.fp_predictions = None
        from mmengine.config import Config
        self.spec = spec
        self.config = Config.fromfile(spec.config)
        if data_dir is not None:
            from clamp_mm.datasets.composite_build import \
                point_config_at_composite
            train_data = copy.deepcopy(self.config.train_dataloader.dataset)
            point_config_at_composite(self.config, data_dir)
            # Calibration images stay the config's training scenes.
            self.config.train_dataloader.dataset = train_data
        self.num_test = num_test

    def _dataloader(self):
        from mmengine.registry import init_default_scope
        from mmengine.runner import Runner
        init_default_scope(self.spec.scope)
        loader_cfg = copy.deepcopy(self.config.test_dataloader)
        loader_cfg['num_workers'] = 0
        loader_cfg['persistent_workers'] = False
        if self.num_test is not None:
            loader_cfg['dataset']['indices'] = self.num_test
        return Runner.build_dataloader(loader_cfg)

    def set_reference(self, model: nn.Module, adapter) -> None:
        """No agreement figure for dense tasks."""

    @torch.no_grad()
    def evaluate(self, model: nn.Module, adapter) -> Dict[str, float]:
        """The evaluator's metrics (``coco/bbox_mAP``, ``mIoU``, ...)."""
        from mmengine.evaluator import Evaluator
        dataloader = self._dataloader()
        evaluator = Evaluator(self.config.test_evaluator)
        evaluator.dataset_meta = dataloader.dataset.metainfo
        model.eval()
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            evaluator.process(data_samples=outputs, data_batch=data_batch)
        metrics = evaluator.evaluate(len(dataloader.dataset))
        return {key: float(value) for key, value in metrics.items()
                if isinstance(value, (int, float))}

    def real_images(self, adapter, num_images: int, seed: int
                    ) -> Tuple[torch.Tensor, None]:
        """Real calibration images of the training set (no labels)."""
        from mmengine.registry import init_default_scope

        from clamp_mm.synth import RealDataGenerator
        init_default_scope(self.spec.scope)
        dataset = _scope_registry(self.spec.scope, 'DATASETS').build(
            copy.deepcopy(self.config.train_dataloader.dataset))
        generator = RealDataGenerator(dataset=dataset, seed=seed,
                                      progress=False)
        return generator.generate(adapter, num_images,
                                  self.spec.resolution), None


def build_task(spec: ModelSpec, adapter, num_test: Optional[int] = None,
               eval_split: str = 'test'):
    """The :class:`ClassificationTask` or :class:`DenseTask` of ``spec``.

    Args:
        spec (ModelSpec): The model.
        adapter (ModelAdapter): Adapter of the float model.
        num_test (int, optional): First images of the scored split; None for
            all. Defaults to None.
        eval_split (str): ``'test'`` or, for a classifier, ``'val'``.
            Defaults to ``'test'``.

    Returns:
        ClassificationTask | DenseTask: The task.
    """
    if spec.is_dense:
        if eval_split != 'test':
            raise ValueError(f'eval_split={eval_split!r} for the dense model '
                             f'{spec.key!r}: it has only the \'test\' split '
                             "('val' is for the Fashion-MNIST classifiers)")
        return DenseTask(spec, num_test)
    return ClassificationTask(spec, adapter, num_test, eval_split=eval_split)
