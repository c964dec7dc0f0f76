"""The synthetic catalog written as the feeds real catalogs come in: a Google Merchant Center
feed (TSV or RSS 2.0 XML), a Shopify product export (either header generation) or the plain
catalog CSV, one retailer per feed, with a feeds YAML file that the nightly run reads.

Each product becomes what such a feed holds for it: in a Merchant feed two size variants of one
`item_group_id` that share the photo (the second 5.00 dearer, so the product's price is the
first's), in a Shopify export a product row and a follow-up variant row. The launch date, which
neither format has a field for, travels in a custom column (`custom_label_0`, a Shopify
metafield) that the feeds file maps onto `first_seen`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from xml.sax.saxutils import escape

from fashion_model.files import replacing, write_text

FEED_FORMATS = ("catalog", "merchant-tsv", "merchant-xml", "shopify", "shopify-legacy")
SHOPIFY_FIRST_SEEN = "First seen (product.metafields.custom.first_seen)"
_SUFFIX = {
    "catalog": ".csv",
    "merchant-tsv": ".tsv",
    "merchant-xml": ".xml",
    "shopify": ".csv",
    "shopify-legacy": ".csv",
}
_AVAILABILITY = ("in_stock", "in_stock", "in_stock", "out_of_stock", "preorder", "backorder")


def availability_of(index: int) -> str:
    """The availability a synthetic product's feed states (deterministic, mostly in stock)."""
    return _AVAILABILITY[index % len(_AVAILABILITY)]


def _write_rows(path: Path, header: list[str], rows: list[dict], delimiter: str = ",") -> None:
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def _merchant_items(rows: list[dict]) -> list[dict]:
    items = []
    for index, row in enumerate(rows):
        price = float(row["price"])
        for size, extra in (("M", 0.0), ("L", 5.0)):
            items.append(
                {
                    "id": row["product_id"] if size == "M" else f"{row['product_id']}-L",
                    "item_group_id": f"G-{row['product_id']}",
                    "title": row["title"],
                    "link": f"https://shop.example/{row['product_id']}",
                    "image_link": row["image_url"],
                    "price": f"{price + extra:.2f} {row['currency']}",
                    "availability": availability_of(index).replace("_", " ")
                    if index % 2
                    else availability_of(index),
                    "brand": row["brand"],
                    "size": size,
                    "custom_label_0": row["first_seen"],
                }
            )
    return items


def _merchant_xml(items: list[dict], retailer: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">',
        "<channel>",
        f"<title>{escape(retailer)}</title>",
        "<link>https://shop.example/</link>",
        f"<description>{escape(retailer)} product feed</description>",
    ]
    for item in items:
        lines.append("<item>")
        for key, value in item.items():
            tag = key if key in ("title", "link") else f"g:{key}"
            lines.append(f"  <{tag}>{escape(value)}</{tag}>")
        lines.append(
            "  <g:shipping><g:country>DE</g:country><g:price>4.95 EUR</g:price></g:shipping>"
        )
        lines.append("</item>")
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def _shopify_rows(rows: list[dict], legacy: bool) -> tuple[list[str], list[dict]]:
    if legacy:
        names = {
            "handle": "Handle",
            "title": "Title",
            "vendor": "Vendor",
            "price": "Variant Price",
            "image": "Image Src",
            "position": "Image Position",
            "status": "Status",
            "qty": "Variant Inventory Qty",
            "option": "Option1 Value",
            "sku": "Variant SKU",
        }
    else:
        names = {
            "handle": "URL handle",
            "title": "Title",
            "vendor": "Vendor",
            "price": "Price",
            "image": "Product image URL",
            "position": "Image position",
            "status": "Status",
            "qty": "Inventory quantity",
            "option": "Option1 value",
            "sku": "SKU",
        }
    header = [
        names[k]
        for k in (
            "handle",
            "title",
            "vendor",
            "option",
            "sku",
            "price",
            "qty",
            "image",
            "position",
            "status",
        )
    ] + [SHOPIFY_FIRST_SEEN]
    out = []
    for index, row in enumerate(rows):
        in_stock = availability_of(index) == "in_stock"
        first = {
            names["handle"]: row["product_id"],
            names["title"]: row["title"],
            names["vendor"]: row["brand"],
            names["option"]: "M",
            names["sku"]: f"{row['product_id']}-M",
            names["price"]: row["price"],
            names["qty"]: "3" if in_stock else "0",
            names["image"]: row["image_url"],
            names["position"]: "1",
            names["status"]: "active",
            SHOPIFY_FIRST_SEEN: row["first_seen"],
        }
        second = {
            names["handle"]: row["product_id"],
            names["option"]: "L",
            names["sku"]: f"{row['product_id']}-L",
            names["price"]: f"{float(row['price']) + 5:.2f}",
            names["qty"]: "0",
        }
        out += [first, second]
    return header, out


def write_feed(rows: list[dict], fmt: str, path: Path, retailer: str) -> Path:
    """`rows` (catalog.csv rows of one retailer) written as a feed of format `fmt`."""
    path = Path(path)
    if fmt == "catalog":
        _write_rows(path, list(rows[0]), rows)
    elif fmt == "merchant-tsv":
        items = _merchant_items(rows)
        _write_rows(path, list(items[0]), items, delimiter="\t")
    elif fmt == "merchant-xml":
        write_text(path, _merchant_xml(_merchant_items(rows), retailer))
    elif fmt in ("shopify", "shopify-legacy"):
        header, out = _shopify_rows(rows, legacy=fmt == "shopify-legacy")
        _write_rows(path, header, out)
    else:
        raise ValueError(f"unknown feed format {fmt!r}")
    return path


def feed_entry(fmt: str, file_name: str, retailer: str) -> str:
    """The feeds YAML entry that reads such a feed."""
    lines = [f"  - source: {file_name}", f"    retailer: {retailer}"]
    if fmt.startswith("merchant"):
        lines.append("    map: {first_seen: custom_label_0}")
    elif fmt.startswith("shopify"):
        lines += ["    currency: EUR", f'    map: {{first_seen: "{SHOPIFY_FIRST_SEEN}"}}']
    return "\n".join(lines)


def write_feeds(out: Path, rows: list[dict], formats: list[str]) -> Path:
    """One feed per retailer, the formats taken in turn, under OUT/feeds, and OUT/feeds.yaml
    listing them; returns the YAML file."""
    folder = Path(out) / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    retailers = list(dict.fromkeys(row["retailer"] for row in rows))
    entries = []
    for index, retailer in enumerate(retailers):
        fmt = formats[index % len(formats)]
        own = [
            {k: v for k, v in row.items() if k != "retailer" or fmt == "catalog"}
            for row in rows
            if row["retailer"] == retailer
        ]
        name = f"{retailer.lower()}-{fmt}{_SUFFIX[fmt]}"
        write_feed(own, fmt, folder / name, retailer)
        entries.append(feed_entry(fmt, f"feeds/{name}", retailer))
    listing = Path(out) / "feeds.yaml"
    write_text(
        listing, "# the synthetic retailers, one feed each\nfeeds:\n" + "\n".join(entries) + "\n"
    )
    return listing
