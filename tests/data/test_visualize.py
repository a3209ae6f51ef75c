"""Augmented batch picture with boxes drawn."""
import cv2
import numpy as np

from yolo12l.data import SyntheticDataModule
from yolo12l.data.visualize import draw_boxes, plot_batch


def test_plot_augmented_batch(synth, tmp_path):
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=3, cache_dir=synth.root.parent.parent, imgsz=96,
                             batch_size=6, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    out = tmp_path / "viz" / "train_batch.jpg"
    grid = plot_batch(batch, dm.class_names, out)
    assert out.is_file() and grid.shape == (2 * 96, 3 * 96, 3)  # 6 images: 3 columns, 2 rows
    img = cv2.imread(str(out))
    assert img.shape == grid.shape


def test_draw_boxes_marks_the_border():
    img = np.zeros((50, 50, 3), np.uint8)
    out = draw_boxes(img, np.array([[10, 20, 40, 45]]), [2], ["a", "b", "c"])
    assert out[45, 25].any() and out[30, 10].any() and not out[30, 25].any()
    assert not img.any()  # input untouched
