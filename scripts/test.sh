#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite, one pytest-xdist worker per core (YOLO12L_TEST_WORKERS overrides;
# 0 runs in one process). Multi-process (DDP) tests share one worker. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers=${YOLO12L_TEST_WORKERS:-auto}
if [ "$workers" = 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadgroup "$@"
