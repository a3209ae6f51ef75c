"""``yolo12l tune --config tune.yaml``: hyper-parameter search over fits with Optuna.

    base: configs/quickstart.yaml            # fit config(s), as in a study
    overrides: {trainer.max_epochs: 10}      # for every trial
    out: out/tune
    trials: 20                               # trials of the study in total (all processes together)
    objectives: [mAP50-95]                   # or [mAP50-95, latency]: multi-objective (NSGA-II)
    sampler: tpe                             # tpe (default for one objective), nsga2 (default for two), random
    seed: 0                                  # the sampler's seed
    pruner: {type: median, startup_trials: 2, warmup_epochs: 1}   # or none / hyperband (one objective only)
    latency: {imgsz: 640, warmup: 5, runs: 30}                     # the latency objective's protocol
    space:                                   # dotted fit keys
      model.optim.lr0: {low: 1.0e-4, high: 1.0e-1, log: true}
      model.optim.optimizer: {choices: [SGD, AdamW]}
      data.init_args.mosaic: {low: 0.0, high: 1.0}
      data.init_args.batch_size: {low: 8, high: 32, step: 8}       # integers when low / high are

Each trial is an ordinary fit in ``out/trials/trial<N>/`` (its config.yaml has the sampled values), run as a
subprocess like ``compare``'s runs; an :class:`~yolo12l.study.pruning.OptunaPruning` callback reports every
epoch's validation mAP50-95 and stops pruned trials. The objective is the final epoch's validation (EMA weights).
Several processes (machines) with one ``--storage`` share the trials. Written at the end: ``out/best.yaml`` (a
complete fit config of the best trial — for two objectives the Pareto-optimal trial with the highest mAP —
runnable with ``yolo12l fit --config out/best.yaml``), ``out/history.csv`` and Optuna's matplotlib plots in
``out/plots/``. DDP: a trial's fit may use any Trainer settings (``trainer.devices: 2``, ``strategy: ddp``); only
the driver asks / tells Optuna, and inside the fit only global rank 0 reports, its prune decision broadcast.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .config import check_moved_overrides, check_overrides, read_yaml, resolve_bases
from .runner import RunFolder, resolve_fit_config, write_atomic

OBJECTIVES = {"mAP50-95": "maximize", "latency": "minimize"}
KEYS = {"base", "overrides", "out", "trials", "objectives", "sampler", "seed", "pruner", "latency", "space"}


def parse_space(space: Any, source: Path) -> dict[str, dict[str, Any]]:
    """Checks the ``space`` mapping: ``{choices: [...]}`` or ``{low, high[, log][, step]}`` per dotted key."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{source}: 'space' must map dotted fit keys to ranges or choices")
    out = {}
    for key, spec in space.items():
        where = f"{source}: space '{key}'"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be {{low, high[, log, step]}} or {{choices: [...]}}, got {spec!r}")
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"] or set(spec) != {"choices"}:
                raise ConfigError(f"{where}: choices must be a non-empty list (and alone), got {spec!r}")
            out[key] = {"choices": list(spec["choices"])}
            continue
        unknown = set(spec) - {"low", "high", "log", "step"}
        low, high = spec.get("low"), spec.get("high")
        if unknown or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise ConfigError(f"{where} must be {{low, high[, log, step]}} with numbers, got {spec!r}")
        if not low < high or (spec.get("log") and low <= 0):
            raise ConfigError(f"{where}: need low < high (and low > 0 with log), got {low}, {high}")
        integer = isinstance(low, int) and isinstance(high, int) and isinstance(spec.get("step", 1), int)
        out[key] = {"low": low, "high": high, "log": bool(spec.get("log", False)), "step": spec.get("step"),
                    "int": integer}
    return out


def suggest(trial: Any, key: str, spec: dict[str, Any]) -> Any:
    if "choices" in spec:
        return trial.suggest_categorical(key, spec["choices"])
    if spec["int"]:
        return trial.suggest_int(key, spec["low"], spec["high"], step=spec["step"] or 1, log=spec["log"])
    return trial.suggest_float(key, float(spec["low"]), float(spec["high"]), step=spec["step"], log=spec["log"])


class TuneConfig:
    """A parsed tune YAML (see the module docstring)."""

    def __init__(self, path: str | Path, out: str | Path | None = None):
        self.source = Path(path)
        data = read_yaml(self.source, "tune config")
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise ConfigError(f"{self.source}: unknown key(s) {unknown} (tune keys: {', '.join(sorted(KEYS))})")
        for key in ("base", "space"):
            if key not in data:
                raise ConfigError(f"{self.source}: missing key '{key}'")
        self.base = resolve_bases(data["base"], self.source.parent, self.source)
        self.overrides = check_overrides(data.get("overrides"), f"{self.source}: 'overrides'")
        self.space = parse_space(data["space"], self.source)
        check_moved_overrides(self.space, f"{self.source}: 'space'")
        self.out = Path(out if out is not None else data.get("out") or "out")
        self.trials = data.get("trials", 10)
        if not isinstance(self.trials, int) or self.trials < 1:
            raise ConfigError(f"{self.source}: 'trials' must be a positive integer, got {self.trials!r}")
        objectives = data.get("objectives", ["mAP50-95"])
        objectives = [objectives] if isinstance(objectives, str) else objectives
        if not isinstance(objectives, list) or not objectives or not set(objectives) <= set(OBJECTIVES) \
                or objectives[0] != "mAP50-95" or len(set(objectives)) != len(objectives):
            raise ConfigError(f"{self.source}: 'objectives' must be [mAP50-95] or [mAP50-95, latency], "
                              f"got {objectives!r}")
        self.objectives = objectives
        self.sampler = data.get("sampler", "tpe" if len(objectives) == 1 else "nsga2")
        if self.sampler not in ("tpe", "nsga2", "random"):
            raise ConfigError(f"{self.source}: sampler must be tpe, nsga2 or random, got {self.sampler!r}")
        self.seed = data.get("seed", 0)
        pruner = data.get("pruner", {"type": "median"} if len(objectives) == 1 else "none")
        pruner = {"type": pruner} if isinstance(pruner, str) else dict(pruner or {"type": "none"})
        if pruner.get("type") not in ("median", "hyperband", "none") or set(pruner) - {"type", "startup_trials",
                                                                                        "warmup_epochs"}:
            raise ConfigError(f"{self.source}: pruner must be median, hyperband or none (with startup_trials, "
                              f"warmup_epochs), got {data.get('pruner')!r}")
        if pruner["type"] != "none" and len(objectives) > 1:
            raise ConfigError(f"{self.source}: Optuna prunes single-objective studies only: use pruner: none with "
                              "two objectives")
        self.pruner = {"type": pruner["type"], "startup_trials": int(pruner.get("startup_trials", 2)),
                       "warmup_epochs": int(pruner.get("warmup_epochs", 1))}
        from .compare import LATENCY_DEFAULTS

        self.latency = {**LATENCY_DEFAULTS, **(data.get("latency") or {})}


def _parser() -> argparse.ArgumentParser:
    from .trials import add_trial_options  # Optuna: imported when the command runs

    p = argparse.ArgumentParser(prog="yolo12l tune", description="Hyper-parameter search over fits with Optuna.")
    p.add_argument("--config", required=True, help="tune YAML (base, overrides, space, trials, objectives, …)")
    p.add_argument("--out", default=None, help="output folder (default: the YAML's 'out')")
    add_trial_options(p, "tune")
    return p


def _sampler(cfg: TuneConfig) -> Any:
    import optuna

    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=cfg.seed)
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=cfg.seed)
    return optuna.samplers.TPESampler(seed=cfg.seed)


def _storage_spec(args: argparse.Namespace, cfg: TuneConfig) -> str:
    if args.storage and "://" in args.storage:
        return args.storage
    return str(Path(args.storage or cfg.out / "optuna.journal").resolve())


def run_one(study: Any, cfg: TuneConfig, args: argparse.Namespace, spec: str) -> None:
    """Samples, trains and tells one trial."""
    from optuna.trial import TrialState

    from .latency import benchmark, load_network
    from .trials import fit_trial, mark_running

    trial = study.ask()
    mark_running(trial)
    params = {key: suggest(trial, key, s) for key, s in cfg.space.items()}
    folder = RunFolder(cfg.out / "trials" / f"trial{trial.number:03d}")
    config = resolve_fit_config(cfg.base, {**cfg.overrides, **params}, None, folder.path.resolve())
    if cfg.pruner["type"] != "none":
        config["trainer"].setdefault("callbacks", [])
        config["trainer"]["callbacks"] = [*(config["trainer"]["callbacks"] or []), {
            "class_path": "yolo12l.study.pruning.OptunaPruning",
            "init_args": {"storage": spec, "study_name": study.study_name, "trial_id": trial._trial_id,
                          "pruner": cfg.pruner["type"], "startup_trials": cfg.pruner["startup_trials"],
                          "warmup_epochs": cfg.pruner["warmup_epochs"]}}]
    folder.write_config(config)
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    print(f"tune: trial {trial.number}: {shown} (log: {folder.log_file})", flush=True)
    if not fit_trial(study, trial, folder, args.heartbeat, f"tune: trial {trial.number}"):
        return
    result = folder.collect({"params": params})
    value = result["final"]["mAP50-95"]
    trial.set_user_attr("mAP50", result["final"]["mAP50"])
    frozen = study._storage.get_trial(trial._trial_id)
    if "pruned_epoch" in frozen.user_attrs:
        study.tell(trial, state=TrialState.PRUNED)
        print(f"tune: trial {trial.number}: pruned after epoch {frozen.user_attrs['pruned_epoch'] + 1} "
              f"(val mAP50-95 {value:.4f})", flush=True)
        return
    values = [value]
    if "latency" in cfg.objectives:
        lat = cfg.latency
        rep = benchmark(load_network(result["checkpoint"]), lat["imgsz"], (1,), lat["warmup"], lat["runs"],
                        end_to_end=False)
        values.append(rep["results"]["batch1"]["forward"]["median_ms"])
        trial.set_user_attr("latency_protocol", rep["protocol"])
    study.tell(trial, values=values)
    print(f"tune: trial {trial.number}: " + ", ".join(_fmt(o, v) for o, v in zip(cfg.objectives, values)), flush=True)


def _fmt(objective: str, value: float) -> str:
    return f"latency {value:.1f} ms" if objective == "latency" else f"{objective} {value:.4f}"


def best_trial(study: Any, multi: bool) -> Any:
    """The best COMPLETE trial; with two objectives the Pareto-optimal one with the highest mAP50-95."""
    if multi:
        front = study.best_trials
        return max(front, key=lambda t: t.values[0]) if front else None
    try:
        return study.best_trial
    except ValueError:
        return None


def history_csv(study: Any, cfg: TuneConfig) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    keys = list(cfg.space)
    w.writerow(["number", "state", *cfg.objectives, *keys, "epochs_reported", "pruned_epoch", "duration_s"])
    for t in study.get_trials(deepcopy=False):
        vals = list(t.values) if t.values else [""] * len(cfg.objectives)
        dur = t.duration.total_seconds() if t.duration else ""
        w.writerow([t.number, t.state.name, *vals, *[t.params.get(k, "") for k in keys], len(t.intermediate_values),
                    t.user_attrs.get("pruned_epoch", ""), dur])
    return buf.getvalue()


def tune_plots(study: Any, cfg: TuneConfig) -> tuple[list[Path], list[str]]:
    """Optuna's matplotlib plots as PNG; returns (written, skipped with the reason)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    multi = len(cfg.objectives) > 1
    target = {"target": (lambda t: t.values[0]), "target_name": "mAP50-95"} if multi else {}
    plots = {"optimization_history": lambda: vis.plot_optimization_history(study, **target),
             "param_importances": lambda: vis.plot_param_importances(study, **target)}
    if multi:
        plots["pareto_front"] = lambda: vis.plot_pareto_front(study, target_names=[
            "mAP50-95", f"latency (ms, batch 1 forward, {cfg.latency['imgsz']} px)"])
    else:
        plots["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
    written, skipped = [], []
    for name, make in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = make()
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            path = cfg.out / "plots" / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
        except Exception as err:  # e.g. importances need 2 finished trials with different values
            skipped.append(f"{name} ({type(err).__name__}: {err})")
            plt.close("all")
    return written, skipped


def finish(study: Any, cfg: TuneConfig) -> str:
    """Writes best.yaml, history.csv and the plots; returns the summary."""
    from optuna.trial import TrialState

    write_atomic(cfg.out / "history.csv", history_csv(study, cfg))
    counts = {s.name: len(study.get_trials(deepcopy=False, states=(s,))) for s in
              (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    lines = [(f"tune: {sum(counts.values())} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
              f"{counts['FAIL']} failed; history: {cfg.out / 'history.csv'}")]
    best = best_trial(study, len(cfg.objectives) > 1)
    if best is not None:
        config = resolve_fit_config(cfg.base, {**cfg.overrides, **best.params}, None, (cfg.out / "best").resolve())
        head = (f"# yolo12l tune: trial {best.number} of {cfg.source} ("
                + ", ".join(_fmt(o, v) for o, v in zip(cfg.objectives, best.values)) + ")\n"
                + "".join(f"#   {k}: {v}\n" for k, v in best.params.items())
                + f"# run: yolo12l fit --config {cfg.out / 'best.yaml'}\n")
        write_atomic(cfg.out / "best.yaml", head + yaml.safe_dump(config, sort_keys=False))
        lines.append(f"best: trial {best.number} ({', '.join(f'{k}={v}' for k, v in best.params.items())}): "
                     + ", ".join(_fmt(o, v) for o, v in zip(cfg.objectives, best.values))
                     + f" -> {cfg.out / 'best.yaml'}")
    else:
        lines.append("best: no trial completed: no best.yaml written")
    written, skipped = tune_plots(study, cfg)
    lines.append("plots: " + ", ".join(str(p) for p in written))
    lines += [f"plot not drawn: {s}" for s in skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import optuna
    from optuna.trial import TrialState

    from .pruning import make_pruner
    from .trials import fail_stale, open_storage

    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    cfg = TuneConfig(args.config, args.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    # every space key and value kind checked by the fit parser before anything trains
    for key, s in cfg.space.items():
        probe = s["choices"] if "choices" in s else [s["low"], s["high"]]
        for value in probe:
            resolve_fit_config(cfg.base, {**cfg.overrides, key: value}, None, cfg.out / "probe")
    spec = _storage_spec(args, cfg)
    study = optuna.create_study(storage=open_storage(spec, cfg.out), study_name=args.study_name,
                                directions=[OBJECTIVES[o] for o in cfg.objectives], sampler=_sampler(cfg),
                                pruner=make_pruner(cfg.pruner["type"], cfg.pruner["startup_trials"],
                                                   cfg.pruner["warmup_epochs"]),
                                load_if_exists=True)
    waiting = False
    while True:
        fail_stale(study, args.grace)
        trials = study.get_trials(deepcopy=False)
        done = sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                   or (t.state == TrialState.FAIL and not t.user_attrs.get("stale")))
        running = sum(1 for t in trials if t.state == TrialState.RUNNING)
        if done + running < cfg.trials:
            run_one(study, cfg, args, spec)
            continue
        if not running:
            break
        if not waiting:
            print(f"tune: waiting for {running} trial(s) of other processes", flush=True)
            waiting = True
        time.sleep(min(args.heartbeat, 5.0))
    print(finish(study, cfg))
    return 0 if best_trial(study, len(cfg.objectives) > 1) is not None else 1


if __name__ == "__main__":
    sys.exit(main())
