"""COCO mAP metric: exact cases, equality with pycocotools run on JSON files, DDP gathering and de-duplication."""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from yolo12l.metrics import COCOMeanAveragePrecision, VOCMeanAveragePrecision

HEADLINE = ("mAP50-95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "mAR1", "mAR10", "mAR100")


def _perfect(targets):
    return [{"boxes": t["boxes"], "scores": torch.linspace(1.0, 0.5, len(t["labels"])), "labels": t["labels"]}
            for t in targets]


def test_perfect_predictions_give_one(make_detections):
    _, targets = make_detections(0, crowd=False)
    m = COCOMeanAveragePrecision(num_classes=4)
    m.update(_perfect(targets), targets)
    r = m.compute()
    for key in ("mAP50-95", "mAP50", "mAP75", "mAR100"):
        assert r[key].item() == pytest.approx(1.0), key
    # pycocotools' precision is tp / (tp + fp + eps): within 1e-15 of 1
    torch.testing.assert_close(r["per_class_ap"], torch.ones(4, dtype=torch.float64))
    assert r["num_images"].item() == len(targets) and r["num_duplicates"].item() == 0


def test_half_of_the_ground_truth_found():
    # 4 boxes of one class, the 2 best-scored predictions are exact, nothing else: precision 1 up to recall 0.5.
    # COCO samples precision at 101 recall points 0, .01, ..., 1: 51 of them are <= 0.5 -> AP = 51 / 101.
    gt = torch.tensor([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 90, 70], [5, 60, 25, 95]], dtype=torch.float32)
    targets = [{"boxes": gt[:2], "labels": torch.zeros(2), "image_id": 1},
               {"boxes": gt[2:], "labels": torch.zeros(2), "image_id": 2}]
    preds = [{"boxes": gt[:1], "scores": torch.tensor([0.9]), "labels": torch.zeros(1)},
             {"boxes": gt[2:3], "scores": torch.tensor([0.8]), "labels": torch.zeros(1)}]
    m = COCOMeanAveragePrecision()
    m.update(preds, targets)
    r = m.compute()
    assert r["mAP50-95"].item() == pytest.approx(51 / 101)
    assert r["mAP50"].item() == pytest.approx(51 / 101)
    assert r["mAR100"].item() == pytest.approx(0.5)
    # a single class stays a (1,) tensor (torchmetrics would squeeze it to 0-d)
    assert r["per_class_ap"].shape == (1,) and r["per_class_ap"].tolist() == pytest.approx([51 / 101])


def test_false_positive_ranked_first_halves_precision():
    # one ground truth; a false positive (0.9) ranks above the exact hit (0.8): precision 0.5 at every recall
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 50.0]]), "labels": torch.tensor([1]), "image_id": 3}]
    preds = [{"boxes": torch.tensor([[100.0, 100.0, 150.0, 150.0], [10.0, 10.0, 50.0, 50.0]]),
              "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}]
    m = COCOMeanAveragePrecision(num_classes=3)
    m.update(preds, targets)
    r = m.compute()
    assert r["mAP50-95"].item() == pytest.approx(0.5)
    # classes 0 and 2 have no ground truth: -1 and left out of the mean
    assert r["per_class_ap"].tolist() == pytest.approx([-1.0, 0.5, -1.0])


def _write_coco_json(tmp_path, preds, targets):
    images, anns, dets = [], [], []
    for p, t in zip(preds, targets):
        images.append({"id": t["image_id"], "height": 480, "width": 640})
        for b, c, crowd in zip(t["boxes"].double().tolist(), t["labels"].tolist(), t["iscrowd"].tolist()):
            anns.append({"id": len(anns) + 1, "image_id": t["image_id"], "category_id": c + 1,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1]),
                         "iscrowd": crowd})
        for b, s, c in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(), p["labels"].tolist()):
            dets.append({"image_id": t["image_id"], "category_id": c + 1,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(json.dumps({"images": images, "annotations": anns,
                                   "categories": [{"id": c + 1, "name": str(c)} for c in range(4)]}))
    dt_file.write_text(json.dumps(dets))
    return gt_file, dt_file


@pytest.mark.parametrize("seed", [0, 1])
def test_equals_pycocotools_on_json_files(tmp_path, seed, make_detections):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    preds, targets = make_detections(seed, n_images=16)
    gt_file, dt_file = _write_coco_json(tmp_path, preds, targets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt_file)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    expected = dict(zip(HEADLINE, ev.stats))
    assert 0.2 < expected["mAP50-95"] < 0.9  # a non-trivial case
    # per-class AP as the mean of the valid precision entries of each category
    per_class = []
    for k in range(4):
        p = ev.eval["precision"][:, :, k, 0, -1]
        per_class.append(p[p > -1].mean() if (p > -1).any() else -1.0)

    for backend in ("pycocotools", "faster_coco_eval"):
        m = COCOMeanAveragePrecision(num_classes=4, backend=backend)
        for i in range(0, len(preds), 5):
            m.update(preds[i : i + 5], targets[i : i + 5])
        r = m.compute()
        for key in HEADLINE:
            assert r[key].item() == pytest.approx(expected[key], abs=1e-12), (backend, key)
        assert r["per_class_ap"].tolist() == pytest.approx(per_class, abs=1e-12)


def test_prints_are_silenced_unless_verbose(capsys, make_detections):
    preds, targets = make_detections(0, n_images=3)
    m = COCOMeanAveragePrecision()
    m.update(preds, targets)
    m.compute()
    assert capsys.readouterr().out == ""
    m = COCOMeanAveragePrecision(verbose=True)
    m.update(preds, targets)
    m.compute()
    assert "Average Precision" in capsys.readouterr().out


def test_crowd_matches_are_ignored():
    # a prediction on a crowd box is neither a hit nor a false positive
    targets = [{"boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0], [50.0, 50.0, 90.0, 90.0]]),
                "labels": torch.tensor([0, 0]), "iscrowd": torch.tensor([0, 1]), "image_id": 5}]
    preds = [{"boxes": torch.tensor([[50.0, 50.0, 90.0, 90.0], [0.0, 0.0, 20.0, 20.0]]),
              "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 0])}]
    m = COCOMeanAveragePrecision()
    m.update(preds, targets)
    assert m.compute()["mAP50-95"].item() == pytest.approx(1.0)


def test_duplicate_images_are_counted_once(make_detections):
    preds, targets = make_detections(2, n_images=6)
    single = COCOMeanAveragePrecision(num_classes=4)
    single.update(preds, targets)
    expected = single.compute()
    padded = COCOMeanAveragePrecision(num_classes=4)
    padded.update(preds[:4], targets[:4])
    padded.update(preds[3:] + preds[:2], targets[3:] + targets[:2])  # images 3, 0, 1 twice
    r = padded.compute()
    assert r["num_images"].item() == 6 and r["num_duplicates"].item() == 3
    for key in HEADLINE:
        assert r[key].item() == expected[key].item()
    assert torch.equal(r["per_class_ap"], expected["per_class_ap"])


def test_same_id_with_different_ground_truth_warns(make_detections):
    preds, targets = make_detections(3, n_images=2)
    other = dict(targets[1], image_id=targets[0]["image_id"])
    m = COCOMeanAveragePrecision()
    m.update(preds, [targets[0], other])
    with pytest.warns(UserWarning, match="different ground truth"):
        r = m.compute()
    assert r["num_images"].item() == 1


def test_merge_state_equals_single_instance(make_detections):
    preds, targets = make_detections(4, n_images=10)
    single = COCOMeanAveragePrecision(num_classes=4)
    single.update(preds, targets)
    a, b = COCOMeanAveragePrecision(num_classes=4), COCOMeanAveragePrecision(num_classes=4)
    a.update(preds[:6], targets[:6])  # image 5 in both halves, as DistributedSampler padding does
    b.update(preds[5:], targets[5:])
    a.merge_state(b)
    r, expected = a.compute(), single.compute()
    assert r["num_images"].item() == 10 and r["num_duplicates"].item() == 1
    for key in HEADLINE:
        assert r[key].item() == expected[key].item()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, shards, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        coco, voc = COCOMeanAveragePrecision(num_classes=4), VOCMeanAveragePrecision(num_classes=4)
        preds, targets = shards[rank]
        for i in range(0, len(preds), 2):  # unequal row counts per rank and per batch
            coco.update(preds[i : i + 2], targets[i : i + 2])
            voc.update(preds[i : i + 2], targets[i : i + 2])
        torch.save({"coco": coco.compute(), "voc": voc.compute()}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.xdist_group("multiprocess")
def test_ddp_gather_equals_single_process(tmp_path, make_detections):
    preds, targets = make_detections(5, n_images=11)
    world = 2
    # DistributedSampler(shuffle=False): pad 11 -> 12 with image 0, then rank r takes indices r::2
    indices = list(range(11)) + [0]
    shards = [([preds[i] for i in indices[r::world]], [targets[i] for i in indices[r::world]]) for r in range(world)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.spawn(_ddp_worker, args=(world, _free_port(), shards, str(tmp_path)), nprocs=world, join=True)

    coco, voc = COCOMeanAveragePrecision(num_classes=4), VOCMeanAveragePrecision(num_classes=4)
    coco.update(preds, targets)
    voc.update(preds, targets)
    expected = {"coco": coco.compute(), "voc": voc.compute()}
    for rank in range(world):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name in ("coco", "voc"):
            assert got[name]["num_images"].item() == 11 and got[name]["num_duplicates"].item() == 1
            for key, value in expected[name].items():
                if key != "num_duplicates":
                    assert torch.equal(got[name][key], value), (rank, name, key)


def test_coco128_ground_truth_as_predictions(datasets_dir):
    ann = json.loads((datasets_dir / "coco128/annotations/instances_val2017.json").read_text())
    cat_to_label = {c["id"]: i for i, c in enumerate(sorted(ann["categories"], key=lambda c: c["id"]))}
    by_image = {img["id"]: [] for img in ann["images"]}
    for a in ann["annotations"]:
        by_image[a["image_id"]].append(a)
    shapes = {img["id"]: (img["height"], img["width"]) for img in ann["images"]}
    preds, targets = [], []
    for image_id, anns in by_image.items():
        xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float64).reshape(-1, 4)
        boxes = torch.cat((xywh[:, :2], xywh[:, :2] + xywh[:, 2:]), 1)
        labels = torch.tensor([cat_to_label[a["category_id"]] for a in anns], dtype=torch.long)
        crowd = torch.tensor([a["iscrowd"] for a in anns], dtype=torch.long)
        targets.append({"boxes": boxes, "labels": labels, "image_id": image_id, "iscrowd": crowd,
                        "area": torch.tensor([a["area"] for a in anns], dtype=torch.float64),
                        "orig_shape": shapes[image_id]})
        keep = crowd == 0  # crowd regions are not objects to detect
        preds.append({"boxes": boxes[keep], "scores": torch.ones(int(keep.sum())), "labels": labels[keep]})
    m = COCOMeanAveragePrecision(num_classes=80, backend="faster_coco_eval")
    for i in range(0, len(preds), 16):
        m.update(preds[i : i + 16], targets[i : i + 16])
    r = m.compute()
    assert r["num_images"].item() == 128
    assert r["mAP50-95"].item() == pytest.approx(1.0)
    assert r["mAP50"].item() == pytest.approx(1.0)
    present = torch.tensor(sorted({cat_to_label[a["category_id"]] for a in ann["annotations"]}))
    torch.testing.assert_close(r["per_class_ap"][present], torch.ones(len(present), dtype=torch.float64))
    absent = torch.ones(80, dtype=torch.bool)
    absent[present] = False
    assert (r["per_class_ap"][absent] == -1).all()


def test_no_updates_and_empty_predictions():
    m = COCOMeanAveragePrecision(num_classes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics: compute before update
        r = m.compute()
    assert r["num_images"].item() == 0 and r["mAP50-95"].item() == -1
    assert r["per_class_ap"].tolist() == [-1.0, -1.0]
    m.update([{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}],
             [{"boxes": torch.tensor([[0.0, 0.0, 5.0, 5.0]]), "labels": torch.tensor([1]), "image_id": 0}])
    r = m.compute()
    assert r["mAP50-95"].item() == 0.0 and r["per_class_ap"].tolist() == [-1.0, 0.0]


def test_bad_input():
    m = COCOMeanAveragePrecision(num_classes=2)
    p = {"boxes": torch.zeros(1, 4), "scores": torch.ones(1), "labels": torch.zeros(1)}
    t = {"boxes": torch.zeros(1, 4), "labels": torch.zeros(1), "image_id": 0}
    with pytest.raises(ValueError, match="one of each"):
        m.update([p, p], [t])
    with pytest.raises(KeyError, match="image_id"):
        m.update([p], [{"boxes": torch.zeros(1, 4), "labels": torch.zeros(1)}])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        m.update([dict(p, boxes=torch.zeros(1, 5))], [t])
    with pytest.raises(ValueError, match="labels must be in"):
        m.update([dict(p, labels=torch.tensor([2]))], [t])
    with pytest.raises(ValueError, match="integers"):
        m.update([dict(p, labels=torch.tensor([0.5]))], [t])
    with pytest.raises(ValueError, match="backend"):
        COCOMeanAveragePrecision(backend="nope")
    # non-finite predictions are dropped with a warning, not a crash
    with pytest.warns(UserWarning, match="dropped 1 predictions"):
        m.update([{"boxes": torch.tensor([[0.0, 0, 5, 5], [float("nan"), 0, 5, 5]]), "scores": torch.ones(2),
                   "labels": torch.zeros(2)}], [dict(t, boxes=torch.tensor([[0.0, 0, 5, 5]]))])
    assert m.compute()["mAP50-95"].item() == pytest.approx(1.0)
    assert np.isfinite(m.data().det_boxes).all()
