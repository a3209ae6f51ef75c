#!/usr/bin/env bash
# Main job: set up .venv, train yolo12n on the built-in synthetic shapes dataset on CPU, validate the best
# checkpoint, predict the validation images, and say where everything is. Extra arguments go to `fit`
# (e.g. --trainer.max_epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
run=runs/quickstart
start=$(date +%s)
.venv/bin/yolo12l fit --config configs/quickstart.yaml "$@"
train_s=$(( $(date +%s) - start ))
version=$(ls -td $run/logs/version_* | head -1)
best=$(ls -t "$version/checkpoints"/best-*.ckpt | head -1)
.venv/bin/yolo12l validate --config configs/quickstart.yaml --ckpt_path "$best" "$@"
.venv/bin/yolo12l predict --config configs/quickstart.yaml --ckpt_path "$best" "$@"
.venv/bin/python - "$version" "$train_s" <<'PY'
import json, sys
from pathlib import Path
version, train_s = Path(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(line) for line in (version / "val_metrics.jsonl").read_text().splitlines()]
best = max(rows, key=lambda r: r["mAP50-95"])
print(f"\nquickstart: trained in {train_s} s; best epoch {best['epoch']}: mAP50-95 {best['mAP50-95']:.3f}, "
      f"mAP50 {best['mAP50']:.3f}")
print(f"  per-class AP50-95: " + ", ".join(f"{k} {v:.3f}" for k, v in best["per_class_ap50_95"].items()))
print(f"  run folder:   {version} (config.yaml, checkpoints/, TensorBoard events, plots/)")
out = max(Path("runs/quickstart").glob("predict*/predictions.json"), key=lambda p: p.stat().st_mtime).parent
print(f"  predictions:  {out}/predictions.json and {out}/images/")
PY
