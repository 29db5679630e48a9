"""A config's task metric for a model whose core runs somewhere else."""
import copy
from typing import Callable, Dict, Optional

import torch
from torch import nn


def _test_dataloader(cfg, num_test: Optional[int]):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope(cfg.get('default_scope', None) or 'mmpretrain')
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg['num_workers'] = 0
    loader_cfg['persistent_workers'] = False
    if num_test is not None:
        loader_cfg['dataset']['indices'] = num_test
    return Runner.build_dataloader(loader_cfg)


@torch.no_grad()
def classifier_top1(cfg, model: nn.Module,
                    forward_images: Callable[[torch.Tensor], torch.Tensor],
                    num_test: Optional[int] = None) -> Dict[str, float]:
    """Top-1 (%) on the config's test split of ``forward_images``.

    The images go through the model's own data preprocessor (the
    normalisation the exported graph expects), then ``forward_images``
    (the PyTorch model, or an :class:`~clamp_mm.deploy.onnx_module.
    OnnxModule`) gives logits.

    Args:
        cfg (Config): The task config (its ``test_dataloader``).
        model (nn.Module): The classifier (for its data preprocessor).
        forward_images (Callable): Normalised images to logits.
        num_test (int, optional): First ``num_test`` test images; None for
            all. Defaults to None.

    Returns:
        dict[str, float]: ``{'top1': percent}``.
    """
    correct = total = 0
    for data_batch in _test_dataloader(cfg, num_test):
        data = model.data_preprocessor(data_batch, False)
        logits = forward_images(data['inputs'])
        labels = torch.cat(
            [sample.gt_label for sample in data['data_samples']])
        correct += int((logits.argmax(-1) == labels).sum())
        total += len(labels)
    return {'top1': 100.0 * correct / total}


@torch.no_grad()
def dense_metrics(cfg, model: nn.Module,
                  backbone: Optional[nn.Module] = None,
                  num_test: Optional[int] = None) -> Dict[str, float]:
    """The config's evaluator (mAP, mIoU) on its test split.

    Args:
        cfg (Config): The task config.
        model (nn.Module): The detector or segmentor.
        backbone (nn.Module, optional): Run instead of ``model.backbone``
            (an :class:`~clamp_mm.deploy.onnx_module.OnnxModule`); the
            model's own backbone is put back afterwards. Defaults to None.
        num_test (int, optional): First ``num_test`` test images.
            Defaults to None.

    Returns:
        dict[str, float]: The evaluator's numeric metrics.
    """
    from mmengine.evaluator import Evaluator
    dataloader = _test_dataloader(cfg, num_test)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataloader.dataset.metainfo
    original = model.backbone
    if backbone is not None:
        model.backbone = backbone
    try:
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            evaluator.process(data_samples=outputs, data_batch=data_batch)
    finally:
        model.backbone = original
    metrics = evaluator.evaluate(len(dataloader.dataset))
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float))}
