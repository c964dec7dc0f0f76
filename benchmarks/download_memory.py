"""Benchmark: peak memory of the downloader stays flat as the URL list grows.

Runs this project's ingest (no Prefect) in a fresh subprocess on a catalog of 10,000 and then
100,000 distinct URLs served from loopback (every path answers the same small JPEG, so the run
measures the downloader, the manifest and the bookkeeping, not the server), then reruns the
two (every record already done: the incremental path). Prints each peak RSS and the ratios
large / small for first runs (goal <= 1.2) and for reruns.

`--shards N` measures the sharded path of `--task-runner dask` instead: the same coordinator
(shard files, outcomes read back, reorder buffer, journal) over a pool of N processes rather
than Dask workers; the peak RSS is the coordinator's, the one process whose memory could grow.

    .venv/bin/python benchmarks/download_memory.py [--small 10000] [--large 100000] [--shards N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.http_server import serve  # noqa: E402

RUN = """
import json, multiprocessing, resource, sys, time
from concurrent.futures import ProcessPoolExecutor
from fashion_model.config import DownloadConfig
from fashion_model.ingest.pipeline import ingest_source
from fashion_model.scaleout.shards import ExecutorShards, sharded_fetcher
catalog, home, shards = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = DownloadConfig(concurrency=64, per_host=64, per_host_rate=0, allow_private=True,
                        retries=0)
pool = None
if shards:
    context = multiprocessing.get_context("spawn")
    pool = ExecutorShards(ProcessPoolExecutor(shards, mp_context=context), slots=shards)
started = time.perf_counter()
summary = ingest_source(catalog, f"{home}/manifests/bench", f"{home}/images", config,
                        fetcher=sharded_fetcher(pool) if pool else None)
print(json.dumps({"seconds": time.perf_counter() - started, "records": summary.records,
                  "downloaded": summary.downloaded, "ok": summary.statuses.get("ok", 0),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(catalog: Path, home: Path, shards: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(catalog), str(home), str(shards)],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise SystemExit(f"ingest failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--server", choices=("auto", "nginx", "aiohttp"), default="auto")
    parser.add_argument("--shards", type=int, default=0, help="sharded path on N processes")
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="bench-download-memory-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user
        (tmp / "www").mkdir()
        buffer = io.BytesIO()
        Image.new("RGB", (320, 400), (180, 40, 60)).save(buffer, "JPEG", quality=90)
        (tmp / "www" / "product.jpg").write_bytes(buffer.getvalue())
        rows = {}
        with serve(tmp / "www", single_file="product.jpg", kind=args.server) as (base, server):
            for label, count, home in (
                ("small", args.small, "home-small"),
                ("small rerun", args.small, "home-small"),
                ("large", args.large, "home-large"),
                ("large rerun", args.large, "home-large"),
            ):
                catalog = tmp / f"catalog-{count}.csv"
                if not catalog.exists():
                    with catalog.open("w") as handle:
                        handle.write("product_id,image_url,brand\n")
                        for i in range(count):
                            handle.write(f"p{i},{base}/img/{i}.jpg,Brand {i % 50}\n")
                rows[label] = {"urls": count, **_run(catalog, tmp / home, args.shards)}
                if rows[label]["ok"] != count:
                    raise SystemExit(f"{label}: only {rows[label]['ok']} of {count} URLs are ok")
                print(json.dumps({label: rows[label]}), file=sys.stderr)
    print(
        f"server: {server}; "
        + (f"sharded on {args.shards} processes" if args.shards else "default runner")
    )
    print(f"{'run':<12} {'URLs':>8} {'downloaded':>10} {'seconds':>8} {'peak RSS MiB':>13}")
    for label, row in rows.items():
        print(
            f"{label:<12} {row['urls']:>8} {row['downloaded']:>10} {row['seconds']:>8.1f} "
            f"{row['peak_rss_mib']:>13.0f}"
        )
    ratio = rows["large"]["peak_rss_mib"] / rows["small"]["peak_rss_mib"]
    rerun = rows["large rerun"]["peak_rss_mib"] / rows["small rerun"]["peak_rss_mib"]
    print(f"peak RSS large / small: {ratio:.2f}x (goal <= 1.2); reruns: {rerun:.2f}x")


if __name__ == "__main__":
    main()
