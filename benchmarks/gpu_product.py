"""The product's own stages on a lent CUDA machine (run `benchmarks/gpu_check.sh`).

`benchmarks/gpu_check.py` measures the parts (training step, forward, nvJPEG, rows); this runs
the product's own code the way a user's night does, on a synthetic catalog served from
loopback: `ingest_source`, `train_model` (on the GPU: bf16-mixed, channels_last) and
`score_images` (nvJPEG decode on the device, colours measured from the device's pixels) into a
DuckDB warehouse; then the same images scored by the same model on the CPU (Pillow decode,
fp32) in a process that sees no GPU, and the two warehouses compared: labels above threshold,
probabilities, embedding cosine, and the measured colours (main shade, CIEDE2000 of the main
colour, share). A second GPU run must score nothing (idempotence).

    PYTHONPATH=. python benchmarks/gpu_product.py [--products 400] [--image-size 128] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

SCORE_CPU = """
import sys, time
from pathlib import Path
from fashion_model.score.images import score_images
from fashion_model.warehouse.db import connect
home = Path(sys.argv[1])
with connect(Path(sys.argv[2])) as con:
    started = time.perf_counter()
    s = score_images(con, [home / "manifests" / "catalog"], home / "images", home / "models",
                     decode="pil", runtime="torch")
    print(f"cpu: scored {s.scored} in {time.perf_counter() - started:.1f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--home",
        type=Path,
        help="Keep the home here (a new folder), e.g. "
        "for benchmarks/score_cpu.py on this machine's CPU [default: temporary].",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Allow a run without a GPU "
        "(checks this script on a CPU; the 'gpu' side then runs on the CPU).",
    )
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.dry_run:
        raise SystemExit("no CUDA device: this check is for a GPU machine")
    from fashion_model.config import DownloadConfig, TrainConfig
    from fashion_model.demo.server import free_port, running_image_server
    from fashion_model.demo.synth import synthesize_catalog
    from fashion_model.ingest.pipeline import ingest_source
    from fashion_model.model.train import train_model
    from fashion_model.score.images import score_images
    from fashion_model.warehouse.catalog import load_catalog
    from fashion_model.warehouse.db import connect

    root = Path(tempfile.mkdtemp(prefix="gpu-product-"))
    home, folder, port = args.home or root / "home", root / "catalog", free_port()
    started = time.perf_counter()
    synthesize_catalog(
        folder, args.products, seed=3, base_url=f"http://127.0.0.1:{port}", workers=os.cpu_count()
    )
    local = DownloadConfig(allow_private=True, retries=1, backoff=0.05, per_host_rate=0)
    with running_image_server(folder, port=port):
        for name, source in (
            ("train", "train.json"),
            ("validation", "validation.json"),
            ("catalog", "catalog.csv"),
        ):
            ingest_source(folder / source, home / "manifests" / name, home / "images", local)
    print(
        f"catalog: {args.products} products drawn and ingested in "
        f"{time.perf_counter() - started:.0f} s"
    )

    started = time.perf_counter()
    card = train_model(
        [home / "manifests" / "train", home / "manifests" / "validation"],
        home / "images",
        home / "models",
        TrainConfig(epochs=args.epochs, image_size=args.image_size, batch_size=64),
        log=lambda message: None,
    )
    metrics = card.metrics
    print(
        f"train: version {card.model_version} in {time.perf_counter() - started:.0f} s on "
        f"{_device()}, {args.epochs} epochs at {card.image_size} px, precision "
        f"{metrics['precision']}, {metrics['train_images']} images, {metrics['train_seconds']} s "
        f"in fit, validation micro-F1 {metrics['val_micro_f1']:.4f}"
    )

    gpu_db, cpu_db = root / "gpu.duckdb", root / "cpu.duckdb"
    for db in (gpu_db, cpu_db):
        with connect(db) as con:
            load_catalog(con, home / "manifests" / "catalog", date(2026, 12, 1))
    with connect(gpu_db) as con:
        started = time.perf_counter()
        first = score_images(
            con, [home / "manifests" / "catalog"], home / "images", home / "models"
        )
        seconds = time.perf_counter() - started
        again = score_images(
            con, [home / "manifests" / "catalog"], home / "images", home / "models"
        )
    print(
        f"gpu: scored {first.scored} ({first.failed_to_decode} undecodable) in {seconds:.1f} s "
        f"by runtime {first.runtime!r}; second run scored {again.scored}"
    )
    cpu = subprocess.run(
        [sys.executable, "-c", SCORE_CPU, str(home), str(cpu_db)],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(cpu.stdout.strip() or cpu.stderr[-2000:])
    compare(gpu_db, cpu_db)
    ok = again.scored == 0 and first.scored > 0 and cpu.returncode == 0
    print("product GPU check:", "PASSED" if ok else "FAILED")


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (dry run)"


COMPARE = """
WITH pairs AS (
    SELECT g.image_sha256, g.probs AS gp, c.probs AS cp,
           ge.embedding AS ge, ce.embedding AS ce
    FROM scores g
    JOIN cpu.scores c USING (image_sha256, model_version)
    JOIN embeddings ge USING (image_sha256, model_version)
    JOIN cpu.embeddings ce ON ce.image_sha256 = g.image_sha256
        AND ce.model_version = g.model_version
)
SELECT count(*),
       max(list_max([abs(gp[i] - cp[i]) FOR i IN range(1, len(gp) + 1)])),
       avg(list_cosine_similarity(ge, ce)),
       min(list_cosine_similarity(ge, ce))
FROM pairs
"""

LABELS = """
SELECT count(*) FILTER (WHERE g.label_id IS NULL OR c.label_id IS NULL), count(*)
FROM predictions g
FULL JOIN cpu.predictions c USING (image_sha256, model_version, label_id)
"""

COLORS = """
SELECT count(*),
       avg(CASE WHEN on_gpu.name = on_cpu.name THEN 1 ELSE 0 END),
       avg(de), quantile_cont(de, 0.95),
       avg(abs(on_gpu.share - on_cpu.share))
FROM image_colors on_gpu
JOIN cpu.image_colors on_cpu USING (image_sha256, method_version, rank),
LATERAL (SELECT ciede2000(on_gpu.l, on_gpu.a, on_gpu.b, on_cpu.l, on_cpu.a, on_cpu.b) AS de)
WHERE rank = 1
"""


def compare(gpu_db: Path, cpu_db: Path) -> None:
    """The GPU warehouse (bf16, nvJPEG) against the CPU one (fp32, Pillow), image by image."""
    import duckdb

    con = duckdb.connect(str(gpu_db), read_only=True)
    con.execute(f"ATTACH '{cpu_db}' AS cpu (READ_ONLY)")
    images, max_prob, mean_cos, min_cos = con.execute(COMPARE).fetchone()
    differ, labels = con.execute(LABELS).fetchone()
    colored, same_name, de_mean, de_p95, share = con.execute(COLORS).fetchone()
    print(
        f"gpu vs cpu, same model, {images} images: probabilities max |diff| {max_prob:.4f}, "
        f"labels above threshold {labels - differ}/{labels} the same, embedding cosine mean "
        f"{mean_cos:.5f} (min {min_cos:.5f})"
    )
    print(
        f"colours, {colored} images: main shade the same {same_name:.1%}, main colour "
        f"CIEDE2000 mean {de_mean:.2f} (95th percentile {de_p95:.2f}), main share |diff| "
        f"{share:.3f}"
    )


if __name__ == "__main__":
    main()
