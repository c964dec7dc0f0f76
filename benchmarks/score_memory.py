"""Benchmark: peak memory of bulk scoring as the catalog grows (it must stay flat).

Scores N and 10*N stored images (default 10,000 and 100,000), each run in its own process so
that each peak RSS is its own, and prints both peaks and their ratio (goal: at most 1.2). The
images are small distinct JPEGs and the model runs at 32 px, since memory, not the model, is
what is measured here; everything else is the real path (manifest, DataLoader, Arrow writes,
DuckDB transactions, the analytics rebuild).

    .venv/bin/python benchmarks/score_memory.py [--images 10000] [--factor 10]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import make_model, sample_paths  # benchmarks/common.py
from PIL import Image

from fashion_model.ingest import store
from fashion_model.ingest.manifest import ManifestWriter, schema_with_metadata

IMAGE_SIZE = 32
CHUNK = 10_000  # manifest rows written per call, so the writer never holds the whole catalog


def make_store(root: Path, count: int) -> Path:
    """`count` distinct small JPEGs in the image store, and their manifest."""
    writer = ManifestWriter(root / "manifests" / "bench", schema_with_metadata([], "catalog"))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(48, 36, 3), dtype=np.uint8)
    rows = []
    for index in range(count):
        buffer = io.BytesIO()
        # the same pixels, distinct files: the index goes in a JPEG comment
        Image.fromarray(np.roll(base, index % 36, axis=1)).save(
            buffer, "JPEG", quality=95, comment=f"bench image {index}"
        )
        sha256, relative = store.put(root / "images", buffer.getvalue())
        rows.append(
            {
                "source_id": str(index),
                "url": f"bench://{index}",
                "status": "ok",
                "sha256": sha256,
                "path": relative,
                "width": 36,
                "height": 48,
                "attempts": 1,
                "downloaded_at": datetime.now(UTC),
            }
        )
        if len(rows) == CHUNK:
            writer.write(rows)
            rows = []
    if rows:
        writer.write(rows)
    return writer.commit()


def score_child(root: Path) -> None:
    """Runs in a fresh process: score everything, print the summary and the peak RSS."""
    from fashion_model.score.images import score_images
    from fashion_model.warehouse.db import connect

    with connect(root / "bench.duckdb") as con:
        summary = score_images(
            con,
            [root / "manifests" / "bench"],
            root / "images",
            root / "models",
            batch_size=256,
            num_workers=0,
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    predictions = summary.predictions / max(summary.scored, 1)
    print(
        json.dumps(
            {
                "scored": summary.scored,
                "seconds": summary.seconds,
                "peak_kib": peak_kib,
                "predictions_per_image": predictions,
            }
        )
    )


def measure(count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        manifest = make_store(root, count)
        make_model(root, IMAGE_SIZE, sample_paths(root, manifest))
        print(f"  {count:,} images stored in {time.perf_counter() - started:.0f} s", flush=True)
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(root)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        score_child(args.child)
        return
    small = measure(args.images)
    large = measure(args.images * args.factor)
    for run in (small, large):
        rate = run["scored"] / run["seconds"]
        print(
            f"{run['scored']:>9,} images: peak RSS {run['peak_kib'] / 1024:7.0f} MiB, "
            f"{rate:6.0f} images/s, {run['predictions_per_image']:.1f} labels/image"
        )
    ratio = large["peak_kib"] / small["peak_kib"]
    print(f"peak RSS ratio ({args.factor}x the images): {ratio:.2f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
