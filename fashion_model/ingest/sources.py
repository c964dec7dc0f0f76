"""Readers for the two input kinds: iMaterialist JSON (labelled) and product catalogs (CSV/Parquet).

Both yield `SourceRecord`s in file order. Ids are data: nothing here turns an id into a path.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import pyarrow.parquet as pq

from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap

SPLITS = ("train", "validation", "test")
CATALOG_REQUIRED = ("product_id", "image_url")


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


def split_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    return next((s for s in SPLITS if s in stem), None)


def open_source(path: Path | str, label_map: LabelMap, split: str | None = None) -> Source:
    """Check that `path` exists and has the right shape, before any work starts."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: source file not found")
    if split is not None and split not in SPLITS:
        raise BadInput(f"--split {split!r} is not one of {', '.join(SPLITS)}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        labelled = "annotations" in _top_level_shape(path)
        records = unknown = 0
        for record in _iter_imaterialist(path, label_map, labelled):  # validates every item
            records += 1
            unknown += len(record.unknown_labels)
        source = Source(path, "imaterialist", split or split_from_name(path), [], unknown)
        source.records, source.labelled = records, labelled
        return source
    if suffix in (".csv", ".parquet"):
        columns = _catalog_columns(path)
        missing = [c for c in CATALOG_REQUIRED if c not in columns]
        if missing:
            raise BadInput(
                f"{path}: catalog lacks column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns)})"
            )
        extra = [c for c in columns if c not in CATALOG_REQUIRED]
        source = Source(path, "catalog", split, extra)
        # One streamed pass validates every row (a bad row fails before any download) and
        # gives the progress bar its total.
        source.records = sum(1 for _ in iter_records(source, label_map))
        return source
    raise BadInput(f"{path}: unsupported source type {suffix!r}; use .json, .csv or .parquet")


def iter_records(source: Source, label_map: LabelMap) -> Iterator[SourceRecord]:
    if source.kind == "imaterialist":
        yield from _iter_imaterialist(source.path, label_map, source.labelled)
    elif source.path.suffix.lower() == ".csv":
        yield from _iter_catalog_csv(source.path)
    else:
        yield from _iter_catalog_parquet(source.path)


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


def _catalog_columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise BadInput(f"{path}: not a readable Parquet file ({error})") from None
    with path.open(newline="", encoding="utf-8") as handle:
        try:
            header = next(csv.reader(handle), None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise BadInput(f"{path}: not a readable CSV file ({error})") from None
    if not header:
        raise BadInput(f"{path}: catalog is empty (no header row)")
    return [name.strip() for name in header]


def _catalog_record(row: dict, where: str) -> SourceRecord:
    product_id = (row.get("product_id") or "").strip()
    if not product_id:
        raise BadInput(f"{where}: empty product_id")
    metadata = {k: (None if v is None or v == "" else str(v)) for k, v in row.items()}
    for key in CATALOG_REQUIRED:
        metadata.pop(key, None)
    return SourceRecord(
        source_id=product_id, url=(row.get("image_url") or "").strip(), metadata=metadata
    )


def _iter_catalog_csv(path: Path) -> Iterator[SourceRecord]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        line_no = 1
        try:
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            for row in reader:
                line_no = reader.line_num
                yield _catalog_record(row, f"{path}:{line_no}")
        except (UnicodeDecodeError, csv.Error) as error:
            raise BadInput(f"{path}: unreadable CSV after line {line_no} ({error})") from None


def _iter_catalog_parquet(path: Path) -> Iterator[SourceRecord]:
    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            row_no += 1
            yield _catalog_record(row, f"{path}: row {row_no}")
