"""Readers for the two input kinds: iMaterialist JSON (labelled) and product catalogs (CSV/Parquet).

Both yield `SourceRecord`s in file order. Ids are data: nothing here turns an id into a path.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from fashion_model.errors import FashionError
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


def split_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    return next((s for s in SPLITS if s in stem), None)


def open_source(path: Path | str, label_map: LabelMap, split: str | None = None) -> Source:
    """Check that `path` exists and has the right shape, before any work starts."""
    path = Path(path)
    if not path.is_file():
        raise FashionError(f"{path}: source file not found")
    if split is not None and split not in SPLITS:
        raise FashionError(f"--split {split!r} is not one of {', '.join(SPLITS)}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        unknown = sum(len(r.unknown_labels) for r in _iter_imaterialist(path, label_map))
        return Source(path, "imaterialist", split or split_from_name(path), [], unknown)
    if suffix in (".csv", ".parquet"):
        columns = _catalog_columns(path)
        missing = [c for c in CATALOG_REQUIRED if c not in columns]
        if missing:
            raise FashionError(
                f"{path}: catalog lacks column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns)})"
            )
        extra = [c for c in columns if c not in CATALOG_REQUIRED]
        return Source(path, "catalog", split, extra)
    raise FashionError(f"{path}: unsupported source type {suffix!r}; use .json, .csv or .parquet")


def iter_records(source: Source, label_map: LabelMap) -> Iterator[SourceRecord]:
    if source.kind == "imaterialist":
        yield from _iter_imaterialist(source.path, label_map)
    elif source.path.suffix.lower() == ".csv":
        yield from _iter_catalog_csv(source.path)
    else:
        yield from _iter_catalog_parquet(source.path)


def _iter_imaterialist(path: Path, label_map: LabelMap) -> Iterator[SourceRecord]:
    # TODO(issue 3): stream with an incremental JSON parser; files of 1M images fit in memory today.
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FashionError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise FashionError(
            f"{path}: expected an object with an 'images' list (iMaterialist format)"
        )
    annotations = payload.get("annotations")
    if annotations is not None and not isinstance(annotations, list):
        raise FashionError(f"{path}: 'annotations' must be a list")
    labels_by_id: dict[str, list] = {}
    for index, item in enumerate(annotations or []):
        if not isinstance(item, dict) or "imageId" not in item or "labelId" not in item:
            raise FashionError(f"{path}: annotations[{index}] needs 'imageId' and 'labelId'")
        if not isinstance(item["labelId"], list):
            raise FashionError(f"{path}: annotations[{index}].labelId must be a list")
        labels_by_id[str(item["imageId"])] = item["labelId"]
    for index, item in enumerate(payload["images"]):
        if not isinstance(item, dict) or "imageId" not in item or "url" not in item:
            raise FashionError(f"{path}: images[{index}] needs 'imageId' and 'url'")
        image_id = str(item["imageId"])
        record = SourceRecord(source_id=image_id, url=str(item["url"]))
        if annotations is not None:
            record.labels, record.unknown_labels = label_map.split_known(
                labels_by_id.get(image_id, [])
            )
        yield record


def _catalog_columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise FashionError(f"{path}: not a readable Parquet file ({error})") from None
    with path.open(newline="", encoding="utf-8") as handle:
        try:
            header = next(csv.reader(handle), None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise FashionError(f"{path}: not a readable CSV file ({error})") from None
    if not header:
        raise FashionError(f"{path}: catalog is empty (no header row)")
    return [name.strip() for name in header]


def _catalog_record(row: dict, where: str) -> SourceRecord:
    product_id = (row.get("product_id") or "").strip()
    if not product_id:
        raise FashionError(f"{where}: empty product_id")
    metadata = {k: (None if v is None or v == "" else str(v)) for k, v in row.items()}
    for key in CATALOG_REQUIRED:
        metadata.pop(key, None)
    return SourceRecord(
        source_id=product_id, url=(row.get("image_url") or "").strip(), metadata=metadata
    )


def _iter_catalog_csv(path: Path) -> Iterator[SourceRecord]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        for line_no, row in enumerate(reader, start=2):
            yield _catalog_record(row, f"{path}:{line_no}")


def _iter_catalog_parquet(path: Path) -> Iterator[SourceRecord]:
    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            row_no += 1
            yield _catalog_record(row, f"{path}: row {row_no}")
