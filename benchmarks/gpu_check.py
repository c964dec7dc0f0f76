"""GPU check, for a lent CUDA machine (run `benchmarks/gpu_check.sh`; about 2 minutes).

Trains the product's Lightning module on synthetic 224x224 tensors (bf16-mixed, channels_last,
the same optimiser and schedule as `fashion train`) and prints images per second and the
precision in use, then scores one batch the way `fashion score` does (bf16 autocast,
channels_last, probabilities and normalised embeddings) and prints that rate. Then JPEG
decoding: nvJPEG (torchvision `decode_jpeg` on the device, batched) against Pillow on every
core, and scoring end to end from JPEG bytes to rows: decode on the device, resize, normalise,
forward, probabilities and embeddings back on the host, written into DuckDB in one
transaction per batch when duckdb is there (carry its wheel: the lent machine lacks it),
otherwise into Arrow tables (said so). The goal for one H100/H200 is 10,000 images/s at 224 px,
JPEG to committed rows. Imports only what the lent machine has, plus duckdb when carried.

    PYTHONPATH=. python benchmarks/gpu_check.py [--steps 60] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import io
import os
import time
from concurrent.futures import ProcessPoolExecutor

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
    print(
        f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
        f"lightning {pl.__version__}"
    )
    images = torch.randn(batch * 8, 3, size, size)
    targets = (torch.rand(batch * 8, n_labels) < 10 / n_labels).float()
    loader = DataLoader(
        TensorDataset(images, targets),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        pin_memory=True,
    )
    module = AttributeModule(n_labels, TrainConfig(image_size=size, batch_size=batch))
    clock = Clock()
    trainer = pl.Trainer(
        max_steps=args.steps,
        max_epochs=-1,
        accelerator="cuda",
        devices=1,
        precision="bf16-mixed",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[clock],
    )
    trainer.fit(module, loader)
    rate = clock.steps * batch / clock.seconds
    print(
        f"train: {rate:.0f} images/s at {size}px, batch {batch}, precision "
        f"{trainer.precision}, channels_last {module.channels_last}, "
        f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )

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
    print(
        f"score: {batch / seconds:.0f} images/s (forward only, bf16), outputs "
        f"{tuple(probs.shape)} probabilities, {tuple(embeddings.shape)} embeddings, "
        f"embedding norm {embeddings.float().norm(dim=1).mean():.3f}"
    )
    decode_and_rows(net, size, batch, n_labels)


def _jpegs(count: int, size: int = 256) -> list[bytes]:
    """Catalog-like JPEGs: a gradient, a block of colour and grain, quality 90."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for index in range(count):
        pixels = np.linspace(0, 255, size, dtype=np.float32)[None, :, None].repeat(size, 0)
        pixels = np.broadcast_to(pixels, (size, size, 3)).copy()
        top = int(rng.integers(0, size // 2))
        pixels[top : top + size // 3, size // 4 : size // 2] = rng.integers(0, 255, 3)
        pixels += rng.normal(0, 4, pixels.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
        del index
    return out


def _pil_decode(raw: bytes) -> int:
    from PIL import Image

    return Image.open(io.BytesIO(raw)).convert("RGB").size[0]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def decode_and_rows(
    net: torch.nn.Module, size: int, batch: int, n_labels: int, device: str = "cuda"
) -> None:
    """nvJPEG against Pillow, then JPEG bytes to rows (device "cpu" checks the code here)."""
    import numpy as np
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional as F

    files = _jpegs(batch * 8)
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_pil_decode, files[:cores]))
        started = time.perf_counter()
        list(pool.map(_pil_decode, files, chunksize=32))
        pil_rate = len(files) / (time.perf_counter() - started)
    tensors = [torch.frombuffer(bytearray(raw), dtype=torch.uint8) for raw in files]
    decode_jpeg(tensors[:batch], mode=ImageReadMode.RGB, device=device)  # warm nvJPEG
    _sync(device)
    started = time.perf_counter()
    for start in range(0, len(tensors), batch):
        decode_jpeg(tensors[start : start + batch], mode=ImageReadMode.RGB, device=device)
    _sync(device)
    nv_rate = len(tensors) / (time.perf_counter() - started)
    print(
        f"decode: nvJPEG {nv_rate:.0f} images/s against Pillow on {cores} cores "
        f"{pil_rate:.0f} images/s ({nv_rate / pil_rate:.1f}x), 256 px JPEGs"
    )

    try:
        import duckdb
        import pyarrow as pa

        con = duckdb.connect()
        con.execute("CREATE TABLE scores (image INTEGER, probs FLOAT[], embedding FLOAT[])")
        sink = f"DuckDB {duckdb.__version__} (one transaction per batch)"
    except ImportError:
        con, sink = None, "host numpy arrays (duckdb/pyarrow not carried)"
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def one_pass(count: int) -> int:
        rows = 0
        for start in range(0, count, batch):
            decoded = decode_jpeg(
                tensors[start : start + batch], mode=ImageReadMode.RGB, device=device
            )
            images = torch.stack(
                [F.resize(image, [size, size], antialias=True) for image in decoded]
            )
            images = ((images.float() / 255 - mean) / std).contiguous(
                memory_format=torch.channels_last
            )
            with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
                logits, embeddings = net.logits_and_embeddings(images)
            probs = torch.sigmoid(logits.float()).cpu().numpy()
            vectors = torch.nn.functional.normalize(embeddings.float(), dim=1).cpu().numpy()
            if con is None:
                rows += len(probs)
                continue
            batch_rows = pa.table(
                {
                    "image": pa.array(np.arange(start, start + len(probs), dtype=np.int32)),
                    "probs": pa.FixedSizeListArray.from_arrays(probs.ravel(), n_labels),
                    "embedding": pa.FixedSizeListArray.from_arrays(
                        vectors.ravel(), vectors.shape[1]
                    ),
                }
            )
            con.execute("BEGIN")
            con.execute(
                "INSERT INTO scores SELECT image, probs::FLOAT[], "
                "embedding::FLOAT[] FROM batch_rows"
            )
            con.execute("COMMIT")
            rows += batch_rows.num_rows
        return rows

    one_pass(batch)  # warm up
    _sync(device)
    started = time.perf_counter()
    rows = one_pass(len(tensors))
    rate = rows / (time.perf_counter() - started)
    print(
        f"score end to end: {rate:.0f} images/s at {size} px, JPEG bytes to rows in {sink}, "
        f"batch {batch} (goal 10,000 images/s on one H100/H200: {rate / 10_000:.0%})"
    )


if __name__ == "__main__":
    main()
