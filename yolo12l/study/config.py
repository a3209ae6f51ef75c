"""The study YAML of ``yolo12l compare`` and the dotted overrides it (and ``yolo12l tune``) passes to ``fit``.

A study::

    base: configs/quickstart.yaml          # a fit config, or a list of them (stacked like repeated --config)
    variants:                              # name -> dotted overrides; the first is the baseline
      yolo12n: {}
      halo: {model.model: yolo12n-halo.yaml}
    seeds: [0, 1, 2]
    overrides: {trainer.max_epochs: 2}     # dotted overrides for every run
    out: out/halo-vs-yolo12                # runs, tables, plots, the Optuna storage
    latency: {imgsz: 640, warmup: 3, runs: 10}   # optional: the latency protocol (see yolo12l.study.latency)

Relative ``base`` paths are looked up from the current folder, then from the study file's folder.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def read_yaml(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing file or malformed YAML is a :class:`ConfigError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: malformed YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a {what} must be a YAML mapping, got {type(data).__name__}")
    return data


def resolve_bases(base: Any, folder: Path, source: Path) -> list[Path]:
    """The ``base`` fit config(s) as existing paths (from the current folder, else from ``folder``)."""
    items = base if isinstance(base, list) else [base]
    if not items or not all(isinstance(b, str) and b for b in items):
        raise ConfigError(f"{source}: 'base' must be a fit config path or a list of them, got {base!r}")
    paths = []
    for b in items:
        p = Path(b)
        if not p.is_file() and not p.is_absolute() and (folder / p).is_file():
            p = folder / p
        if not p.is_file():
            raise ConfigError(f"{source}: base config {b} not found")
        paths.append(p.resolve())
    return paths


def check_overrides(value: Any, where: str) -> dict[str, Any]:
    """A mapping of dotted keys (``model.optim.lr0``) to values, or a :class:`ConfigError` naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and " " not in k for k in value):
        raise ConfigError(f"{where} must map dotted keys (e.g. model.optim.lr0) to values, got {value!r}")
    check_moved_overrides(value, where)
    return dict(value)


def check_moved_overrides(keys: Any, where: str) -> None:
    """A :class:`ConfigError` for a flat model key of older yolo12l (``model.lr0``), naming its group's key."""
    from ..training.config import MOVED, moved_error  # the LightningCLI's table

    for key in keys:
        if key.startswith("model.") and key[len("model."):] in MOVED:
            raise ConfigError(f"{where}: {moved_error(key[len('model.'):], 'model.')}")


def override_args(overrides: dict[str, Any]) -> list[str]:
    """``{"model.optim.lr0": 0.01, "trainer.callbacks": [...]}`` -> ``["--model.optim.lr0", "0.01", ...]`` for
    LightningCLI (booleans as true/false, None as null, lists / mappings as JSON)."""
    args = []
    for key, value in overrides.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        elif isinstance(value, (list, dict)):
            text = json.dumps(value)
        else:
            text = str(value)
        args += [f"--{key}", text]
    return args


@dataclass
class StudyConfig:
    """A parsed study YAML: every (variant, seed) run is ``fit --config base… <overrides> <variant overrides>``."""

    source: Path
    base: list[Path]
    variants: dict[str, dict[str, Any]]
    seeds: list[int]
    overrides: dict[str, Any]
    out: Path
    latency: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        return next(iter(self.variants))

    def grid(self) -> list[tuple[str, int]]:
        """Every (variant, seed), variants in the file's order."""
        return [(v, s) for v in self.variants for s in self.seeds]

    def run_overrides(self, variant: str) -> dict[str, Any]:
        """The study's overrides, then the variant's (a variant wins)."""
        return {**self.overrides, **self.variants[variant]}


def load_study_config(path: str | Path, out: str | Path | None = None) -> StudyConfig:
    """Reads and checks a study YAML (see the module docstring); ``out`` overrides its ``out`` key."""
    source = Path(path)
    data = read_yaml(source, "study config")
    unknown = sorted(set(data) - {"base", "variants", "seeds", "overrides", "out", "latency"})
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} (study keys: base, variants, seeds, overrides, out, "
                          "latency)")
    for key in ("base", "variants"):
        if key not in data:
            raise ConfigError(f"{source}: missing key '{key}'")
    variants = data["variants"]
    if not isinstance(variants, dict) or not variants:
        raise ConfigError(f"{source}: 'variants' must map variant names to dotted overrides, got {variants!r}")
    checked = {}
    for name, ov in variants.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{source}: variant name {name!r} must be letters, digits, '_', '.', '+' or '-'")
        checked[name] = check_overrides(ov, f"{source}: variant '{name}'")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                            for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{source}: 'seeds' must be a list of distinct integers, got {seeds!r}")
    latency = data.get("latency") or {}
    if not isinstance(latency, dict):
        raise ConfigError(f"{source}: 'latency' must be a mapping (imgsz, warmup, runs, batch), got {latency!r}")
    out_dir = Path(out if out is not None else data.get("out") or "out")
    return StudyConfig(source=source, base=resolve_bases(data["base"], source.parent, source), variants=checked,
                       seeds=list(seeds), overrides=check_overrides(data.get("overrides"), f"{source}: 'overrides'"),
                       out=out_dir, latency=dict(latency))
