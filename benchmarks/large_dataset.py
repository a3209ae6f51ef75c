"""A COCO-sized image set for loader benchmarks, generated once and cached outside the repository.

``large_dataset(n)`` writes ``n`` JPEGs (default 3000) in the YOLO layout under ``~/.cache/yolo12l/bench_large_<n>/``
(``$YOLO12L_BENCH_CACHE`` overrides the parent) and returns its dataset YAML. Each image is a random crop (60-100 %
of each side), random horizontal flip and mild brightness change of a COCO128 training photo, resized to a COCO-like
size (long side 640, short side 360-500), JPEG quality 90 like COCO's files; boxes follow the crop and flip (boxes
losing more than 70 % of their area are dropped). Real photo content, so decoding costs what it costs on COCO.
Deterministic (seed 0); a ``done`` marker makes the second call instant.

    PYTHONPATH=. .venv/bin/python benchmarks/large_dataset.py [--n 3000]
"""
from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _source(shared: Path) -> list[tuple[Path, np.ndarray]]:
    root = shared / "datasets" / "coco128"
    out = []
    for img in sorted((root / "images" / "train2017").glob("*.jpg")):
        lab = root / "labels" / "train2017" / (img.stem + ".txt")
        rows = np.loadtxt(lab, ndmin=2, dtype=np.float64) if lab.is_file() and lab.stat().st_size else np.zeros((0, 5))
        out.append((img, rows.reshape(-1, 5)))
    if not out:
        raise FileNotFoundError(f"no COCO128 training images under {root}")
    return out


def _make(k: int, src: list[tuple[Path, np.ndarray]], img_dir: Path, lab_dir: Path) -> None:
    rng = np.random.default_rng([0, k])
    path, rows = src[k % len(src)]
    im = cv2.imread(str(path))
    h, w = im.shape[:2]
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = im[y0:y0 + ch, x0:x0 + cw]
    flip = rng.random() < 0.5
    if flip:
        crop = crop[:, ::-1]
    long, short = 640, int(rng.integers(360, 501))
    size = (long, short) if cw >= ch else (short, long)
    out = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
    out = cv2.convertScaleAbs(out, alpha=1.0, beta=float(rng.uniform(-20, 20)))
    cv2.imwrite(str(img_dir / f"{k:06d}.jpg"), out, [cv2.IMWRITE_JPEG_QUALITY, 90])
    lines = []
    for c, cx, cy, bw, bh in rows:
        x1, y1, x2, y2 = (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h
        a1 = max(0.0, (x2 - x1) * (y2 - y1))
        x1, x2 = np.clip([x1 - x0, x2 - x0], 0, cw)
        y1, y2 = np.clip([y1 - y0, y2 - y0], 0, ch)
        if a1 <= 0 or (x2 - x1) * (y2 - y1) < 0.3 * a1 or x2 - x1 < 2 or y2 - y1 < 2:
            continue
        if flip:
            x1, x2 = cw - x2, cw - x1
        lines.append(f"{int(c)} {(x1 + x2) / 2 / cw:.6f} {(y1 + y2) / 2 / ch:.6f} {(x2 - x1) / cw:.6f} "
                     f"{(y2 - y1) / ch:.6f}")
    (lab_dir / f"{k:06d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def large_dataset(n: int = 3000, shared: str | os.PathLike | None = None,
                  cache: str | os.PathLike | None = None) -> Path:
    """Dataset YAML of the generated set (generated on the first call)."""
    shared = Path(shared or os.environ.get("YOLO12L_SHARED", REPO.parent / "shared"))
    parent = Path(cache or os.environ.get("YOLO12L_BENCH_CACHE", Path.home() / ".cache" / "yolo12l"))
    root = parent / f"bench_large_{n}"
    yaml_path = root / "data.yaml"
    if (root / "done").is_file():
        return yaml_path
    src = _source(shared)
    img_dir, lab_dir = root / "images" / "train", root / "labels" / "train"
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda k: _make(k, src, img_dir, lab_dir), range(n)))
    names = (shared / "datasets" / "coco128" / "coco128.yaml").read_text().split("names:", 1)[1]
    yaml_path.write_text(f"path: .\ntrain: images/train\nval: images/train\nnames:{names}")
    (root / "done").write_text(f"{n}\n")
    return yaml_path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    print(large_dataset(ap.parse_args().n))
