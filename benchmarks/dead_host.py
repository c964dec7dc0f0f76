"""Benchmark: a dead image host costs seconds, not hours, and does not slow the live ones.

1. 300 catalog records whose image host accepts TCP connections and never answers (a socket
   listening on 127.0.0.2 that never reads), ingested with the default download settings (20 s
   read timeout, 2 retries): seconds to finish and rows in the manifest. Goal: under 60 s, 300
   rows (issue 29). Before the circuit breaker every URL waited out its own timeouts.
2. The same live host (one small JPEG at every path, served from loopback by a separate process)
   alone, then in a mixed feed with the dead host's URLs interleaved: the live host's images/s
   (its URLs / the time until its last one finished) in both runs, and the ratio mixed / alone
   measured in this run. Goal: >= 0.9.

    .venv/bin/python benchmarks/dead_host.py [--dead 300] [--live 2000]
"""

from __future__ import annotations

import argparse
import csv
import io
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.http_server import serve  # noqa: E402
from fashion_model.config import DownloadConfig  # noqa: E402
from fashion_model.ingest.manifest import read_manifest  # noqa: E402
from fashion_model.ingest.pipeline import ingest_source  # noqa: E402


def _catalog(path: Path, urls: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["product_id", "image_url", "retailer"])
        writer.writerows([f"p{n}", url, "Shop"] for n, url in enumerate(urls))
    return path


def _ingest(folder: Path, name: str, urls: list[str]) -> tuple[float, object, list[dict]]:
    config = DownloadConfig(allow_networks=("127.0.0.1/32", "127.0.0.2/32"), per_host_rate=0)
    started = time.monotonic()
    summary = ingest_source(
        _catalog(folder / f"{name}.csv", urls), folder / name, folder / "images", config
    )
    seconds = time.monotonic() - started
    return seconds, summary, read_manifest(folder / name).to_pylist()


def _live_rate(rows: list[dict], live: str, started_at) -> float:
    done = [r["downloaded_at"] for r in rows if r["url"].startswith(live)]
    span = (max(done) - started_at).total_seconds()
    return len(done) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead", type=int, default=300)
    parser.add_argument("--live", type=int, default=2000)
    args = parser.parse_args()
    hole = socket.socket()
    hole.bind(("127.0.0.2", 0))
    hole.listen(4096)
    dead = f"http://127.0.0.2:{hole.getsockname()[1]}"
    with tempfile.TemporaryDirectory(prefix="bench-dead-host-") as tmp:
        folder = Path(tmp)
        urls = [f"{dead}/{n}.jpg" for n in range(args.dead)]
        seconds, summary, rows = _ingest(folder, "dead", urls)
        print(
            f"1. {args.dead} URLs to a host that never answers: {seconds:.1f} s, "
            f"{len(rows)} rows in the manifest, statuses {summary.statuses}, "
            f"unreachable hosts {summary.unreachable_hosts}"
        )
        from PIL import Image

        image = io.BytesIO()
        Image.new("RGB", (320, 240), (120, 40, 60)).save(image, "JPEG")
        (folder / "site").mkdir()
        (folder / "site" / "one.jpg").write_bytes(image.getvalue())
        with serve(folder / "site", single_file="one.jpg") as (base, server):
            live = [f"{base}/img-{n}.jpg" for n in range(args.live)]
            began = datetime.now(UTC)
            _, _, alone_rows = _ingest(folder, "alone", live)
            alone = _live_rate(alone_rows, base, began)
            dead_urls = [f"{dead}/m{n}.jpg" for n in range(args.dead)]
            mixed_urls = []
            for n, url in enumerate(live):  # one dead URL after each live one while they last
                mixed_urls += [url, dead_urls[n]] if n < len(dead_urls) else [url]
            began = datetime.now(UTC)
            _, mixed_summary, mixed_rows = _ingest(folder, "mixed", mixed_urls)
            mixed = _live_rate(mixed_rows, base, began)
        print(
            f"2. live host ({server}) alone: {alone:.0f} images/s; with the dead host's URLs "
            f"interleaved: {mixed:.0f} images/s; ratio mixed / alone {mixed / alone:.2f} "
            f"(goal >= 0.9); mixed statuses {mixed_summary.statuses}"
        )
    hole.close()


if __name__ == "__main__":
    main()
