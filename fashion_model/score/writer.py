"""The scoring stage's writer: scored chunks into DuckDB, one transaction each (scores,
embeddings, predictions, decode failures, colours), from one background thread while the model
computes the next chunk."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from fashion_model.score.colors import color_tables, write_colors
from fashion_model.sqlfiles import run_over_tables

# DuckDB keeps what a session appended in its buffer pool up to its memory limit (80% of RAM by
# default), so a writer's memory grew with the catalog. Appending needs little: the limit is
# lowered while the images are written (ChunkWriter) and reset afterwards.
APPEND_MEMORY_LIMIT = "128MB"


def _write(
    con,
    version,
    variant,
    shas,
    probs,
    embeddings,
    thresholds,
    failures,
    replace=False,
    readings=None,
    measured=(),
) -> int:
    """One chunk in one transaction: scores, embeddings, predictions, the images that failed
    to decode (`failures`: (sha256, path, reason) rows) and the colour readings of the
    `measured` images (an image measured before keeps its colours); `replace` (--rescore)
    first drops the version's old rows for these images, in the same transaction."""
    n_labels = probs.shape[1]
    scores = pa.table(
        {
            "image_sha256": pa.array(shas),
            "model_version": pa.array([version] * len(shas)),
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), n_labels),
            "variant": pa.array([variant] * len(shas), pa.string()),
        }
    )
    vectors = pa.table(
        {
            "image_sha256": pa.array(shas),
            "model_version": pa.array([version] * len(shas)),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(embeddings.ravel().astype(np.float32)), embeddings.shape[1]
            ),
            "variant": pa.array([variant] * len(shas), pa.string()),
        }
    )
    rows, cols = np.nonzero(probs >= thresholds[None, :])
    predictions = pa.table(
        {
            "image_sha256": pa.array([shas[r] for r in rows], pa.string()),
            "model_version": pa.array([version] * len(rows), pa.string()),
            "position": pa.array(cols.astype(np.int32)),
            "score": pa.array(probs[rows, cols].astype(np.float32)),
        }
    )
    failed = pa.table(
        {
            "image_sha256": pa.array([f[0] for f in failures], pa.string()),
            "model_version": pa.array([version] * len(failures), pa.string()),
            "path": pa.array([f[1] for f in failures], pa.string()),
            "reason": pa.array([f[2] for f in failures], pa.string()),
        }
    )
    tables = {
        "batch_scores": scores,
        "batch_embeddings": vectors,
        "batch_predictions": predictions,
        "batch_failures": failed,
    }
    scripts = ["score/forget_version.sql"] if replace else []
    scripts.append("score/insert_batch.sql")
    if measured:
        tables.update(color_tables(list(measured), readings))
        scripts.append("score/insert_colors.sql")
    run_over_tables(con, tables, scripts)
    return len(rows)


class ChunkWriter:
    """Writes scored chunks into DuckDB from one background thread while the caller computes
    the next ones (DuckDB releases the GIL): at most one write in flight, and only that thread
    touches `con` until `close`. DuckDB's memory limit is lowered meanwhile: it keeps what a
    session appended in its buffer pool up to the limit (benchmarks/score_memory.py)."""

    def __init__(self, con, version: str, thresholds: np.ndarray, replace: bool, variant: str):
        self.con, self.version, self.thresholds, self.replace = con, version, thresholds, replace
        self.variant = variant  # the runtime variant that scores (model/variants.py)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        self.in_flight: list[tuple[Future, bool]] = []  # (write, whether it counts predictions)
        self.predictions = 0

    def __enter__(self) -> ChunkWriter:
        self.con.execute(f"SET memory_limit = '{APPEND_MEMORY_LIMIT}'")
        return self

    def submit(
        self, shas: list[str], probs, embeddings, failures: list, readings: list | None = None
    ) -> None:
        """A scored chunk; `readings`, when given, are the colours of `shas`."""
        self.wait()
        self.in_flight.append(
            (
                self.pool.submit(
                    _write,
                    self.con,
                    self.version,
                    self.variant,
                    shas,
                    probs,
                    embeddings,
                    self.thresholds,
                    failures,
                    self.replace,
                    readings,
                    shas if readings is not None else (),
                ),
                True,
            )
        )

    def submit_colors(self, shas: list[str], readings: list) -> None:
        """The colours of images scored before (the colour-only pass)."""
        self.wait()
        self.in_flight.append((self.pool.submit(write_colors, self.con, shas, readings), False))

    def wait(self) -> None:
        while self.in_flight:
            write, counts = self.in_flight.pop()
            predictions = write.result()
            if counts:
                self.predictions += predictions

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)
            self.con.execute("RESET memory_limit")
