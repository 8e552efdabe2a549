#!/usr/bin/env bash
# Create (or complete) the mmstim virtual environment, in two stages:
#
#   install/setup_env.sh             classification (`make setup`): torch,
#                                    mmengine, mmcv-lite (mmcv without its
#                                    compiled ops), mmpretrain, mmdet, mmstim;
#                                    nothing is compiled
#   install/setup_env.sh --with-ops  detection too (`make setup-det`): the same,
#                                    with mmcv's compiled ops (MMDet's detectors
#                                    need them) in place of mmcv-lite
#
# PyPI has no mmcv wheel for this torch, so the ops are compiled from mmcv's
# source archive once (34 minutes on 2 cores) and the wheel is kept in
# $MMSTIM_WHEEL_CACHE, keyed by torch version and Python tag: a later setup,
# a new clone or a rebuilt environment on the same machine installs it in
# seconds, in both stages. An installed mmcv in mmstim's range whose ops load
# is never replaced (install/mmcv_plan.py decides what happens to mmcv).
#
# Idempotent: every step checks what is already installed and skips itself.
#
# Environment:
#   VENV                 virtual environment path (default: <repo>/.venv)
#   PYTHON               interpreter that creates it (default: python3.11, else python3)
#   MMSTIM_WHEEL_CACHE   where built mmcv wheels live (default: ~/.cache/mmstim/wheels)
#   MAX_JOBS             parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

WITH_OPS=0
case "${1:-}" in
  --with-ops) WITH_OPS=1 ;;
  "") ;;
  *) echo "usage: $0 [--with-ops]" >&2; exit 2 ;;
esac

INSTALL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$INSTALL_DIR")"
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

# Compiling mmcv's ops took 34 minutes on 2 cores (about 68 core-minutes).
MMCV_COMPILE_MINUTES=$(( (68 + MAX_JOBS - 1) / MAX_JOBS ))

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
# mmpretrain and mmdet name mmcv only in their `mim` extra, and mmstim does not
# require it at all, so no install below asks pip for mmcv. Should a package
# ever require it, `--only-binary mmcv,mmcv-full` makes pip fail at once
# instead of compiling mmcv from its source archive for half an hour (PyPI
# has only that archive); mmcv-lite, a different distribution, never
# satisfies such a requirement.
pip_install() {
  "$VENV/bin/python" -m pip install --disable-pip-version-check \
    --only-binary mmcv,mmcv-full "$@"
}
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
names = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmcv-lite', 'mmpretrain',
         'mmdet', 'mmstim', 'setuptools')
versions = []
for name in names:
    try:
        versions.append(f'{name}={metadata.version(name)}')
    except metadata.PackageNotFoundError:
        versions.append(f'{name}=none')
print(sys.argv[1], *versions)
PYEOF
}

# A finished setup leaves this stamp: the installed versions and whether
# mmcv's ops load ("ops=yes"/"ops=no"). While nothing it checked has
# changed, a later setup of a stage the stamp covers only compares versions
# (a fraction of a second instead of half a minute of imports).
READY="$VENV/.mmstim-ready"
stamp_is_current() {
  local input fingerprint_now
  [ -f "$READY" ] || return 1
  for input in "$REPO_ROOT/setup.cfg" "$INSTALL_DIR"/*.sh "$INSTALL_DIR"/*.py \
               "$REPO_ROOT"/requirements/*.txt; do
    [ ! "$input" -nt "$READY" ] || return 1
  done
  fingerprint_now="$(fingerprint 2>/dev/null)" || return 1
  [ "$(cat "$READY")" = "$fingerprint_now ops=yes" ] || \
    { [ "$WITH_OPS" = 0 ] && [ "$(cat "$READY")" = "$fingerprint_now ops=no" ]; }
}
if [ -x "$VENV/bin/python" ] && stamp_is_current; then
  echo "[setup] environment ready: nothing changed since its last check (remove $READY to check again)"
  exit 0
fi
rm -f "$READY"

INTERPRETER="$VENV/bin/python"; [ -x "$INTERPRETER" ] || INTERPRETER="$PYTHON"
PY_TAG="$("$INTERPRETER" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
if [ "$WITH_OPS" = 1 ] && \
   ! ls "$(mmcv_cache_dir "$TORCH_VERSION" "$PY_TAG")"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1 && \
   ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; }; then
  echo "[setup] First detection setup on this machine: PyPI has no mmcv $MMCV_VERSION wheel for torch $TORCH_VERSION,"
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

compile_mmcv() {  # compiles mmcv's ops into a wheel in $1 (34 min on 2 cores)
  local cache_dir="$1" build_dir src
  build_dir="$(mktemp -d)"
  echo "[setup] no mmcv wheel in $cache_dir: compiling mmcv $MMCV_VERSION, about" \
    "$MMCV_COMPILE_MINUTES min (MAX_JOBS=$MAX_JOBS); full log: $build_dir/build.log"
  pip_install --quiet "$SETUPTOOLS_FOR_MMCV" wheel ninja
  "$VENV/bin/python" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$build_dir"
  tar -xzf "$build_dir"/mmcv-"$MMCV_VERSION".tar.gz -C "$build_dir"
  src="$build_dir/mmcv-$MMCV_VERSION"
  # torch >= 2.6 requires C++20 for its headers; mmcv 2.1.0 hard-codes C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  mkdir -p "$cache_dir"
  if ! (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 "$VENV/bin/python" -m pip wheel -v \
        --disable-pip-version-check --no-build-isolation --no-deps --no-cache-dir . -w "$cache_dir") \
        2>&1 | tee "$build_dir/build.log" | show_compile_progress; then
    tail -n 40 "$build_dir/build.log" >&2
    echo "[setup] compiling mmcv failed; the log is $build_dir/build.log" >&2
    exit 1
  fi
  rm -rf "$build_dir"
}

if [ "$WITH_OPS" = 1 ]; then
  step "4/7 mmcv $MMCV_VERSION with its compiled ops"
else
  step "4/7 mmcv $MMCV_VERSION (mmcv-lite unless compiled ops are already at hand)"
fi
CACHE_DIR="$(mmcv_cache_dir "$(installed_version torch | tr '+' '_')" "$PY_TAG")"
WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
PLAN_ARGS=(--cached-wheel "$WHEEL")
if [ "$WITH_OPS" = 1 ]; then PLAN_ARGS+=(--with-ops); fi
PLAN="$(py "$INSTALL_DIR/mmcv_plan.py" "${PLAN_ARGS[@]}")"
eval "$PLAN"  # sets MMCV_ACTION, MMCV_REMOVE, MMCV_REASON
echo "[setup] mmcv: $MMCV_REASON"
if [ "$MMCV_ACTION" = compile ]; then
  compile_mmcv "$CACHE_DIR"
  WHEEL="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
  MMCV_ACTION=install-wheel
fi
if [ "$MMCV_ACTION" != keep ] && [ -n "$MMCV_REMOVE" ]; then
  # mmcv and mmcv-lite install the same `mmcv` package: uninstalling one after
  # installing the other would delete the files they share.
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip uninstall -y $MMCV_REMOVE
fi
case "$MMCV_ACTION" in
  install-wheel)
    echo "[setup] installing $WHEEL"
    pip_install --no-deps --force-reinstall "$WHEEL"
    pip_install "$WHEEL"  # its pure-Python requirements
    ;;
  install-lite)
    pip_install "mmcv-lite==$MMCV_VERSION"
    ;;
esac

step "5/7 mmpretrain $MMPRETRAIN_VERSION + mmdet $MMDET_VERSION"
if [ "$(installed_version mmpretrain)" != "$MMPRETRAIN_VERSION" ] || \
   [ "$(installed_version mmdet)" != "$MMDET_VERSION" ] || \
   ! py -W ignore -c "import pkg_resources, sys; import setuptools as s; \
sys.exit(int(s.__version__.split('.')[0]) < 77)" 2>/dev/null; then
  pip_install "mmpretrain==$MMPRETRAIN_VERSION" "mmdet==$MMDET_VERSION" \
    "$SETUPTOOLS_RUNTIME"
fi

step "6/7 mmstim (editable, with its tests and deploy extras)"
if [ -z "$(installed_version mmstim)" ] || [ ! -f "$VENV/.mmstim-installed" ] || \
   [ "$REPO_ROOT/setup.cfg" -nt "$VENV/.mmstim-installed" ] || \
   [ "$(cat "$VENV/.mmstim-installed")" != "$REPO_ROOT" ]; then
  pip_install -e "$REPO_ROOT[tests,deploy]"
  echo "$REPO_ROOT" > "$VENV/.mmstim-installed"
fi

step "7/7 checking the environment"
if [ "$WITH_OPS" = 1 ]; then
  py "$REPO_ROOT/tools/check_env.py" --require-ops
  OPS=yes
else
  py "$REPO_ROOT/tools/check_env.py"
  OPS=no
  if py -c "import mmcv.ops" 2>/dev/null; then OPS=yes; fi
fi
echo "$(fingerprint) ops=$OPS" > "$READY"
if [ "$OPS" = no ]; then
  echo "[setup] classification is ready. Detection (tools/det/train.py, tools/det/test.py," \
    "make test) needs mmcv's compiled ops: \`make setup-det\` compiles them once," \
    "about $MMCV_COMPILE_MINUTES min with MAX_JOBS=$MAX_JOBS (34 min on 2 cores)."
fi
echo "[setup] done: activate with 'source $VENV/bin/activate'"
