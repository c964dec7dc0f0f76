"""Catalog feeds: Google Merchant Center (TSV and RSS/Atom XML), Shopify product exports (both
header generations) and any other CSV/Parquet through a column mapping, read into one shape.

Every feed is read as a stream of items (one per feed row or XML item), each with its values
parsed (fashion_model.ingest.values) and its problems counted; DuckDB then folds the items into
products (see `_FOLD`) and writes one Parquet file of catalog records, one row per product
image, in feed order. Memory stays flat: the items go to disk as they are read, and DuckDB
folds them within a memory limit.

Product identity, per format (the README says the same):
- catalog CSV/Parquet: `product_id` (or the column mapped to it); several rows of one id are the
  product's images, in row order; a repeated (id, image) pair is counted and dropped.
- Merchant: items of one `item_group_id` that share their `image_link` are one product (the
  sizes of one look), identified by the first such item's `id`; an item without a group is a
  product of its own. A repeated `id` is counted; the first one is kept.
- Shopify: one product per handle, across its follow-up rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_model.config import CATALOG_FIELDS, FeedConfig
from fashion_model.errors import BadInput
from fashion_model.ingest.values import parse_availability, parse_date, parse_price

FORMATS = ("catalog", "merchant", "merchant-xml", "shopify")
GOOGLE_NS = "http://base.google.com/ns/1.0"
MAX_ADDITIONAL_IMAGES = 10  # Merchant Center's own limit
# The metadata columns every catalog manifest carries, as strings (typed by the warehouse).
METADATA_COLUMNS = (
    "retailer", "brand", "title", "first_seen", "price", "currency", "sale_price",
    "availability", "source_columns",
)  # fmt: skip
_SHOWN_ROWS = 5  # row numbers kept per problem column


@dataclass
class FeedReport:
    """What reading a feed found: counts, and the values that did not parse, by column."""

    format: str
    delimiter: str | None = None
    items: int = 0  # feed rows / XML items read
    products: int = 0
    records: int = 0  # catalog records written (one per product image)
    duplicates: int = 0
    duplicate_rows: list[str] = field(default_factory=list)
    merged_variants: int = 0  # items folded into another item's product
    without_retailer: int = 0  # products with no retailer column value and no default
    problems: dict[str, dict] = field(default_factory=dict)

    def problem(self, column: str, where: str, raw: str, reason: str) -> None:
        entry = self.problems.setdefault(column, {"count": 0, "rows": [], "example": ""})
        entry["count"] += 1
        if len(entry["rows"]) < _SHOWN_ROWS:
            entry["rows"].append(where)
        if not entry["example"]:
            entry["example"] = f"{raw[:60]!r}: {reason}"

    @property
    def problem_count(self) -> int:
        return sum(entry["count"] for entry in self.problems.values())

    def describe_problems(self) -> str:
        return "; ".join(
            f"{column}: {entry['count']} ({', '.join(entry['rows'])}"
            f"{', ...' if entry['count'] > len(entry['rows']) else ''}; e.g. {entry['example']})"
            for column, entry in self.problems.items()
        )

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "items": self.items,
            "products": self.products,
            "records": self.records,
            "duplicates": self.duplicates,
            "duplicate_rows": self.duplicate_rows,
            "merged_variants": self.merged_variants,
            "without_retailer": self.without_retailer,
            "unparsed_values": {c: dict(e) for c, e in self.problems.items()},
        }


@dataclass
class _Item:
    where: str  # "line 4", "item 3", "row 5": what the messages name
    key: str  # the product this item belongs to (see the module's identity rules)
    product_id: str
    images: list[tuple[float, str]]  # (rank, url): the product's images sort by rank
    values: dict[str, object]  # canonical fields, parsed
    extras: dict[str, str]  # every other column, as read
    unparsed: dict[str, str]  # raw text of values that did not parse


_ITEM_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("where_", pa.string()),
        ("key", pa.string()),
        ("product_id", pa.string()),
        ("image_urls", pa.list_(pa.string())),
        ("image_ranks", pa.list_(pa.float64())),
        ("retailer", pa.string()),
        ("brand", pa.string()),
        ("title", pa.string()),
        ("first_seen", pa.date32()),
        ("price", pa.float64()),
        ("currency", pa.string()),
        ("sale_price", pa.float64()),
        ("availability", pa.string()),
        ("extras", pa.string()),
        ("unparsed", pa.string()),
    ]
)


# --- detection ------------------------------------------------------------------------------


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")  # noqa: SIM115


def _open_text(path: Path):
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")


def _inner_suffix(path: Path) -> str:
    name = path.name.lower()
    return Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()


def _first_text(path: Path) -> str:
    try:
        with _open_text(path) as handle:
            return handle.read(64 * 1024)
    except (OSError, EOFError, UnicodeDecodeError) as error:  # gzip raises OSError on bad data
        raise BadInput(f"{path}: not a readable text feed ({error})") from None


def _normal(name: str) -> str:
    """A Merchant attribute name as written in a header: `Image Link`, `g:image_link`."""
    name = name.strip().lower()
    name = name.removeprefix("g:")
    return "_".join(name.replace("-", " ").split())


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in ("\t", ";", ",", "|")}
    best = max(counts, key=lambda d: (counts[d], d == "\t"))
    return best if counts[best] else ","


def _header(path: Path, delimiter: str | None) -> tuple[list[str], str]:
    text = _first_text(path)
    if not text.strip():
        raise BadInput(f"{path}: catalog is empty (no header row)")
    delimiter = delimiter or sniff_delimiter(text.splitlines()[0])
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), None) or []
    except csv.Error as error:
        raise BadInput(f"{path}: not a readable CSV file ({error})") from None
    return [name.strip() for name in header], delimiter


def _shopify_columns(header: list[str]) -> dict[str, str] | None:
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


def detect_format(path: Path, config: FeedConfig) -> tuple[str, list[str], str | None]:
    """(format, columns found, delimiter) from the extension, the header or the XML root."""
    suffix = _inner_suffix(path)
    if suffix == ".parquet":
        try:
            columns = list(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise BadInput(f"{path}: not a readable Parquet file ({error})") from None
        if config.format not in ("auto", "catalog"):
            raise BadInput(f"{path}: a Parquet file is read as --format catalog")
        return "catalog", columns, None
    if config.format == "merchant-xml" or (
        config.format == "auto" and (suffix in (".xml", ".rss", ".atom")
                                     or _first_text(path).lstrip().startswith("<"))
    ):  # fmt: skip
        return "merchant-xml", [], None
    header, delimiter = _header(path, config.delimiter)
    if config.format != "auto":
        return config.format, header, delimiter
    normal = {_normal(name) for name in header}
    if {"id", "image_link"} <= normal:
        return "merchant", header, delimiter
    if _shopify_columns(header):
        return "shopify", header, delimiter
    return "catalog", header, delimiter


# --- reading items --------------------------------------------------------------------------


class _Reader:
    """Turns feed rows into items: applies the mapping, parses values, counts problems."""

    def __init__(self, path: Path, config: FeedConfig, report: FeedReport):
        self.path, self.config, self.report = path, config, report

    def values(self, raw: dict[str, str | None], where: str) -> tuple[dict, dict]:
        """Parse the canonical fields of `raw` (canonical name -> text); unparsed kept raw."""
        values: dict[str, object] = {}
        unparsed: dict[str, str] = {}
        default_currency = self.config.currency
        currency_text = (raw.get("currency") or "").strip()
        if currency_text:
            values["currency"] = currency_text.upper()
        for name in ("price", "sale_price"):
            text = (raw.get(name) or "").strip()
            if not text:
                continue
            try:
                amount, currency = parse_price(text, values.get("currency") or default_currency)
            except ValueError as error:
                self.report.problem(name, where, text, str(error))
                unparsed[name] = text
                continue
            values[name] = amount
            if currency and "currency" not in values:
                values["currency"] = currency
        if values.get("price") is not None and "currency" not in values and default_currency:
            values["currency"] = default_currency
        if "price" in values and "currency" not in values:
            reason = "no currency in the value or the feed (set --currency)"
            self.report.problem("currency", where, str(raw.get("price")), reason)
        text = (raw.get("first_seen") or "").strip()
        if text:
            try:
                values["first_seen"] = parse_date(text, self.config.date_order)
            except ValueError as error:
                self.report.problem("first_seen", where, text, str(error))
                unparsed["first_seen"] = text
        text = (raw.get("availability") or "").strip()
        if text:
            try:
                values["availability"] = parse_availability(text)
            except ValueError as error:
                self.report.problem("availability", where, text, str(error))
                unparsed["availability"] = text
        for name in ("retailer", "brand", "title"):
            text = (raw.get(name) or "").strip()
            values[name] = text or None
        values["retailer"] = values["retailer"] or self.config.retailer
        return values, unparsed

    def mapped(self, header: list[str], defaults: dict[str, str]) -> dict[str, str]:
        """Canonical field -> header name: the format's defaults, then the mapping over them."""
        columns = dict(defaults)
        by_lower = {name.lower(): name for name in header}
        for canonical, column in self.config.mapping.items():
            found = column if column in header else by_lower.get(column.lower())
            if found is None and _normal(column) in {_normal(h) for h in header}:
                found = next(h for h in header if _normal(h) == _normal(column))
            if found is None:
                raise BadInput(
                    f"{self.path}: --map {canonical}={column}: no column {column!r} "
                    f"(found: {', '.join(header)})"
                )
            columns[canonical] = found
        return columns

    def require(self, columns: dict[str, str], header: list[str], what: str) -> None:
        missing = [c for c in ("product_id", "image_url") if c not in columns]
        if missing:
            raise BadInput(
                f"{self.path}: catalog lacks column(s) {', '.join(missing)} "
                f"(found: {', '.join(header)}); {what}"
            )


def _rows(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, str]]]:
    with _open_text(path) as handle:
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


def _catalog_items(reader: _Reader, header, delimiter) -> Iterator[_Item]:
    path = reader.path
    columns = reader.mapped(header, {c: c for c in CATALOG_FIELDS if c in header})
    reader.require(columns, header, "map them with --map product_id=COLUMN --map image_url=COLUMN")
    used = set(columns.values())
    rows = _parquet_rows(path) if _inner_suffix(path) == ".parquet" else _rows(path, delimiter)
    for seq, (where, row) in enumerate(rows):
        product_id = (row.get(columns["product_id"]) or "").strip()
        if not product_id:
            raise BadInput(f"{path}:{where.removeprefix('line ')}: empty product_id")
        raw = {c: row.get(column) for c, column in columns.items()}
        values, unparsed = reader.values(raw, where)
        url = (row.get(columns["image_url"]) or "").strip()
        extras = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
        key = f"{values['retailer'] or ''}\x1f{product_id}"  # ids are unique per retailer
        yield _Item(where, key, product_id, [(float(seq), url)], values, extras, unparsed)


def _merchant_item(reader: _Reader, where: str, fields: dict[str, list[str]], seq: int) -> _Item:
    """One Merchant item (TSV row or XML element): normalised attribute name -> values."""

    def one(name: str) -> str:
        return next((v.strip() for v in fields.get(name, []) if v and v.strip()), "")

    columns = {c: c for c in ("price", "sale_price", "availability", "brand", "title")}
    columns.update({"product_id": "id", "image_url": "image_link"})
    columns.update({c: _normal(col) for c, col in reader.config.mapping.items()})
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
    return _Item(where, key, product_id, images, values, extras, unparsed)


def _merchant_text_items(reader: _Reader, header, delimiter) -> Iterator[_Item]:
    normal = [_normal(h) for h in header]
    needed = (
        {"id", "image_link"} - set(normal) - {_normal(v) for v in reader.config.mapping.values()}
    )
    for canonical, column in reader.config.mapping.items():
        if _normal(column) not in normal:
            raise BadInput(f"{reader.path}: --map {canonical}={column}: no column {column!r} "
                           f"(found: {', '.join(header)})")  # fmt: skip
    if needed:
        raise BadInput(f"{reader.path}: Merchant feed lacks {', '.join(sorted(needed))} "
                       f"(found: {', '.join(header)})")  # fmt: skip
    for seq, (where, row) in enumerate(_rows(reader.path, delimiter)):
        fields: dict[str, list[str]] = {}
        for name, value in row.items():
            if value is None:
                continue
            values = value.split(",") if _normal(name) == "additional_image_link" else [value]
            fields.setdefault(_normal(name), []).extend(values)
        yield _merchant_item(reader, where, fields, seq)


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _merchant_xml_items(reader: _Reader) -> Iterator[_Item]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    path = reader.path
    stack: list = []
    seq = 0
    google_seen = False
    try:
        with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb") as f:
            for event, element in iterparse(f, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    if not stack:
                        root = _local(element.tag)[1]
                        if root not in ("rss", "feed"):
                            raise BadInput(
                                f"{path}: not a product feed: the root element is <{root}> "
                                "(a Merchant feed is RSS 2.0 <rss> or Atom <feed>)"
                            )
                    stack.append(element)
                    continue
                stack.pop()
                if _local(element.tag)[1] not in ("item", "entry") or len(stack) > 2:
                    continue
                google: dict[str, list[str]] = {}
                plain: dict[str, list[str]] = {}
                for child in element:
                    namespace, name = _local(child.tag)
                    if len(child):  # nested (g:shipping, g:tax): kept out of the record
                        continue
                    text = (child.text or "").strip()
                    if name == "link" and not text:
                        text = child.get("href", "")
                    target = google if namespace == GOOGLE_NS else plain
                    target.setdefault(_normal(name), []).append(text)
                google_seen = google_seen or bool(google)
                if not google_seen:
                    break  # not a Merchant feed: said below
                fields = {**plain, **google}  # g:id wins over Atom's own <id>
                seq += 1
                yield _merchant_item(reader, f"item {seq}", fields, seq - 1)
                if stack:
                    stack[-1].remove(element)
    except (ParseError, DefusedXmlException) as error:
        raise BadInput(f"{path}: not a readable XML feed ({error})") from None
    except (OSError, EOFError) as error:
        raise BadInput(f"{path}: not a readable XML feed ({error})") from None
    if not seq or not google_seen:
        raise BadInput(
            f"{path}: not a product feed: no <item>/<entry> with attributes in the "
            f"{GOOGLE_NS} namespace"
        )


def _shopify_items(reader: _Reader, header, delimiter) -> Iterator[_Item]:
    found = _shopify_columns(header)
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
                    "in_stock" if int(quantity) > 0
                    else "backorder" if policy in ("continue", "true", "yes")
                    else "out_of_stock"
                )  # fmt: skip
        if "status" in columns and row.get(columns["status"]):
            values["status"] = row[columns["status"]].strip().lower()
        extras = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
        if values.get("status"):
            extras["status"] = values.pop("status")
        yield _Item(where, handle, handle, images, values, extras, unparsed)


# --- folding items into products ------------------------------------------------------------

_FOLD = """
CREATE TEMP TABLE kept AS
SELECT * FROM read_parquet($items)
{dedupe};

CREATE TEMP TABLE pictures AS
SELECT key, list(url ORDER BY rank) AS images, sum(n) - count(*) AS repeated
FROM (SELECT key, url, min(rank) AS rank, count(*) AS n
      FROM (SELECT key, unnest(image_urls) AS url, unnest(image_ranks) AS rank FROM kept)
      WHERE url <> ''
      GROUP BY key, url)
GROUP BY key;

CREATE TEMP TABLE folded AS
SELECT
    min(seq) AS seq, key,
    arg_min(product_id, seq) AS product_id,
    count(*) AS items,
    list(product_id ORDER BY seq) AS variant_ids,
    arg_min(retailer, seq) FILTER (retailer IS NOT NULL) AS retailer,
    arg_min(brand, seq) FILTER (brand IS NOT NULL) AS brand,
    arg_min(title, seq) FILTER (title IS NOT NULL) AS title,
    min(first_seen) AS first_seen,
    min(price) AS price,
    arg_min(currency, coalesce(price, 1e300)) FILTER (currency IS NOT NULL) AS currency,
    min(sale_price) AS sale_price,
    CASE min(CASE availability WHEN 'in_stock' THEN 1 WHEN 'preorder' THEN 2
                               WHEN 'backorder' THEN 3 WHEN 'out_of_stock' THEN 4 END)
        WHEN 1 THEN 'in_stock' WHEN 2 THEN 'preorder' WHEN 3 THEN 'backorder'
        WHEN 4 THEN 'out_of_stock' END AS availability,
    arg_min(extras, seq) AS extras,
    arg_min(unparsed, seq) FILTER (unparsed IS NOT NULL) AS unparsed
FROM kept
GROUP BY key;
"""

_RECORDS = """
SELECT
    f.product_id AS source_id,
    coalesce(unnest(CASE WHEN len(p.images) > 0 THEN p.images ELSE [''] END), '') AS url,
    f.retailer, f.brand, f.title,
    CAST(f.first_seen AS VARCHAR) AS first_seen,
    CAST(f.price AS VARCHAR) AS price, f.currency,
    CAST(f.sale_price AS VARCHAR) AS sale_price, f.availability,
    CAST(json_merge_patch(
        coalesce(f.extras, '{}'),
        CASE WHEN f.items > 1 AND $variants
             THEN json_object('variant_ids', array_to_string(f.variant_ids, ','))
             ELSE '{}' END,
        coalesce(f.unparsed, '{}')) AS VARCHAR) AS source_columns
FROM folded f LEFT JOIN pictures p USING (key)
ORDER BY f.seq
"""


@dataclass
class NormalisedFeed:
    """A feed read into catalog records: `records` (Parquet) lives as long as this object."""

    path: Path
    records: Path
    report: FeedReport
    _tmp: tempfile.TemporaryDirectory | None = None


def read_feed(path: Path, config: FeedConfig) -> NormalisedFeed:
    """Read and check a whole feed (bad input: one line naming the file and the row) and write
    its catalog records, one per product image, in feed order, to a temporary Parquet file."""
    path = Path(path)
    fmt, header, delimiter = detect_format(path, config)
    report = FeedReport(fmt, delimiter)
    reader = _Reader(path, config, report)
    if fmt == "merchant-xml":
        items = _merchant_xml_items(reader)
    elif fmt == "merchant":
        items = _merchant_text_items(reader, header, delimiter)
    elif fmt == "shopify":
        items = _shopify_items(reader, header, delimiter)
    else:
        items = _catalog_items(reader, header, delimiter)
    tmp = tempfile.TemporaryDirectory(prefix="fashion-feed-")
    folder = Path(tmp.name)
    _write_items(items, folder / "items.parquet", report)
    if report.items == 0:
        raise BadInput(f"{path}: the feed has no products")
    _fold(folder, fmt, report)
    return NormalisedFeed(path, folder / "records.parquet", report, tmp)


def _write_items(items: Iterator[_Item], target: Path, report: FeedReport) -> None:
    batch: list[dict] = []
    with pq.ParquetWriter(target, _ITEM_SCHEMA) as writer:
        for seq, item in enumerate(items):
            report.items += 1
            batch.append(
                {
                    "seq": seq, "where_": item.where, "key": item.key,
                    "product_id": item.product_id,
                    "image_urls": [url for _, url in item.images],
                    "image_ranks": [rank for rank, _ in item.images],
                    **{k: item.values.get(k) for k in (
                        "retailer", "brand", "title", "first_seen", "price", "currency",
                        "sale_price", "availability")},
                    "extras": json.dumps(item.extras, ensure_ascii=False),
                    "unparsed": json.dumps(item.unparsed, ensure_ascii=False)
                    if item.unparsed else None,
                }
            )  # fmt: skip
            if len(batch) >= 10_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=_ITEM_SCHEMA))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=_ITEM_SCHEMA))


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
        for statement in _FOLD.format(dedupe=dedupe).split(";"):
            if statement.strip():
                con.execute(statement, {"items": items} if "$items" in statement else None)
        if dedupe:
            dropped = con.execute(
                f"""SELECT where_ FROM read_parquet('{items}')
                    QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY seq) > 1
                    ORDER BY seq"""
            ).fetchall()
            report.duplicates = len(dropped)
            report.duplicate_rows = [where for (where,) in dropped[:_SHOWN_ROWS]]
        else:
            repeated = con.execute("SELECT coalesce(sum(repeated), 0) FROM pictures").fetchone()
            report.duplicates = int(repeated[0])
        report.products, kept, report.without_retailer = con.execute(
            "SELECT count(*), sum(items), count(*) FILTER (retailer IS NULL) FROM folded"
        ).fetchone()
        report.merged_variants = int(kept or 0) - report.products if fmt != "catalog" else 0
        con.execute(
            f"COPY ({_RECORDS}) TO '{folder / 'records.parquet'}' (FORMAT parquet)",
            {"variants": fmt in ("merchant", "merchant-xml")},
        )
        report.records = con.execute(
            f"SELECT count(*) FROM read_parquet('{folder / 'records.parquet'}')"
        ).fetchone()[0]


def iter_feed_records(feed: NormalisedFeed) -> Iterator[dict]:
    """The catalog records of a read feed, in feed order, a batch at a time."""
    for batch in pq.ParquetFile(feed.records).iter_batches(batch_size=10_000):
        yield from batch.to_pylist()
