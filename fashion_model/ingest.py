"""Ingest stage: source file -> downloaded, resized images in the store -> Parquet manifest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import pyarrow.compute as pc

from fashion_model.download import DownloadConfig, download_batch
from fashion_model.errors import FashionError
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.manifest import ManifestWriter, iter_manifest_batches, schema_with_metadata
from fashion_model.sources import SourceRecord, iter_records, open_source

CHUNK = 2_000  # records downloaded and written per manifest part


@dataclass
class IngestSummary:
    source: str
    manifest: str
    records: int = 0
    downloaded: int = 0
    skipped_done: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    unknown_labels: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.downloaded / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 1)}


def _chunks(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _previous_ok(manifest_dir: Path) -> dict[tuple[str, str], dict]:
    """Rows already `ok` in an earlier run, keyed by (source_id, url): a rerun skips them."""
    done: dict[tuple[str, str], dict] = {}
    if not manifest_dir.is_dir():
        return done
    for batch in iter_manifest_batches(manifest_dir):
        ok = batch.filter(pc.equal(batch.column("status"), "ok"))
        for row in ok.to_pylist():
            done[(row["source_id"], row["url"])] = row
    return done


def ingest_source(
    source_path: Path,
    manifest_dir: Path,
    images_root: Path,
    config: DownloadConfig | None = None,
    split: str | None = None,
    strict: bool = False,
    label_map: LabelMap | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Download every record of `source_path` not already ok, and write the manifest atomically."""
    config = config or DownloadConfig()
    label_map = label_map or default_label_map()
    source = open_source(source_path, label_map, split)
    if strict and source.unknown_label_count:
        raise FashionError(
            f"{source.path}: {source.unknown_label_count} label id(s) are not in the label map "
            "(--strict)"
        )
    summary = IngestSummary(source=str(source.path), manifest=str(manifest_dir))
    summary.unknown_labels = source.unknown_label_count
    previous = _previous_ok(Path(manifest_dir))
    writer = ManifestWriter(
        Path(manifest_dir), schema_with_metadata(source.metadata_columns, source.kind)
    )
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for chunk in _chunks(iter_records(source, label_map), CHUNK):
            todo = [r for r in chunk if (r.source_id, r.url) not in previous]
            outcomes = iter(download_batch([r.url for r in todo], config, images_root))
            rows = []
            for record in chunk:
                done = previous.get((record.source_id, record.url))
                if done is not None:
                    summary.skipped_done += 1
                    outcome = {k: done[k] for k in done if k in _OUTCOME_COLUMNS}
                else:
                    outcome = asdict(next(outcomes))
                    summary.downloaded += 1
                statuses[outcome["status"]] += 1
                summary.bytes += outcome.get("bytes") or 0
                rows.append(
                    {
                        "source_id": record.source_id,
                        "url": record.url,
                        **outcome,
                        "labels": record.labels,
                        "split": source.split,
                        "unknown_labels": record.unknown_labels,
                        **{c: record.metadata.get(c) for c in source.metadata_columns},
                    }
                )
            writer.write(rows)
            summary.records += len(chunk)
            if progress:
                progress(len(chunk))
        writer.commit()
    except BaseException:
        writer.abort()  # the previous manifest, if any, stays as it was
        raise
    summary.statuses = dict(sorted(statuses.items()))
    summary.seconds = time.perf_counter() - started
    return summary


_OUTCOME_COLUMNS = (
    "status",
    "error_message",
    "http_status",
    "sha256",
    "path",
    "width",
    "height",
    "original_width",
    "original_height",
    "bytes",
    "attempts",
    "downloaded_at",
)
