"""tools/setup_env.sh refuses a wrong machine plainly, before touching anything."""
import os
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _fake_python(tmp_path, version):
    """An interpreter stand-in that reports ``version`` for any -c program."""
    path = tmp_path / 'python'
    path.write_text(f'#!/bin/sh\necho {version}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _run_setup(tmp_path, **env):
    return subprocess.run(
        ['bash', str(REPO / 'tools' / 'setup_env.sh')],
        env={**os.environ, 'CLAMP_VENV': str(tmp_path / 'venv'), **env},
        capture_output=True, text=True, timeout=60)


def test_wrong_python_version_is_refused_before_any_work(tmp_path):
    result = _run_setup(tmp_path, CLAMP_PYTHON=str(_fake_python(tmp_path, '3.9')))
    assert result.returncode != 0
    assert 'Python 3.9 found' in result.stderr and 'expected 3.11' in result.stderr
    assert not (tmp_path / 'venv').exists()


def test_missing_python_is_named(tmp_path):
    result = _run_setup(tmp_path, CLAMP_PYTHON='python-that-does-not-exist')
    assert result.returncode != 0
    assert "'python-that-does-not-exist' not found" in result.stderr
    assert not (tmp_path / 'venv').exists()
