"""The used-by commands end to end at the configs' real resolutions.

``tools/quantize.py configs/swin_t_mrcnn_w4a8.py``,
``configs/swin_t_cascade_mrcnn_w4a8.py`` and
``configs/swin_t_upernet_ade20k_w4a8.py`` are what a user with COCO or ADE20K
and the official checkpoints runs. Here they run as that user runs them (a
subprocess, ``--fp``) on tiny COCO / ADE20K folders in the official layouts
(:mod:`clamp_mm.datasets.official_layout`, composite scenes at COCO / ADE20K
image sizes, so the test pipelines resize to 800 x 1333 / 512 short side),
with randomly initialised full-size Swin-T checkpoints in the official
OpenMMLab layouts (Cascade: Microsoft's layout, converted by
tools/convert_swin_det_ckpt.py first, as the config tells users). Only the
data roots and the budgets are overridden. The weights are random, so the
claim is that every stage runs and the task's metrics come out as numbers in
their ranges, not their values. Minutes each on one thread: slow.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: One synthetic image at the config's resolution, two generator steps.
GENERATION_BUDGET = [
    'test_cfg.num_images=1', 'test_cfg.generator.batch_size=1',
    'test_cfg.generator.iterations=2',
    'test_cfg.generator.warmup_iterations=1',
    'test_cfg.calibration_batch_size=1'
]
#: The smallest honest budget: the above, then one search pass of one
#: cycle (a single child) per block, with one image refresh (one step)
#: half-way through the 12 Swin-T blocks (cyclic adaptation on). Each block
#: visit runs the FP and the quantized backbone once over the images, so
#: even this costs 12 full-resolution forward pairs
#: (docs/benchmarks_dense/notes.md).
QUICK_BUDGET = GENERATION_BUDGET + [
    'test_cfg.calibrator.passes=1',
    'test_cfg.calibrator.cycles=1', 'test_cfg.calibrator.population_size=2',
    'test_cfg.calibrator.tournament_size=2',
    'test_cfg.calibrator.children_per_cycle=1',
    'test_cfg.calibrator.refresh_every_cycles=6',
    'test_cfg.calibrator.refresh_iterations=1',
    'test_cfg.calibrator.progress_bar=False',
    'test_cfg.calibrator.plots=False'
]
#: Cascade Mask R-CNN: the same Swin-T backbone and adapter as the Mask
#: R-CNN (whose search runs above), so its quantizers are calibrated by the
#: observers on the synthetic images, without the search.
NO_SEARCH = GENERATION_BUDGET + ['test_cfg.calibrator=None']
#: A metric line of the side-by-side table: name | FP | quantized | delta.
TABLE_ROW = re.compile(r'^(?:.*\] )?(\S+)\s+\|\s+(\S+)\s+\|\s+(\S+)\s+\|')

pytestmark = [pytest.mark.slow]
pytest.importorskip('mmdet')
pytest.importorskip('mmseg')


def build_random_model(config: str) -> torch.nn.Module:
    """The config's float model with its random initialisation (no
    pretrained backbone is fetched)."""
    import clamp_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(osp.join(REPO, config))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def give_detections(model: torch.nn.Module) -> None:
    """Make a random Cascade R-CNN detect something.

    Its three random box classifiers, averaged, give every one of the 81
    classes about 1/81 < the 0.05 score threshold: no detection at all, and
    mmdet's CocoMetric then returns no metrics. Zero weights and a bias of
    5 on class 0 (a probability of ~0.65) let every proposal through, so
    the box and mask metrics are computed; the rest stays random.
    """
    for head in model.roi_head.bbox_head:
        torch.nn.init.zeros_(head.fc_cls.weight)
        torch.nn.init.zeros_(head.fc_cls.bias)
        with torch.no_grad():
            head.fc_cls.bias[0] = 5.0


def save_official(state_dict: dict, path: str, classes) -> str:
    """An OpenMMLab checkpoint: ``state_dict`` and ``meta``."""
    torch.save(dict(state_dict=state_dict,
                    meta=dict(dataset_meta=dict(classes=tuple(classes)))),
               path)
    return path


def run_quantize(config: str, checkpoint: str, work_dir: str,
                 data_options: list, budget: list = QUICK_BUDGET) -> str:
    """Run tools/quantize.py as a user does; returns its stdout."""
    env = dict(os.environ, CLAMP_NUM_THREADS='1', OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    command = [
        sys.executable,
        osp.join(REPO, 'tools', 'quantize.py'),
        osp.join(REPO, config), checkpoint, '--work-dir', work_dir, '--fp',
        '--cfg-options', *data_options, *budget
    ]
    # From the tmp folder: no path may fall back to the repo's data/.
    done = subprocess.run(command, cwd=osp.dirname(work_dir), env=env,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def printed_metrics(output: str) -> dict:
    """{metric: (FP, quantized)} from the printed side-by-side table."""
    rows = {}
    for line in output.splitlines():
        match = TABLE_ROW.match(line.strip())
        if match and match.group(1) != 'metric':
            try:
                rows[match.group(1)] = (float(match.group(2)),
                                        float(match.group(3)))
            except ValueError:
                continue
    return rows


def check_metrics(output: str, work_dir: str, keys, upper: float) -> None:
    """Each key is printed for FP and quantized, in [0, upper], and equals
    what the run wrote to its results file."""
    printed = printed_metrics(output)
    with open(osp.join(work_dir, 'quant_results.json')) as file:
        written = json.load(file)
    for key in keys:
        assert key in printed, f'{key} not printed:\n{output[-3000:]}'
        for value, column in zip(printed[key], ('fp', 'quantized')):
            assert 0.0 <= value <= upper, (key, column, value)
            assert abs(written[column][key] - value) < 1e-3, (key, column)
    # The synthetic images were made at the config's real resolution.
    assert written['cost']['resolution'] == list(
        expected_resolution(output))


def expected_resolution(output: str):
    match = re.search(r'cost per (\d+)x(\d+) image', output)
    assert match, 'no cost line'
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory) -> str:
    from clamp_mm.datasets.official_layout import write_coco_val2017
    root = str(tmp_path_factory.mktemp('data') / 'coco')
    write_coco_val2017(root, num_images=1)
    return root


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory) -> str:
    from clamp_mm.datasets.official_layout import write_ade20k_validation
    root = str(
        tmp_path_factory.mktemp('data') / 'ade' / 'ADEChallengeData2016')
    write_ade20k_validation(root, num_images=1)
    return root


def coco_options(root: str) -> list:
    return [
        f'test_dataloader.dataset.data_root={root}/',
        f'test_evaluator.ann_file={root}/annotations/instances_val2017.json'
    ]


def test_mask_rcnn_swin_t_coco_at_800x1333(coco_root, tmp_path):
    from clamp_mm.datasets.official_layout import coco_class_names
    config = 'configs/swin_t_mrcnn_w4a8.py'
    model = build_random_model(config)
    checkpoint = save_official(model.state_dict(),
                               str(tmp_path / 'mask_rcnn.pth'),
                               coco_class_names())
    del model
    work_dir = str(tmp_path / 'work')
    output = run_quantize(config, checkpoint, work_dir,
                          coco_options(coco_root))
    check_metrics(output, work_dir, ('coco/bbox_mAP', 'coco/segm_mAP'), 1.0)
    assert expected_resolution(output) == (800, 1344)


def test_cascade_mask_rcnn_swin_t_coco_at_800x1333(coco_root, tmp_path):
    from swin_det_layout import to_old_layout

    from clamp_mm.datasets.official_layout import coco_class_names
    config = 'configs/swin_t_cascade_mrcnn_w4a8.py'
    model = build_random_model(config)
    give_detections(model)
    microsoft = save_official(to_old_layout(model.state_dict()),
                              str(tmp_path / 'cascade_microsoft.pth'),
                              coco_class_names())
    del model
    converted = str(tmp_path / 'cascade_mmdet3.pth')
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'convert_swin_det_ckpt.py'), microsoft,
        converted, '--config',
        osp.join(REPO, config)
    ], check=True, env=dict(os.environ, PYTHONPATH=REPO),
                   capture_output=True)
    os.remove(microsoft)
    work_dir = str(tmp_path / 'work')
    output = run_quantize(config, converted, work_dir,
                          coco_options(coco_root), NO_SEARCH)
    check_metrics(output, work_dir, ('coco/bbox_mAP', 'coco/segm_mAP'), 1.0)
    assert expected_resolution(output) == (800, 1344)


def test_upernet_swin_t_ade20k_at_512(ade_root, tmp_path):
    from clamp_mm.datasets.official_layout import ade20k_class_names
    config = 'configs/swin_t_upernet_ade20k_w4a8.py'
    model = build_random_model(config)
    checkpoint = save_official(model.state_dict(),
                               str(tmp_path / 'upernet.pth'),
                               ade20k_class_names())
    del model
    work_dir = str(tmp_path / 'work')
    output = run_quantize(config, checkpoint, work_dir,
                          [f'test_dataloader.dataset.data_root={ade_root}'])
    # mIoU in percent.
    check_metrics(output, work_dir, ('mIoU', ), 100.0)
    assert expected_resolution(output) == (512, 512)
