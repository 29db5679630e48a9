"""Side-by-side check of a quantized model: PyTorch fake-quant, FP32 ONNX,
quantized ONNX: task metric, latency, file size and kernels."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from .latency import interleaved_latency
from .onnx_module import OnnxModule
from .runtime import KernelCount, count_kernels, create_session
from .task_metrics import classifier_top1, dense_metrics


@dataclass
class CheckRow:
    """One model variant in the check table.

    Args:
        label (str): What it is.
        metrics (dict[str, float]): Task metrics.
        latency (dict[int, float]): Threads to median seconds (batch of the
            exported graph).
        file_bytes (int, optional): File size. Defaults to None.
        kernels (KernelCount, optional): Kernels of the optimised graph.
            Defaults to None.
    """
    label: str
    metrics: Dict[str, float] = field(default_factory=dict)
    latency: Dict[int, float] = field(default_factory=dict)
    file_bytes: Optional[int] = None
    kernels: Optional[KernelCount] = None


def _torch_runner(module: nn.Module, example: torch.Tensor, threads: int):
    def run():
        torch.set_num_threads(threads)
        with torch.no_grad():
            module(example)
    return run


def _onnx_runner(session, example: torch.Tensor):
    feed = {session.get_inputs()[0].name: example.numpy()}
    return lambda: session.run(None, feed)


def check_model(cfg,
                model: nn.Module,
                exported: nn.Module,
                example: torch.Tensor,
                onnx_files: Dict[str, str],
                quantized_file: str = '',
                num_test: Optional[int] = None,
                threads: Sequence[int] = (1, 2),
                rounds: int = 5,
                runs_per_round: int = 10) -> List[CheckRow]:
    """Measure the fake-quant model beside its ONNX files.

    Args:
        cfg (Config): The task config (test data, evaluator).
        model (nn.Module): The whole fake-quantized model.
        exported (nn.Module): The part the ONNX files hold
            (:func:`~clamp_mm.deploy.onnx_export.exportable_module`).
        example (Tensor): A batch of the exported graph's input shape.
        onnx_files (dict[str, str]): Row label to ONNX file, e.g.
            ``{'FP32 ONNX': ..., 'W4/A8 ONNX': ...}``.
        quantized_file (str): The fake-quant model's checkpoint, for its
            size. Defaults to ``''``.
        num_test (int, optional): First ``num_test`` test images; None for
            all. Defaults to None.
        threads (Sequence[int]): Thread counts to time. Defaults to (1, 2).
        rounds (int): Interleaved timing rounds. Defaults to 5.
        runs_per_round (int): Timed calls per round. Defaults to 10.

    Returns:
        list[CheckRow]: The fake-quant model first, then each file.
    """
    from clamp_mm.models import find_adapter
    is_classifier = find_adapter(model).has_head
    rows = [CheckRow('fake-quant PyTorch', file_bytes=(
        osp.getsize(quantized_file) if quantized_file else None))]
    sessions = {}
    for label, path in onnx_files.items():
        sessions[label] = create_session(path, threads=1)
        rows.append(CheckRow(label, file_bytes=osp.getsize(path),
                             kernels=count_kernels(path)))
    torch.set_num_threads(1)
    for row in rows:
        if is_classifier:
            forward = (exported if row.label == rows[0].label else
                       OnnxModule(sessions[row.label]))
            row.metrics = classifier_top1(cfg, model, forward, num_test)
        else:
            backbone = (None if row.label == rows[0].label else
                        OnnxModule(sessions[row.label]))
            row.metrics = dense_metrics(cfg, model, backbone, num_test)
    for count in threads:
        runners = {rows[0].label: _torch_runner(exported, example, count)}
        for label, path in onnx_files.items():
            runners[label] = _onnx_runner(
                create_session(path, threads=count), example)
        timings = interleaved_latency(runners, rounds, runs_per_round)
        for row in rows:
            row.latency[count] = timings[row.label]
    torch.set_num_threads(1)
    return rows


#: The headline metrics shown of a dense evaluator (the rest stay in the
#: rows).
HEADLINE_METRICS = ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'top1')


def format_rows(rows: List[CheckRow], reference: str = '') -> str:
    """A Markdown table of :func:`check_model`'s rows.

    Args:
        rows (list[CheckRow]): The rows.
        reference (str): Label of the row speed-ups are relative to
            (e.g. ``'FP32 ONNX'``). Defaults to ``''`` (none shown).

    Returns:
        str: The table.
    """
    metric_names = [name for name in rows[0].metrics
                    if name in HEADLINE_METRICS] or list(rows[0].metrics)
    thread_counts = sorted(rows[0].latency)
    header = (['model'] + metric_names +
              [f'latency {t} thr (ms)' for t in thread_counts] +
              ['size (MiB)', 'matmul/conv kernels'])
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    base = next((row for row in rows if row.label == reference), None)
    for row in rows:
        cells = [row.label]
        cells += [_metric(row.metrics.get(name)) for name in metric_names]
        for count in thread_counts:
            cell = f'{row.latency[count] * 1e3:.2f}'
            if base is not None and row is not base:
                cell += f' ({base.latency[count] / row.latency[count]:.2f}x)'
            cells.append(cell)
        cells.append('-' if row.file_bytes is None else
                     f'{row.file_bytes / 2**20:.2f}')
        cells.append('-' if row.kernels is None else str(row.kernels))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _metric(value) -> str:
    if value is None:
        return '-'
    return f'{value:.2f}' if abs(value) > 1 else f'{value:.3f}'
