#!/usr/bin/env bash
# Create (or complete) the mmstim virtual environment: torch, mmengine, mmcv with its
# compiled ops, mmpretrain, mmdet, then mmstim itself in editable mode.
#
# Idempotent: every step checks what is already installed and skips itself.
# The mmcv wheel it builds is kept in $MMSTIM_WHEEL_CACHE, keyed by torch version,
# so a second setup (or a new clone on the same machine) takes seconds.
#
# Environment:
#   VENV                 virtual environment path (default: <repo>/.venv)
#   PYTHON               interpreter that creates it (default: python3.11, else python3)
#   MMSTIM_WHEEL_CACHE   where built mmcv wheels live (default: ~/.cache/mmstim/wheels)
#   MAX_JOBS             parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
WHEEL_CACHE="${MMSTIM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstim/wheels}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMPRETRAIN_VERSION=1.2.0
MMDET_VERSION=3.3.0
SETUPTOOLS_FOR_MMCV='setuptools>=69,<70'
# torch 2.14 needs setuptools>=77.0.3; MMEngine 0.10.7 imports pkg_resources,
# which setuptools 81 removes.
SETUPTOOLS_RUNTIME='setuptools>=77.0.3,<81'

STEP="start"
trap 'echo "[setup] FAILED at step: $STEP (see the output above). Re-run \`make setup\` after fixing it; finished steps are skipped." >&2' ERR

step() { STEP="$1"; echo "[setup] ($(date +%H:%M:%S)) $1"; }

# Compiling mmcv's ops took 34 minutes on 2 cores (about 70 core-minutes).
MMCV_COMPILE_MINUTES=$(( (70 + MAX_JOBS - 1) / MAX_JOBS ))

mmcv_cache_dir() {  # the wheel cache folder of a torch version and python tag
  echo "$WHEEL_CACHE/torch$1-$2"
}

show_compile_progress() {  # reads the build output; one line per ~5% of the files
  local start=$SECONDS line done total shown=-1 elapsed left
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*\[([0-9]+)/([0-9]+)\] ]] || continue
    done=${BASH_REMATCH[1]}; total=${BASH_REMATCH[2]}
    elapsed=$(( SECONDS - start ))
    left=$(( elapsed * (total - done) / done / 60 ))
    if [ -t 1 ]; then
      printf '\r[setup] mmcv: %d/%d files compiled, %d min elapsed, about %d min left ' \
        "$done" "$total" $(( elapsed / 60 )) "$left"
    elif [ $(( 20 * done / total )) -gt "$shown" ]; then
      shown=$(( 20 * done / total ))
      echo "[setup] mmcv: $done/$total files compiled, $(( elapsed / 60 )) min elapsed, about $left min left"
    fi
  done
  [ -t 1 ] && echo || true
}

py() { "$VENV/bin/python" "$@"; }
pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check "$@"; }
installed_version() {  # prints the installed version of a distribution, or nothing
  "$VENV/bin/python" - "$1" <<'PYEOF'
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PYEOF
}

fingerprint() {  # the repository and the installed versions of the stack
  "$VENV/bin/python" - "$REPO_ROOT" <<'PYEOF'
import sys
from importlib import metadata
names = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet',
         'mmstim', 'setuptools')
versions = []
for name in names:
    try:
        versions.append(f'{name}={metadata.version(name)}')
    except metadata.PackageNotFoundError:
        versions.append(f'{name}=none')
print(sys.argv[1], *versions)
PYEOF
}

# A finished setup leaves this stamp; while nothing it checked has changed,
# a later setup only compares versions (about a second instead of half a
# minute of imports).
READY="$VENV/.mmstim-ready"
if [ -f "$READY" ] && [ ! "$REPO_ROOT/setup.cfg" -nt "$READY" ] && \
   [ ! "$REPO_ROOT/tools/setup_env.sh" -nt "$READY" ] && \
   [ "$(fingerprint 2>/dev/null)" = "$(cat "$READY")" ]; then
  echo "[setup] environment ready: nothing changed since its last check (remove $READY to check again)"
  exit 0
fi
rm -f "$READY"

INTERPRETER="$VENV/bin/python"; [ -x "$INTERPRETER" ] || INTERPRETER="$PYTHON"
PY_TAG="$("$INTERPRETER" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
if ! ls "$(mmcv_cache_dir "$TORCH_VERSION" "$PY_TAG")"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1 && \
   ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; }; then
  echo "[setup] First setup on this machine: PyPI has no mmcv $MMCV_VERSION wheel for torch $TORCH_VERSION,"
  echo "[setup] so step 4 compiles mmcv's ops: about $MMCV_COMPILE_MINUTES min with MAX_JOBS=$MAX_JOBS (34 min on 2 cores)."
  echo "[setup] It happens once: the wheel is kept in $WHEEL_CACHE and later setups take seconds."
fi

step "1/7 virtual environment at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

step "2/7 torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
if [ "$(installed_version torch | cut -d+ -f1)" != "$TORCH_VERSION" ] || \
   [ "$(installed_version torchvision | cut -d+ -f1)" != "$TORCHVISION_VERSION" ]; then
  pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

step "3/7 mmengine $MMENGINE_VERSION"
if [ "$(installed_version mmengine)" != "$MMENGINE_VERSION" ]; then
  pip_install "mmengine==$MMENGINE_VERSION"
fi

step "4/7 mmcv $MMCV_VERSION with compiled ops"
if [ -n "$(installed_version mmcv-lite)" ]; then
  echo "[setup] mmcv-lite is installed: it has no compiled ops, which MMDet needs. Removing it."
  "$VENV/bin/python" -m pip uninstall -y mmcv-lite
fi
if [ "$(installed_version mmcv)" != "$MMCV_VERSION" ] || ! py -c "import mmcv.ops" 2>/dev/null; then
  CACHE_DIR="$(mmcv_cache_dir "$(installed_version torch | tr '+' '_')" "$PY_TAG")"
  WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$WHEEL" ]; then
    BUILD_DIR="$(mktemp -d)"
    echo "[setup] no mmcv wheel in $CACHE_DIR: compiling mmcv $MMCV_VERSION, about" \
      "$MMCV_COMPILE_MINUTES min (MAX_JOBS=$MAX_JOBS); full log: $BUILD_DIR/build.log"
    pip_install --quiet "$SETUPTOOLS_FOR_MMCV" wheel ninja
    "$VENV/bin/python" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
      "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
    # torch >= 2.6 requires C++20 for its headers; mmcv 2.1.0 hard-codes C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    mkdir -p "$CACHE_DIR"
    if ! (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=0 "$VENV/bin/python" -m pip wheel -v \
          --disable-pip-version-check --no-build-isolation --no-deps --no-cache-dir . -w "$CACHE_DIR") \
          2>&1 | tee "$BUILD_DIR/build.log" | show_compile_progress; then
      tail -n 40 "$BUILD_DIR/build.log" >&2
      echo "[setup] compiling mmcv failed; the log is $BUILD_DIR/build.log" >&2
      exit 1
    fi
    rm -rf "$BUILD_DIR"
    WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
  else
    echo "[setup] reusing the cached mmcv wheel $WHEEL"
  fi
  pip_install --no-deps --force-reinstall "$WHEEL"
  pip_install "$WHEEL"  # its pure-Python requirements
fi

step "5/7 mmpretrain $MMPRETRAIN_VERSION + mmdet $MMDET_VERSION"
if [ "$(installed_version mmpretrain)" != "$MMPRETRAIN_VERSION" ] || \
   [ "$(installed_version mmdet)" != "$MMDET_VERSION" ] || \
   ! py -W ignore -c "import pkg_resources, sys; import setuptools as s; \
sys.exit(int(s.__version__.split('.')[0]) < 77)" 2>/dev/null; then
  pip_install "mmpretrain==$MMPRETRAIN_VERSION" "mmdet==$MMDET_VERSION" \
    "$SETUPTOOLS_RUNTIME"
fi

step "6/7 mmstim (editable, with its test extra)"
if [ -z "$(installed_version mmstim)" ] || [ ! -f "$VENV/.mmstim-installed" ] || \
   [ "$REPO_ROOT/setup.cfg" -nt "$VENV/.mmstim-installed" ] || \
   [ "$(cat "$VENV/.mmstim-installed")" != "$REPO_ROOT" ]; then
  pip_install -e "$REPO_ROOT[tests]"
  echo "$REPO_ROOT" > "$VENV/.mmstim-installed"
fi

step "7/7 checking the environment"
py "$REPO_ROOT/tools/check_env.py"
fingerprint > "$READY"
echo "[setup] done: activate with 'source $VENV/bin/activate'"
