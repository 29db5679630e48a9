"""type='clamp_mm.X' resolves from a config scoped to another OpenMMLab package."""
import subprocess
import sys


def test_clamp_mm_type_resolves_from_mmdet_scope_without_custom_imports():
    # A fresh interpreter: nothing of clamp_mm imported beforehand, as when a
    # user's mmdet config names a clamp_mm type.
    code = (
        'from mmengine.registry import init_default_scope\n'
        'from mmdet.registry import MODELS\n'
        'init_default_scope("mmdet")\n'
        'cls = MODELS.get("clamp_mm.QuantLinear")\n'
        'print(cls.__module__)\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip().startswith('clamp_mm.quant')
