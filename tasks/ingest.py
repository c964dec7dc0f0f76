"""Task: download a source's images into the store and write its Parquet manifest."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import DownloadConfig, FeedConfig, IngestConfig, ScaleOut, default_of
from fashion_model.ingest.pipeline import ingest_source
from fashion_model.ingest.remote import fetch_feed
from fashion_model.scaleout.shards import sharded_fetcher
from fashion_model.tasks.common import progress_reporter, publish_summary, retry_unless_bad_input
from fashion_model.tasks.scaleout import shard_pool
from fashion_model.tasks.tracking import run_logger, table_artifact, task


@task(
    name="fetch-feed",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_bad_input,
    cache=False,
)
def fetch_feed_file(url: str, folder: Path, config: DownloadConfig) -> Path:
    """A feed URL fetched through the downloader's guard and kept in `folder`."""
    path = fetch_feed(url, folder, config)
    run_logger().info("fetched %s -> %s (%d bytes)", url, path, path.stat().st_size)
    return path


# Downloads are never cached: their result changes when a server recovers. A retry of the task
# resumes from the journal of the failed attempt instead of starting over.
@task(
    name="download-images",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_unless_bad_input,
    cache=False,
)
def download_images(
    source: Path,
    manifest_dir: Path,
    images_root: Path,
    config: DownloadConfig,
    split: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    retry_failed: bool = default_of(IngestConfig, "retry_failed"),
    scale: ScaleOut | None = None,
    feed: FeedConfig | None = None,
) -> dict:
    with progress_reporter(f"download {source.name}") as progress:
        summary = ingest_source(
            source,
            manifest_dir,
            images_root,
            config=config,
            split=split,
            strict=strict,
            progress=progress,
            retry_failed=retry_failed,
            fetcher=sharded_fetcher(pool) if (pool := shard_pool(scale)) else None,
            feed=feed,
        )
    result = {**summary.as_dict(), "task_runner": (scale or ScaleOut()).describe()}
    logger = run_logger()
    logger.info(summary.headline())
    for line in summary.warnings():
        logger.warning(line)
    key = f"ingest-{manifest_dir.name}".lower().replace("_", "-")
    publish_summary(key, result, f"Ingest of {source}")
    table_artifact(
        key=f"{key}-statuses",
        table=[
            {
                "status": status,
                "rows": count,
                "share": f"{count / max(summary.records, 1):.1%}",
                "downloaded this run": summary.new_statuses.get(status, 0),
            }
            for status, count in summary.statuses.items()
        ],
        description=f"Download outcomes of {manifest_dir.name}: every manifest row by status",
    )
    return result
