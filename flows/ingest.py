"""Flow `ingest`: a source (iMaterialist JSON, a catalog feed: file or URL) -> image store +
manifest."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import DownloadConfig, FeedConfig, IngestConfig, ScaleOut, default_of
from fashion_model.home import Home
from fashion_model.ingest.remote import feed_name
from fashion_model.tasks.ingest import download_images, fetch_feed_file
from fashion_model.tasks.tracking import flow
from fashion_model.urls import is_url


@flow(name="ingest", log_prints=True, validate_parameters=False)
def ingest(
    source: str,
    home: str | None = None,
    name: str | None = None,
    split: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    retry_failed: bool = default_of(IngestConfig, "retry_failed"),
    download: DownloadConfig = DownloadConfig(),
    scale_out: ScaleOut = ScaleOut(),
    feed: FeedConfig = FeedConfig(),
) -> dict:
    """Download every image of `source`; the manifest lands in HOME/manifests/NAME.

    `source` is a file or an http(s) URL of a feed, fetched first and kept in HOME/feeds/NAME.
    `feed` says how a catalog is read (format, column mapping, currency, date order).
    `scale_out.task_runner` "dask" downloads in shards on Dask workers; this flow still writes
    the manifest. The source is checked whole before any download (bad input: one line)."""
    download = DownloadConfig.parse(download, where="parameter download")
    scale_out = ScaleOut.parse(scale_out, where="parameter scale_out")
    feed = FeedConfig.parse(feed, where="parameter feed")
    paths = Home.resolve(home).ensure()
    if is_url(source):
        name = name or feed_name(source)
        source_path = fetch_feed_file(url=source, folder=paths.feeds / name, config=download)
    else:
        source_path = Path(source).absolute()
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
        feed=feed,
    )
