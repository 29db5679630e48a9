#!/usr/bin/env bash
# Idempotent set-up of the clamp_mm stack: virtualenv, torch, mmcv with compiled ops
# (built once from its PyPI source and cached as a wheel), the OpenMMLab packages, the
# Fashion-MNIST Debian package, then a check that mmcv.ops runs.
#
# Usage: bash tools/setup_env.sh
# Environment:
#   CLAMP_VENV         virtualenv folder (default: <repo>/.venv)
#   CLAMP_WHEEL_CACHE  where the built mmcv wheel is kept (default: ~/.cache/clamp_mm/wheels)
#   CLAMP_PYTHON       interpreter that creates the venv (default: python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CLAMP_VENV:-$repo/.venv}"
wheel_cache="${CLAMP_WHEEL_CACHE:-$HOME/.cache/clamp_mm/wheels}"
python_bin="${CLAMP_PYTHON:-python3}"
mmcv_version="2.1.0"
started=$SECONDS

say() { printf '[setup %4ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- preflight: say plainly what is missing and how to fix it ----------------------------
command -v "$python_bin" >/dev/null || fail "'$python_bin' not found; install Python 3.11 or set CLAMP_PYTHON"
py_version="$("$python_bin" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$py_version" = "3.11" ] || fail "Python $py_version found at $(command -v "$python_bin"), expected 3.11 (torch 2.14.1 on this disk is cp311); set CLAMP_PYTHON"
[ "$(uname -m)" = "x86_64" ] || fail "machine is $(uname -m), expected x86_64"
free_gb="$(df -Pk "$repo" | awk 'NR==2 {print int($4 / 1048576)}')"
[ "$free_gb" -ge 10 ] || fail "only ${free_gb} GB free on $(df -P "$repo" | awk 'NR==2 {print $6}'), need about 10 GB (the venv is ~6 GB); free some disk"

# ---- real data: Fashion-MNIST from Debian -------------------------------------------------
fmnist_dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$fmnist_dir/train-images-idx3-ubyte.gz" ]; then
    command -v apt-get >/dev/null || fail "apt-get not found: install the Debian package dataset-fashion-mnist by hand"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    say "installing Debian package dataset-fashion-mnist"
    $sudo_cmd apt-get update -qq || fail "apt-get update failed: is the Debian mirror reachable (and are you root or a sudoer)?"
    $sudo_cmd apt-get install -y -qq dataset-fashion-mnist >/dev/null \
        || fail "apt-get install dataset-fashion-mnist failed"
fi

# ---- virtualenv ---------------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtualenv $venv"
    "$python_bin" -m venv "$venv" || fail "could not create a virtualenv at $venv (Debian: apt-get install python3-venv)"
fi
py="$venv/bin/python"
pip() { "$py" -m pip --disable-pip-version-check "$@"; }

installed() {  # installed NAME VERSION -> true when that exact version is installed
    [ "$("$py" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}

say "installing torch 2.14.1 / torchvision 0.29.1 and build tools"
installed torch 2.14.1 && installed torchvision 0.29.1 \
    || pip install -q torch==2.14.1 torchvision==0.29.1 \
    || fail "pip could not install torch==2.14.1 torchvision==0.29.1"
# After torch, which pulls a setuptools without pkg_resources (mmcv and mmengine need it).
pip install -q "setuptools<81" wheel ninja

# ---- mmcv with compiled ops ---------------------------------------------------------------
build_mmcv_wheel() {
    command -v g++ >/dev/null || fail "no C++ compiler: apt-get install g++ (mmcv's ops are compiled from source)"
    local work
    work="$(mktemp -d)"
    say "downloading the mmcv $mmcv_version source from PyPI"
    pip download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$mmcv_version" -d "$work" \
        || fail "could not download the mmcv $mmcv_version source from PyPI"
    tar -xzf "$work"/mmcv-"$mmcv_version".tar.gz -C "$work"
    local src="$work/mmcv-$mmcv_version"
    # torch 2.14's headers require C++20; mmcv 2.1.0 asks for C++17. Nothing else changes.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    say "compiling mmcv ops (77 C++ files on CPU; ~12 min on 2 idle cores, ~24 min on a busy machine)"
    local cuda=0
    command -v nvcc >/dev/null && "$py" -c 'import torch,sys; sys.exit(not torch.cuda.is_available())' && cuda=1
    (
        cd "$src"
        # setuptools >= 80 lets CFLAGS replace Python's flags: give the whole set.
        MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS="$(nproc)" CFLAGS="-O2 -g0 -DNDEBUG -fwrapv" \
            "$py" setup.py -q bdist_wheel -d "$work/dist" >"$work/build.log" 2>&1
    ) &
    local build_pid=$!
    while kill -0 "$build_pid" 2>/dev/null; do
        # ninja numbers its steps "[n/total]": show the latest one as progress.
        local step
        step="$(grep -o '^\[[0-9]*/[0-9]*\]' "$work/build.log" 2>/dev/null | tail -1 || true)"
        if [ -t 1 ]; then
            printf '\r[setup %4ds] compiling mmcv ops %s   ' "$((SECONDS - started))" "${step:-[starting]}"
            sleep 5
        else  # a log file: one line a minute
            say "compiling mmcv ops ${step:-[starting]}"
            sleep 60
        fi
    done
    [ -t 1 ] && echo
    wait "$build_pid" || { tail -30 "$work/build.log" >&2; fail "mmcv build failed; full log: $work/build.log"; }
    mkdir -p "$wheel_cache"
    cp "$work"/dist/mmcv-*.whl "$wheel_cache/"
    say "cached $(ls "$work"/dist/mmcv-*.whl | xargs -n1 basename) in $wheel_cache"
    rm -rf "$work"
}

if ! installed mmcv "$mmcv_version"; then
    ls "$wheel_cache"/mmcv-"$mmcv_version"-*.whl >/dev/null 2>&1 || build_mmcv_wheel
    say "installing the cached mmcv wheel"
    pip install -q --no-deps "$(ls "$wheel_cache"/mmcv-"$mmcv_version"-*.whl | head -1)"
fi

say "installing clamp_mm and the OpenMMLab packages"
# tests pulls bench (the benchmark and experiment harness): CI runs both;
# tracking: tensorboard, for mmengine's TensorboardVisBackend.
pip install -q -e "$repo[tests,bench,tracking]" || fail "pip install -e .[tests,bench,tracking] failed (see above)"

say "checking the stack"
"$py" "$repo/tools/check_stack.py" || fail "stack check failed"
say "done in $((SECONDS - started)) s; activate with: source $venv/bin/activate"
