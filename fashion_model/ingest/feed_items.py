"""The feed reader's common shape: the item every format yields (one feed row or XML item), the
`ItemReader` that maps a row's columns onto catalog fields and parses their values
(fashion_model.ingest.values), and the `FeedReport` of what was read and what did not parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from fashion_model.config import FeedConfig, iso_currency
from fashion_model.errors import BadInput
from fashion_model.ingest.manifest import PRICE_TYPE
from fashion_model.ingest.values import (
    parse_availability,
    parse_date,
    parse_price,
)

GOOGLE_NS = "http://base.google.com/ns/1.0"
MAX_ADDITIONAL_IMAGES = 10  # Merchant Center's own limit
# The metadata columns every catalog manifest carries, as strings (typed by the warehouse).
METADATA_COLUMNS = (
    "retailer",
    "brand",
    "title",
    "first_seen",
    "price",
    "currency",
    "sale_price",
    "availability",
    "source_columns",
)
SHOWN_ROWS = 5  # row numbers kept per problem column


def normal_name(name: str) -> str:
    """A Merchant attribute name as written in a header: `Image Link`, `g:image_link`."""
    name = name.strip().lower()
    name = name.removeprefix("g:")
    return "_".join(name.replace("-", " ").split())


def missing_retailer(without_retailer: int, retailer: str | None) -> str | None:
    """The one rule of a catalog's retailer (a column, or one given for the whole feed): what is
    wrong, or None. The feed check, the nightly run and the catalog load all say this."""
    if without_retailer and not retailer:
        return (
            f"{without_retailer} product(s) have no retailer (no retailer column, or empty "
            "values); pass --retailer NAME (in a feeds file: retailer:)"
        )
    return None


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
        if len(entry["rows"]) < SHOWN_ROWS:
            entry["rows"].append(where)
        if not entry["example"]:
            entry["example"] = f"{raw[:60]!r}: {reason}"

    def problem_rows(self, column: str, count: int, rows: list[str], reason: str) -> None:
        """`count` problems of one kind found at once (a query), the first rows named."""
        entry = self.problems.setdefault(column, {"count": 0, "rows": [], "example": ""})
        entry["count"] += count
        entry["rows"] = (entry["rows"] + list(rows))[:SHOWN_ROWS]
        entry["example"] = entry["example"] or f"'': {reason}"

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
class FeedItem:
    where: str  # "line 4", "item 3", "row 5": what the messages name
    key: str  # the product this item belongs to (see the module's identity rules)
    product_id: str
    images: list[tuple[float, str]]  # (rank, url): the product's images sort by rank
    values: dict[str, object]  # canonical fields, parsed
    extras: dict[str, str]  # every other column, as read
    unparsed: dict[str, str]  # raw text of values that did not parse


ITEM_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("where_", pa.string()),
        ("key", pa.string()),
        ("product_id", pa.string()),
        ("image_urls", pa.list_(pa.string())),
        ("image_ranks", pa.list_(pa.float64())),
        ("bad_image_urls", pa.int32()),  # not http(s): counted as such, not as "missing"
        ("retailer", pa.string()),
        ("brand", pa.string()),
        ("title", pa.string()),
        ("first_seen", pa.date32()),
        ("price", PRICE_TYPE),
        ("currency", pa.string()),
        ("sale_price", PRICE_TYPE),
        ("availability", pa.string()),
        ("extras", pa.string()),
        ("unparsed", pa.string()),
    ]
)


class ItemReader:
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
            try:
                values["currency"] = iso_currency(currency_text)
            except ValueError as error:
                self.report.problem("currency", where, currency_text, str(error))
                unparsed["currency"] = currency_text
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
            if found is None and normal_name(column) in {normal_name(h) for h in header}:
                found = next(h for h in header if normal_name(h) == normal_name(column))
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
