"""Benchmark: the download and scoring stages on `--task-runner dask` (a local Dask cluster
through prefect-dask) against the default runner, in the same run on the same data.

Both runners go through the real flows (`ingest`, then `score`) with Prefect's ephemeral API:
each figure includes what a user waits for (the cluster's start, shards written and read back,
the one DuckDB writer). The ratio dask/default is the figure to compare between runs; on one
machine the cluster has the same cores as the default runner, so it shows the cost of
sharding, not a speed-up (that comes from adding machines). `dask (cluster up)` points the
flows at a cluster started before the timings, as a team's standing cluster would be.

    .venv/bin/python benchmarks/scaleout.py [--images 2000] [--workers 2] [--image-size 64]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from common import make_model, sample_paths  # noqa: E402  benchmarks/common.py
from download import make_corpus  # noqa: E402  benchmarks/download.py
from http_server import serve  # noqa: E402


def write_catalog(folder: Path, base_url: str, path: Path) -> int:
    names = sorted(p.name for p in folder.glob("*.jpg"))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["product_id", "image_url", "retailer"])
        for index, name in enumerate(names):
            writer.writerow([f"P{index:06d}", f"{base_url}/{name}", "Bench"])
    return len(names)


def timed(call, *args, **kwargs) -> tuple[dict, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


def warm_up() -> str:
    """Start the ephemeral API once, outside the timings; its URL (for the standing cluster)."""
    from prefect import flow
    from prefect.context import get_run_context

    return flow(name="warm-up")(lambda: str(get_run_context().client.api_url))()


@contextmanager
def standing_cluster(workers: int, api_url: str):
    """A LocalCluster started before the timings: `dask (cluster up)` leaves out the start."""
    from distributed import LocalCluster

    started = time.perf_counter()
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        dashboard_address=":0",
        env={"PREFECT_API_URL": api_url},
    ) as cluster:
        yield cluster.scheduler_address, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="catalog products (800 px)")
    parser.add_argument("--workers", type=int, default=2, help="local Dask worker processes")
    parser.add_argument("--image-size", type=int, default=64, help="model input size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        os.environ["PREFECT_HOME"] = str(Path(tmp) / "prefect")
        from fashion_model.config import ScoreConfig
        from fashion_model.flows.ingest import ingest
        from fashion_model.flows.score import score
        from fashion_model.score.plan import plan_score

        api_url = warm_up()
        corpus = make_corpus(args.images)
        root = Path(tmp)
        runs = {  # name: flow parameters
            "default": {},
            "dask": {"task_runner": "dask", "dask_workers": args.workers},
            "dask (cluster up)": {"task_runner": "dask"},
        }
        homes = {name: root / f"home-{number}" for number, name in enumerate(runs)}
        for home in homes.values():
            home.mkdir()
        rows = {}
        with (
            serve(corpus) as (base_url, server),
            standing_cluster(args.workers, api_url) as (address, cluster_start),
        ):
            runs["dask (cluster up)"]["dask_address"] = address
            count = write_catalog(corpus, base_url, root / "catalog.csv")
            print(f"{count} catalog images served by {server}", flush=True)
            for name, dask in runs.items():
                result, seconds = timed(
                    ingest,
                    source=str(root / "catalog.csv"),
                    home=str(homes[name]),
                    name="catalog",
                    download={"allow_private": True, "per_host_rate": 0},
                    scale_out=dask,
                )
                rows[("download", name)] = (result["downloaded"], seconds)
            for name, dask in runs.items():
                home = homes[name]
                if name == "default":
                    manifest = home / "manifests" / "catalog"
                    make_model(root / "shared", args.image_size, sample_paths(home, manifest))
                (home / "models").rmdir()  # empty: the flows made it
                (home / "models").symlink_to(root / "shared" / "models", target_is_directory=True)
                config = ScoreConfig(as_of=date(2026, 11, 27), retailer="Bench")
                plan = plan_score(home, ["catalog"], config)
                result, seconds = timed(score, plan=plan, scale_out=dask)
                rows[("score", name)] = (result["scored"], seconds)

    print(
        f"\ncpu cores {os.cpu_count()}; dask: a local cluster of {args.workers} processes "
        f"(1 thread each), started by the stage; a standing one took {cluster_start:.1f} s "
        "to start"
    )
    print(f"{'stage':9} {'runner':18} {'images':>7} {'seconds':>8} {'images/s':>9} {'ratio':>6}")
    for (stage, name), (images, seconds) in rows.items():
        base_images, base_seconds = rows[(stage, "default")]
        ratio = (images / seconds) / (base_images / base_seconds)
        print(
            f"{stage:9} {name:18} {images:7d} {seconds:8.1f} {images / seconds:9.1f} {ratio:6.2f}"
        )
    print("ratio: images/s against the default runner in this run")


if __name__ == "__main__":
    main()
