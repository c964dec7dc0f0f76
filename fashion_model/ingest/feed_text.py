"""Delimited feeds, one row an item: catalog CSV/Parquet (a column mapping onto the catalog
fields), Google Merchant TSV, and Shopify product exports (both header generations); with the
file opening (gzip too) and header sniffing that format detection uses."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from fashion_model.config import CATALOG_FIELDS
from fashion_model.errors import BadInput
from fashion_model.ingest.feed_items import (
    MAX_ADDITIONAL_IMAGES,
    FeedItem,
    ItemReader,
    normal_name,
)


def open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")  # noqa: SIM115


def open_text(path: Path):
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="")


def inner_suffix(path: Path) -> str:
    name = path.name.lower()
    return Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()


def first_text(path: Path) -> str:
    try:
        with open_text(path) as handle:
            return handle.read(64 * 1024)
    except (OSError, EOFError, UnicodeDecodeError) as error:  # gzip raises OSError on bad data
        raise BadInput(f"{path}: not a readable text feed ({error})") from None


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in ("\t", ";", ",", "|")}
    best = max(counts, key=lambda d: (counts[d], d == "\t"))
    return best if counts[best] else ","


def read_header(path: Path, delimiter: str | None) -> tuple[list[str], str]:
    text = first_text(path)
    if not text.strip():
        raise BadInput(f"{path}: catalog is empty (no header row)")
    delimiter = delimiter or sniff_delimiter(text.splitlines()[0])
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), None) or []
    except csv.Error as error:
        raise BadInput(f"{path}: not a readable CSV file ({error})") from None
    return [name.strip() for name in header], delimiter


def shopify_columns(header: list[str]) -> dict[str, str] | None:
    """Canonical and Shopify-specific names -> this export's header names, or None when the
    header is not a Shopify export."""
    lowered = {name.lower(): name for name in header}

    def pick(*names: str) -> str | None:
        return next((lowered[n] for n in names if n in lowered), None)

    handle, image = pick("handle", "url handle"), pick("image src", "product image url")
    if not handle or not image:
        return None
    found = {
        "product_id": handle,
        "image_url": image,
        "image_position": pick("image position"),
        "variant_image": pick("variant image", "variant image url"),
        "brand": pick("vendor"),
        "title": pick("title"),
        "price": pick("variant price", "price"),
        "inventory": pick("variant inventory qty", "inventory quantity", "inventory qty"),
        "policy": pick("variant inventory policy", "continue selling when out of stock"),
        "status": pick("status"),
    }
    return {key: value for key, value in found.items() if value}


def _rows(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, str]]]:
    with open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        line_no = 1
        try:
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            for row in reader:
                line_no = reader.line_num
                yield f"line {line_no}", {k: v for k, v in row.items() if k is not None}
        except (UnicodeDecodeError, csv.Error, OSError, EOFError) as error:
            raise BadInput(f"{path}: unreadable CSV after line {line_no} ({error})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            row_no += 1
            yield f"row {row_no}", {k: None if v is None else str(v) for k, v in row.items()}


def catalog_items(reader: ItemReader, header, delimiter) -> Iterator[FeedItem]:
    path = reader.path
    columns = reader.mapped(header, {c: c for c in CATALOG_FIELDS if c in header})
    reader.require(columns, header, "map them with --map product_id=COLUMN --map image_url=COLUMN")
    used = set(columns.values())
    rows = _parquet_rows(path) if inner_suffix(path) == ".parquet" else _rows(path, delimiter)
    for seq, (where, row) in enumerate(rows):
        product_id = (row.get(columns["product_id"]) or "").strip()
        if not product_id:
            raise BadInput(f"{path}:{where.removeprefix('line ')}: empty product_id")
        raw = {c: row.get(column) for c, column in columns.items()}
        values, unparsed = reader.values(raw, where)
        url = (row.get(columns["image_url"]) or "").strip()
        extras = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
        key = f"{values['retailer'] or ''}\x1f{product_id}"  # ids are unique per retailer
        yield FeedItem(where, key, product_id, [(float(seq), url)], values, extras, unparsed)


def merchant_item(
    reader: ItemReader, where: str, fields: dict[str, list[str]], seq: int
) -> FeedItem:
    """One Merchant item (TSV row or XML element): normalised attribute name -> values."""

    def one(name: str) -> str:
        return next((v.strip() for v in fields.get(name, []) if v and v.strip()), "")

    columns = {c: c for c in ("price", "sale_price", "availability", "brand", "title")}
    columns.update({"product_id": "id", "image_url": "image_link"})
    columns.update({c: normal_name(col) for c, col in reader.config.mapping.items()})
    product_id = one(columns["product_id"])
    if not product_id:
        raise BadInput(f"{reader.path}: {where}: empty {columns['product_id']}")
    main = one(columns["image_url"])
    additional = [u.strip() for u in fields.get("additional_image_link", []) if u.strip()]
    images = [(seq * 100.0, main)] + [
        (seq * 100.0 + i, url) for i, url in enumerate(additional[:MAX_ADDITIONAL_IMAGES], 1)
    ]
    if len(additional) > MAX_ADDITIONAL_IMAGES:
        reason = f"more than {MAX_ADDITIONAL_IMAGES} images; the first kept"
        reader.report.problem("additional_image_link", where, str(len(additional)), reason)
    raw = {c: one(column) for c, column in columns.items()}
    values, unparsed = reader.values(raw, where)
    used = set(columns.values()) | {"additional_image_link"}
    extras = {k: ",".join(v for v in vs if v) for k, vs in fields.items() if k not in used}
    extras = {k: v for k, v in extras.items() if v}
    group = one("item_group_id")
    key = f"{group}\x1f{main}" if group else f"\x1e{product_id}"
    return FeedItem(where, key, product_id, images, values, extras, unparsed)


def merchant_text_items(reader: ItemReader, header, delimiter) -> Iterator[FeedItem]:
    normal = [normal_name(h) for h in header]
    needed = (
        {"id", "image_link"}
        - set(normal)
        - {normal_name(v) for v in reader.config.mapping.values()}
    )
    for canonical, column in reader.config.mapping.items():
        if normal_name(column) not in normal:
            raise BadInput(
                f"{reader.path}: --map {canonical}={column}: no column {column!r} "
                f"(found: {', '.join(header)})"
            )
    if needed:
        raise BadInput(
            f"{reader.path}: Merchant feed lacks {', '.join(sorted(needed))} "
            f"(found: {', '.join(header)})"
        )
    for seq, (where, row) in enumerate(_rows(reader.path, delimiter)):
        fields: dict[str, list[str]] = {}
        for name, value in row.items():
            if value is None:
                continue
            values = value.split(",") if normal_name(name) == "additional_image_link" else [value]
            fields.setdefault(normal_name(name), []).extend(values)
        yield merchant_item(reader, where, fields, seq)


def shopify_items(reader: ItemReader, header, delimiter) -> Iterator[FeedItem]:
    found = shopify_columns(header)
    if found is None:
        raise BadInput(
            f"{reader.path}: not a Shopify export: needs Handle (or URL handle) and Image Src "
            f"(or Product image URL) (found: {', '.join(header)})"
        )
    columns = reader.mapped(header, found)
    canonical = {c: columns[c] for c in CATALOG_FIELDS if c in columns}
    used = set(columns.values())
    for seq, (where, row) in enumerate(_rows(reader.path, delimiter)):
        handle = (row.get(columns["product_id"]) or "").strip()
        if not handle:
            raise BadInput(f"{reader.path}: {where}: empty {columns['product_id']}")
        raw = {c: row.get(column) for c, column in canonical.items()}
        values, unparsed = reader.values(raw, where)
        images = []
        url = (row.get(columns["image_url"]) or "").strip()
        if url:
            position = (row.get(columns.get("image_position", "")) or "").strip()
            rank = float(position) if position.isdigit() else 10_000.0
            images.append((rank * 1e7 + seq, url))
        variant_image = (row.get(columns.get("variant_image", "")) or "").strip()
        if variant_image:
            images.append((20_000 * 1e7 + seq, variant_image))
        if "availability" not in canonical and "inventory" in columns:
            quantity = (row.get(columns["inventory"]) or "").strip()
            if quantity.lstrip("-").isdigit():
                policy = (row.get(columns.get("policy", "")) or "").strip().lower()
                values["availability"] = (
                    "in_stock"
                    if int(quantity) > 0
                    else "backorder"
                    if policy in ("continue", "true", "yes")
                    else "out_of_stock"
                )
        if "status" in columns and row.get(columns["status"]):
            values["status"] = row[columns["status"]].strip().lower()
        extras = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
        if values.get("status"):
            extras["status"] = values.pop("status")
        yield FeedItem(where, handle, handle, images, values, extras, unparsed)
