"""The LightningModule: network + loss + optimiser recipe + COCO mAP evaluation (its reports: ``eval_reports.py``)."""
from __future__ import annotations

import copy
import inspect
import logging
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist

from ..config_checks import MODEL_RULES, check_model_args
from ..errors import ConfigError
from ..losses import DetectionLoss
from ..metrics import COCOMeanAveragePrecision, pr_curves, voc_ap
from ..models import build_model
from ..interop.checkpoint import check_state_fits
from ..interop.weights import load_weights
from ..data.collate import targets_to_loss_dict
from ..inference.run import to_original
from ..inference.slicing import SliceConfig, predict_sliced
from .eval_reports import LOGGED_MAP_KEYS, Evaluation, EvaluationReports
from .plots import TrainingPlots
from .nonfinite import NonFiniteGuard
from .finetune import BatchNormFreeze, backbone_layers, freeze_layers, report_transfer
from .optim import StepSchedule, auto_iterations, build_optimizer, resolve_optimizer

log = logging.getLogger(__name__)
SIZE_MAP_KEYS = ("mAP_small", "mAP_medium", "mAP_large")  # COCO's areas < 32², < 96², above (original pixels)


def report_auto_optimizer(hp: Any, name: str, lr: float, momentum: float, iterations: int) -> None:
    """``optimizer: auto`` picks its own lr and momentum: warns once that ``lr0`` / ``momentum`` are ignored when
    they differ from the defaults (Ultralytics says "ignoring 'lr0=…'")."""
    defaults = inspect.signature(YOLODetector.__init__).parameters
    ignored = [f"{k}={hp[k]:g}" for k in ("lr0", "momentum") if hp[k] != defaults[k].default]
    if ignored:
        log.warning("optimizer 'auto' ignores %s: it picks %s lr %g momentum %g for %d iterations; set "
                    "--model.optimizer SGD or AdamW to use them", " and ".join(ignored), name, lr, momentum,
                    iterations)


class YOLODetector(L.LightningModule):
    """YOLO12 detector for Lightning.

    Batches are dicts from the yolo12l DataModules: ``images`` uint8 (B, 3, H, W) RGB, ``targets`` (N, 6) =
    batch index, class, normalised cx, cy, w, h, and ``meta`` — one dict per image with ``image_id``, ``orig_shape``
    (h, w), ``ratio``, ``pad`` and the original ``boxes`` (xyxy pixels) / ``labels`` for evaluation.

    Args:
        model: model YAML name (``yolo12n.yaml``, ``yolo12s-halo.yaml``…) or path.
        scale: scale letter overriding the one in the name.
        num_classes / class_names / label_to_category_id: linked from the DataModule by the CLI.
        weights: initial weights (yolo12l checkpoint, state dict, or Ultralytics ``.pt``); tensors whose shape
            differs (a class head for another ``num_classes``) stay freshly initialised. Prints "Transferred x/y
            items from …" and warns when less than 90% of the network's tensors were found.
        freeze: as Ultralytics' ``freeze``: ``N`` freezes the first N layers (model YAML rows ``0..N-1``), a list
            freezes those layer indices: their parameters get no gradient and their BatchNorm statistics are not
            updated (the layers' BatchNorms stay in eval mode while training). ``backbone`` (the backbone rows)
            is what Lightning's ``BackboneFinetuning`` callback freezes and later unfreezes.
        optimizer: ``SGD``, ``AdamW``, ``Adam`` or ``auto`` (AdamW lr 0.002·5/(4+nc), beta1 0.9, ``warmup_bias_lr``
            0 for ≤ 10k iterations; SGD lr 0.01 momentum 0.9 beyond, where Ultralytics 8.4 uses its MuSGD).
        lr0 / lrf / momentum / weight_decay / schedule (``linear`` or ``cosine``): the per-epoch decay from lr0 to
            lr0·lrf; weight decay (``weight`` group only) scaled by batch·accumulate/nbs.
        warmup_epochs / warmup_bias_lr / warmup_momentum: warmup over round(min(warmup_epochs, epochs − 1) ·
            batches per epoch) batches; SGD momentum warms up, Adam's beta1 does not. ``warmup_min_iters``: an
            opt-in minimum number of warmup batches (0, the reference: none; earlier yolo12l versions used 100).
        nominal_batch_size: after warmup, gradients accumulate over round(nbs / global batch) batches; during warmup
            the accumulation ramps up from 1. The whole per-batch recipe (Ultralytics 8.4.190's) is
            :class:`~yolo12l.training.optim.StepSchedule`; the module steps the optimizer itself (manual
            optimization), so leave ``trainer.accumulate_grad_batches`` and ``trainer.gradient_clip_val`` unset.
        grad_clip_norm: gradient norm clipped to this before every optimizer step (0: no clipping).
        fused_optimizer: torch's fused optimizer kernels, which skip a non-finite step on the device; ``None``: on
            GPUs (CUDA, MPS, XPU), not on the CPU, where the foreach kernels and one host read per step cost
            nothing and reproduce earlier runs bit for bit.
        save_plots: evaluation plots (PR, confusion matrix, P/R/F1-confidence) and training plots (labels, first
            batches, ``results.png``) in ``<log_dir>/plots`` and TensorBoard; during ``fit`` the evaluation plots
            and ``results.png`` are drawn at the last epoch (or when the run stops early), not after every epoch.
        save_json: write ``predictions.json`` (COCO results of every detection kept after NMS, the dataset's image
            and category ids, xywh in original pixels) in the run folder on validate / test and at the last epoch.
        summary_imgsz: input size of ``example_input_array``, so Lightning's model summary shows the FLOPs
            (0: no example input, no FLOPs).
        slicing: sliced evaluation and prediction (:class:`~yolo12l.inference.slicing.SliceConfig`; the command
            line's ``--slice S --overlap …`` set it): every original image is cut into overlapping slices, each
            letterboxed to the DataModule's ``imgsz``, and the detections merged (see :meth:`detect`). An
            evaluation setting, not saved in checkpoints.
    """

    def __init__(
        self,
        model: str = "yolo12n.yaml",
        scale: str | None = None,
        num_classes: int = 80,
        class_names: list[str] | None = None,
        label_to_category_id: list[int] | None = None,
        weights: str | None = None,
        freeze: int | list[int] | None = None,
        optimizer: str = "auto",
        lr0: float = 0.01,
        lrf: float = 0.01,
        momentum: float = 0.937,
        weight_decay: float = 5e-4,
        schedule: str = "linear",
        warmup_epochs: float = 3.0,
        warmup_min_iters: int = 0,
        warmup_bias_lr: float = 0.1,
        warmup_momentum: float = 0.8,
        nominal_batch_size: int = 64,
        grad_clip_norm: float = 10.0,
        fused_optimizer: bool | None = None,
        box: float = 7.5,
        cls: float = 0.5,
        dfl: float = 1.5,
        conf_thres: float = 0.001,
        iou_thres: float = 0.7,
        max_det: int = 300,
        map_backend: str = "pycocotools",
        predict_conf: float = 0.25,
        save_plots: bool = True,
        save_json: bool = True,
        summary_imgsz: int = 640,
        slicing: SliceConfig | None = None,
    ):
        super().__init__()
        check_model_args({k: v for k, v in locals().items() if k in MODEL_RULES}, prefix="")  # before any work
        self.save_hyperparameters(ignore=["slicing"])  # a dataclass: checkpoints keep plain values only
        self.slicing = slicing
        self.net = build_model(model, scale=scale, nc=num_classes)
        names = class_names or [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ConfigError(f"{len(names)} class names for {num_classes} classes")
        self.net.names = dict(enumerate(names))
        if weights:
            report_transfer(load_weights(self.net, weights), weights, len(self.net.state_dict()))
        self._frozen_layers = freeze_layers(self.net, freeze)
        self.criterion = DetectionLoss(nc=num_classes, strides=tuple(self.net.stride.tolist()), box=box, cls=cls,
                                       dfl=dfl)
        self.val_map = COCOMeanAveragePrecision(num_classes=num_classes, backend=map_backend)
        if summary_imgsz:
            self.example_input_array = torch.zeros(1, 3, summary_imgsz, summary_imgsz)
        self._guard = NonFiniteGuard()
        self.evaluation: Evaluation | None = None  # the last evaluation's results, until EvaluationReports takes them
        self._skipped_reported = 0
        self.automatic_optimization = False  # the recipe's accumulation ramp: see training_step
        self._schedule: StepSchedule | None = None
        self.last_step_batch = -1  # global batch index of the last optimizer step
        self._pending_grads: list[torch.Tensor | None] | None = None  # from a checkpoint, until on_train_start

    # --------------------------------------------------------------------------------------------------- freezing
    @property
    def backbone(self) -> torch.nn.Sequential:
        """The network's backbone layers (the model YAML's ``backbone`` rows), for Lightning's
        ``BackboneFinetuning``; a view of ``self.net``'s modules, not a copy."""
        return backbone_layers(self.net)

    def train(self, mode: bool = True) -> YOLODetector:
        """``nn.Module.train``, with the BatchNorms of ``freeze``'s layers kept in eval mode (statistics frozen)."""
        super().train(mode)
        if mode:
            BatchNormFreeze.apply(self.net, getattr(self, "_frozen_layers", ()))
        return self

    # ----------------------------------------------------------------------------------------------------- forward
    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """uint8 or float images (B, 3, H, W) → the network's output (raw maps in train mode, decoded in eval)."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images
        return self.net(x)

    # ---------------------------------------------------------------------------------------------------- training
    # Manual optimization: the recipe steps the optimizer after irregular batches (the warmup's accumulation ramp)
    # and carries gradients over epoch ends, which Lightning's fixed ``accumulate_grad_batches`` cannot express.
    # ``trainer.global_step`` still counts optimizer steps (and the EMA callback averages after each of them).
    # Under DDP every backward all-reduces, so all ranks hold the same accumulated gradients (as the reference).

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """One batch; returns ``loss`` (the detached total) and ``loss_items`` ((3,) box, cls, dfl, on the device)."""
        schedule = self._schedule
        if schedule is None:
            raise RuntimeError("training_step before configure_optimizers")
        epoch = self.current_epoch
        ni = epoch * schedule.batches_per_epoch + batch_idx
        opt = self.optimizers()
        schedule.apply(opt.optimizer, ni, epoch)
        images = batch["images"]
        if not self._guard.tracking:  # training_step outside fit
            self._guard.track(self.net.buffers())
        self._guard.snapshot()
        maps = self(images)
        # the DataModules' train loaders pad the loss targets in their workers (collate_training); other loaders'
        # flat targets are padded here, on the device (which makes the host wait for it a few times)
        total, items = self.criterion(maps, batch.get("loss_targets") or targets_to_loss_dict(batch["targets"]))
        # A non-finite loss (on any rank) flags the step and puts the BatchNorm statistics back, on the device; its
        # NaN gradients are then dropped with the whole optimizer step (see on_before_optimizer_step).
        self._guard.check_loss(total)
        bs = images.shape[0]
        for name, value in zip(("box_loss", "cls_loss", "dfl_loss"), items):
            # not prog_bar: Lightning reads every progress-bar value on the host after each batch; YOLOProgressBar
            # shows the epoch means from the step's outputs instead
            self.log(f"train/{name}", value, batch_size=bs, sync_dist=False)
        # The loss is summed over the images of the batch and over the accumulated batches (the reference's
        # gradient scale); DDP averages over ranks, so scale by the world size to keep the sum.
        self.manual_backward(total * self.trainer.world_size)
        self._guard.restore_buffers()
        if schedule.should_step(ni, self.last_step_batch):
            opt.step()  # on_before_optimizer_step: non-finite check, clipping
            if hasattr(opt.optimizer, "found_inf") and self._grad_scaler() is None:
                del opt.optimizer.found_inf  # set for this step only
            opt.zero_grad(set_to_none=True)
            self.last_step_batch = ni
        # callbacks read the items from the outputs: ``trainer.callback_metrics`` would read them on the host
        return {"loss": total.detach(), "loss_items": items}

    @property
    def accumulate(self) -> int | None:
        """Batches per optimizer step after warmup (None before ``configure_optimizers``)."""
        return self._schedule.accumulate_target if self._schedule is not None else None

    # ------------------------------------------------------------------------------------------- non-finite steps
    # A batch whose loss is non-finite on any rank, or an optimizer step whose gradients are non-finite, is skipped:
    # the weights, BatchNorm statistics and optimizer state are left as they were and ``skipped_steps`` counts it.
    # The step counter and the EMA (which then averages in the unchanged weights) still advance; the LR schedule
    # depends on the batch index only. With gradient accumulation the whole optimizer step is skipped. All of it is
    # decided on the device (training.nonfinite): the fused optimizer gets the flag as ``found_inf``; skipped steps
    # are reported once per epoch, a counted warning.

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps skipped because of non-finite losses or gradients (reads the device)."""
        return self._guard.skipped

    @skipped_steps.setter
    def skipped_steps(self, value: int) -> None:
        self._guard.skipped = value

    def _grad_scaler(self) -> Any:
        return getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Runs after the (AMP-unscaled) gradients are complete: clips the norm, flags a non-finite step."""
        clip = self.hparams.grad_clip_norm
        with_grad = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        fused = getattr(optimizer, "_step_supports_amp_scaling", False)
        scaler = self._grad_scaler()
        if scaler is not None:  # the GradScaler finds non-finite gradients, skips the step and lowers its scale
            if fused:  # Lightning leaves unscaling to a fused step(); the clipping needs unscaled gradients
                scaler.unscale_(optimizer)
            if clip and with_grad:
                torch.nn.utils.clip_grad_norm_(with_grad, clip, foreach=True)
            self._guard.count_pending()
            return
        norm = None
        if with_grad:
            # The total norm (which the clipping computes anyway) is non-finite iff some gradient is.
            if clip:
                norm = torch.nn.utils.clip_grad_norm_(with_grad, clip, foreach=True)
            else:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in with_grad])))
        found_inf = self._guard.found_inf(norm, self.device)
        if fused:
            optimizer.found_inf = found_inf  # the fused kernels skip the whole step (state included) on the device
        elif bool(found_inf):  # optimizers without fused kernels: one host read per step
            for g in optimizer.param_groups:
                for p in g["params"]:
                    p.grad = None  # the optimizer leaves parameters without gradient (and their state) untouched
        skipped = self._guard.skipped_tensor()
        if skipped is not None:
            self.log("train/skipped_steps", skipped, rank_zero_only=True)

    def on_train_epoch_end(self) -> None:
        skipped = self.skipped_steps  # one host read per epoch
        if skipped > self._skipped_reported:
            log.warning("epoch %d: %d optimizer step(s) skipped (non-finite loss or gradients), %d in this run",
                        self.current_epoch + 1, skipped - self._skipped_reported, skipped)
            self._skipped_reported = skipped

    def on_validation_epoch_start(self) -> None:
        """Under DDP each rank's BatchNorm statistics (and so their EMA) follow its own batches; as the reference
        does, validate with rank 0's: broadcast the buffers the module holds now (the EMA's, swapped in by
        ``ModelEMA`` before this hook; they are swapped back into the EMA afterwards)."""
        if dist.is_available() and dist.is_initialized() and self.trainer.world_size > 1:
            for buffer in self.net.buffers():
                dist.broadcast(buffer, src=0)

    def on_validation_model_zero_grad(self) -> None:
        """Keeps the gradients accumulated before a validation (Lightning's default releases them): the recipe's
        next optimizer step still sums them, as the reference's does."""

    # ------------------------------------------------------------------------------------------------ checkpoints
    # Besides the counters, a checkpoint taken between two optimizer steps (e.g. at an epoch end, which does not
    # step) keeps the gradients accumulated so far, so that a resumed run takes exactly the same steps.

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["skipped_steps"] = self.skipped_steps
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if isinstance(getattr(datamodule, "imgsz", None), int):  # predict / export default to the training size
            checkpoint["imgsz"] = datamodule.imgsz
        pending = [p.grad.detach().clone() if p.grad is not None else None for p in self.net.parameters()]
        checkpoint["accumulation"] = {
            "last_step_batch": self.last_step_batch, "skip_step": self._guard.pending,
            "grads": pending if any(g is not None for g in pending) else None,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # before Lightning's strict load: one line instead of ~100 of size mismatches
        check_state_fits(self.net.state_dict(), {k[len("net."):]: v for k, v in checkpoint["state_dict"].items()
                                                 if k.startswith("net.")}, "the checkpoint (--ckpt_path)")
        self.skipped_steps = self._skipped_reported = int(checkpoint.get("skipped_steps", 0))
        acc = checkpoint.get("accumulation") or {}
        self.last_step_batch = int(acc.get("last_step_batch", -1))
        self._guard.pending = bool(acc.get("skip_step", False))
        self._pending_grads = acc.get("grads")  # set in on_train_start: Lightning zeroes gradients before fitting

    def on_train_start(self) -> None:
        self._guard.track(self.net.buffers())  # on the fit's device, after Lightning moved the module
        # Lightning never calls train() when fitting (its loops save and restore each submodule's mode)
        BatchNormFreeze.apply(self.net, self._frozen_layers)
        grads, self._pending_grads = self._pending_grads, None
        if grads is None:
            return
        params = list(self.net.parameters())
        if len(grads) != len(params) or any(g is not None and g.shape != p.shape for g, p in zip(grads, params)):
            log.warning("the checkpoint's accumulated gradients do not match the network: dropped")
            return
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.to(device=p.device, dtype=p.dtype)

    def _global_batch_size(self) -> int | None:
        dm = getattr(self.trainer, "datamodule", None)
        bs = getattr(dm, "batch_size", None)
        return bs * self.trainer.world_size if bs else None

    def _num_train_images(self, batches_per_epoch: int, batch: int) -> int:
        loader = self.trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        try:
            return len(dataset)
        except TypeError:
            return batches_per_epoch * batch

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        self.trainer.fit_loop.setup_data()  # the train dataloader, for its length (a no-op once set up)
        nb = self.trainer.num_training_batches
        if not isinstance(nb, int) or nb < 1:
            raise ValueError(f"the recipe needs a train dataloader with a known length, got {nb} batches")
        epochs = max(self.trainer.max_epochs or 1, 1)
        batch = self._global_batch_size() or hp.nominal_batch_size
        iterations = auto_iterations(self._num_train_images(nb, batch), batch, epochs, hp.nominal_batch_size)
        name, lr, momentum = resolve_optimizer(hp.optimizer, hp.lr0, hp.momentum, hp.num_classes, iterations)
        if hp.optimizer.lower() == "auto":
            report_auto_optimizer(hp, name, lr, momentum, iterations)
        warmup_bias_lr = 0.0 if hp.optimizer.lower() == "auto" else hp.warmup_bias_lr  # as the reference's auto
        self._schedule = StepSchedule(
            epochs=epochs, batches_per_epoch=nb, batch_size=batch, nominal_batch_size=hp.nominal_batch_size,
            lrf=hp.lrf, schedule=hp.schedule, warmup_epochs=hp.warmup_epochs, warmup_min_iters=hp.warmup_min_iters,
            warmup_bias_lr=warmup_bias_lr,
            warmup_momentum=hp.warmup_momentum, momentum=hp.momentum)
        wd = self._schedule.weight_decay(hp.weight_decay)
        # parameters frozen by a callback (BackboneFinetuning) stay out of the groups: it adds them itself later
        ours = {id(p) for i in self._frozen_layers for p in self.net.model[i].parameters()}
        callback_frozen = [p for n, p in self.net.named_parameters()
                           if not p.requires_grad and id(p) not in ours and ".dfl" not in n]
        opt = build_optimizer(self.net, name, lr, momentum, wd, fused=hp.fused_optimizer, skip=callback_frozen)
        log.info("optimizer %s%s lr=%g momentum=%g weight_decay=%g; accumulate %d after a warmup of %d batches "
                 "(%d batches per epoch)", name, " (auto)" if hp.optimizer.lower() == "auto" else "", lr, momentum, wd,
                 self._schedule.accumulate_target,
                 self._schedule.warmup_iters, nb)
        return opt

    # -------------------------------------------------------------------------------------------------- evaluation
    # Evaluation-only runs (validate / test / predict outside fit) use a fused copy of the network (BatchNorm folded
    # into the convolutions, channels-last): the same outputs up to float rounding, faster. Inside fit the network
    # itself is evaluated (the EMA callback swaps its weights in for validation), and checkpoints stay unfused.
    def _start_inference(self) -> None:
        self._fused_net = None
        if self._trainer is not None and self.trainer.state.fn != "fit":
            self._fused_net = copy.deepcopy(self.net).fuse()

    def _end_inference(self) -> None:
        self._fused_net = None

    def on_validation_start(self) -> None:
        self._start_inference()

    def on_test_start(self) -> None:
        self._start_inference()

    def on_predict_start(self) -> None:
        self._start_inference()

    def on_validation_end(self) -> None:
        self._end_inference()

    def on_test_end(self) -> None:
        self._end_inference()

    def on_predict_end(self) -> None:
        self._end_inference()

    def setup(self, stage: str) -> None:
        """With ``slicing``: asks the DataModule for the original images (``meta["original"]``)."""
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.slicing is not None and dm is not None and hasattr(dm, "keep_originals"):
            dm.keep_originals = True

    def detect(self, batch: dict[str, Any], conf: float | None = None) -> list[dict[str, torch.Tensor]]:
        """Detections per image in original-image pixels: dicts of boxes (N, 4) xyxy, scores (N,), labels (N,).

        With ``slicing``, each image's original (``meta["original"]``, (H, W, 3) uint8 RGB) goes through
        :func:`~yolo12l.inference.slicing.predict_sliced` at the DataModule's ``imgsz``, the slices of the batch's
        images in batches of the batch's size."""
        hp = self.hparams
        conf = hp.conf_thres if conf is None else conf
        fused = getattr(self, "_fused_net", None)
        if self.slicing is not None:
            return self._detect_sliced(batch, fused if fused is not None else self.net, conf)
        if fused is not None:
            images = batch["images"]
            y = fused(images.float() / 255 if images.dtype == torch.uint8 else images)
        else:
            y = self(batch["images"])
        metas = batch["meta"]
        dets = to_original(y, [(m["ratio"], m["pad"]) for m in metas], [m["orig_shape"] for m in metas],
                           conf=conf, iou=hp.iou_thres, max_det=hp.max_det)
        return [{"boxes": d["boxes"], "scores": d["scores"], "labels": d["classes"]} for d in dets]

    def _detect_sliced(self, batch: dict[str, Any], net: torch.nn.Module, conf: float) -> list[dict[str, Any]]:
        metas = batch["meta"]
        if any("original" not in m for m in metas):
            raise ConfigError("sliced detection needs the original images in the batch meta ('original'): use a "
                              "yolo12l DataModule (the module sets its keep_originals) or set keep_originals")
        if self.slicing.merge == "nmm" and conf < 0.1 and not getattr(self, "_nmm_warned", False):
            self._nmm_warned = True
            log.warning("sliced evaluation with merge 'nmm' at conf %g: greedy merging grows confident boxes into the "
                        "union of the low-score boxes they match, which lowers mAP (docs/small_objects.md); "
                        "--merge nms (or a higher --model.conf_thres) measures the detector", conf)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        imgsz = int(getattr(dm, "imgsz", None) or max(batch["images"].shape[-2:]))
        images = [m["original"].cpu().numpy() if torch.is_tensor(m["original"]) else m["original"] for m in metas]
        dets = predict_sliced(net, images, imgsz=imgsz, conf=conf, iou=self.hparams.iou_thres,
                              max_det=self.hparams.max_det, batch_size=max(len(images), 1),
                              **self.slicing.options())
        return [{"boxes": d[:, :4].to(self.device), "scores": d[:, 4].to(self.device),
                 "labels": d[:, 5].long().to(self.device)} for d in dets]

    def _eval_target(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The metric's target for one image: its boxes plus its crowd / difficult regions (``iscrowd`` 1) and the
        annotation areas (-1: box area), all in original pixels."""
        dev = self.device

        def get(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
            value = meta.get(key)
            return (torch.zeros(shape, dtype=dtype, device=dev) if value is None
                    else torch.as_tensor(value, dtype=dtype, device=dev).reshape(-1, *shape[1:]))

        boxes, labels = get("boxes", (0, 4), torch.float32), get("labels", (0,), torch.long)
        crowd, crowd_labels = get("crowd_boxes", (0, 4), torch.float32), get("crowd_labels", (0,), torch.long)
        areas, crowd_areas = get("areas", (0,), torch.float32), get("crowd_areas", (0,), torch.float32)
        if len(areas) != len(boxes):
            areas = torch.full((len(boxes),), -1.0, device=dev)
        if len(crowd_areas) != len(crowd):
            crowd_areas = torch.full((len(crowd),), -1.0, device=dev)
        return {"boxes": torch.cat((boxes, crowd)), "labels": torch.cat((labels, crowd_labels)),
                "iscrowd": torch.cat((torch.zeros(len(boxes), dtype=torch.long, device=dev),
                                      torch.ones(len(crowd), dtype=torch.long, device=dev))),
                "area": torch.cat((areas, crowd_areas)), "image_id": int(meta["image_id"]),
                "orig_shape": tuple(meta["orig_shape"])}

    def _eval_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        preds = self.detect(batch)
        if batch_idx == 0:
            self._first_batch = [{**p, "meta": m} for p, m in zip(preds, batch["meta"])]
        self.val_map.update(preds, [self._eval_target(m) for m in batch["meta"]])

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx)

    def _evaluate(self, stage: str) -> None:
        """The epoch's COCO / VOC numbers from all ranks' data, logged as ``<stage>/<key>`` and left in
        ``self.evaluation`` for :class:`~yolo12l.training.eval_reports.EvaluationReports` (records, plots,
        ``predictions.json``)."""
        result = dict(self.val_map.compute())  # COCO numbers of all ranks' data (a collective under DDP)
        data = self.val_map.synced_data()  # the same data for curves, plots and predictions.json (a collective)
        self.val_map.reset()
        curves = pr_curves(data, 0.5, self.hparams.num_classes)
        for key, method in (("mAP50_voc", "all_point"), ("mAP50_voc07", "11_point")):
            aps = [voc_ap(c.recall, c.precision, method) for c in curves.values() if c.num_gt > 0]
            result[key] = float(np.mean(aps)) if aps else -1.0  # VOC2010+ all-point / VOC2007 11-point AP @ 0.5
        for key in LOGGED_MAP_KEYS + SIZE_MAP_KEYS:  # equal on every rank (from all ranks' data): "max" is exact
            self.log(f"{stage}/{key}", float(result[key]), prog_bar=key in ("mAP50-95", "mAP50"),
                     rank_zero_only=False, sync_dist=True, reduce_fx="max")
        self.evaluation = Evaluation(stage, result, data, curves, getattr(self, "_first_batch", None) or [])

    def on_validation_epoch_end(self) -> None:
        self._evaluate("val")

    def on_test_epoch_end(self) -> None:
        self._evaluate("test")

    def configure_callbacks(self) -> list[L.Callback]:
        """Evaluation reports (metrics records, plots, ``predictions.json``) and, when ``save_plots``, training plots
        (label statistics, first batches, ``results.png``)."""
        return [EvaluationReports(), *([TrainingPlots()] if self.hparams.save_plots else [])]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        preds = self.detect(batch, conf=self.hparams.predict_conf)
        return [{**p, "meta": m} for p, m in zip(preds, batch["meta"])]
