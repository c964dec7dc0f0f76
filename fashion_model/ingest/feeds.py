"""Catalog feeds: Google Merchant Center (TSV and RSS/Atom XML), Shopify product exports (both
header generations) and any other CSV/Parquet through a column mapping, read into one shape.

Every feed is read as a stream of items (one per feed row or XML item), each with its values
parsed (fashion_model.ingest.values) and its problems counted; DuckDB then folds the items into
products (sql/load/fold_feed.sql) and writes one Parquet file of catalog records
(sql/load/feed_records.sql), one row per product image, in feed order. Memory stays flat: the
items go to disk as they are read, and DuckDB folds them within a memory limit.

Product identity, per format (the README says the same):
- catalog CSV/Parquet: `product_id` (or the column mapped to it); several rows of one id are the
  product's images, in row order; a repeated (id, image) pair is counted and dropped.
- Merchant: items of one `item_group_id` that share their `image_link` are one product (the
  sizes of one look), identified by the first such item's `id`; an item without a group is a
  product of its own. A repeated `id` is counted; the first one is kept.
- Shopify: one product per handle, across its follow-up rows.
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_model.config import FeedConfig
from fashion_model.errors import BadInput
from fashion_model.ingest.feed_items import (
    ITEM_SCHEMA,
    METADATA_COLUMNS,  # noqa: F401  (sources.py reads it here, with the feed's other names)
    SHOWN_ROWS,
    FeedItem,
    FeedReport,
    ItemReader,
)
from fashion_model.ingest.feed_text import (
    catalog_items,
    first_text,
    inner_suffix,
    merchant_text_items,
    normal_name,
    read_header,
    shopify_columns,
    shopify_items,
)
from fashion_model.ingest.feed_xml import merchant_xml_items
from fashion_model.sqlfiles import named, quote_literal, read_sql
from fashion_model.urls import is_url

_sql = partial(named, "ingest/statements.sql")


def detect_format(path: Path, config: FeedConfig) -> tuple[str, list[str], str | None]:
    """(format, columns found, delimiter) from the extension, the header or the XML root."""
    suffix = inner_suffix(path)
    if suffix == ".parquet":
        try:
            columns = list(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise BadInput(f"{path}: not a readable Parquet file ({error})") from None
        if config.format not in ("auto", "catalog"):
            raise BadInput(f"{path}: a Parquet file is read as --format catalog")
        return "catalog", columns, None
    if config.format == "merchant-xml" or (
        config.format == "auto"
        and (suffix in (".xml", ".rss", ".atom") or first_text(path).lstrip().startswith("<"))
    ):
        return "merchant-xml", [], None
    header, delimiter = read_header(path, config.delimiter)
    if config.format != "auto":
        return config.format, header, delimiter
    normal = {normal_name(name) for name in header}
    if {"id", "image_link"} <= normal:
        return "merchant", header, delimiter
    if shopify_columns(header):
        return "shopify", header, delimiter
    return "catalog", header, delimiter


@dataclass
class NormalisedFeed:
    """A feed read into catalog records: `records` (Parquet) lives as long as this object."""

    path: Path
    records: Path
    report: FeedReport
    _tmp: tempfile.TemporaryDirectory | None = None


# The feeds this process read lately, by file (path, size, mtime, inode) and reading options:
# a nightly run checks its feed when it plans, then ingests it; the file is read once.
_READ: OrderedDict[tuple, NormalisedFeed] = OrderedDict()
_READ_KEPT = 2
# Feed problems of the image URL, counted by reason: the product or the URL is not a record.
NO_IMAGE, NOT_HTTP = "image_url (missing)", "image_url (not http/https)"


def read_feed(path: Path, config: FeedConfig) -> NormalisedFeed:
    """Read and check a whole feed (bad input: one line naming the file and the row) and write
    its catalog records, one per product image, in feed order, to a temporary Parquet file.
    The same unchanged file read with the same options again is not read again."""
    path = Path(path)
    stat = path.stat()
    options = config.model_dump_json(include=set(FeedConfig.model_fields))
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, options)
    if (known := _READ.get(key)) is not None and known.records.is_file():
        _READ.move_to_end(key)
        return known
    feed = _read_feed(path, config)
    _READ[key] = feed
    while len(_READ) > _READ_KEPT:
        _READ.popitem(last=False)  # its records go when the last holder lets go
    return feed


def _read_feed(path: Path, config: FeedConfig) -> NormalisedFeed:
    fmt, header, delimiter = detect_format(path, config)
    report = FeedReport(fmt, delimiter)
    reader = ItemReader(path, config, report)
    if fmt == "merchant-xml":
        items = merchant_xml_items(reader)
    elif fmt == "merchant":
        items = merchant_text_items(reader, header, delimiter)
    elif fmt == "shopify":
        items = shopify_items(reader, header, delimiter)
    else:
        items = catalog_items(reader, header, delimiter)
    tmp = tempfile.TemporaryDirectory(prefix="fashion-feed-")
    folder = Path(tmp.name)
    _write_items(items, folder / "items.parquet", report)
    if report.items == 0:
        raise BadInput(f"{path}: the feed has no products")
    _fold(folder, fmt, report)
    return NormalisedFeed(path, folder / "records.parquet", report, tmp)


def _write_items(items: Iterator[FeedItem], target: Path, report: FeedReport) -> None:
    batch: list[dict] = []
    with pq.ParquetWriter(target, ITEM_SCHEMA) as writer:
        for seq, item in enumerate(items):
            report.items += 1
            images = [(rank, url) for rank, url in item.images if is_url(url)]
            bad = [url for _, url in item.images if url and not is_url(url)]
            for url in bad:  # an empty one is no image: counted after folding
                report.problem(NOT_HTTP, item.where, url, "not an http(s) image URL")
            batch.append(
                {
                    "seq": seq,
                    "where_": item.where,
                    "key": item.key,
                    "product_id": item.product_id,
                    "image_urls": [url for _, url in images],
                    "image_ranks": [rank for rank, _ in images],
                    "bad_image_urls": len(bad),
                    **{
                        k: item.values.get(k)
                        for k in (
                            "retailer",
                            "brand",
                            "title",
                            "first_seen",
                            "price",
                            "currency",
                            "sale_price",
                            "availability",
                        )
                    },
                    "extras": json.dumps(item.extras, ensure_ascii=False),
                    "unparsed": json.dumps(item.unparsed, ensure_ascii=False)
                    if item.unparsed
                    else None,
                }
            )
            if len(batch) >= 10_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=ITEM_SCHEMA))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=ITEM_SCHEMA))


def _fold(folder: Path, fmt: str, report: FeedReport) -> None:
    dedupe = (
        "QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY seq) = 1"
        if fmt in ("merchant", "merchant-xml")
        else ""
    )
    with duckdb.connect(str(folder / "fold.duckdb")) as con:
        con.execute("SET memory_limit = '256MB'")
        con.execute("SET threads = 2")
        con.execute(f"SET temp_directory = '{folder / 'spill'}'")
        items = str(folder / "items.parquet")
        for statement in read_sql("load/fold_feed.sql").format(dedupe=dedupe).split(";"):
            if statement.strip():
                con.execute(statement, {"items": items} if "$items" in statement else None)
        if dedupe:
            query = read_sql("ingest/feed_duplicates.sql")
            dropped = con.execute(query, {"items": items}).fetchall()
            report.duplicates = len(dropped)
            report.duplicate_rows = [where for (where,) in dropped[:SHOWN_ROWS]]
        else:
            repeated = con.execute(_sql("repeated_pictures")).fetchone()
            report.duplicates = int(repeated[0])
        report.products, kept, report.without_retailer = con.execute(
            _sql("folded_counts")
        ).fetchone()
        report.merged_variants = int(kept or 0) - report.products if fmt != "catalog" else 0
        missing, rows = con.execute(_sql("products_without_image")).fetchall()[0]
        if missing:
            report.problem_rows(NO_IMAGE, missing, rows, "a product without an image URL")
        target = str(folder / "records.parquet")
        records = read_sql("load/feed_records.sql").rstrip().rstrip(";")
        copy = _sql("copy_records").format(records=records, target=quote_literal(target))
        con.execute(copy, {"variants": fmt in ("merchant", "merchant-xml")})
        report.records = con.execute(_sql("count_records"), {"target": target}).fetchone()[0]


def iter_feed_records(feed: NormalisedFeed) -> Iterator[dict]:
    """The catalog records of a read feed, in feed order, a batch at a time."""
    for batch in pq.ParquetFile(feed.records).iter_batches(batch_size=10_000):
        yield from batch.to_pylist()
