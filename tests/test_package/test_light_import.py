"""The library imports without the benchmark's extra (scipy, scikit-image,
matplotlib: ``pip install -e .[bench]``)."""
import json
import subprocess
import sys

import pytest

#: What only the benchmark and experiment harness needs.
BENCH_ONLY = ('scipy', 'skimage', 'matplotlib')


def _loaded_after(code: str) -> list:
    """Top-level packages of BENCH_ONLY in sys.modules after ``code`` runs
    in a fresh interpreter."""
    program = (f'{code}\nimport json, sys\n'
               f'print(json.dumps(sorted({{name.split(".")[0] for name in '
               f'sys.modules}} & set({list(BENCH_ONLY)!r}))))')
    result = subprocess.run([sys.executable, '-c', program],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('code', [
    'import clamp_mm',
    'import clamp_mm.quant, clamp_mm.models, clamp_mm.synth, '
    'clamp_mm.search, clamp_mm.pipeline; clamp_mm.quantize_model',
])
def test_library_import_pulls_no_bench_dependency(code):
    assert _loaded_after(code) == []


def test_the_check_sees_a_bench_dependency():
    # The composite-scene builder needs scipy and scikit-image: the check
    # must report them, or the test above proves nothing.
    assert {'scipy', 'skimage'} <= set(
        _loaded_after('import clamp_mm.datasets.composite'))
