"""Benchmark: `fashion serve` under load: requests/s and p50/p95 latency of `GET /similar` and
`GET /queries/trending_attributes` from 8 concurrent clients, against the same calls made
in-process by 8 threads in the same run (the ratio is what HTTP, FastAPI and JSON cost).

The warehouse is benchmarks/warehouse.py's (N products, planted trends, full score arrays)
plus one 512-d embedding per image (clustered, as benchmarks/similar.py draws them) and the
similarity index; the server runs as its own process (`fashion serve`), the clients are aiohttp
in this one.

    .venv/bin/python benchmarks/serve.py [--products 1000000] [--seconds 20] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import pyarrow as pa
from similar import clustered  # benchmarks/similar.py
from warehouse import build  # benchmarks/warehouse.py

from fashion_model.demo.server import free_port
from fashion_model.home import Home
from fashion_model.match.index import update_index
from fashion_model.service import queries
from fashion_model.service.source import Source
from fashion_model.warehouse.db import connect

TRENDING = {"task": "color", "retailer": "Northwind"}


def embed(con, seed: int = 0) -> None:
    """One clustered unit vector per stored image, model 'bench'."""
    shas = [r[0] for r in con.execute("SELECT image_sha256 FROM images ORDER BY 1").fetchall()]
    for start in range(0, len(shas), 100_000):
        part = shas[start : start + 100_000]
        vectors = clustered(len(part), seed + start)
        table = pa.table(
            {
                "image_sha256": part,
                "model_version": ["bench"] * len(part),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 512),
            }
        )
        con.register("batch", table)
        con.execute("INSERT INTO embeddings BY NAME SELECT * FROM batch")
        con.unregister("batch")


def summary(latencies: list[float], seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / seconds,
        "p50": 1000 * statistics.median(ordered),
        "p95": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
    }


def in_process(source: Source, calls, clients: int, seconds: float) -> dict:
    """`clients` threads, each calling the answer functions on a cursor of its own."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def work(offset: int) -> None:
        mine, i = [], offset
        while time.perf_counter() < deadline:
            cur, _ = source.cursor()
            started = time.perf_counter()
            calls[i % len(calls)](cur)
            mine.append(time.perf_counter() - started)
            cur.close()
            i += clients
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary(latencies, time.perf_counter() - started)


async def over_http(base: str, paths: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)

    async def work(session, offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(base + paths[i % len(paths)]) as response:
                await response.read()
                assert response.status == 200, await response.text()
            latencies.append(time.perf_counter() - started)
            i += clients

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(work(session, n) for n in range(clients)))
    return summary(latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--home", type=Path, help="Reuse (or build and keep) this home.")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="bench-serve-")
    root = args.home or Path(scratch.name) / "home"
    home = Home.resolve(root)
    if not home.db.is_file():
        print(f"building a {args.products:,}-product warehouse with embeddings ...", flush=True)
        with connect(home.db) as con:
            build(con, args.products)
            started = time.perf_counter()
            embed(con)
            print(f"  built embeddings: {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            update_index(con, home.db)
            print(f"  built the index: {time.perf_counter() - started:.1f} s", flush=True)
    source = Source(home)
    print(source.prepare(), flush=True)
    cur, _ = source.cursor()
    picks = cur.execute(
        "SELECT pi.retailer, pi.product_id FROM product_images pi WHERE pi.image_status = 'ok' "
        "ORDER BY hash(pi.product_id) LIMIT 200"
    ).fetchall()
    cur.close()
    similar_calls = [
        (lambda c, r=r, p=p: queries.similar_to_product(c, home.db, r, p, 10)) for r, p in picks
    ]
    similar_paths = [f"/api/v1/similar?retailer={r}&product_id={p}&k=10" for r, p in picks]
    trending_call = [lambda c: queries.report(c, "trending_attributes", TRENDING)]
    trending_path = ["/api/v1/queries/trending_attributes?task=color&retailer=Northwind"]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fashion_model.flows.cli",
            "serve",
            "--home",
            str(root),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                import urllib.request

                urllib.request.urlopen(base + "/api/v1/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not start: " + server.stderr.read().decode()[-2000:])
        asyncio.run(over_http(base, similar_paths[:8] + trending_path, 2, 2.0))  # warm-up
        in_process(source, similar_calls[:8] + trending_call, 2, 2.0)
        print(
            f"{args.products:,} products, {args.clients} clients, {args.seconds:g} s each, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        for name, calls, paths in (
            ("GET /similar", similar_calls, similar_paths),
            ("GET /queries/trending_attributes", trending_call, trending_path),
        ):
            inside = in_process(source, calls, args.clients, args.seconds)
            http = asyncio.run(over_http(base, paths, args.clients, args.seconds))
            print(f"{name}")
            for label, row in (("in-process", inside), ("HTTP", http)):
                print(
                    f"  {label:10s}: {row['rps']:7.1f} req/s  p50 {row['p50']:7.1f} ms  "
                    f"p95 {row['p95']:7.1f} ms"
                )
            print(
                f"  ratio HTTP / in-process: throughput {http['rps'] / inside['rps']:.2f}, "
                f"p95 {http['p95'] / inside['p95']:.2f}",
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        scratch.cleanup()


if __name__ == "__main__":
    main()
