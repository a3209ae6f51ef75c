"""Export to deployment formats (ONNX), with the box decode and optionally NMS inside the graph."""
from .cli import main
from .nms import EndToEndDetector, NonMaxSuppression
from .onnx import ExportSummary, TensorInfo, export_onnx, max_opset, summarise_onnx

__all__ = ["EndToEndDetector", "ExportSummary", "NonMaxSuppression", "TensorInfo", "export_onnx",
           "main", "max_opset", "summarise_onnx"]
