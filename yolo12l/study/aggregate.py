"""One row per variant of a study from its run folders: size, latency, mean +- std of the final validation over
seeds, the difference to the baseline and a paired t-test over matching seeds.

Every number comes from the run folders' ``result.json`` (the last epoch's validation record of each fit, i.e. the
EMA weights the fit validates with, not the best epoch); params and GFLOPs are :func:`yolo12l.models.build_model`
+ :func:`yolo12l.models.flops.count_flops` of the trained model YAML and class count, as ``yolo12l info --model M
--nc NC --imgsz S`` prints them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import StudyConfig
from .runner import RunFolder
from .stats import mean_std, paired_t_test

EVALUATED = "final epoch, EMA weights"
COLUMNS = ("variant", "n", "params", "gflops", "latency_ms", "latency_p95_ms", "mAP50_mean", "mAP50_std",
           "mAP50-95_mean", "mAP50-95_std", "mAP75_mean", "mAP_small_mean", "mAP_small_std", "delta_mAP50-95",
           "delta_mAP50", "n_pairs", "p_value", "failed")


def run_folder(out: Path, variant: str, seed: int) -> RunFolder:
    return RunFolder(Path(out) / "runs" / variant / f"seed{seed}")


@dataclass
class StudyRuns:
    """The finished results of every (variant, seed) and the names of the runs that are not finished."""

    results: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)
    unfinished: dict[str, list[int]] = field(default_factory=dict)


def collect_runs(study: StudyConfig) -> StudyRuns:
    runs = StudyRuns()
    for variant, seed in study.grid():
        folder = run_folder(study.out, variant, seed)
        result = folder.result()
        if result is not None:
            runs.results.setdefault(variant, {})[seed] = result
        elif folder.failed_file.is_file():
            runs.failed.setdefault(variant, []).append(seed)
        else:
            runs.unfinished.setdefault(variant, []).append(seed)
    return runs


def model_size(model: str, scale: str | None, num_classes: int | None, imgsz: int) -> tuple[int, float]:
    """(parameters, GFLOPs at imgsz x imgsz) exactly as ``yolo12l info`` counts them."""
    from ..models import build_model
    from ..models.flops import count_flops, to_meta

    net = build_model(model, scale=scale, nc=num_classes)
    params = net.num_params()
    return params, count_flops(to_meta(net), (imgsz, imgsz)).gflops


def _values(results: dict[int, dict[str, Any]], key: str) -> list[float]:
    """The runs' final ``key``; COCO's -1 (no ground truth of that size) is no value."""
    return [r["final"][key] for _, r in sorted(results.items()) if r["final"].get(key, -1) >= 0]


def variant_rows(study: StudyConfig, runs: StudyRuns, latency: dict[str, dict[str, Any]],
                 imgsz: int) -> list[dict[str, Any]]:
    """One row (the :data:`COLUMNS`) per variant; metrics of variants without a finished run are None."""
    base = runs.results.get(study.baseline, {})
    rows = []
    for variant in study.variants:
        res = runs.results.get(variant, {})
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(variant=variant, n=len(res), failed=[f"{variant}/seed{s}" for s in runs.failed.get(variant, [])]
                   + [f"{variant}/seed{s} (unfinished)" for s in runs.unfinished.get(variant, [])])
        if res:
            first = res[min(res)]
            row["params"], row["gflops"] = model_size(first["model"], first.get("scale"), first.get("num_classes"),
                                                      imgsz)
            for key in ("mAP50", "mAP50-95", "mAP75", "mAP_small"):
                m, s = mean_std(_values(res, key))
                row[f"{key}_mean"] = m
                if f"{key}_std" in row:
                    row[f"{key}_std"] = s
            seeds = sorted(set(res) & set(base)) if variant != study.baseline else []
            for key in ("mAP50-95", "mAP50"):
                test = paired_t_test([base[s]["final"][key] for s in seeds], [res[s]["final"][key] for s in seeds])
                row[f"delta_{key}"] = test.mean_diff if variant != study.baseline else 0.0
                if key == "mAP50-95":
                    row["n_pairs"], row["p_value"] = test.n, test.p_value
        lat = latency.get(variant)
        if lat:
            stats = lat["results"]["batch1"]["forward"]
            row["latency_ms"], row["latency_p95_ms"] = stats["median_ms"], stats["p95_ms"]
        rows.append(row)
    return rows


def epoch_curves(study: StudyConfig, runs: StudyRuns) -> dict[str, dict[int, list[list[float]]]]:
    """Validation mAP50-95 per epoch: variant -> seed -> [[epoch, value], …]."""
    return {v: {s: r["curve"] for s, r in sorted(res.items())} for v, res in runs.results.items()}
