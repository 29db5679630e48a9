"""The report of a quick demo run: the shipped Fashion-MNIST ViT, the
QUICK_OPTIONS of tools/demo.py, 64 test images."""
import importlib.util
import json
import os
import os.path as osp

import pytest
import torch

from clamp_mm.report import REPORT_FILE, RUN_DATA_FILE, SECTION_TITLES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHECKPOINT = osp.join(REPO, 'checkpoints', 'fmnist_vit.pth')

torch.set_num_threads(1)
pytest.importorskip('mmpretrain')


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir('/usr/share/datasets/fashion-mnist')
                    or not osp.isfile(CHECKPOINT),
                    reason='dataset-fashion-mnist or the ViT is missing')
def test_quick_demo_writes_the_report(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    work_dir = tmp_path / 'work'
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        demo.main(['--quick', '--work-dir', str(work_dir), '--cfg-options',
                   'test_dataloader.dataset.indices=64'])
    finally:
        os.chdir(cwd)
    text = (work_dir / REPORT_FILE).read_text()
    for title in SECTION_TITLES:
        assert f'## {title}\n' in text
    run_data = json.loads((work_dir / RUN_DATA_FILE).read_text())
    # Real Fashion-MNIST test images are in the density plot.
    assert set(run_data['patch_similarity']['densities']) == {
        'synthetic', 'real', 'gaussian noise'}
    rows = run_data['sensitivity']
    assert rows[-1]['layer'] == '(all layers)' and len(rows) > 10
    assert run_data['sensitivity_cost']['images'] == 32
    assert all(row['top1_drop'] is not None for row in rows)
