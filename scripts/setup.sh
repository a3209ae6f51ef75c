#!/usr/bin/env bash
# Creates .venv (if needed) and installs yolo12l with its test extras into it.
# TORCH_SPEC overrides the torch requirement (default: the CPU wheel torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# litdata without its torchvision requirement (see setup.cfg's "stream" extra); its other requirements come with .[test]
LITDATA_SPEC=${LITDATA_SPEC:-litdata==0.2.76}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.yolo12l-installed
want="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1) $TORCH_SPEC $LITDATA_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log=.venv/setup.log
  echo "setup: installing $TORCH_SPEC and yolo12l into .venv (pip's output: $log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q "$TORCH_SPEC" &&
         .venv/bin/python -m pip install -q -e ".[test]" &&
         .venv/bin/python -m pip install -q --no-deps "$LITDATA_SPEC"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup: pip failed (full output in $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
  echo "setup: done"
fi
