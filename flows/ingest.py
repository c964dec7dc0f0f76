"""Flow `ingest`: a source (iMaterialist JSON, catalog CSV/Parquet) -> image store + manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fashion_model.config import DownloadConfig, ScaleOut
from fashion_model.home import Home
from fashion_model.tasks.ingest import download_images


@flow(name="ingest", log_prints=True, validate_parameters=False)
def ingest(
    source: str,
    home: str | None = None,
    name: str | None = None,
    split: str | None = None,
    strict: bool = False,
    retry_failed: bool = False,
    download: DownloadConfig = DownloadConfig(),
    scale_out: ScaleOut = ScaleOut(),
) -> dict:
    """Download every image of `source`; the manifest lands in HOME/manifests/NAME.

    `scale_out.task_runner` "dask" downloads in shards on Dask workers; this flow still writes
    the manifest. The source is checked whole before any download (bad input: one line)."""
    download = DownloadConfig.parse(download, where="parameter download")
    scale_out = ScaleOut.parse(scale_out, where="parameter scale_out")
    source_path = Path(source).absolute()
    paths = Home.resolve(home).ensure()
    manifest_dir = paths.manifests / (name or source_path.stem)
    return download_images(
        source=source_path,
        manifest_dir=manifest_dir,
        images_root=paths.images,
        config=download,
        split=split,
        strict=strict,
        retry_failed=retry_failed,
        scale=scale_out,
    )
