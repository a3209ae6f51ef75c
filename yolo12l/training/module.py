"""The LightningModule: network + loss + optimiser recipe + COCO mAP evaluation (argument groups: ``config``; recipe:
``optim``; non-finite steps: ``nonfinite``; fused evaluation copy: ``fused_eval``; reports: ``eval_reports``)."""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.distributed as dist

from ..config_checks import MODEL_RULES, check_model_args
from ..errors import ConfigError
from ..losses import DetectionLoss
from ..metrics import COCOMeanAveragePrecision
from ..models import build_model
from ..interop.checkpoint import check_state_fits
from ..interop.weights import load_weights
from ..data.collate import targets_to_loss_dict
from ..inference.run import to_original
from ..inference.slicing import SliceConfig
from .checkpoint_io import accumulation_state, read_accumulation, restore_gradients
from .config import GROUPS, EvalConfig, LossConfig, OptimConfig, as_config, checkpoint_groups, plain_groups
from .eval_reports import LOGGED_MAP_KEYS, SIZE_MAP_KEYS, Evaluation, EvaluationReports, eval_target, evaluate
from .fused_eval import FusedEvaluation
from .plots import TrainingPlots
from .sliced_detect import detect_sliced, prepare_sliced
from .nonfinite import NonFiniteGuard
from .finetune import BatchNormFreeze, backbone_layers, callback_frozen, freeze_layers, report_transfer
from .optim import StepSchedule, build_recipe


class YOLODetector(L.LightningModule):
    """YOLO12 detector for Lightning.

    Batches are dicts from the yolo12l DataModules: ``images`` uint8 (B, 3, H, W) RGB, ``targets`` (N, 6) =
    batch index, class, normalised cx, cy, w, h, and ``meta`` — one dict per image with ``image_id``, ``orig_shape``
    (h, w), ``ratio``, ``pad`` and the original ``boxes`` (xyxy pixels) / ``labels`` for evaluation.

    Args:
        model: model YAML name (``yolo12n.yaml``, ``yolo12s-halo.yaml``…) or path.
        scale: scale letter overriding the one in the name.
        num_classes: number of classes (linked from the DataModule by the CLI).
        class_names: the classes' names (linked from the DataModule).
        label_to_category_id: the dataset's category id of each class (linked from the DataModule).
        weights: initial weights (yolo12l checkpoint, state dict, or Ultralytics ``.pt``); tensors of another
            shape (a class head for another ``num_classes``) stay freshly initialised (docs/fine-tuning-and-runs.md).
        freeze: as Ultralytics' ``freeze``: ``N`` freezes the first N layers (model YAML rows ``0..N-1``), a list
            freezes those layer indices: their parameters get no gradient and their BatchNorm statistics are not
            updated. ``backbone`` (the backbone rows) is what Lightning's ``BackboneFinetuning`` callback freezes.
        optim: the training recipe (optimizer, learning rates, warmup, accumulation, clipping).
        loss: the loss terms' weights.
        evaluation: evaluation and prediction settings (thresholds, mAP backend, plots, predictions.json).
        summary_imgsz: input size of ``example_input_array``, so Lightning's model summary shows the FLOPs
            (0: no example input, no FLOPs).
        slicing: sliced evaluation and prediction (``--slice S --overlap …`` set it): overlapping slices of each
            original image at the DataModule's ``imgsz``, detections merged; not saved in checkpoints.
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
        optim: OptimConfig = OptimConfig(),
        loss: LossConfig = LossConfig(),
        evaluation: EvalConfig = EvalConfig(),
        summary_imgsz: int = 640,
        slicing: SliceConfig | None = None,
    ):
        super().__init__()
        check_model_args({k: v for k, v in locals().items() if k in MODEL_RULES}, prefix="")  # before any work
        self.optim, self.loss, self.evaluation = (as_config(OptimConfig, optim), as_config(LossConfig, loss),
                                                  as_config(EvalConfig, evaluation))
        self.save_hyperparameters(ignore=["slicing", *GROUPS])  # slicing: an evaluation setting, not saved
        self.save_hyperparameters(plain_groups({k: getattr(self, k) for k in GROUPS}))  # plain: weights_only loads
        self.slicing = slicing
        self.net = build_model(model, scale=scale, nc=num_classes)
        names = class_names or [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ConfigError(f"{len(names)} class names for {num_classes} classes")
        self.net.names = dict(enumerate(names))
        if weights:
            report_transfer(load_weights(self.net, weights), weights, len(self.net.state_dict()))
        self._frozen_layers = freeze_layers(self.net, freeze)
        self.criterion = DetectionLoss(nc=num_classes, strides=tuple(self.net.stride.tolist()), box=self.loss.box,
                                       cls=self.loss.cls, dfl=self.loss.dfl)
        self.val_map = COCOMeanAveragePrecision(num_classes=num_classes, backend=self.evaluation.map_backend)
        if summary_imgsz:
            self.example_input_array = torch.zeros(1, 3, summary_imgsz, summary_imgsz)
        self._guard = NonFiniteGuard()
        self.last_evaluation: Evaluation | None = None  # until EvaluationReports takes it
        self.fused_net: torch.nn.Module | None = None  # evaluation outside fit: a fused copy (FusedEvaluation)
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
    def forward(self, images: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor | list[torch.Tensor]:
        """uint8 or float images (B, 3, H, W) → the output of ``net`` (default: the network; raw maps in train mode,
        decoded in eval)."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images
        return (self.net if net is None else net)(x)

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
        # our train loaders pad the loss targets in their workers; other loaders' are padded here (host waits)
        total, items = self.criterion(maps, batch.get("loss_targets") or targets_to_loss_dict(batch["targets"]))
        # A non-finite loss (on any rank) flags the step (its gradients are dropped with the whole optimizer step)
        # and, after the backward, puts the BatchNorm statistics back, on the device
        self._guard.check_loss(total)
        for name, value in zip(("box_loss", "cls_loss", "dfl_loss"), items):
            # not prog_bar (read on the host after each batch): YOLOProgressBar shows the outputs' epoch means
            self.log(f"train/{name}", value, batch_size=images.shape[0], sync_dist=False)
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
    # Non-finite losses or gradients skip the optimizer step, decided on the device: see training.nonfinite.
    @property
    def skipped_steps(self) -> int:
        """Optimizer steps skipped because of non-finite losses or gradients (reads the device)."""
        return self._guard.skipped

    def _grad_scaler(self) -> Any:
        return getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Runs after the (AMP-unscaled) gradients are complete: clips the norm, flags a non-finite step."""
        skipped = self._guard.before_optimizer_step(optimizer, self.optim.grad_clip_norm, self._grad_scaler(),
                                                    self.device)
        if skipped is not None:
            self.log("train/skipped_steps", skipped, rank_zero_only=True)

    def on_train_epoch_end(self) -> None:
        self._guard.report_skipped(self.current_epoch + 1)

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
    # Besides the counters, a checkpoint between two optimizer steps keeps the accumulated gradients (checkpoint_io).
    def _datamodule(self) -> Any:
        return getattr(self._trainer, "datamodule", None) if self._trainer is not None else None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> YOLODetector:  # type: ignore
        """Lightning's; an older checkpoint's flat hyper-parameters are grouped first, so its recipe is kept."""
        return super().load_from_checkpoint(checkpoint_path, *args, **{**checkpoint_groups(checkpoint_path), **kwargs})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["skipped_steps"] = self.skipped_steps
        imgsz = getattr(self._datamodule(), "imgsz", None)
        if isinstance(imgsz, int):  # predict / export default to the training size
            checkpoint["imgsz"] = imgsz
        checkpoint["accumulation"] = accumulation_state(self.net.parameters(), self.last_step_batch,
                                                        self._guard.pending)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # before Lightning's strict load: one line instead of ~100 of size mismatches
        check_state_fits(self.net.state_dict(), {k[len("net."):]: v for k, v in checkpoint["state_dict"].items()
                                                 if k.startswith("net.")}, "the checkpoint (--ckpt_path)")
        self._guard.skipped = int(checkpoint.get("skipped_steps", 0))
        # the gradients are set in on_train_start: Lightning zeroes gradients before fitting
        self.last_step_batch, self._guard.pending, self._pending_grads = read_accumulation(checkpoint)

    def on_train_start(self) -> None:
        self._guard.track(self.net.buffers())  # on the fit's device, after Lightning moved the module
        # Lightning never calls train() when fitting (its loops save and restore each submodule's mode)
        BatchNormFreeze.apply(self.net, self._frozen_layers)
        grads, self._pending_grads = self._pending_grads, None
        if grads is not None:
            restore_gradients(list(self.net.parameters()), grads)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        self.trainer.fit_loop.setup_data()  # the train dataloader, for its length (a no-op once set up)
        nb = self.trainer.num_training_batches
        if not isinstance(nb, int) or nb < 1:
            raise ValueError(f"the recipe needs a train dataloader with a known length, got {nb} batches")
        bs = getattr(self._datamodule(), "batch_size", None)
        batch = bs * self.trainer.world_size if bs else self.optim.nominal_batch_size  # the global batch
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        num_images = len(dataset) if hasattr(dataset, "__len__") else nb * batch
        opt, self._schedule = build_recipe(
            self.net, self.optim, self.hparams.num_classes, max(self.trainer.max_epochs or 1, 1), nb, batch,
            num_images, skip=callback_frozen(self.net, self._frozen_layers))
        return opt

    # -------------------------------------------------------------------------------------------------- evaluation
    def setup(self, stage: str) -> None:
        if self.slicing is not None:
            prepare_sliced(self.slicing, self._datamodule(), self.evaluation.predict_conf if stage == "predict" else
                           self.evaluation.conf_thres)

    def detect(self, batch: dict[str, Any], conf: float | None = None) -> list[dict[str, torch.Tensor]]:
        """Detections per image in original-image pixels: dicts of boxes (N, 4) xyxy, scores (N,), labels (N,), by
        :attr:`fused_net` when set (evaluation outside fit), else the network.

        With ``slicing``, each image's original (``meta["original"]``, (H, W, 3) uint8 RGB) goes through
        :func:`~yolo12l.inference.slicing.predict_sliced` at the DataModule's ``imgsz``, the slices of the batch's
        images in batches of the batch's size."""
        conf = self.evaluation.conf_thres if conf is None else conf
        net = self.net if self.fused_net is None else self.fused_net
        if self.slicing is not None:
            imgsz = int(getattr(self._datamodule(), "imgsz", None) or max(batch["images"].shape[-2:]))
            return detect_sliced(net, batch, self.slicing, imgsz, conf, self.evaluation.iou_thres,
                                 self.evaluation.max_det, self.device)
        y, metas = self(batch["images"], net), batch["meta"]
        dets = to_original(y, [(m["ratio"], m["pad"]) for m in metas], [m["orig_shape"] for m in metas],
                           conf=conf, iou=self.evaluation.iou_thres, max_det=self.evaluation.max_det)
        return [{"boxes": d["boxes"], "scores": d["scores"], "labels": d["classes"]} for d in dets]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        preds = self.detect(batch)
        if batch_idx == 0:
            self._first_batch = [{**p, "meta": m} for p, m in zip(preds, batch["meta"])]
        self.val_map.update(preds, [eval_target(m, self.device) for m in batch["meta"]])

    test_step = validation_step

    def on_validation_epoch_end(self, stage: str = "val") -> None:
        """The epoch's COCO / VOC numbers from all ranks' data, logged as ``<stage>/<key>`` and left in
        :attr:`last_evaluation` for :class:`~yolo12l.training.eval_reports.EvaluationReports` (records, plots,
        ``predictions.json``)."""
        ev = evaluate(self.val_map, stage, self.hparams.num_classes, getattr(self, "_first_batch", None))
        for key in LOGGED_MAP_KEYS + SIZE_MAP_KEYS:  # equal on every rank (from all ranks' data): "max" is exact
            self.log(f"{stage}/{key}", float(ev.result[key]), prog_bar=key in ("mAP50-95", "mAP50"),
                     rank_zero_only=False, sync_dist=True, reduce_fx="max")
        self.last_evaluation = ev

    def on_test_epoch_end(self) -> None:
        self.on_validation_epoch_end("test")

    def configure_callbacks(self) -> list[L.Callback]:
        """The fused evaluation copy, evaluation reports (metrics records, plots, ``predictions.json``) and, when
        ``save_plots``, training plots (label statistics, first batches, ``results.png``)."""
        return [FusedEvaluation(), EvaluationReports(), *([TrainingPlots()] if self.evaluation.save_plots else [])]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        preds = self.detect(batch, conf=self.evaluation.predict_conf)
        return [{**p, "meta": m} for p, m in zip(preds, batch["meta"])]
