"""Task: download a source's images into the store and write its Parquet manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from fashion_model.download import DownloadConfig
from fashion_model.ingest import ingest_source
from tasks.common import publish_summary, retry_unless_bad_input


# Downloads are never cached: their result changes when a server recovers.
@task(
    name="download-images",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_unless_bad_input,
    cache_policy=NO_CACHE,
)
def download_images(
    source: Path,
    manifest_dir: Path,
    images_root: Path,
    config: DownloadConfig,
    split: str | None = None,
    strict: bool = False,
) -> dict:
    summary = ingest_source(source, manifest_dir, images_root, config, split=split, strict=strict)
    result = summary.as_dict()
    get_run_logger().info(
        "ingested %s: %s (%s unknown label ids)",
        source.name,
        ", ".join(f"{k}={v}" for k, v in summary.statuses.items()),
        summary.unknown_labels,
    )
    publish_summary(
        f"ingest-{manifest_dir.name}".lower().replace("_", "-"), result, f"Ingest of {source}"
    )
    return result
