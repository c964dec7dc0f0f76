"""GPU check, for a lent CUDA machine (run `benchmarks/gpu_check.sh`; about 2 minutes).

Trains the product's Lightning module on synthetic 224x224 tensors (bf16-mixed, channels_last,
the same optimiser and schedule as `fashion train`) and prints images per second and the
precision in use, then scores one batch the way `fashion score` does (bf16 autocast,
channels_last, probabilities and normalised embeddings) and prints that rate. Imports only
what the lent machine has (torch, torchvision, pytorch-lightning, numpy): no duckdb, no prefect.

    PYTHONPATH=. python benchmarks/gpu_check.py [--steps 60] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fashion_model.config import TrainConfig
from fashion_model.labels import default_label_map
from fashion_model.model.train import AttributeModule

WARMUP = 10


class Clock(pl.Callback):
    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == WARMUP:
            torch.cuda.synchronize()
            self.started, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if hasattr(self, "started"):
            self.steps += 1

    def on_train_end(self, trainer, module):
        torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine")
    n_labels, size, batch = len(default_label_map()), args.size, args.batch_size
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
          f"lightning {pl.__version__}")  # fmt: skip
    images = torch.randn(batch * 8, 3, size, size)
    targets = (torch.rand(batch * 8, n_labels) < 10 / n_labels).float()
    loader = DataLoader(TensorDataset(images, targets), batch_size=batch, shuffle=True,
                        drop_last=True, pin_memory=True)  # fmt: skip
    module = AttributeModule(n_labels, TrainConfig(image_size=size, batch_size=batch))
    clock = Clock()
    trainer = pl.Trainer(max_steps=args.steps, max_epochs=-1, accelerator="cuda", devices=1,
                         precision="bf16-mixed", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, callbacks=[clock])  # fmt: skip
    trainer.fit(module, loader)
    rate = clock.steps * batch / clock.seconds
    print(f"train: {rate:.0f} images/s at {size}px, batch {batch}, precision "
          f"{trainer.precision}, channels_last {module.channels_last}, "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")  # fmt: skip

    net = module.net.cuda().eval()
    batch_images = images[:batch].cuda().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            net.logits_and_embeddings(batch_images)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(10):
            logits, embeddings = net.logits_and_embeddings(batch_images)
            probs = torch.sigmoid(logits.float())
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / 10
    print(f"score: {batch / seconds:.0f} images/s (forward only, bf16), outputs "
          f"{tuple(probs.shape)} probabilities, {tuple(embeddings.shape)} embeddings, "
          f"embedding norm {embeddings.float().norm(dim=1).mean():.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
