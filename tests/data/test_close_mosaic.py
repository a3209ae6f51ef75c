"""close_mosaic reaches persistent DataLoader workers, by hand (set_epoch) and through a Lightning Trainer."""
import lightning as L
import torch
from torch.utils.data import DataLoader

from yolo12l.data.coco import parse_coco
from yolo12l.data.collate import collate_detections
from yolo12l.data.datamodule import SyntheticDataModule
from yolo12l.data.dataset import DetectionDataset
from yolo12l.data.sampler import EpochSampler
from yolo12l.data.transforms import AugmentConfig


def test_set_epoch_reaches_persistent_workers(synth):
    p = parse_coco(synth.train_annotations, synth.train_images)
    ds = DetectionDataset(p.records[:8], 64, AugmentConfig(close_mosaic=1, mixup=0.5))
    dl = DataLoader(ds, batch_size=4, sampler=EpochSampler(ds), num_workers=2, persistent_workers=True,
                    collate_fn=collate_detections)
    flags, iterators = [], []
    for epoch in range(3):
        dl.sampler.set_epoch(epoch)
        ds.set_epoch(epoch, total_epochs=3)
        flags.append([(m["mosaic"], m["mixup"]) for b in dl for m in b["meta"]])
        iterators.append(dl._iterator)
    assert iterators[0] is iterators[1] is iterators[2]  # the same persistent workers all along
    assert all(m for m, _ in flags[0] + flags[1]) and len(flags[0]) == 8
    assert not any(m or x for m, x in flags[2]) and len(flags[2]) == 8  # mosaic and mixup closed


class _Recorder(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.flags: dict[int, list[bool]] = {}

    def training_step(self, batch, batch_idx):
        self.flags.setdefault(self.current_epoch, []).extend(m["mosaic"] for m in batch["meta"])
        return (self.w * batch["images"].float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_trainer_closes_mosaic_in_last_epochs(synth):
    dm = SyntheticDataModule(num_train=16, num_val=8, seed=3, cache_dir=synth.root.parent.parent, imgsz=64,
                             batch_size=4, num_workers=2, persistent_workers=True, close_mosaic=2)
    model = _Recorder()
    trainer = L.Trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=0, accelerator="cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    assert sorted(model.flags) == [0, 1, 2, 3]
    assert all(model.flags[0]) and all(model.flags[1])
    assert not any(model.flags[2]) and not any(model.flags[3])
