"""Catalog feeds as real catalogs come: Merchant TSV/XML, Shopify exports, mapped CSVs; the
value rules; bad feeds as one line. No Prefect here (the nightly run over feeds is in
test_flows)."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fashion_model.config import FeedConfig
from fashion_model.demo.feeds import SHOPIFY_FIRST_SEEN, availability_of, write_feed
from fashion_model.errors import FashionError
from fashion_model.ingest.feeds import iter_feed_records, read_feed
from fashion_model.ingest.manifest import manifest_schema
from fashion_model.ingest.pipeline import check_source, ingest_source
from fashion_model.ingest.values import parse_availability, parse_date, parse_price
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect

from .conftest import LOCAL


@pytest.mark.parametrize(
    "text, expected",
    [
        ("15.00 USD", ("15.0", "USD")),
        ("$12.00", ("12.0", "USD")),
        ("12,99 €", ("12.99", "EUR")),
        ("1.234,56 EUR", ("1234.56", "EUR")),
        ("1,234.56", ("1234.56", None)),
        ("EUR 12", ("12.0", "EUR")),
        ("1 234,50 SEK", ("1234.5", "SEK")),
        ("1'234.50 CHF", ("1234.5", "CHF")),
        ("£5", ("5.0", "GBP")),
        ("1,234", ("1234.0", None)),
        ("0,5", ("0.5", None)),
        ("A$ 20", ("20.0", "AUD")),
    ],
)
def test_prices_with_currency_and_either_decimal_convention(text, expected):
    amount, currency = parse_price(text)
    assert (amount, currency) == (Decimal(expected[0]), expected[1])
    assert amount.as_tuple().exponent == -4  # exact, as DECIMAL(18,4) keeps it


def test_a_price_is_exact_and_rounded_half_even_past_four_places():
    assert parse_price("0.1 EUR")[0] + parse_price("0.2 EUR")[0] == Decimal("0.3")
    assert parse_price("1.00005 EUR")[0] == Decimal("1.0000")
    assert parse_price("1.00015 EUR")[0] == Decimal("1.0002")
    with pytest.raises(ValueError, match="too large"):
        parse_price("123456789012345 EUR")


def test_a_bare_dollar_sign_is_the_feeds_dollar_currency():
    assert parse_price("$10", "CAD") == (Decimal(10), "CAD")
    assert parse_price("$10", "EUR") == (Decimal(10), "USD")
    assert parse_price("99 kr", "SEK") == (Decimal(99), "SEK")


@pytest.mark.parametrize("text", ["abc", "12 EUR USD", "-3 EUR", "kr 5", "12 XYZW", ""])
def test_prices_that_do_not_parse_say_why(text):
    with pytest.raises(ValueError):
        parse_price(text)


@pytest.mark.parametrize(
    "text, order, expected",
    [
        ("2026-11-01", "dmy", date(2026, 11, 1)),
        ("2026-11-01T10:00:00Z", "dmy", date(2026, 11, 1)),
        ("2026/11/01", "dmy", date(2026, 11, 1)),
        ("01.11.2026", "mdy", date(2026, 11, 1)),  # dots: day first, whatever the order
        ("01/11/2026", "dmy", date(2026, 11, 1)),
        ("01/11/2026", "mdy", date(2026, 1, 11)),
        ("25/12/2026", "mdy", date(2026, 12, 25)),  # a part above 12 settles it
        ("12/25/2026", "dmy", date(2026, 12, 25)),
    ],
)
def test_dates_in_iso_and_the_day_first_and_month_first_forms(text, order, expected):
    assert parse_date(text, order) == expected


@pytest.mark.parametrize("text", ["2026-13-45", "31/02/2026", "01/11/26", "yesterday"])
def test_impossible_or_two_digit_year_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_availability_words():
    assert parse_availability("in stock") == "in_stock"
    assert parse_availability("in_stock") == "in_stock"
    assert parse_availability("https://schema.org/OutOfStock") == "out_of_stock"
    assert parse_availability("Pre-order") == "preorder"
    assert parse_availability("backorder") == "backorder"
    with pytest.raises(ValueError):
        parse_availability("maybe")


@pytest.fixture(scope="module")
def catalog_rows(catalog_server):
    folder, _ = catalog_server
    with (folder / "catalog.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if row["retailer"] == rows[0]["retailer"]]


def _read(path, **config):
    feed = read_feed(path, FeedConfig(**config))
    return feed, list(iter_feed_records(feed))


@pytest.mark.parametrize("fmt", ["merchant-tsv", "merchant-xml", "shopify", "shopify-legacy"])
def test_every_feed_format_gives_back_the_catalog(tmp_path, catalog_rows, fmt):
    """Written from the synthetic catalog, each format reads back to the same products,
    images, prices, currencies, availability and dates, variants folded."""
    retailer = catalog_rows[0]["retailer"]
    path = write_feed(catalog_rows, fmt, tmp_path / f"feed.{fmt}", retailer)
    first_seen = "custom_label_0" if fmt.startswith("merchant") else SHOPIFY_FIRST_SEEN
    feed, records = _read(
        path, retailer=retailer, currency="EUR", mapping={"first_seen": first_seen}
    )
    assert feed.report.format == (
        "shopify"
        if fmt.startswith("shopify")
        else fmt.split("-")[0]
        if fmt == "merchant-tsv"
        else fmt
    )
    assert feed.report.products == len(catalog_rows) and feed.report.merged_variants == len(
        catalog_rows
    )
    assert feed.report.problems == {}
    by_id = {r["source_id"]: r for r in records}
    assert list(by_id) == [row["product_id"] for row in catalog_rows]  # feed order kept
    for index, row in enumerate(catalog_rows):
        got = by_id[row["product_id"]]
        assert got["url"] == row["image_url"]
        assert got["price"] == Decimal(row["price"])  # the lowest variant, exact
        assert got["currency"] == "EUR" and got["retailer"] == retailer
        assert got["first_seen"] == date.fromisoformat(row["first_seen"])
        assert got["brand"] == row["brand"]
        expected = availability_of(index)
        if fmt.startswith("shopify"):  # Shopify says stock, not preorder
            expected = "in_stock" if expected == "in_stock" else "out_of_stock"
        assert got["availability"] == expected


def test_merchant_variants_images_and_duplicates(tmp_path):
    feed = tmp_path / "merchant.txt.gz"
    lines = [
        "id\ttitle\timage link\tadditional_image_link\tprice\tsale_price\tavailability\t"
        "item_group_id\tsize",
        "1\tDress\thttp://x/1.jpg\thttp://x/1b.jpg,http://x/1c.jpg\t15.00 USD\t12,00 USD\t"
        "in stock\tG1\tS",
        "2\tDress\thttp://x/1.jpg\thttp://x/1d.jpg\t14.00 USD\t\tout_of_stock\tG1\tM",
        "3\tDress\thttp://x/3.jpg\t\t15.00 USD\t\tpreorder\tG1\tS",  # another look, own product
        "3\tDuplicate\thttp://x/9.jpg\t\t1 USD\t\tin_stock\t\tS",
        "4\tBag\thttp://x/4.jpg\t\tcheap\t\tsoon\t\t",
    ]
    feed.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    read, records = _read(feed, retailer="R")
    assert read.report.format == "merchant" and read.report.products == 3
    assert read.report.duplicates == 1 and read.report.duplicate_rows == ["line 5"]
    first = [r for r in records if r["source_id"] == "1"]
    assert [r["url"] for r in first] == [f"http://x/1{s}.jpg" for s in ("", "b", "c", "d")]
    assert first[0]["price"] == Decimal(14) and first[0]["sale_price"] == Decimal(12)
    assert first[0]["availability"] == "in_stock"  # the best of its sizes
    assert json.loads(first[0]["source_columns"])["variant_ids"] == "1,2"
    bag = next(r for r in records if r["source_id"] == "4")
    assert bag["price"] is None and bag["availability"] is None
    assert json.loads(bag["source_columns"]) == {"price": "cheap", "availability": "soon"}
    assert set(read.report.problems) == {"price", "availability"}
    assert read.report.problems["price"]["rows"] == ["line 6"]


def test_a_mapped_semicolon_csv_with_european_values(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "sku;picture;shop;Preis;seit;farbe\n"
        "A1;http://x/a.jpg;Shop;1.234,56 EUR;01/11/2026;rot\n"
        "B2;http://x/b.jpg;Shop;12,99 €;2026-13-45;blau\n",
        encoding="utf-8",
    )
    feed, records = _read(
        path,
        mapping={
            "product_id": "sku",
            "image_url": "picture",
            "retailer": "shop",
            "price": "preis",
            "first_seen": "seit",
        },
    )
    assert feed.report.delimiter == ";"
    assert records[0]["price"] == Decimal("1234.56") and records[0]["currency"] == "EUR"
    assert records[0]["first_seen"] == date(2026, 11, 1)
    assert records[1]["first_seen"] is None
    assert json.loads(records[1]["source_columns"]) == {"farbe": "blau", "first_seen": "2026-13-45"}
    assert feed.report.problems["first_seen"]["count"] == 1
    with pytest.raises(FashionError, match=r"1 value\(s\) did not parse \(--strict\): first_seen"):
        check_source(
            path,
            strict=True,
            feed=FeedConfig(
                mapping={"product_id": "sku", "image_url": "picture", "first_seen": "seit"}
            ),
        )


def test_a_nightly_feed_is_read_once_by_the_plan_and_the_ingest(tmp_path, monkeypatch):
    """plan_nightly reads a local feed whole (check_catalog: its values, its retailer); the
    ingest stage then uses that reading. A changed file, or other reading options, is read
    again."""
    from fashion_model.ingest import feeds
    from fashion_model.ingest.pipeline import check_catalog

    reads = []
    real = feeds._read_feed
    monkeypatch.setattr(feeds, "_read_feed", lambda *a: reads.append(a[0]) or real(*a))
    path = tmp_path / "catalog.csv"
    path.write_text("product_id,image_url,retailer,price\np1,http://127.0.0.1:9/a.jpg,R,5 EUR\n")
    check_catalog(path, None, FeedConfig())
    summary = ingest_source(path, tmp_path / "m", tmp_path / "images", LOCAL, feed=FeedConfig())
    assert summary.records == 1 and reads == [path]
    check_source(path, feed=FeedConfig(currency="USD"))  # other options: read again
    path.write_text("product_id,image_url,retailer,price\np2,http://127.0.0.1:9/b.jpg,R,6 EUR\n")
    ingest_source(path, tmp_path / "m", tmp_path / "images", LOCAL, feed=FeedConfig())
    assert len(reads) == 3


def test_bad_values_are_counted_in_the_ingest_summary_and_kept(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("product_id,image_url,retailer,price\np1,http://127.0.0.1:9/a.jpg,R,n/a\n")
    summary = ingest_source(path, tmp_path / "m", tmp_path / "images", LOCAL)
    assert summary.feed["unparsed_values"]["price"]["count"] == 1
    assert summary.feed["unparsed_values"]["price"]["rows"] == ["line 2"]


def test_prices_and_dates_are_typed_once_from_the_feed_to_the_warehouse(tmp_path):
    """DECIMAL(18,4) with an ISO currency and DATE in the manifest and the warehouse, no text
    in between; a value that does not parse is NULL beside its raw text in source_columns; a
    manifest written before typing (text columns) loads to the same types."""
    path = tmp_path / "catalog.csv"
    path.write_text(
        "product_id,image_url,retailer,price,currency,first_seen\n"
        "p1,http://127.0.0.1:9/a.jpg,R,0.10,usd,2026-11-01\n"
        "p2,http://127.0.0.1:9/b.jpg,R,n/a,EUR,someday\n"
        "p3,http://127.0.0.1:9/c.jpg,R,5,dollars,2026-11-02\n"
    )
    ingest_source(path, tmp_path / "m", tmp_path / "images", LOCAL)
    schema = manifest_schema(tmp_path / "m")
    assert schema.field("price").type == pa.decimal128(18, 4)
    assert schema.field("first_seen").type == pa.date32()
    old = tmp_path / "old"
    old.mkdir()
    table = pq.read_table(tmp_path / "m")
    texts = {c: pc.cast(table[c], pa.string()) for c in ("price", "first_seen")}
    for name, column in texts.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    pq.write_table(table, old / "part-00000.parquet")
    for manifest in (tmp_path / "m", old):
        with connect(tmp_path / f"{manifest.name}.duckdb") as con:
            load_catalog(con, manifest, date(2026, 11, 3))
            types = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'products'"
                ).fetchall()
            )
            assert types["price"] == "DECIMAL(18,4)" and types["first_seen"] == "DATE"
            rows = con.execute(
                "SELECT product_id, price, currency, first_seen, source_columns->>'price', "
                "source_columns->>'currency' FROM products ORDER BY 1"
            ).fetchall()
            assert rows == [
                ("p1", Decimal("0.1"), "USD", date(2026, 11, 1), None, None),
                ("p2", None, "EUR", date(2026, 11, 3), "n/a", None),
                ("p3", Decimal(5), None, date(2026, 11, 2), None, "dollars"),
            ]


@pytest.mark.parametrize(
    "name, content, config, message",
    [
        ("odd.csv", "a,b\n1,2\n", {}, r"lacks column\(s\) product_id, image_url \(found: a, b\)"),
        ("page.xml", "<html><body/></html>", {}, "not a product feed: the root element is <html>"),
        (
            "plain.xml",
            "<rss><channel><item><title>x</title></item></channel></rss>",
            {},
            "not a product feed: no <item>/<entry> with attributes",
        ),
        ("bad.xml", "<rss><channel>", {}, "not a readable XML feed"),
        (
            "bomb.xml",
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss>&a;</rss>',
            {},
            "not a readable XML feed",
        ),
        (
            "map.csv",
            "sku,img\n1,http://x\n",
            {"mapping": {"product_id": "sku", "image_url": "pic"}},
            r"--map image_url=pic: no column 'pic' \(found: sku, img\)",
        ),
        ("s.csv", "Handle,Title\nh,t\n", {"format": "shopify"}, "not a Shopify export"),
        ("empty.tsv", "id\timage_link\n", {}, "the feed has no products"),
    ],
)
def test_bad_feeds_are_one_line_naming_the_file(tmp_path, name, content, config, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FashionError, match=message) as failed:
        read_feed(path, FeedConfig(**config))
    assert name in str(failed.value) and "\n" not in str(failed.value)


def test_atom_feeds_read_like_rss(tmp_path):
    path = tmp_path / "feed.atom"
    path.write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">'
        "<entry><id>tag:shop,1</id><g:id>A</g:id><title>Coat</title>"
        '<link href="https://shop/a"/><g:image_link>http://x/a.jpg</g:image_link>'
        "<g:additional_image_link>http://x/a2.jpg</g:additional_image_link>"
        "<g:additional_image_link>http://x/a3.jpg</g:additional_image_link>"
        "<g:price>99.00 EUR</g:price><g:availability>in stock</g:availability></entry></feed>",
        encoding="utf-8",
    )
    feed, records = _read(path, retailer="R")
    assert feed.report.format == "merchant-xml"
    assert [r["url"] for r in records] == ["http://x/a.jpg", "http://x/a2.jpg", "http://x/a3.jpg"]
    assert records[0]["source_id"] == "A" and records[0]["price"] == Decimal(99)
    assert json.loads(records[0]["source_columns"])["link"] == "https://shop/a"
