"""``yolo12l compare --config study.yaml``: every (variant, seed) of a study as an ordinary fit, then one table.

    yolo12l compare --config study.yaml                       # run (or resume) the study, write the tables
    yolo12l compare --config study.yaml --storage sqlite:///shared/optuna.db    # several machines share the work

The (variant, seed) grid is queued as trials of an Optuna study (:mod:`yolo12l.study.trials`); each process takes
a waiting trial, trains it in ``out/runs/<variant>/seed<k>/`` (:mod:`yolo12l.study.runner`) and takes the next, so
any number of processes on any number of machines (one storage) share the grid and no run is trained twice. A
run whose folder has ``result.json`` is finished and never retrained; an unfinished one resumes from its last
checkpoint. When no run is waiting or running, the process writes ``out/study.{csv,md,tex,json}`` and
``out/plots/`` (:mod:`yolo12l.study.aggregate`, :mod:`~yolo12l.study.tables`, :mod:`~yolo12l.study.plots`) and
prints the table. Exit status 0 when every run finished, 1 when some failed (named in the table's note).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ..errors import ConfigError
from .config import StudyConfig, load_study_config

LATENCY_DEFAULTS = {"imgsz": 640, "warmup": 5, "runs": 30}


def _parser() -> argparse.ArgumentParser:
    from .trials import add_trial_options  # Optuna: imported when the command runs

    p = argparse.ArgumentParser(prog="yolo12l compare", description="Train every (variant, seed) of a study YAML "
                                "and compare the variants (mean ± std over seeds, paired t-test, size, latency).")
    p.add_argument("--config", required=True, help="study YAML (base, variants, seeds, overrides, out, latency)")
    p.add_argument("--out", default=None, help="output folder (default: the study's 'out')")
    add_trial_options(p, "compare")
    p.add_argument("--report-only", action="store_true", help="train nothing: write the tables of what is finished")
    return p


def latency_settings(study: StudyConfig) -> dict[str, Any]:
    unknown = set(study.latency) - {"imgsz", "warmup", "runs", "batch"}
    if unknown:
        raise ConfigError(f"{study.source}: unknown latency key(s) {sorted(unknown)} (imgsz, warmup, runs, batch)")
    lat = {**LATENCY_DEFAULTS, **study.latency}
    if not isinstance(lat["imgsz"], int) or lat["imgsz"] <= 0 or lat["imgsz"] % 32:
        raise ConfigError(f"{study.source}: latency.imgsz must be a positive multiple of 32, got {lat['imgsz']}")
    return lat


def prepare_runs(study: StudyConfig) -> None:
    """Resolves and writes every unfinished run's ``config.yaml`` (a bad key or value fails here, before training);
    a finished run keeps its config (a warning names it when the study now asks for another one)."""
    from .aggregate import run_folder
    from .runner import resolve_fit_config

    for variant, seed in study.grid():
        folder = run_folder(study.out, variant, seed)
        config = resolve_fit_config(study.base, study.run_overrides(variant), seed, folder.path.resolve())
        if folder.finished():
            import yaml

            if yaml.safe_load(folder.config.read_text()) != config:
                print(f"yolo12l compare: warning: {variant}/seed{seed} is finished with another config than the "
                      f"study gives now; kept (delete {folder.path} to train it again)", file=sys.stderr)
            continue
        folder.write_config(config)


def measure_latency(study: StudyConfig, variant: str, result: dict[str, Any], lat: dict[str, Any]) -> dict[str, Any]:
    """Latency of a variant's trained network (its first finished seed's checkpoint), cached in
    ``out/latency/<variant>.json`` for these settings (written once: every process reads the same numbers)."""
    from .latency import benchmark, load_network

    path = study.out / "latency" / f"{variant}.json"
    batches = [1] + ([lat["batch"]] if lat.get("batch") and lat["batch"] != 1 else [])
    key = {"imgsz": lat["imgsz"], "warmup": lat["warmup"], "runs": lat["runs"], "batches": batches}
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("settings") == key:
            return cached
    report = benchmark(load_network(result["checkpoint"]), lat["imgsz"], tuple(batches), lat["warmup"], lat["runs"])
    report.update(settings=key, checkpoint=result["checkpoint"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=1))
    try:
        os.link(tmp, path)  # first writer wins
    except FileExistsError:
        if json.loads(path.read_text()).get("settings") != key:
            os.replace(tmp, path)
    tmp.unlink(missing_ok=True)
    return json.loads(path.read_text())


def report(study: StudyConfig, lat: dict[str, Any]) -> tuple[str, bool]:
    """Writes the tables and plots of the finished runs; returns (console table, whether every run finished)."""
    from .aggregate import collect_runs, epoch_curves, variant_rows
    from .plots import study_plots
    from .tables import console, footnote, write_tables

    runs = collect_runs(study)
    latency = {}
    if lat["runs"] > 0:
        for variant, res in runs.results.items():
            latency[variant] = measure_latency(study, variant, res[min(res)], lat)
    rows = variant_rows(study, runs, latency, lat["imgsz"])
    any_latency = next(iter(latency.values()), None)
    note = footnote(rows, study.seeds, lat["imgsz"], any_latency)
    extra = {"seeds": study.seeds, "baseline": study.baseline, "imgsz": lat["imgsz"],
             "latency": {v: {"protocol": r["protocol"], "results": r["results"]} for v, r in latency.items()},
             "runs": {v: {str(s): r for s, r in res.items()} for v, res in runs.results.items()}}
    paths = write_tables(study.out, rows, extra, note)
    paths += study_plots(study.out, rows, epoch_curves(study, runs), lat["imgsz"])
    complete = not runs.failed and not runs.unfinished
    text = console(rows) + "\n" + note + "\nwritten: " + ", ".join(str(p) for p in paths)
    return text, complete


def run_trial(study: Any, trial: Any, config: StudyConfig, args: argparse.Namespace) -> None:
    """Trains (or resumes, or just records) the (variant, seed) of a claimed trial and tells Optuna the outcome."""
    from optuna.trial import TrialState

    from .aggregate import run_folder
    from .trials import fit_trial, is_duplicate, point_of

    frozen = study._storage.get_trial(trial._trial_id)
    variant, seed = point_of(frozen)
    name = f"{variant}/seed{seed}"
    if variant not in config.variants or seed not in config.seeds:  # a queued point the study no longer has
        trial.set_user_attr("duplicate_of", "not in the study any more")
        study.tell(trial, state=TrialState.FAIL)
        return
    earlier = is_duplicate(study, trial)
    if earlier is not None:
        trial.set_user_attr("duplicate_of", earlier)
        study.tell(trial, state=TrialState.FAIL)
        return
    folder = run_folder(config.out, variant, seed)
    if not folder.finished():
        last = folder.last_checkpoint()
        print(f"compare: {name}: " + (f"resuming from {last}" if last else "training") + f" (log: {folder.log_file})",
              flush=True)
        t0 = time.monotonic()
        if not fit_trial(study, trial, folder, args.heartbeat, f"compare: {name}"):
            return
        result = folder.collect({"variant": variant, "train_s": round(time.monotonic() - t0, 1)})
    else:
        result = folder.result()
    for key, value in result["final"].items():
        trial.set_user_attr(key, value)
    study.tell(trial, values=[result["final"]["mAP50-95"]])
    print(f"compare: {name}: done, val mAP50-95 {result['final']['mAP50-95']:.4f} "
          f"mAP50 {result['final']['mAP50']:.4f} ({result['evaluated']})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    config = load_study_config(args.config, args.out)
    lat = latency_settings(config)
    if args.heartbeat <= 0 or args.grace <= args.heartbeat:
        raise ConfigError(f"need --grace ({args.grace}) > --heartbeat ({args.heartbeat}) > 0")
    config.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        prepare_runs(config)
        work(config, args)
    text, complete = report(config, lat)
    print(text)
    return 0 if complete else 1


def work(config: StudyConfig, args: argparse.Namespace) -> None:
    """Takes and runs queued (variant, seed) trials until none is waiting or running anywhere."""
    import optuna
    from optuna.trial import TrialState

    from .trials import claim_waiting, ensure_grid, fail_stale, open_storage, point_of

    storage = open_storage(args.storage, config.out)
    study = optuna.create_study(storage=storage, study_name=args.study_name, direction="maximize",
                                load_if_exists=True)
    grid = config.grid()
    fail_stale(study, args.grace)
    queued = ensure_grid(study, grid, retry_failed=True)
    if queued:
        print(f"compare: {queued} of {len(grid)} runs queued in {args.storage or config.out / 'optuna.journal'}",
              flush=True)
    waiting_note = False
    while True:
        fail_stale(study, args.grace)
        ensure_grid(study, grid, retry_failed=False)  # re-queue the runs of killed workers
        trial = claim_waiting(study)
        if trial is not None:
            run_trial(study, trial, config, args)
            waiting_note = False
            continue
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if point_of(t) in set(grid)]
        if not running:
            return
        if not waiting_note:
            names = ", ".join(f"{v}/seed{s}" for v, s in sorted({point_of(t) for t in running}))
            print(f"compare: waiting for runs of other processes: {names}", flush=True)
            waiting_note = True
        time.sleep(min(args.heartbeat, 5.0))


if __name__ == "__main__":
    sys.exit(main())
