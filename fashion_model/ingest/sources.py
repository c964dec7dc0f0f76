"""Readers for the two input kinds: iMaterialist JSON (labelled) and product catalogs (catalog
CSV/Parquet, Google Merchant feeds, Shopify exports: see fashion_model.ingest.feeds).

Both yield `SourceRecord`s in file order. Ids are data: nothing here turns an id into a path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson

from fashion_model.config import FeedConfig
from fashion_model.errors import BadInput
from fashion_model.ingest.feeds import (
    METADATA_COLUMNS,
    FeedReport,
    NormalisedFeed,
    iter_feed_records,
    read_feed,
)
from fashion_model.labels import LabelMap

SPLITS = ("train", "validation", "test", "reviewed")  # reviewed: trained on, never held out
FEED_SUFFIXES = (".csv", ".tsv", ".txt", ".xml", ".rss", ".atom", ".parquet")


@dataclass
class SourceRecord:
    source_id: str
    url: str
    labels: list[int] | None = None
    unknown_labels: list[str] = field(default_factory=list)
    metadata: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Source:
    """A validated input file: its kind, split and (for catalogs) metadata column names."""

    path: Path
    kind: str  # "imaterialist" or "catalog"
    split: str | None
    metadata_columns: list[str]
    unknown_label_count: int = 0
    records: int | None = None  # counted when opening is cheap (JSON is validated in full)
    labelled: bool = False
    feed: NormalisedFeed | None = None  # a catalog, read and checked in full at opening

    @property
    def feed_report(self) -> FeedReport | None:
        return self.feed.report if self.feed else None


def split_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    return next((s for s in SPLITS if s in stem), None)


def open_source(
    path: Path | str,
    label_map: LabelMap,
    split: str | None = None,
    feed: FeedConfig | None = None,
) -> Source:
    """Check that `path` exists and has the right shape, before any work starts. A catalog is
    read whole here (one streamed pass: a bad row fails before any download)."""
    path = Path(path)
    feed = feed or FeedConfig()
    if not path.is_file():
        raise BadInput(f"{path}: source file not found")
    if split is not None and split not in SPLITS:
        raise BadInput(f"--split {split!r} is not one of {', '.join(SPLITS)}")
    name = path.name.lower()
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix == ".json" and feed.format == "auto":
        labelled = "annotations" in _top_level_shape(path)
        records = unknown = 0
        for record in _iter_imaterialist(path, label_map, labelled):  # validates every item
            records += 1
            unknown += len(record.unknown_labels)
        source = Source(path, "imaterialist", split or split_from_name(path), [], unknown)
        source.records, source.labelled = records, labelled
        return source
    if suffix in FEED_SUFFIXES or feed.format != "auto":
        normalised = read_feed(path, feed)
        source = Source(path, "catalog", split, list(METADATA_COLUMNS), feed=normalised)
        source.records = normalised.report.records
        return source
    raise BadInput(
        f"{path}: unsupported source type {suffix!r}; use .json (iMaterialist), a catalog "
        ".csv/.parquet, a Merchant feed (.tsv, .txt, .xml, optionally .gz) or a Shopify .csv"
    )


def iter_records(source: Source, label_map: LabelMap) -> Iterator[SourceRecord]:
    if source.kind == "imaterialist":
        yield from _iter_imaterialist(source.path, label_map, source.labelled)
        return
    for row in iter_feed_records(source.feed):
        metadata = {c: row[c] for c in METADATA_COLUMNS}
        yield SourceRecord(source_id=row["source_id"], url=row["url"], metadata=metadata)


def _json_items(path: Path, prefix: str) -> Iterator[tuple[int, object]]:
    """Stream the items of one top-level array with ijson: one item in memory at a time."""
    with path.open("rb") as handle:
        try:
            yield from enumerate(ijson.items(handle, prefix, use_float=True))
        except ijson.JSONError as error:
            raise BadInput(f"{path}: not valid JSON ({' '.join(str(error).split())})") from None


def _top_level_shape(path: Path) -> dict[str, str]:
    """{key: first event} for the keys of the top-level object, read as a stream of events."""
    shape: dict[str, str] = {}
    with path.open("rb") as handle:
        try:
            events = ijson.parse(handle)
            prefix, event, _ = next(events, ("", "end", None))
            if event != "start_map":
                raise BadInput(
                    f"{path}: expected an object with an 'images' list (iMaterialist format)"
                )
            for prefix, event, value in events:
                if prefix == "" and event == "map_key":
                    shape[value] = ""
                elif prefix in shape and not shape[prefix]:
                    shape[prefix] = event
        except ijson.JSONError as error:
            raise BadInput(f"{path}: not valid JSON ({' '.join(str(error).split())})") from None
    if shape.get("images") != "start_array":
        raise BadInput(f"{path}: expected an object with an 'images' list (iMaterialist format)")
    if "annotations" in shape and shape["annotations"] != "start_array":
        raise BadInput(f"{path}: 'annotations' must be a list")
    return shape


def _iter_imaterialist(
    path: Path, label_map: LabelMap, labelled: bool | None = None
) -> Iterator[SourceRecord]:
    """Images joined to their annotations, both streamed.

    The two arrays are read by two parsers side by side. iMaterialist files list them in the
    same order, so the join holds one annotation at a time; annotations met ahead of their image
    wait in a dictionary (out-of-order files still join correctly, with more memory).
    """
    if labelled is None:
        labelled = "annotations" in _top_level_shape(path)
    annotations = _json_items(path, "annotations.item") if labelled else None
    waiting: dict[str, list] = {}

    def checked(index: int, item: object) -> tuple[str, list]:
        if not isinstance(item, dict) or "imageId" not in item or "labelId" not in item:
            raise BadInput(f"{path}: annotations[{index}] needs 'imageId' and 'labelId'")
        if not isinstance(item["labelId"], list):
            raise BadInput(f"{path}: annotations[{index}].labelId must be a list")
        return _id_text(item["imageId"]), item["labelId"]

    def labels_of(image_id: str) -> list:
        if image_id in waiting:
            return waiting.pop(image_id)
        for index, item in annotations or ():
            key, labels = checked(index, item)
            if key == image_id:
                return labels
            waiting.setdefault(key, labels)
        return []

    try:
        for index, item in _json_items(path, "images.item"):
            if not isinstance(item, dict) or "imageId" not in item or "url" not in item:
                raise BadInput(f"{path}: images[{index}] needs 'imageId' and 'url'")
            image_id = _id_text(item["imageId"])
            record = SourceRecord(source_id=image_id, url=str(item["url"]))
            if labelled:
                record.labels, record.unknown_labels = label_map.split_known(labels_of(image_id))
            yield record
        for index, item in annotations or ():  # annotations of no image are still checked
            checked(index, item)
    finally:
        if annotations is not None:
            annotations.close()


def _id_text(value: object) -> str:
    """Ids are strings in the files; a number written as 12.0 by some exporter reads as '12'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
