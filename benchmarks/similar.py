"""Benchmark: nearest-neighbour search over a million 512-d product embeddings.

Draws N clustered unit vectors the way product embeddings cluster (64 broad groups, such as a
category in a colour; N/100 tight clusters inside them, such as one style; each vector its
cluster centre plus noise of norm 1-2 times the centre's distance scale), stores them in a
warehouse made by the project's own migrations, and in one run measures:

- exact top-10 in DuckDB (the shipped `sql/similar/exact.sql`, `array_cosine_similarity`),
- exact top-10 in numpy (one matrix-vector product and a partial sort),
- the FAISS index as the product builds it (`update_index`, streaming from DuckDB): build time,
  file size and resident memory, single-query latency, recall@10 against exact,
- an incremental update with 1% new vectors, against the build,
- filtered search at several selectivities: the index restricted to the allowed keys against an
  exact scan of just those in DuckDB (what decides EXACT_MAX_CANDIDATES).

Latencies are medians over --queries queries (perturbed copies of stored vectors: new photos of
known products), printed with their ratio to numpy brute force measured in the same run.

    .venv/bin/python benchmarks/similar.py [--n 1000000] [--queries 200]

Goal (issue 7): top-10 under 50 ms with recall@10 >= 0.95; build under 10 minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from fashion_model.match.index import (
    DIM,
    NPROBE,
    index_folder,
    load_index,
    similar_sql,
    update_index,
)
from fashion_model.match.similar import CANDIDATE_COLUMNS, EXACT_SHARE, OVERSAMPLE
from fashion_model.sqlfiles import run_statement
from fashion_model.warehouse.db import connect, refresh_analytics

VERSION = "bench"


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    groups = unit(rng.standard_normal((64, DIM), dtype=np.float32))
    clusters = max(1, n // 100)
    offsets = unit(rng.standard_normal((clusters, DIM), dtype=np.float32))
    centres = unit(groups[rng.integers(0, 64, clusters)] + 0.9 * offsets)
    spread = rng.uniform(1.0, 2.0, clusters).astype(np.float32) / np.sqrt(DIM)
    members = rng.integers(0, clusters, n)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        part = members[start : start + 100_000]
        noise = rng.standard_normal((len(part), DIM), dtype=np.float32)
        out[start : start + len(part)] = unit(centres[part] + spread[part, None] * noise)
    return out


def shas(keys: np.ndarray) -> list[str]:
    """Image sha256s whose index key is the given integer."""
    return [f"{int(k):015x}" + "0" * 49 for k in keys]


def insert(con, vectors: np.ndarray, first_key: int) -> None:
    for start in range(0, len(vectors), 100_000):
        part = vectors[start : start + 100_000]
        keys = np.arange(first_key + start, first_key + start + len(part))
        table = pa.table(
            {
                "image_sha256": shas(keys),
                "model_version": [VERSION] * len(part),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), DIM),
            }
        )
        con.register("batch", table)
        con.execute("INSERT INTO embeddings BY NAME SELECT * FROM batch")
        con.unregister("batch")


def timed(fn, repeat: int) -> tuple[float, list]:
    """Median seconds of `repeat` calls, and their results."""
    times, results = [], []
    for i in range(repeat):
        started = time.perf_counter()
        results.append(fn(i))
        times.append(time.perf_counter() - started)
    return statistics.median(times), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors [1,000,000]")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency [200]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.n < 1000 or args.queries < 1:
        parser.error("--n must be at least 1000 and --queries at least 1")

    started = time.perf_counter()
    data = clustered(args.n, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    picks = rng.choice(args.n, args.queries, replace=False)
    queries = unit(
        data[picks]
        + 0.3 / np.sqrt(DIM) * rng.standard_normal((args.queries, DIM), dtype=np.float32)
    )
    print(f"{args.n:,} clustered vectors drawn in {time.perf_counter() - started:.0f} s")

    with tempfile.TemporaryDirectory(prefix="fashion-bench-similar-") as scratch:
        db = Path(scratch) / "fashion.duckdb"
        con = connect(db)
        con.execute(
            "INSERT INTO models VALUES (?, now(), 'resnet34', 64, NULL, [], true, 'bench', '{}')",
            [VERSION],
        )
        refresh_analytics(con)
        started = time.perf_counter()
        insert(con, data, 0)
        con.execute("CHECKPOINT")
        print(f"stored in DuckDB in {time.perf_counter() - started:.0f} s")

        # Baselines: exact search.
        numpy_s, numpy_hits = timed(
            lambda i: np.argpartition(-(data @ queries[i]), 10)[:10], args.queries
        )
        truth = [set(hits.tolist()) for hits in numpy_hits]
        exact_sql = similar_sql("exact.sql")
        con.execute(f"CREATE OR REPLACE TEMP TABLE similar_candidates ({CANDIDATE_COLUMNS})")
        duck_queries = min(args.queries, 5)
        duck_s, duck_hits = timed(
            lambda i: run_statement(
                con,
                exact_sql,
                {
                    "model_version": VERSION,
                    "filtered": False,
                    "query": queries[i].tolist(),
                    "limit": 10,
                },
            ).fetchall(),
            duck_queries,
        )
        duck_recall = statistics.mean(
            len({int(p, 16) for p, _ in hits} & truth[i]) / 10 for i, hits in enumerate(duck_hits)
        )

        # The index, built the way scoring builds it.
        before = rss_mib()
        built = update_index(con, db)
        index_bytes = sum(p.stat().st_size for p in index_folder(db).iterdir())
        started = time.perf_counter()
        index, note = load_index(con, db, VERSION)
        load_s = time.perf_counter() - started
        held = rss_mib() - before
        index_s, index_hits = timed(lambda i: index.search(queries[i], 10)[1][0], args.queries)
        recall = statistics.mean(
            len(set(hits.tolist()) & truth[i]) / 10 for i, hits in enumerate(index_hits)
        )

        # Incremental: 1% new vectors.
        extra = clustered(max(1, args.n // 100), args.seed + 2)
        insert(con, extra, args.n)
        updated = update_index(con, db)

        print(
            f"\nexact, DuckDB array_cosine_similarity: {duck_s * 1000:8.1f} ms  "
            f"({duck_s / numpy_s:.2f}x numpy; recall {duck_recall:.3f}, {duck_queries} queries)"
        )
        print(f"exact, numpy brute force:              {numpy_s * 1000:8.1f} ms  (1.00x, baseline)")
        print(f"index ({note}, nprobe {NPROBE}):")
        print(
            f"  top-10 latency:                      {index_s * 1000:8.2f} ms  "
            f"({index_s / numpy_s:.3f}x numpy, {duck_s / index_s:.0f}x faster than DuckDB)"
        )
        print(f"  recall@10 against exact:             {recall:8.3f}")
        print(f"  build (from DuckDB, {built.kind}):          {built.seconds:8.1f} s")
        print(
            f"  file {index_bytes / 2**20:.0f} MiB, load {load_s:.2f} s, "
            f"resident after build and load +{held:.0f} MiB"
        )
        print(
            f"  update with {updated.added:,} new vectors:   {updated.seconds:8.1f} s "
            f"({updated.seconds / built.seconds:.2f}x the build; {updated.action})"
        )

        # Filtered: the index restricted to allowed keys vs an exact scan of just those.
        index, _ = load_index(con, db, VERSION)
        print(
            f"\nfiltered top-10 among N candidates (r = recall@10): the index restricted to the "
            f"candidates' keys probing {NPROBE} lists (all when too few are found there); "
            f"probing {NPROBE} lists for {OVERSAMPLE:g}x 10/share images and keeping the "
            "candidates; restricted to the keys, every list (exact); DuckDB. The product uses "
            f"every list up to {EXACT_SHARE:.0%} of the vectors, else oversampling:"
        )
        total = args.n + len(extra)
        for share in (0.3, 0.03, 0.003, 0.0003):
            allowed = np.sort(rng.choice(total, max(10, int(total * share)), replace=False))
            names = shas(allowed)
            table = pa.table(
                {
                    "key": allowed,
                    "image_sha256": names,
                    "retailer": ["x"] * len(allowed),
                    "product_id": names,
                }
            )
            con.execute("DROP TABLE IF EXISTS similar_candidates")
            con.register("candidates_batch", table)
            con.execute("CREATE TEMP TABLE similar_candidates AS SELECT * FROM candidates_batch")
            con.unregister("candidates_batch")
            every = np.concatenate([data, extra])[allowed]
            probe = queries[: min(args.queries, 50)]

            def probed(i, allowed=allowed, probe=probe):
                sims, keys = index.search(probe[i], 10, allowed)
                if (keys[0] >= 0).sum() < min(10, len(allowed)):
                    sims, keys = index.search(probe[i], 10, allowed, exhaustive=True)
                return keys[0]

            def oversampled(i, allowed=allowed, probe=probe, share=share):
                wanted = int(np.ceil(10 / share * OVERSAMPLE))
                keys = index.search(probe[i], wanted)[1][0]
                return keys[np.isin(keys, allowed)][:10]

            def every_list(i, allowed=allowed, probe=probe):
                return index.search(probe[i], 10, allowed, exhaustive=True)[1][0]

            def in_duckdb(i, probe=probe):
                params = {
                    "model_version": VERSION,
                    "filtered": True,
                    "query": probe[i].tolist(),
                    "limit": 10,
                }
                return run_statement(con, exact_sql, params).fetchall()

            f_truth = [set(allowed[np.argpartition(-(every @ q), 10)[:10]].tolist()) for q in probe]

            def recall_of(hits, f_truth=f_truth):
                return statistics.mean(
                    len(set(h.tolist()) & f_truth[i]) / 10 for i, h in enumerate(hits)
                )

            probed_s, probed_hits = timed(probed, len(probe))
            over_s, over_hits = timed(oversampled, len(probe))
            every_s, every_hits = timed(every_list, len(probe))
            duck_f_s, _ = timed(in_duckdb, 3)
            chosen = "every list" if len(allowed) <= EXACT_SHARE * total else "oversampled"
            print(
                f"  {len(allowed):>9,} ({share:6.2%}): selector+probed {probed_s * 1000:6.1f} ms "
                f"r {recall_of(probed_hits):.3f} | oversampled {over_s * 1000:6.1f} ms "
                f"r {recall_of(over_hits):.3f} | selector+every list {every_s * 1000:6.1f} ms "
                f"r {recall_of(every_hits):.3f} | DuckDB {duck_f_s * 1000:5.0f} ms "
                f"| product: {chosen}"
            )
        con.close()
    goal = index_s < 0.05 and recall >= 0.95 and built.seconds < 600
    print(
        f"\ngoal (top-10 < 50 ms, recall@10 >= 0.95, build < 10 min): "
        f"{'met' if goal else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
