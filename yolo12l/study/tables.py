"""The study table in four formats: ``study.csv`` (every column, full precision), ``study.md`` and ``study.tex``
(mAP in percent as mean +- std, paper style) and ``study.json`` (rows, per-run results, latency protocol)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .aggregate import COLUMNS, EVALUATED
from .runner import write_atomic


def _pct(m: float | None, s: float | None = None) -> str:
    if m is None:
        return "–"
    return f"{100 * m:.2f}" + (f" ± {100 * s:.2f}" if s is not None else "")


def _delta(d: float | None) -> str:
    return "–" if d is None else f"{100 * d:+.2f}"


def _p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.3f}" if p >= 1e-3 else f"{p:.1e}")


def _num(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


HEADER = ("variant", "n", "params (M)", "GFLOPs", "latency ms (p95)", "mAP50", "mAP50-95", "mAP_small",
          "Δ mAP50-95", "p")


def display_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        lat = "–" if r["latency_ms"] is None else f"{r['latency_ms']:.1f} ({r['latency_p95_ms']:.1f})"
        out.append([r["variant"], str(r["n"]), _num(r["params"] and r["params"] / 1e6, ".3f"),
                    _num(r["gflops"], ".2f"), lat, _pct(r["mAP50_mean"], r["mAP50_std"]),
                    _pct(r["mAP50-95_mean"], r["mAP50-95_std"]), _pct(r["mAP_small_mean"], r["mAP_small_std"]),
                    _delta(r["delta_mAP50-95"]), _p(r["p_value"])])
    return out


def footnote(rows: list[dict[str, Any]], seeds: list[int], imgsz: int, latency: dict[str, Any] | None) -> str:
    text = (f"mAP in %, mean ± sample std over seeds {seeds} of each run's validation ({EVALUATED}); Δ and p: paired "
            f"over matching seeds against {rows[0]['variant']} (two-sided t-test); GFLOPs at {imgsz}x{imgsz}")
    if latency:
        p = latency["protocol"]
        text += (f"; latency: batch 1 forward median (p95), fused, {p['warmup']} warm-up + {p['runs']} runs, "
                 f"{p['device']}, torch {p['torch']}, {p['threads']} threads")
    failed = [f for r in rows for f in r["failed"]]
    if failed:
        text += f"; not in the table (failed or unfinished): {', '.join(failed)}"
    return text + "."


def markdown(rows: list[dict[str, Any]], note: str) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in display_rows(rows)]
    return "\n".join(lines) + f"\n\n{note}\n"


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        s = s.replace(a, b)
    return s


def latex(rows: list[dict[str, Any]], note: str) -> str:
    head = [_tex_escape(h).replace("Δ", r"$\Delta$") for h in HEADER]
    body = [" & ".join(_tex_escape(c).replace("±", r"$\pm$").replace("–", "--") for c in r) + r" \\"
            for r in display_rows(rows)]
    return "\n".join([r"% " + note, r"\begin{tabular}{l" + "r" * (len(HEADER) - 1) + "}", r"\toprule",
                      " & ".join(head) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}", ""])


def console(rows: list[dict[str, Any]]) -> str:
    table = [list(HEADER), *display_rows(rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in table)


def write_tables(out: Path, rows: list[dict[str, Any]], extra: dict[str, Any], note: str) -> list[Path]:
    """Writes ``study.{csv,md,tex,json}`` into ``out``; returns their paths."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "failed": " ".join(r["failed"])})
    files = {"study.csv": buf.getvalue(), "study.md": markdown(rows, note), "study.tex": latex(rows, note),
             "study.json": json.dumps({"evaluated": EVALUATED, "note": note, "rows": rows, **extra}, indent=1)}
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths
