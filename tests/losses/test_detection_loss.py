"""DetectionLoss: parity with Ultralytics' loss_items, gradients, empty batches, autocast, gains, bad input."""
import pytest
import torch

from yolo12l.losses import DetectionLoss

CASES = ["batch4_320", "batch2_256x416", "batch3_one_empty", "batch2_all_empty"]


@pytest.fixture(scope="module")
def loss_cases(reference_dir):
    return torch.load(reference_dir / "loss_cases.pt", weights_only=True)


@pytest.mark.shared
@pytest.mark.parametrize("name", CASES)
def test_matches_ultralytics_loss_items(loss_cases, name):
    case = loss_cases[name]
    total, items = DetectionLoss()(case["feats"], case["batch"])
    ref = case["loss_items"]
    assert items.shape == (3,) and not items.requires_grad
    torch.testing.assert_close(items, ref, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(total.detach(), case["loss_times_bs"].sum(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(total.detach(), items.sum() * case["feats"][0].shape[0])
    if name == "batch2_all_empty":
        assert items[0] == 0 and items[2] == 0 and items[1] > 0
    else:
        assert (items > 0).all()


@pytest.mark.shared
def test_cls_as_flat_vector_and_double_feats(loss_cases):
    case = loss_cases["batch2_256x416"]
    batch = dict(case["batch"], cls=case["batch"]["cls"].view(-1), batch_idx=case["batch"]["batch_idx"].long())
    _, items = DetectionLoss()([f.double() for f in case["feats"]], batch)
    torch.testing.assert_close(items, case["loss_items"], rtol=1e-4, atol=1e-6)


def test_gradients_reach_box_and_class_channels(synthetic_case):
    feats, batch = synthetic_case(nc=4)
    feats = [f.requires_grad_() for f in feats]
    total, items = DetectionLoss(nc=4)(feats, batch)
    assert torch.isfinite(total) and (items > 0).all()
    total.backward()
    box_grad = sum(f.grad[:, :64].abs().sum() for f in feats)
    cls_grad = sum(f.grad[:, 64:].abs().sum() for f in feats)
    assert all(torch.isfinite(f.grad).all() for f in feats)
    assert box_grad > 0 and cls_grad > 0


def test_batch_without_boxes_gives_finite_class_loss(synthetic_case):
    feats, _ = synthetic_case(nc=4)
    feats = [f.requires_grad_() for f in feats]
    empty = {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    total, items = DetectionLoss(nc=4)(feats, empty)
    assert torch.isfinite(total) and items[1] > 0 and items[0] == 0 and items[2] == 0
    total.backward()
    assert all(torch.isfinite(f.grad).all() for f in feats)
    assert sum(f.grad[:, 64:].abs().sum() for f in feats) > 0
    assert all(f.grad[:, :64].eq(0).all() for f in feats)  # in the graph, but no box signal


def test_image_without_boxes_in_batch(synthetic_case):
    feats, batch = synthetic_case(bs=3, boxes_per_image=(2, 0, 1), nc=4)
    total, items = DetectionLoss(nc=4)(feats, batch)
    assert torch.isfinite(total) and (items > 0).all()


def test_autocast_bfloat16_is_finite_and_close(synthetic_case):
    feats, batch = synthetic_case(nc=4)
    loss = DetectionLoss(nc=4)
    _, ref = loss(feats, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, items = loss(feats, batch)
        _, items_bf16_in = loss([f.bfloat16() for f in feats], batch)  # what a bf16 head would hand over
    assert total.dtype == torch.float32 and torch.isfinite(total)
    torch.testing.assert_close(items, ref)  # float32 maps: autocast is disabled inside
    assert torch.isfinite(items_bf16_in).all()
    torch.testing.assert_close(items_bf16_in, ref, rtol=0.02, atol=1e-3)  # measured < 0.6 %


def test_gains_scale_items(synthetic_case):
    feats, batch = synthetic_case(nc=4)
    _, base = DetectionLoss(nc=4)(feats, batch)
    _, scaled = DetectionLoss(nc=4, box=1.0, cls=2.0, dfl=0.0)(feats, batch)
    torch.testing.assert_close(scaled, base * torch.tensor([1 / 7.5, 2 / 0.5, 0.0]))


def test_input_size_not_multiple_of_largest_stride(synthetic_case):
    # 256x416 has P5 13 wide; also check a non-square, small topk configuration runs
    feats, batch = synthetic_case(imgsz=(256, 416), nc=4)
    total, items = DetectionLoss(nc=4, tal_topk=3)(feats, batch)
    assert torch.isfinite(total) and (items > 0).all()


def test_bad_feats_raise(synthetic_case):
    feats, batch = synthetic_case(nc=4)
    with pytest.raises(ValueError, match="nc=80"):
        DetectionLoss(nc=80)(feats, batch)
    with pytest.raises(ValueError, match="strides"):
        DetectionLoss(nc=4)(feats[:2], batch)
    with pytest.raises(ValueError, match="class ids"):
        DetectionLoss(nc=4)(feats, dict(batch, cls=batch["cls"] + 10))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["batch4_320", "batch3_one_empty", "batch2_all_empty"])
def test_prepadded_targets_equal_flat_targets(loss_cases, name):
    """The train loaders pad the targets in their workers (collate_training): the loss is the same."""
    from yolo12l.losses.targets import pad_targets

    case = loss_cases[name]
    feats = case["feats"]
    imgsz = (feats[0].shape[2] * 8, feats[0].shape[3] * 8)
    labels, boxes, mask = pad_targets(case["batch"], feats[0].shape[0], imgsz, 80)
    padded = {"gt_labels": labels, "gt_bboxes": boxes, "mask_gt": mask, "imgsz": imgsz}
    total, items = DetectionLoss()(feats, case["batch"])
    total_p, items_p = DetectionLoss()(feats, padded)
    assert torch.equal(items, items_p) and torch.equal(total, total_p)
    with pytest.raises(ValueError, match="padded targets"):
        DetectionLoss()(feats, {**padded, "imgsz": (imgsz[0] + 32, imgsz[1])})
