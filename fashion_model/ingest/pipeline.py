"""Ingest stage: source file -> downloaded, resized images in the store -> Parquet manifest.

Records stream from the source in chunks; each record is either carried over from an earlier
run (already `ok`, or a failure that is not retried) or handed to the downloader. Finished rows
are written as manifest parts as they come, into a journal that becomes the manifest when the
run completes. Memory stays flat: one chunk of records, the downloads in flight and one part.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from fashion_model.config import DownloadConfig, FeedConfig, IngestConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.ingest.download import Downloader
from fashion_model.ingest.feed_items import missing_retailer
from fashion_model.ingest.manifest import (
    ManifestWriter,
    manifest_lock,
    previous_part_files,
    schema_with_metadata,
)
from fashion_model.ingest.outcomes import OUTCOME_COLUMNS, is_retryable
from fashion_model.ingest.sources import Source, SourceRecord, iter_records, open_source
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.sqlfiles import named, read_sql

CHUNK = 2_000  # records looked up and rows per manifest part
FLUSH_SECONDS = 5.0  # a manifest part at least this often while rows are ready


@dataclass
class IngestSummary:
    source: str
    manifest: str
    records: int = 0
    requested: int = 0  # URLs tried this run (new records and retried failures)
    downloaded: int = 0  # of those, stored ok (failures are counted by status in new_statuses)
    skipped_done: int = 0  # already ok in an earlier run
    kept_failed: int = 0  # failures of earlier runs carried over (see --retry-failed)
    retried_failed: int = 0  # failures of earlier runs tried again
    resumed_rows: int = 0  # rows found in the journal of an interrupted run
    statuses: dict[str, int] = field(default_factory=dict)  # over every row of the manifest
    new_statuses: dict[str, int] = field(default_factory=dict)  # this run's downloads only
    unreachable_hosts: dict[str, int] = field(default_factory=dict)  # host -> URLs not tried
    unknown_labels: int = 0
    feed: dict | None = None  # how a catalog feed was read (format, products, unparsed values)
    bytes: int = 0  # stored bytes of the images downloaded this run
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.downloaded / self.seconds if self.seconds else 0.0

    @property
    def failure_rate(self) -> float:
        failed = sum(n for s, n in self.statuses.items() if s != "ok")
        return failed / self.records if self.records else 0.0

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "images_per_second": round(self.images_per_second, 1),
            "failure_rate": round(self.failure_rate, 4),
        }

    def headline(self) -> str:
        """The run in one line (the log line of the ingest task, printed by `fashion ingest`)."""
        outcomes = ", ".join(f"{k}={v}" for k, v in self.statuses.items())
        return (
            f"ingested {Path(self.source).name}: {self.records} records, {self.downloaded} "
            f"downloaded ({self.images_per_second:.0f} images/s): {outcomes} "
            f"({self.unknown_labels} unknown label ids)"
        )

    def warnings(self) -> list[str]:
        """What the run could not use, one line each: values of the feed that did not parse,
        and hosts that never answered."""
        name = Path(self.source).name
        lines = []
        for column, entry in ((self.feed or {}).get("unparsed_values") or {}).items():
            fate = (
                "no record for it"
                if column.startswith("image_url")
                else "kept as text in source_columns (--strict refuses them)"
            )
            lines.append(
                f"{name}: {entry['count']} {column} value(s) did not parse "
                f"({', '.join(entry['rows'])}; e.g. {entry['example']}): {fate}"
            )
        if self.unreachable_hosts:
            hosts = ", ".join(f"{host} ({n})" for host, n in self.unreachable_hosts.items())
            lines.append(
                f"{name}: hosts that did not answer, their other URLs not tried "
                f"(host_unreachable, retried by the next run): {hosts}"
            )
        return lines


class History:
    """Outcomes that earlier runs recorded for this manifest, looked up a chunk at a time.

    They live in a temporary DuckDB file (not in Python objects), so a rerun of a million-row
    catalog costs a few MB of RAM. The newest outcome of a (source_id, url) wins: interrupted
    runs' journals are newer than the committed manifest."""

    def __init__(self, files: list[Path]):
        self.rows = 0
        self.con = None
        if not files:
            return
        self.tmp = tempfile.TemporaryDirectory(prefix="fashion-ingest-")
        self.con = duckdb.connect(str(Path(self.tmp.name) / "history.duckdb"))
        self.con.execute("SET memory_limit = '64MB'").fetchall()
        self.con.execute("SET threads = 1").fetchall()
        self.con.execute("SET preserve_insertion_order = false").fetchall()
        order = pa.table({"file": [str(f) for f in files], "rank": list(range(len(files)))})
        self.con.register("file_order", order)
        copy = read_sql("ingest/history.sql").format(columns=", ".join(OUTCOME_COLUMNS))
        self.con.execute(copy, {"files": [str(f) for f in files]}).fetchall()
        self.con.unregister("file_order")
        self.rows = self.con.execute(named("ingest/statements.sql", "history_rows")).fetchall()[0][
            0
        ]

    def lookup(self, records: list[SourceRecord]) -> dict[tuple[str, str], dict]:
        if self.con is None or not self.rows:
            return {}
        keys = pa.table(
            {"source_id": [r.source_id for r in records], "url": [r.url for r in records]}
        )
        self.con.register("chunk_keys", keys)
        try:
            found = self.con.sql(read_sql("ingest/history_lookup.sql")).to_arrow_table()
        finally:
            self.con.unregister("chunk_keys")
        return {(row["source_id"], row["url"]): row for row in found.to_pylist()}

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.tmp.cleanup()


def _chunks(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


class _Rows:
    """Collects finished rows, counts them, and writes them in source order, a manifest part
    every `size` rows. Downloads finish out of order: a row waits in `pending` until every
    earlier record has its row (at most what completes while the slowest request is in flight)."""

    def __init__(self, writer: ManifestWriter, summary: IngestSummary, progress, total, size):
        self.writer, self.summary, self.progress, self.total = writer, summary, progress, total
        self.size = size
        self.buffer: list[dict] = []
        self.pending: dict[int, dict] = {}
        self.next = 0
        self.statuses: Counter[str] = Counter()
        self.new_statuses: Counter[str] = Counter()
        self.unreachable: Counter[str] = Counter()  # host -> URLs its open circuit answered
        self.flushed_at = time.monotonic()

    def add(self, seq: int, row: dict, new: bool) -> None:
        self.statuses[row["status"]] += 1
        self.summary.records += 1
        if new:
            self.new_statuses[row["status"]] += 1
            self.summary.bytes += row["bytes"] or 0
            if row["status"] == "host_unreachable":
                self.unreachable[(urlsplit(row["url"]).hostname or "").lower()] += 1
        self.pending[seq] = row
        while self.next in self.pending:
            self.buffer.append(self.pending.pop(self.next))
            self.next += 1
            if len(self.buffer) >= self.size:
                self.flush()
        self.flush_due()
        if self.progress and self.summary.records % 200 == 0:
            self.progress(self.summary.records, self.total)

    def flush_due(self) -> None:
        """A part for what is ready when FLUSH_SECONDS have passed since the last one: when
        outcomes are slow to come, a stop at any moment loses only its last seconds."""
        if self.buffer and time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.writer.write(self.buffer)
        self.buffer = []
        self.flushed_at = time.monotonic()
        if self.progress:
            self.progress(self.summary.records, self.total)

    def salvage(self) -> None:
        """On an interruption, keep every finished row, also those still waiting for an
        earlier one: the journal is looked up by key, and the rerun writes source order."""
        self.buffer += [self.pending.pop(seq) for seq in sorted(self.pending)]
        self.flush()


# What downloads a source's URLs: (config, images_root, manifest_dir, expected URLs) -> an async
# context manager with `submit(url, done)`, like Downloader.
FetcherFactory = Callable[[DownloadConfig, Path, Path, int | None], Any]


def local_fetcher(
    config: DownloadConfig, images_root: Path, manifest_dir: Path, expected: int | None
) -> Downloader:
    """Downloads in this process."""
    return Downloader(config, images_root)


def _carry(previous: dict, retry_failed: bool) -> bool:
    """Keep an earlier outcome (no request) unless it is a retryable failure and we retry."""
    if previous["status"] == "ok" or not retry_failed:
        return True
    return not is_retryable(previous["status"], previous["http_status"])


async def _flush_periodically(rows: _Rows) -> None:
    while True:
        await asyncio.sleep(1.0)
        rows.flush_due()


async def _run(
    source: Source,
    label_map: LabelMap,
    history: History,
    rows: _Rows,
    config: DownloadConfig,
    images_root: Path,
    retry_failed: bool,
    fetcher: FetcherFactory,
    manifest_dir: Path,
) -> None:
    summary = rows.summary
    flusher = asyncio.create_task(_flush_periodically(rows))
    try:
        async with fetcher(config, images_root, manifest_dir, source.records) as downloader:
            seq = -1
            for chunk in _chunks(iter_records(source, label_map), CHUNK):
                known = history.lookup(chunk)
                for record in chunk:
                    seq += 1
                    base = {
                        "source_id": record.source_id,
                        "url": record.url,
                        "labels": record.labels,
                        "split": source.split,
                        "unknown_labels": record.unknown_labels,
                        **{c: record.metadata.get(c) for c in source.metadata_columns},
                    }
                    summary.unknown_labels += len(record.unknown_labels)
                    previous = known.get((record.source_id, record.url))
                    if previous is not None and _carry(previous, retry_failed):
                        if previous["status"] == "ok":
                            summary.skipped_done += 1
                        else:
                            summary.kept_failed += 1
                        outcome = {c: previous[c] for c in OUTCOME_COLUMNS}
                        rows.add(seq, {**base, **outcome}, new=False)
                        continue
                    summary.retried_failed += previous is not None
                    summary.requested += 1

                    def done(outcome, seq=seq, base=base):
                        rows.add(seq, {**base, **vars(outcome)}, new=True)

                    await downloader.submit(record.url, done)
    finally:
        flusher.cancel()


def check_source(
    source_path: Path,
    split: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    label_map: LabelMap | None = None,
    feed: FeedConfig | None = None,
) -> Source:
    """Everything about a source that can be wrong, checked before any download: its type,
    columns and every record (a streamed pass), and with `strict` its label ids and every
    catalog value (a price, date or availability that does not parse is then an error)."""
    source = open_source(source_path, label_map or default_label_map(), split, feed)
    if strict and source.unknown_label_count:
        raise BadInput(
            f"{source.path}: {source.unknown_label_count} label id(s) are not in the label map "
            "(--strict)"
        )
    report = source.feed_report
    if strict and report and report.problem_count:
        raise BadInput(
            f"{source.path}: {report.problem_count} value(s) did not parse (--strict): "
            f"{report.describe_problems()}"
        )
    return source


def check_catalog(
    source_path: Path, retailer: str | None = None, feed: FeedConfig | None = None
) -> Source:
    """A catalog for the nightly run: a valid source that names its retailer, in a column or
    through `retailer`."""
    source = check_source(source_path, feed=feed)
    without = source.feed_report.without_retailer if source.feed_report else 0
    if problem := missing_retailer(without, retailer):
        raise BadInput(f"{source_path}: {problem}")
    return source


def ingest_source(
    source_path: Path,
    manifest_dir: Path,
    images_root: Path,
    config: DownloadConfig | None = None,
    split: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    label_map: LabelMap | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    retry_failed: bool = default_of(IngestConfig, "retry_failed"),
    part_rows: int = CHUNK,
    fetcher: FetcherFactory | None = None,
    feed: FeedConfig | None = None,
) -> IngestSummary:
    """Download every record of `source_path` not already done; commit the manifest at the end.

    A rerun skips records already `ok` (same source_id and url) and keeps earlier failures;
    with `retry_failed` it tries the retryable ones (timeouts, connection errors, 429/5xx) again.
    Bad input fails before any download and leaves the manifest as it was; a crash or a kill
    leaves the finished parts in a journal that the next run picks up.

    `fetcher` makes the downloader (default: this process's `Downloader`); scale-out passes one
    that downloads in shards on other processes or machines (`scaleout.shards.sharded_fetcher`);
    this process still writes the manifest, in the same order, with the same rows."""
    config = config or DownloadConfig()
    label_map = label_map or default_label_map()
    source = check_source(source_path, split, strict, label_map, feed)
    manifest_dir = Path(manifest_dir)
    summary = IngestSummary(source=str(source.path), manifest=str(manifest_dir))
    summary.feed = source.feed_report.as_dict() if source.feed_report else None
    started = time.perf_counter()
    with manifest_lock(manifest_dir):
        files, superseded = previous_part_files(manifest_dir)
        history = History(files)
        summary.resumed_rows = sum(
            _parquet_rows(f) for f in files if f.parent.name.startswith(f".{manifest_dir.name}.")
        )
        writer = ManifestWriter(
            manifest_dir, schema_with_metadata(source.metadata_columns, source.kind)
        )
        rows = _Rows(writer, summary, progress, source.records, part_rows)
        try:
            asyncio.run(
                _run(
                    source,
                    label_map,
                    history,
                    rows,
                    config,
                    images_root,
                    retry_failed,
                    fetcher or local_fetcher,
                    manifest_dir,
                )
            )
            rows.flush()
        except BadInput:
            writer.abort()  # bad input: the previous manifest stays exactly as it was
            raise
        except BaseException:
            rows.salvage()  # interrupted: keep every finished row in the journal for the rerun
            raise
        finally:
            history.close()
        writer.commit(superseded)
    summary.statuses = dict(sorted(rows.statuses.items()))
    summary.new_statuses = dict(sorted(rows.new_statuses.items()))
    summary.downloaded = rows.new_statuses.get("ok", 0)
    summary.unreachable_hosts = dict(rows.unreachable.most_common())
    summary.seconds = time.perf_counter() - started
    return summary


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
