"""Benchmark: reading catalog feeds, and that memory stays flat as the feed grows.

Writes one synthetic retailer's catalog of N products as a plain catalog CSV (the baseline: no
variants, no value parsing beyond the plain number) and as a Merchant TSV, a Merchant XML and
a Shopify export (two variants per product, prices with currency, a custom date column), then
reads each with `read_feed` (parse, Parquet items, DuckDB fold, records Parquet) in a child
process and prints products per second and the peak RSS, each as a ratio to the catalog CSV
read in the same run. Run it at two sizes to see the memory stay flat:

    .venv/bin/python benchmarks/feeds.py [--products 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from fashion_model.config import FeedConfig
from fashion_model.ingest.feeds import read_feed
started = time.perf_counter()
feed = read_feed(sys.argv[1], FeedConfig.parse(json.loads(sys.argv[2])))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "products": feed.report.products, "peak_mb": peak,
                  "problems": feed.report.problem_count}))
"""


def _rows(products: int) -> list[dict]:
    return [
        {
            "product_id": f"NO-{i:07d}",
            "image_url": f"https://cdn.example/img/NO-{i:07d}.jpg",
            "brand": "Northwind Basics",
            "retailer": "Northwind",
            "title": f"red striped dress {i}",
            "first_seen": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "price": f"{10 + i % 90}.99",
            "currency": "EUR",
        }
        for i in range(products)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    args = parser.parse_args()
    from fashion_model.demo.feeds import SHOPIFY_FIRST_SEEN, write_feed

    rows = _rows(args.products)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "catalog": ("catalog", {}),
            "merchant-tsv": ("merchant-tsv", {"mapping": {"first_seen": "custom_label_0"}}),
            "merchant-xml": ("merchant-xml", {"mapping": {"first_seen": "custom_label_0"}}),
            "shopify": (
                "shopify",
                {"currency": "EUR", "mapping": {"first_seen": SHOPIFY_FIRST_SEEN}},
            ),
        }
        results = {}
        for name, (fmt, config) in cases.items():
            path = write_feed(rows, fmt, folder / f"{name}.feed", "Northwind")
            size = path.stat().st_size / 1e6
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), json.dumps(config)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout)
            result["wall"] = time.perf_counter() - started
            result["mb"] = size
            results[name] = result
        base = results["catalog"]
        base_rate = base["products"] / base["seconds"]
        print(
            f"{args.products:,} products; baseline: catalog CSV read at {base_rate:,.0f} "
            f"products/s, peak {base['peak_mb']:.0f} MB"
        )
        for name, result in results.items():
            rate = result["products"] / result["seconds"]
            print(
                f"{name:13s} {result['mb']:7.1f} MB file  {rate:9,.0f} products/s "
                f"({rate / (base['products'] / base['seconds']):.2f}x the CSV)  "
                f"peak {result['peak_mb']:5.0f} MB ({result['peak_mb'] / base['peak_mb']:.2f}x)  "
                f"problems {result['problems']}"
            )


if __name__ == "__main__":
    main()
