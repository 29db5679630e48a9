"""type='clamp_mm.X' resolves from a config scoped to another OpenMMLab package."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize('scope,registry,type_name', [
    ('mmdet', 'DATASETS', 'clamp_mm.SyntheticImageDataset'),
    ('mmseg', 'LOOPS', 'clamp_mm.QuantTestLoop'),
    ('mmpretrain', 'DATASETS', 'clamp_mm.FashionMNIST'),
])
def test_clamp_mm_type_resolves_without_custom_imports(scope, registry,
                                                       type_name):
    # A fresh interpreter with nothing of clamp_mm imported, as when a user's
    # mmdet/mmseg/mmpretrain config names a clamp_mm type.
    code = (f'from mmengine.registry import init_default_scope\n'
            f'from {scope}.registry import {registry}\n'
            f'init_default_scope("{scope}")\n'
            f'print({registry}.get("{type_name}").__module__)\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith('clamp_mm.')
