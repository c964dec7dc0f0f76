"""Benchmark: training throughput of the real loop against the pure training step.

In one run, same batch and image size: (a) Lightning's fit over stored JPEGs (256 px, as
ingest stores them) through the DataLoader with the train preset, at full 32-bit precision,
(b) the pure step (forward, BCE, backward, AdamW) on the same images already decoded into
memory, (c) that pure step in channels_last, (d) the pure step in bf16 autocast (what
`--precision auto` picks on a CPU with native bf16) and (e) the real loop at `--precision
auto`. Prints images per second and the ratios a/b (goal: at least 0.9 on CPU), c/b (whether
channels_last helps here), d/b and e/a (what bf16 gives). The first WARMUP steps of each are
not timed.

    .venv/bin/python benchmarks/train.py [--steps 24] [--batch-size 32] [--image-size 64]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from fashion_model.config import TrainConfig
from fashion_model.demo.synth import draw_photo, sample_garment
from fashion_model.ingest import store
from fashion_model.ingest.imaging import process_image
from fashion_model.labels import default_label_map
from fashion_model.model.presets import Preprocessing, train_preset
from fashion_model.model.train import AttributeModule, LabelledImages, training_precision

WARMUP = 3


class StepClock(pl.Callback):
    def __init__(self):
        self.started = None
        self.steps = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == WARMUP:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.started is not None:
            self.steps += 1

    def on_train_end(self, trainer, module):
        self.seconds = time.perf_counter() - self.started


def stored_photos(root: Path, count: int) -> list[str]:
    paths = []
    for index in range(count):
        rng = np.random.default_rng([5, index])
        buffer = io.BytesIO()
        draw_photo(sample_garment(rng), rng).save(buffer, "JPEG", quality=90)
        _, relative = store.put(root, process_image(buffer.getvalue(), 256).data)
        paths.append(str(root / relative))
    return paths


def pure_steps(
    module, images, targets, batch, steps, channels_last: bool, bf16: bool = False
) -> float:
    """Images per second of forward + loss + backward + AdamW on in-memory tensors."""
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    module.train()
    started = None
    for step in range(steps):
        if step == WARMUP:
            started = time.perf_counter()
        rows = np.arange(step * batch, (step + 1) * batch) % len(images)
        x, y = images[rows], targets[rows]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = module.loss(module(x).float(), y)
        loss.backward()
        optimizer.step()
    return (steps - WARMUP) * batch / (time.perf_counter() - started)


def real_loop(n_labels, config, dataset, args, precision: str) -> float:
    """Images per second of Lightning's fit through the DataLoader at `precision`."""
    torch.manual_seed(0)
    config = config.model_copy(update={"precision": precision})
    module = AttributeModule(n_labels, config)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )
    clock = StepClock()
    trainer = pl.Trainer(
        max_steps=args.steps,
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        callbacks=[clock],
        limit_val_batches=0,
        precision=training_precision(config),
    )
    trainer.fit(module, loader)
    return clock.steps * config.batch_size / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers [1]")
    args = parser.parse_args()
    if args.steps <= WARMUP:
        parser.error(f"--steps must be above {WARMUP}")
    n_labels = len(default_label_map())
    size, batch = args.image_size, args.batch_size
    with tempfile.TemporaryDirectory(prefix="fashion-bench-train-") as scratch:
        paths = stored_photos(Path(scratch), 256)
        rng = np.random.default_rng(0)
        targets = (rng.random((len(paths), n_labels)) < 10 / n_labels).astype(np.float32)
        dataset = LabelledImages(paths, targets, train_preset(Preprocessing(size)), size)
        config = TrainConfig(image_size=size, batch_size=batch, num_workers=args.workers)

        real = real_loop(n_labels, config, dataset, args, "32")
        auto = real_loop(n_labels, config, dataset, args, "auto")

        decoded = [dataset[i] for i in range(len(dataset))]
        images = torch.stack([x for x, _ in decoded])
        labels = torch.stack([y for _, y in decoded])
        torch.manual_seed(0)
        pure = pure_steps(
            AttributeModule(n_labels, config),
            images,
            labels,
            batch,
            args.steps,
            channels_last=False,
        )
        torch.manual_seed(0)
        last = pure_steps(
            AttributeModule(n_labels, config), images, labels, batch, args.steps, channels_last=True
        )
        torch.manual_seed(0)
        bf16 = pure_steps(
            AttributeModule(n_labels, config),
            images,
            labels,
            batch,
            args.steps,
            channels_last=False,
            bf16=True,
        )
    print(
        f"{size}px, batch {batch}, {args.steps} steps ({WARMUP} warm-up), "
        f"{args.workers} loader worker(s), {torch.get_num_threads()} torch threads"
    )
    print(f"(a) real loop (Lightning + DataLoader over JPEGs): {real:7.1f} images/s")
    print(f"(b) pure step on in-memory tensors:                {pure:7.1f} images/s")
    print(f"(c) pure step, channels_last:                      {last:7.1f} images/s")
    print(f"(d) pure step, bf16 autocast:                      {bf16:7.1f} images/s")
    print(f"(e) real loop at --precision auto ({training_precision(config)}): {auto:7.1f} images/s")
    print(
        f"ratio a/b: {real / pure:.2f} (goal >= 0.9); channels_last c/b: {last / pure:.2f}; "
        f"bf16 d/b: {bf16 / pure:.2f}; auto e/a: {auto / real:.2f}"
    )


if __name__ == "__main__":
    main()
