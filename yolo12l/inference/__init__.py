"""Prediction: load (:func:`yolo12l.interop.load_network`), run (letterbox → batches → detections in original
pixels), draw, write ``predictions.json`` — the one path of ``yolo12l predict`` in both forms."""
from .draw import draw_detections, save_annotated
from .results import coco_results, next_run_dir, write_predictions
from .run import check_imgsz, iter_predictions, predict_image, predict_images, prepare, run_inputs, to_original
from .source import iter_frames, list_sources

__all__ = ["check_imgsz", "coco_results", "draw_detections", "iter_frames", "iter_predictions", "list_sources",
           "next_run_dir", "predict_image", "predict_images", "prepare", "run_inputs", "save_annotated",
           "to_original", "write_predictions"]
