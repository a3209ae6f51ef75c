#!/usr/bin/env bash
# Creates .venv-ul/: a separate venv with Ultralytics 8.4.190 *and* yolo12l, for side-by-side benchmarks and the
# training comparison (python -m benchmarks compare_ultralytics, bench_inference, bench_train, ...: the runner
# re-executes those under this venv, $YOLO12L_UL_PYTHON). The yolo12l package
# itself never imports ultralytics; only these benchmark scripts do, when it is importable.
# Ultralytics needs torchvision, which does not import beside the torch==2.13.0 CPU wheel, so this venv uses
# torch 2.14.1 + torchvision 0.29.1 (a CUDA build that runs on the CPU; override with UL_TORCH_SPEC).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
UL_TORCH_SPEC=${UL_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
LITDATA_SPEC=${LITDATA_SPEC:-litdata==0.2.76}  # as scripts/setup.sh: without its torchvision pin (bench_train streaming)
[ -x .venv-ul/bin/python ] || "$PY" -m venv .venv-ul
stamp=.venv-ul/.installed
want="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1) $UL_TORCH_SPEC ultralytics==8.4.190 sahi==0.12.8 $LITDATA_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv-ul/bin/python -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  .venv-ul/bin/python -m pip install -q $UL_TORCH_SPEC
  .venv-ul/bin/python -m pip install -q "ultralytics==8.4.190" "sahi==0.12.8"  # SAHI: python -m benchmarks bench_sliced
  .venv-ul/bin/python -m pip install -q -e ".[test]"
  .venv-ul/bin/python -m pip install -q --no-deps "$LITDATA_SPEC"
  echo "$want" > "$stamp"
fi
# Ultralytics: no network calls (update checks, font downloads, hub sync) on this offline machine.
export YOLO_OFFLINE=1
.venv-ul/bin/python -c "import ultralytics, torch, yolo12l; print('ultralytics', ultralytics.__version__, 'torch', torch.__version__)"
