"""Study plots (matplotlib, Agg): validation mAP50-95 per epoch (each variant's mean over seeds with a +-1 std band,
seeds as thin lines), and mAP50-95 against latency and against GFLOPs (mean with +-1 std error bars)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker

from .stats import mean_std


def plot_curves(curves: dict[str, dict[int, list[list[float]]]], path: Path) -> Path:
    """``curves``: variant -> seed -> [[epoch, mAP50-95], …] -> a PNG at ``path``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for i, (variant, seeds) in enumerate(curves.items()):
        color = f"C{i % 10}"
        epochs = sorted({int(e) for c in seeds.values() for e, _ in c})
        means, lows, highs = [], [], []
        for e in epochs:
            vals = [v for c in seeds.values() for ee, v in c if int(ee) == e]
            m, s = mean_std(vals)
            means.append(100 * m)
            lows.append(100 * (m - (s or 0.0)))
            highs.append(100 * (m + (s or 0.0)))
        x = [e + 1 for e in epochs]
        for c in seeds.values():
            ax.plot([e + 1 for e, _ in c], [100 * v for _, v in c], color=color, lw=0.6, alpha=0.35)
        ax.plot(x, means, color=color, lw=2, marker="o", ms=3, label=f"{variant} (n={len(seeds)})")
        ax.fill_between(x, lows, highs, color=color, alpha=0.18, lw=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mAP50-95 (%)")
    ax.set_title("Validation mAP50-95: mean over seeds ± 1 std (thin: seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_scatter(rows: list[dict[str, Any]], x_key: str, x_label: str, path: Path) -> Path:
    """mAP50-95 (mean ± std over seeds) of each variant against ``x_key`` of its row."""
    fig, ax = plt.subplots(figsize=(5.6, 4.2), dpi=120)
    shown = [r for r in rows if r.get(x_key) is not None and r.get("mAP50-95_mean") is not None]
    for i, r in enumerate(shown):
        ax.errorbar(r[x_key], 100 * r["mAP50-95_mean"], yerr=100 * (r["mAP50-95_std"] or 0.0), fmt="o",
                    color=f"C{rows.index(r) % 10}", capsize=4, label=f"{r['variant']} (n={r['n']})")
        ax.annotate(r["variant"], (r[x_key], 100 * r["mAP50-95_mean"]), textcoords="offset points", xytext=(6, 4),
                    fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel("val mAP50-95 (%)")
    ax.set_title(f"mAP50-95 vs {x_label.split(' (')[0]} (± 1 std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=8)
        ax.margins(x=0.25, y=0.25)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def study_plots(out: Path, rows: list[dict[str, Any]], curves: dict[str, dict[int, list[list[float]]]],
                imgsz: int) -> list[Path]:
    """``out/plots/{val_map_per_epoch,map_vs_latency,map_vs_gflops}.png``."""
    plots = Path(out) / "plots"
    return [plot_curves(curves, plots / "val_map_per_epoch.png"),
            plot_scatter(rows, "latency_ms", "latency (ms, batch 1, median)", plots / "map_vs_latency.png"),
            plot_scatter(rows, "gflops", f"GFLOPs ({imgsz}x{imgsz})", plots / "map_vs_gflops.png")]
