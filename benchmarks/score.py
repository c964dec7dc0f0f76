"""Benchmark: scoring throughput, whole path (stored JPEG -> DuckDB rows) vs model forward alone.

Both are measured in the same run on the same machine, batch and image size; the ratio is the
figure to compare between runs (absolute times on shared machines are not comparable).

    .venv/bin/python benchmarks/score.py [--images 4096] [--image-size 64] [--batch-size 64]

It also prices measured colour: the whole path with and without colours (same images, same
run), as the extra time colours cost.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from common import make_model, sample_paths  # benchmarks/common.py

from fashion_model.demo.synth import draw_photo, sample_garment
from fashion_model.ingest import store
from fashion_model.ingest.imaging import process_image
from fashion_model.ingest.manifest import ManifestWriter, schema_with_metadata
from fashion_model.model.net import AttributeNet
from fashion_model.score.images import score_images
from fashion_model.warehouse.db import connect

PHOTOS = 256  # distinct drawings; more images reuse them as distinct files (a JPEG comment)


def make_store(root: Path, count: int) -> Path:
    """`count` distinct stored files of synthetic product photos at 256 px, and their manifest."""
    rows = []
    drawn = []
    for index in range(min(count, PHOTOS)):
        rng = np.random.default_rng([11, index])
        photo = draw_photo(sample_garment(rng), rng)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=90)
        drawn.append(process_image(buffer.getvalue(), 256))
    for index in range(count):
        processed = drawn[index % len(drawn)]
        comment = f"copy {index}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        data = processed.data[:2] + segment + processed.data[2:]  # right after SOI
        sha256, relative = store.put(root / "images", data)
        rows.append(
            {
                "source_id": str(index),
                "url": f"bench://{index}",
                "status": "ok",
                "sha256": sha256,
                "path": relative,
                "width": processed.width,
                "height": processed.height,
                "attempts": 1,
                "downloaded_at": datetime.now(UTC),
            }
        )
    writer = ManifestWriter(root / "manifests" / "bench", schema_with_metadata([], "imaterialist"))
    writer.write(rows)
    return writer.commit()


def forward_only(net: AttributeNet, images: int, image_size: int, batch_size: int) -> float:
    batch = torch.randn(batch_size, 3, image_size, image_size)
    with torch.inference_mode():
        net.logits_and_embeddings(batch)  # warm-up
        started = time.perf_counter()
        done = 0
        while done < images:
            net.logits_and_embeddings(batch)
            done += batch_size
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=None, help="DataLoader decode workers [default: auto]"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-score-") as folder:
        root = Path(folder)
        print(f"preparing {args.images} stored images ...", flush=True)
        manifest = make_store(root, args.images)
        net = make_model(root, args.image_size, sample_paths(root, manifest))
        model_rate = forward_only(net, args.images, args.image_size, args.batch_size)
        rates = {}
        for colors in (False, True, False, True):  # interleaved: a noisy machine hits both
            with connect(root / f"bench-{colors}-{len(rates)}.duckdb") as con:
                summary = score_images(
                    con,
                    [manifest],
                    root / "images",
                    root / "models",
                    batch_size=args.batch_size,
                    num_workers=args.workers,
                    colors=colors,
                )
            # from the first decoded batch to the last committed chunk (model loading before
            # and the analytics rebuild after are per run, not per image); the better of two
            rate = summary.scored / summary.seconds
            rates[colors] = max(rates.get(colors, 0.0), rate)
        path_rate, colors_rate = rates[False], rates[True]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.image_size}px, batch {args.batch_size}, {args.images} images"
    )
    print(f"(a) model forward alone : {model_rate:8.1f} images/s")
    print(f"(b) JPEG -> DuckDB rows : {path_rate:8.1f} images/s")
    print(f"ratio (b)/(a)           : {path_rate / model_rate:8.2f}")
    print(f"(c) (b) + colours       : {colors_rate:8.1f} images/s")
    print(f"colours cost (b)/(c) - 1: {100 * (path_rate / colors_rate - 1):7.1f}% more time")


if __name__ == "__main__":
    main()
