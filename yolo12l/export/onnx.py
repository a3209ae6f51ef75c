"""ONNX export of a :class:`~yolo12l.models.DetectionNetwork`, with the box decode and optionally NMS in the graph.

Graph contract
--------------
* input ``images``: (B, 3, H, W) float32, **RGB scaled to 0..1** (no mean/std normalisation), H and W the
  export size (multiples of the largest stride, 32).
* without NMS, output ``output0``: (B, 4 + nc, A) — cx, cy, w, h in input pixels, then class probabilities (sigmoid),
  anchors P3, P4, P5 row-major: the network's eval output.
* with NMS (see :mod:`yolo12l.export.nms`): ``num_dets`` (B,), ``boxes`` (B, max_det, 4) xyxy, ``scores``
  (B, max_det), ``classes`` (B, max_det); ``conf``, ``iou`` and ``max_det`` are constants of the graph.
* ``dynamic=True`` makes the batch axis dynamic; H and W are always fixed (anchor grids and area-attention strips are
  computed for the export size), so export once per input size.
* metadata_props: ``names`` (JSON ``{"0": "person", ...}``), ``stride`` (JSON list), ``imgsz`` (JSON ``[H, W]``),
  ``nc``, ``nms`` plus ``conf``/``iou``/``max_det`` when it is on, ``input`` (the normalisation above), ``producer``.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. The dynamo exporter (the default since
torch 2.9) needs ``onnxscript`` (not a dependency) and does not use the NMS ``autograd.Function``'s ``symbolic``. The
TorchScript exporter handles ``F.scaled_dot_product_attention`` (decomposed into MatMul/Softmax) and einops reshapes,
so every attention block exports through its normal ``forward`` (no switch to ``forward_explicit`` is needed). Two
symbolics are registered while exporting (:mod:`yolo12l.export.symbolics`): ``take_along_dim`` (Halo / DTAB relative
positions; missing in torch) and integer floor division (torch's truncates, which broke the traced padding arithmetic
of the local-window attention). Its expected ``TracerWarning``s (shape values becoming constants, which is why H and
W are fixed) and deprecation warnings are silenced.

Tested: yolo12 (area attention), yolo12-halo and yolo12-dtab networks, opset 17 and 18, onnxruntime 1.31.
Opsets 17..20 are accepted (the TorchScript exporter's upper limit).
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

import torch
import torch.nn as nn

from .nms import EndToEndDetector
from .symbolics import register_export_symbolics

__all__ = ["ExportSummary", "TensorInfo", "export_onnx", "max_opset", "normalise_imgsz", "summarise_onnx"]

MIN_OPSET = 17


def max_opset() -> int:
    """Highest opset the TorchScript-based exporter of this torch writes (20 in torch 2.13)."""
    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except ImportError:  # private constant; moved or gone in another torch
        return 20
    return int(ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)


@dataclass
class TensorInfo:
    """One graph input or output: name, shape (ints, or the name of a dynamic axis) and element type."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass
class ExportSummary:
    """What :func:`export_onnx` wrote."""

    path: Path
    opset: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    file_size: int
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"ONNX model  {self.path}", f"opset       {self.opset}",
                 f"file size   {self.file_size / 2**20:.2f} MiB ({self.file_size} bytes)"]
        lines += [f"input       {t}" for t in self.inputs]
        lines += [f"output      {t}" for t in self.outputs]
        lines += [f"metadata    {k} = {v}" for k, v in self.metadata.items()]
        return "\n".join(lines)


def normalise_imgsz(imgsz: int | Sequence[int], stride: int = 32) -> tuple[int, int]:
    """``640`` or ``(H, W)`` → (H, W), each a positive multiple of ``stride``."""
    hw = (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, float)) else tuple(int(v) for v in imgsz)
    if len(hw) == 1:
        hw = (hw[0], hw[0])
    if len(hw) != 2 or any(v <= 0 or v % stride for v in hw):
        raise ValueError(f"imgsz must be one or two positive multiples of {stride}, got {imgsz}")
    return hw  # type: ignore[return-value]


def _tensor_info(value) -> TensorInfo:
    import onnx

    t = value.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
    return TensorInfo(value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name)


def summarise_onnx(path: str | os.PathLike) -> ExportSummary:
    """Inputs, outputs, opset, size and metadata of an ONNX file."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return ExportSummary(path=path, opset=opset, inputs=[_tensor_info(v) for v in model.graph.input],
                         outputs=[_tensor_info(v) for v in model.graph.output], file_size=path.stat().st_size,
                         metadata={p.key: p.value for p in model.metadata_props})


def _set_output_shapes(model, shapes: dict[str, tuple[int | str, ...]]) -> None:
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        del dims[:]
        for d in shapes[out.name]:
            dims.add().CopyFrom(onnx_dim(d))


def onnx_dim(d: int | str):
    """An ONNX TensorShapeProto.Dimension: fixed (int) or named dynamic (str)."""
    import onnx

    dim = onnx.TensorShapeProto.Dimension()
    if isinstance(d, str):
        dim.dim_param = d
    else:
        dim.dim_value = d
    return dim


def _simplify(model, path: Path):
    """onnxsim when installed; else onnxruntime's basic (standard-ops-only) graph optimisations, saved offline."""
    try:
        import onnxsim
    except ImportError:
        onnxsim = None
    if onnxsim is not None:
        simplified, ok = onnxsim.simplify(model)
        if not ok:
            raise RuntimeError("onnxsim could not validate the simplified model")
        return simplified
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    tmp = path.with_name(path.stem + ".simplified.onnx")
    opts.optimized_model_filepath = str(tmp)
    try:
        ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        optimised = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    return optimised


def export_onnx(net: nn.Module, path: str | os.PathLike, imgsz: int | Sequence[int] = (640, 640), batch: int = 1,
                dynamic: bool = True, nms: bool = False, opset: int = MIN_OPSET, conf: float = 0.25, iou: float = 0.7,
                max_det: int = 300, simplify: bool = False) -> ExportSummary:
    """Writes ``net`` (a detection network; not modified; exported fused) to ``path`` as ONNX; see the module
    docstring.

    Args:
        imgsz: export input size, ``S`` or ``(H, W)``, multiples of the network's largest stride.
        batch: batch size of the example input (the fixed batch when ``dynamic=False``).
        dynamic: dynamic batch axis.
        nms: append class-aware NMS (fixed-shape outputs, at most ``max_det`` boxes, ``score > conf``, suppress at
            ``IoU > iou``).
        opset: ONNX opset, 17 up to :func:`max_opset` (20 with torch 2.13).
        simplify: post-process the graph with onnxsim if installed, else onnxruntime's basic optimisations.
    """
    import onnx

    if not MIN_OPSET <= opset <= max_opset():
        raise ValueError(f"opset must be in {MIN_OPSET}..{max_opset()} (the TorchScript exporter's range), got {opset}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    head = getattr(net, "head", None)
    if head is None:
        raise ValueError("export_onnx needs a detection network whose last layer is a Detect head")
    strides = [float(s) for s in net.stride.tolist()]
    h, w = normalise_imgsz(imgsz, int(max(strides)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    model = copy.deepcopy(net).float().cpu().eval()
    if callable(getattr(model, "fuse", None)) and not getattr(model, "fused", False):
        model.fuse(channels_last=False)  # BatchNorm folded into the convolutions: fewer nodes, same outputs
    for p in model.parameters():
        p.requires_grad_(False)
    if nms:
        model = EndToEndDetector(model, conf=conf, iou=iou, max_det=max_det).eval()
        if max(h, w) >= model.max_wh:
            raise ValueError(f"NMS export needs an input smaller than {model.max_wh:g} px (its class offset)")
        output_names = ["num_dets", "boxes", "scores", "classes"]
    else:
        output_names = ["output0"]
    register_export_symbolics()
    dynamic_axes = {n: {0: "batch"} for n in ["images", *output_names]} if dynamic else None
    example = torch.zeros(batch, 3, h, w)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        # NMS gathers with the kept (batch, box) indices, which are never negative.
        warnings.filterwarnings("ignore", message=".*aten::index operator of advanced indexing.*")
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset, input_names=["images"],
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)

    onnx_model = onnx.load(str(path))
    # The exporter leaves the non-batch output dims symbolic; they are fixed by the export size.
    b = "batch" if dynamic else batch
    if nms:
        _set_output_shapes(onnx_model, {"num_dets": (b,), "boxes": (b, max_det, 4), "scores": (b, max_det),
                                        "classes": (b, max_det)})
    else:
        anchors = sum((h // int(s)) * (w // int(s)) for s in strides)
        _set_output_shapes(onnx_model, {"output0": (b, 4 + head.nc, anchors)})
    if simplify:
        onnx_model = _simplify(onnx_model, path)
    names = getattr(net, "names", None) or {i: str(i) for i in range(head.nc)}
    meta = {
        "producer": "yolo12l",
        "names": json.dumps({str(k): v for k, v in sorted(names.items())}),
        "nc": str(head.nc),
        "stride": json.dumps([int(s) if s.is_integer() else s for s in strides]),
        "imgsz": json.dumps([h, w]),
        "input": "images: float32 (B, 3, H, W), RGB, 0..1",
        "nms": json.dumps(nms),
    }
    if nms:
        meta.update(conf=str(conf), iou=str(iou), max_det=str(max_det))
    del onnx_model.metadata_props[:]
    onnx.helper.set_model_props(onnx_model, meta)
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(path))
    return summarise_onnx(path)
