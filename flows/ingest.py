"""Flow: ingest one source (iMaterialist JSON or catalog CSV/Parquet) into the image store."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fashion_model.download import DownloadConfig
from fashion_model.home import Home
from fashion_model.shards import ScaleOut
from tasks.ingest import download_images


@flow(name="ingest", log_prints=True)
def ingest(
    source: str,
    home: str | None = None,
    name: str | None = None,
    split: str | None = None,
    image_size: int = 256,
    concurrency: int = 64,
    per_host: int = 16,
    allow_private: bool = False,
    strict: bool = False,
    retry_failed: bool = False,
    per_host_rate: float = 50.0,
    jpeg_quality: int = 90,
    honor_robots: bool = True,
    task_runner: str = "default",
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> dict:
    """Download every image of `source`; the manifest lands in HOME/manifests/NAME.

    task_runner "dask" downloads in shards on Dask workers (the scheduler at `dask_address`,
    else $FASHION_DASK_ADDRESS, else a local cluster of `dask_workers` processes); this flow
    still writes the manifest."""
    scale = ScaleOut.from_options(task_runner, dask_address, dask_workers)
    paths = Home.resolve(home).ensure()
    source_path = Path(source).absolute()
    config = DownloadConfig(
        concurrency=concurrency,
        per_host=per_host,
        per_host_rate=per_host_rate,
        image_size=image_size,
        jpeg_quality=jpeg_quality,
        allow_private=allow_private,
        honor_robots=honor_robots,
    )
    manifest_dir = paths.manifests / (name or source_path.stem)
    return download_images(
        source_path, manifest_dir, paths.images, config, split, strict, retry_failed, scale
    )
