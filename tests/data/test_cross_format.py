"""The same image gives the same boxes through the COCO, YOLO txt and VOC readers (shared COCO128)."""
import numpy as np
import pytest

from yolo12l.data.coco import parse_coco
from yolo12l.data.voc import parse_voc
from yolo12l.data.yolo_txt import parse_yolo

# COCO name for each VOC class
VOC_TO_COCO = {"aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
               "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv"}


def _named(p, rename=None):
    """image id -> list of (class name, box)."""
    rename = rename or {}
    return {r.image_id: [(rename.get(p.class_names[k], p.class_names[k]), b) for k, b in zip(r.labels, r.boxes)]
            for r in p.records}


def _max_diff(a, b):
    """Pairs every (name, box) of ``a`` with the closest same-name box of ``b``; largest coordinate gap."""
    assert sorted(n for n, _ in a) == sorted(n for n, _ in b)
    left, worst = list(b), 0.0
    for n, box in a:
        j = min((j for j, (m, _) in enumerate(left) if m == n), key=lambda j: np.abs(left[j][1] - box).max())
        worst = max(worst, float(np.abs(left.pop(j)[1] - box).max()))
    return worst


@pytest.mark.parametrize("split,voc_split", [("train2017", "train"), ("val2017", "val")])
def test_three_readers_agree(datasets_dir, split, voc_split):
    root = datasets_dir / "coco128"
    coco = parse_coco(root / "annotations" / f"instances_{split}.json", root / "images" / split)
    yolo = parse_yolo(root / "coco128.yaml", "train" if split == "train2017" else "val")
    voc = parse_voc([(datasets_dir / "voc128" / "VOCdevkit" / "VOC2007", voc_split)])
    c, y, v = _named(coco), _named(yolo), _named(voc, VOC_TO_COCO)
    assert c.keys() == y.keys() and len(c) == 128
    assert max(_max_diff(c[i], y[i]) for i in c) < 0.01
    voc_names = {VOC_TO_COCO.get(n, n) for n in voc.class_names}
    assert set(v) <= set(c) and len(v) >= 90
    worst = max(_max_diff(v[i], [(n, b) for n, b in c[i] if n in voc_names]) for i in v)
    assert worst <= 0.51  # VOC stores rounded 1-based integer pixels: [xmin-1, ymin-1, xmax, ymax]
