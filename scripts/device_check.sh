#!/usr/bin/env bash
# GPU check for one H100/H200 machine (16 cores, no network), finishing in under 8 minutes: the precision matrix
# (fit/validate/test/predict/export through the CLI in 16-mixed with GradScaler and bf16-mixed, bf16 + 2-GPU DDP,
# which SDPA kernel area attention runs),
# bf16-mixed / 16-mixed fit steps of yolo12n and yolo12s at 640 px, batch 64, on generated data (finite losses, img/s,
# peak memory), the same with Ultralytics for the ratio (when importable), loader img/s with 16 workers against the
# GPU step rate, 2-process DDP when 2 GPUs are visible. Writes <outdir>/device_check.json (see scripts/device_check.py).
#
#   scripts/device_check.sh [--wheels DIR] [OUTDIR]        # OUTDIR defaults to $OUT
#   scripts/device_check.sh --dry-run DIR                   # same code paths on CPU, tiny sizes, a few steps (CI-safe)
#
# The GPU machine is expected to have torch, lightning, torchmetrics, einops and onnx. Everything else travels as
# wheels: prepare them here (with network) for the machine's Python, e.g.
#   python -m pip download -d wheels --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
#       albumentations pycocotools opencv-python-headless "jsonargparse[signatures]" tensorboard matplotlib pyyaml \
#       pillow
#   python -m pip download -d wheels --no-deps ultralytics==8.4.190 ultralytics-thop   # optional, for the ratios
# (Ultralytics also needs torchvision matching the machine's torch, and polars/scipy/psutil/requests; without them
# the Ultralytics measurements are recorded as skipped.) --wheels DIR installs every wheel in DIR with
# `pip install --no-index --no-deps`, so DIR must hold the whole closure except the preinstalled packages.
# PYTHON selects the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
wheels="" dry="" out="${OUT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --dry-run) dry="--dry-run"; if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then out="$2"; shift; fi; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) out="$1"; shift ;;
  esac
done
[ -n "$out" ] || { echo "device_check.sh: give an output folder (argument) or set \$OUT" >&2; exit 2; }
if [ -n "$wheels" ]; then
  shopt -s nullglob
  whl=("$wheels"/*.whl)
  [ ${#whl[@]} -gt 0 ] || { echo "device_check.sh: no wheels in $wheels" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps "${whl[@]}"
fi
export YOLO_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
# 470 s hard stop (the script stops starting sections after its own 420 s budget and rewrites its JSON after each)
exec timeout 470 "$PY" scripts/device_check.py --out "$out" $dry
