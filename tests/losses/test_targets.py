"""pad_targets: grouping by image, order, pixel xyxy conversion, masks and input validation."""
import pytest
import torch

from yolo12l.losses import pad_targets


def test_grouping_order_and_scaling():
    batch = {
        "batch_idx": torch.tensor([2.0, 0.0, 2.0, 2.0]),
        "cls": torch.tensor([[5.0], [1.0], [7.0], [3.0]]),
        "bboxes": torch.tensor(
            [[0.5, 0.5, 0.5, 0.5], [0.25, 0.5, 0.5, 1.0], [0.1, 0.2, 0.2, 0.2], [1.0, 1.0, 0.0, 0.0]]
        ),
    }
    labels, boxes, mask = pad_targets(batch, 4, (100, 200), num_classes=80)  # H=100, W=200
    assert labels.shape == (4, 3, 1) and boxes.shape == (4, 3, 4) and mask.shape == (4, 3, 1)
    assert mask[..., 0].tolist() == [[True, False, False], [False] * 3, [True, True, True], [False] * 3]
    assert labels[2, :, 0].tolist() == [5, 7, 3] and labels[0, 0, 0] == 1  # input order kept inside an image
    assert boxes[0, 0].tolist() == [0.0, 0.0, 100.0, 100.0]
    assert boxes[2, 0].tolist() == [50.0, 25.0, 150.0, 75.0]
    assert boxes[2, 2].tolist() == [200.0, 100.0, 200.0, 100.0]
    assert boxes[1].eq(0).all() and boxes[3].eq(0).all()


def test_no_boxes():
    batch = {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    labels, boxes, mask = pad_targets(batch, 3, (64, 64), num_classes=2)
    assert labels.shape == (3, 0, 1) and boxes.shape == (3, 0, 4) and mask.shape == (3, 0, 1)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"batch_idx": torch.tensor([0.0, 3.0])}, "batch_idx"),
        ({"batch_idx": torch.tensor([0.0, 0.5])}, "batch_idx"),
        ({"cls": torch.tensor([0.0, 80.0])}, "class ids"),
        ({"cls": torch.tensor([0.0, -1.0])}, "class ids"),
        ({"bboxes": torch.tensor([[0.5, 0.5, 0.1, float("nan")], [0.5, 0.5, 0.1, 0.1]])}, "non-finite"),
        ({"bboxes": torch.zeros(2, 5)}, r"\(N, 4\)"),
        ({"cls": torch.zeros(3)}, "2 boxes"),
    ],
)
def test_bad_input_raises(change, match):
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([1.0, 2.0]), "bboxes": torch.full((2, 4), 0.5)}
    batch.update(change)
    with pytest.raises(ValueError, match=match):
        pad_targets(batch, 3, (64, 64), num_classes=80)


def test_missing_key_raises():
    with pytest.raises(KeyError, match="bboxes"):
        pad_targets({"batch_idx": torch.zeros(0), "cls": torch.zeros(0)}, 1, (64, 64), num_classes=80)
