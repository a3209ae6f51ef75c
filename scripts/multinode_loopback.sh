#!/usr/bin/env bash
# Two "nodes" on this machine, talking over loopback only: two torchrun launchers (--nnodes 2, one process each,
# --node-rank 0 and 1, master 127.0.0.1) run scripts/train_run.py, i.e. a tiny fit with
# Trainer(accelerator="cpu", num_nodes=2, devices=1, strategy="ddp").
#
#   scripts/multinode_loopback.sh OUT_DIR [CACHE_DIR] [extra train_run.py arguments...]
#
# Env: PYTHON (default: python3 on PATH), MASTER_PORT (default: a free port), TIMEOUT seconds (default 300).
# Writes OUT_DIR/node{0,1}.log (each launcher's output), OUT_DIR/events.jsonl (train_run.py's event log, both ranks),
# OUT_DIR/checkpoints/. Exits non-zero if either node fails; the other one is then stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: $0 OUT_DIR [CACHE_DIR] [train_run.py args...]}
CACHE=${2:-$OUT/cache}
shift $(( $# >= 2 ? 2 : 1 ))
PY=${PYTHON:-python3}
if [ -x "$(dirname "$(command -v "$PY")")/torchrun" ]; then
  TORCHRUN=("$(dirname "$(command -v "$PY")")/torchrun")
else
  TORCHRUN=("$PY" -m torch.distributed.run)
fi
FREE_PORT='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
PORT=${MASTER_PORT:-$("$PY" -c "$FREE_PORT")}
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}  # gloo must not pick another interface
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

pids=()
for rank in 0 1; do
  timeout "${TIMEOUT:-300}" "${TORCHRUN[@]}" --nnodes 2 --nproc-per-node 1 --node-rank "$rank" \
      --master-addr 127.0.0.1 --master-port "$PORT" \
      scripts/train_run.py --root "$OUT" --cache-dir "$CACHE" --epochs 1 --num-nodes 2 --devices 1 \
      --strategy ddp --loss-log "$OUT/events.jsonl" "$@" > "$OUT/node$rank.log" 2>&1 &
  pids+=($!)
done

status=0
for _ in 0 1; do  # the two launchers are this shell's only background jobs
  if ! wait -n; then
    status=1
    kill "${pids[@]}" 2>/dev/null || true  # the other node would wait for its peer until TIMEOUT
  fi
done
for rank in 0 1; do
  echo "--- node $rank (last lines of $OUT/node$rank.log)"
  tail -n 5 "$OUT/node$rank.log"
done
exit $status
