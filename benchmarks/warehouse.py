"""Benchmark: every shipped SQL query on a warehouse of a million products.

Builds (with DuckDB itself, in a few minutes) a warehouse through the project's own migrations:
N products across several retailers and brands, first seen over 12 months, observed once a week
while on offer (so about 12 months of `product_observations`), one image each, about 10
predicted attributes per product with planted trends, and full `scores` arrays. Then times each
shipped query (median of --repeat runs, after one warm-up) with the parameters an analyst would
use, and prints each time as a ratio to a baseline measured in the same run: one plain
aggregate over `predictions` (the least any attribute query must read).

    .venv/bin/python benchmarks/warehouse.py [--products 1000000] [--db FILE] [--keep]

Goal (issue 6): every query under 1 s at a million products on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fashion_model.analytics.reports import list_reports, run_report
from fashion_model.labels import default_label_map
from fashion_model.warehouse.db import connect, refresh_analytics, sync_labels

RETAILERS = ["Northwind", "Southbay", "Eastpeak", "Westfield", "Harbor"]
CURRENCIES = {"Northwind": "EUR", "Southbay": "EUR", "Eastpeak": "USD", "Westfield": "GBP"}
START = "2025-12-01"

# What analysts ask at this scale: every shipped query, the heavier options included.
ASKED = [
    ("attribute_share", {"task": "color"}),
    ("attribute_share", {"task": "color", "split": "retailer"}),
    ("attribute_share", {"task": "color", "basis": "observed_on"}),
    ("attribute_share", {"task": "color", "basis": "observed_on", "by": "week"}),
    ("attribute_share", {"task": "category", "basis": "observed_on", "split": "brand"}),
    ("trending_attributes", {"task": "color", "retailer": "Northwind"}),
    ("trending_attributes", {"task": "color", "basis": "observed_on", "by": "week"}),
    ("competitor_comparison", {"retailer_a": "Northwind", "retailer_b": "Southbay"}),
    (
        "competitor_comparison",
        {"retailer_a": "Northwind", "retailer_b": "Southbay", "as_of": "2026-09-30"},
    ),
    ("assortment_as_of", {"as_of": "2026-09-30"}),
    ("delistings", {"from_date": "2026-08-31", "to_date": "2026-09-30"}),
    ("new_arrivals_mix", {"task": "category"}),
    ("attribute_cooccurrence", {}),
    ("price_by_attribute", {"task": "category"}),
    ("price_by_attribute", {"task": "color", "by": "week"}),
    ("low_confidence_products", {}),
    ("low_confidence_products", {"task": "color", "retailer": "Southbay"}),
    ("download_outcomes", {}),
    ("predicted_labels", {"retailer": "Northwind"}),
]


def build(con, products: int) -> None:
    """Fill the warehouse. Every attribute draw is a deterministic hash of the product."""
    label_map = default_label_map()
    sync_labels(con, label_map)
    con.execute(
        "INSERT INTO models VALUES ('bench', now(), 'resnet34', 224, 0.6, "
        "list_transform(range(?), lambda x: 0.5::FLOAT), true, 'bench', '{}')",
        [len(label_map.labels)],
    )
    retailers = ", ".join(f"'{name}'" for name in RETAILERS)
    currency = " ".join(f"WHEN '{r}' THEN '{c}'" for r, c in CURRENCIES.items())
    steps = [
        (
            "products",
            f"""
            INSERT INTO products
            SELECT retailer, product_id, brand, title, first_seen,
                   least(first_seen + lifetime, DATE '{START}' + 364), price, currency, NULL,
                   NULL, NULL  -- sale_price, availability (migration 006)
            FROM (
                SELECT [{retailers}][1 + (i % {len(RETAILERS)})] AS retailer,
                       printf('p%09d', i // {len(RETAILERS)}) AS product_id,
                       printf('Brand %02d', hash(i, 'brand') % 40) AS brand,
                       printf('Product %d', i) AS title,
                       (DATE '{START}' + (hash(i, 'day') % 365)::INTEGER) AS first_seen,
                       (30 + hash(i, 'life') % 300)::INTEGER AS lifetime,
                       round(10 + (hash(i, 'price') % 19000) / 100.0, 2) AS price,
                       CASE retailer {currency} ELSE 'USD' END AS currency
                FROM range({products}) AS t(i)
            )
            """,
        ),
        (
            "images + product_images",
            """
            CREATE TEMP TABLE ids AS
            SELECT retailer, product_id, first_seen, md5(retailer || product_id) AS sha,
                   hash(retailer, product_id) AS h
            FROM products;
            INSERT INTO images
            SELECT sha, 256, 341, 600, 800, 20000, sha[1:2] || '/' || sha || '.jpg', now()
            FROM ids WHERE h % 50 <> 0;
            INSERT INTO product_images
            SELECT retailer, product_id, 0, 'https://img.example/' || sha,
                   CASE WHEN h % 50 <> 0 THEN sha END,
                   CASE WHEN h % 50 <> 0 THEN 'ok' ELSE 'http_404' END, NULL
            FROM ids
            """,
        ),
        (
            "product_observations (weekly while on offer)",
            f"""
            INSERT INTO product_observations
            SELECT p.retailer, p.product_id, w.day,
                   round(p.price * (1 - 0.1 * (w.day >= p.first_seen + 90)::INTEGER), 2),
                   p.currency, i.sha, NULL, NULL
            FROM products AS p
            JOIN ids AS i USING (retailer, product_id)
            JOIN (SELECT (DATE '{START}' + (7 * k)::INTEGER) AS day FROM range(53) AS t(k)) AS w
              ON w.day BETWEEN p.first_seen AND p.last_seen
            ORDER BY w.day
            """,
        ),
        (
            "predictions (about 10 per product, planted trends)",
            f"""
            CREATE TEMP TABLE task_labels AS
            SELECT task, list(label_id ORDER BY label_id) AS ids FROM labels GROUP BY task;
            INSERT INTO predictions
            SELECT DISTINCT ON (sha, label_id) sha, 'bench', label_id, score FROM (
                SELECT i.sha,
                       CASE
                         -- planted: Northwind's red rises through the year
                         WHEN t.task = 'color' AND k = 0 AND i.retailer = 'Northwind'
                              AND (hash(i.h, 'red') % 1000)
                                  < 60 + 40 * datediff('month', DATE '{START}', i.first_seen)
                           THEN {label_map.label_id("color", "Red")}
                         ELSE t.ids[1 + (((hash(i.h, t.task, k) % 10000) / 10000.0) ^ 2
                                         * len(t.ids))::INTEGER % len(t.ids)]
                       END AS label_id,
                       (0.5 + (hash(i.h, t.task, k, 's') % 500) / 1000.0)::FLOAT AS score
                FROM ids AS i
                JOIN images AS im ON im.image_sha256 = i.sha
                CROSS JOIN task_labels AS t
                CROSS JOIN range(2) AS r(k)
                WHERE k = 0 OR (t.task IN ('color', 'style', 'material') AND i.h % 3 = 0)
            )
            """,
        ),
        (
            "scores (full probability arrays, mostly near 0 as a trained model's)",
            """
            INSERT INTO scores (image_sha256, model_version, probs)
            SELECT im.image_sha256, 'bench',
                   list_transform(range(228), lambda x: (0.48 * ((hash(im.image_sha256, x)
                                                            % 10000) / 10000.0) ^ 8)::FLOAT)
            FROM images AS im
            """,
        ),
    ]
    for name, sql in steps:
        started = time.perf_counter()
        con.execute(sql)
        print(f"  built {name}: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    refresh_analytics(con)
    print(
        f"  analytics refresh (what each scoring run ends with): "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    con.execute("CHECKPOINT")


def time_query(con, run, repeat: int) -> tuple[float, int]:
    rows = len(run())  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Reuse (or build and keep) this database.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="Time only these queries.")
    args = parser.parse_args()
    if args.products < 1000:
        parser.error("--products must be at least 1000")

    with tempfile.TemporaryDirectory() as scratch:
        db = args.db or Path(scratch) / "warehouse.duckdb"
        fresh = not db.exists()
        con = connect(db)
        if fresh:
            print(f"building {args.products:,} products into {db}", flush=True)
            started = time.perf_counter()
            build(con, args.products)
            print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
        con.close()
        con = connect(db, read_only=True)
        counts = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("products", "product_observations", "predictions", "scores")
        }
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

        baseline, _ = time_query(
            con,
            lambda: con.execute(
                "SELECT label_id, count(*) FROM predictions GROUP BY label_id"
            ).fetchall(),
            args.repeat,
        )
        print(f"\nbaseline (GROUP BY over predictions): {baseline * 1000:.0f} ms\n")
        print(f"{'query':32} {'median ms':>10} {'x baseline':>11} {'rows':>8}  goal <1 s  params")
        missing = set(list_reports()) - {name for name, _ in ASKED}
        for name, params in ASKED:
            if args.only and name not in args.only:
                continue
            seconds, rows = time_query(
                con, lambda name=name, params=params: run_report(con, name, params), args.repeat
            )
            verdict = "ok" if seconds < 1 else "MISS"
            shown = " ".join(f"{k}={v}" for k, v in params.items())
            print(
                f"{name:32} {seconds * 1000:10.0f} {seconds / baseline:11.1f} {rows:8}  "
                f"{verdict:9} {shown}",
                flush=True,
            )
        if missing:
            print(f"not timed (add them to ASKED): {', '.join(sorted(missing))}")
        con.close()


if __name__ == "__main__":
    main()
