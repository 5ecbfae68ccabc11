#!/usr/bin/env bash
# Build the pinned mmrskd stack into a virtualenv (default: ./.venv).
#
# Follows the verified recipe for CPU machines (torch 2.14.1, mmengine 0.10.7,
# mmcv 2.1.0 compiled from the sdist, mmpretrain 1.2.0, mmdet 3.3.0). The
# compiled mmcv wheel is cached outside the repository under
# ${MMRSKD_WHEEL_CACHE:-~/.cache/mmrskd/wheels}, keyed by Python and torch
# version, so only the first build on a machine pays the ~18 minute compile.
#
# Usage: tools/setup_env.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-${MMRSKD_VENV:-.venv}}
PY=${PYTHON:-python3}
CACHE=${MMRSKD_WHEEL_CACHE:-$HOME/.cache/mmrskd/wheels}
REQ=requirements/runtime.txt
pin() { sed -n "s/^$1==\([^ ]*\).*/\1/p" "$REQ"; }
TORCH_VER=$(pin torch)
TV_VER=$(pin torchvision)
MMCV_VER=$(pin mmcv)
[ -n "$TORCH_VER" ] && [ -n "$TV_VER" ] && [ -n "$MMCV_VER" ] || {
  echo "setup_env: cannot read the torch/torchvision/mmcv pins from $REQ" >&2; exit 1; }

log() { echo "[setup_env $(date +%H:%M:%S)] $*"; }
# pip, without the local index's "Location ... is ignored" noise.
pip_() {
  "$VPY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
  return "${PIPESTATUS[0]}"
}

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pip_ install -q "setuptools>=77,<81" wheel

if ! "$VPY" -c "import torch, torchvision; assert torch.__version__.startswith('$TORCH_VER')" 2>/dev/null; then
  log "installing torch $TORCH_VER / torchvision $TV_VER"
  pip_ install -q "torch==$TORCH_VER" "torchvision==$TV_VER"
fi
pip_ install -q numpy "mmengine==$(pin mmengine)" -r requirements/tests.txt -r requirements/deploy.txt

PYTAG=$("$VPY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
WDIR="$CACHE/mmcv-$MMCV_VER-$PYTAG-torch$TORCH_VER"
mkdir -p "$WDIR"

mmcv_ok() { "$VPY" -c "import mmcv; assert mmcv.__version__ == '$MMCV_VER'; from mmcv.ops import nms" 2>/dev/null; }

if ! mmcv_ok; then
  WHL=$(ls "$WDIR"/mmcv-"$MMCV_VER"-*.whl 2>/dev/null | head -n1 || true)
  if [ -n "$WHL" ]; then
    log "installing cached mmcv wheel $WHL"
    pip_ install -q --no-deps --force-reinstall "$WHL"
  fi
  if ! mmcv_ok; then
    log "compiling mmcv $MMCV_VER (about 18 min on 2 cores)"
    SRC=$(mktemp -d)
    pip_ download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VER" -d "$SRC"
    tar -xzf "$SRC"/mmcv-"$MMCV_VER".tar.gz -C "$SRC"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/mmcv-$MMCV_VER/setup.py"
    # mmcv's build needs its runtime deps importable.
    pip_ install -q addict packaging Pillow pyyaml yapf opencv-python-headless ninja
    rm -f "$WDIR"/*.whl
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} pip_ wheel -q --no-build-isolation --no-deps \
      "$SRC/mmcv-$MMCV_VER" -w "$WDIR"
    rm -rf "$SRC"
    pip_ install -q --no-deps --force-reinstall "$WDIR"/mmcv-"$MMCV_VER"-*.whl
  fi
  pip_ install -q addict packaging Pillow pyyaml yapf opencv-python-headless
  mmcv_ok || { echo "mmcv $MMCV_VER installed but 'from mmcv.ops import nms' fails" >&2; exit 1; }
fi

log "installing mmpretrain / mmdet"
pip_ install -q "mmpretrain==$(pin mmpretrain)" "mmdet==$(pin mmdet)"
# The optional extra "rotated" (mmrotate, requirements/rotated.txt), after mmdet and held
# to the installed stack by constraints, so it cannot replace or downgrade any of it.
log "installing the extra rotated (mmrotate)"
HOLD=$(mktemp)
"$VPY" -m pip list --format=freeze 2>/dev/null | grep -iE \
  '^(torch|torchvision|numpy|mmengine|mmcv|mmpretrain|mmdet|opencv-python(-headless)?)==' > "$HOLD"
pip_ install -q -r requirements/rotated.txt -c "$HOLD"
rm -f "$HOLD"
log "installing mmrskd (editable)"
pip_ install -q --no-deps --no-build-isolation -e .
"$VPY" - <<'PY' || { echo "setup_env: the stack in $VENV does not import (see the error above); delete $VENV and run again" >&2; exit 1; }
import torch, mmengine, mmcv, mmpretrain, mmdet
from mmcv.ops import nms, RoIAlign
import mmrskd
import mmrotate  # the extra "rotated": importable with mmrskd's shim (mmrskd/compat.py)
from mmrotate.evaluation import DOTAMetric  # noqa: F401
print('torch', torch.__version__, 'mmengine', mmengine.__version__, 'mmcv', mmcv.__version__,
      'mmpretrain', mmpretrain.__version__, 'mmdet', mmdet.__version__, 'mmrotate',
      mmrotate.__version__, 'mmrskd', mmrskd.__version__)
PY
log "done"
