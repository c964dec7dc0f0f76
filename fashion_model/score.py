"""Score stage: stored images -> label probabilities and 512-d embeddings -> DuckDB.

Each (image_sha256, model_version) is scored once; results go in through Arrow, one transaction
per chunk, so a killed run loses at most the chunk in flight and a rerun picks up the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader

from fashion_model.data import ImageFiles, JpegBytes, collate_bytes
from fashion_model.db import check_labels, connect, refresh_analytics, sync_labels, sync_model
from fashion_model.errors import FashionError
from fashion_model.home import SQL_DIR
from fashion_model.labels import load_label_map
from fashion_model.model import EMBEDDING_DIM
from fashion_model.presets import eval_preset, eval_tensor_preset
from fashion_model.registry import (
    load_card,
    load_model,
    production_version,
    resolve_version,
    set_production,
)
from fashion_model.sqlrun import run_script, run_statement, statements

WRITE_EVERY = 1024  # images per DuckDB transaction
# DuckDB keeps what a session appended in its buffer pool up to its memory limit (80% of RAM by
# default), so a writer's memory grew with the catalog. Appending needs little: the limit is
# lowered while the images are written (benchmarks/score_memory.py) and reset afterwards.
APPEND_MEMORY_LIMIT = "128MB"
SCORE_SQL = SQL_DIR / "score"


@dataclass
class ScoreSummary:
    model_version: str
    scored: int = 0
    skipped_already_scored: int = 0
    failed_to_decode: int = 0
    predictions: int = 0
    seconds: float = 0.0
    products_in_analytics: int = 0  # scored products the shipped queries see after the run

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 1)}


def _todo(con, manifests: list[Path], version: str, rescore: bool) -> tuple[pa.Table, int]:
    """Distinct ok images of the manifests that this model version has not scored yet."""
    parts = [str(Path(m) / "part-*.parquet") for m in manifests]
    run_script(con, SCORE_SQL / "candidates.sql", {"parts": parts})
    unscored = statements((SCORE_SQL / "unscored.sql").read_text(encoding="utf-8"))[0]
    todo = con.sql(unscored, params={"model_version": version, "rescore": rescore}).to_arrow_table()
    total = con.execute("SELECT count(*) FROM score_candidates").fetchone()[0]
    con.execute("DROP TABLE score_candidates")
    return todo, total - todo.num_rows


def _write(con, version, shas, probs, embeddings, thresholds, failures, replace=False) -> int:
    """One chunk in one transaction: scores, embeddings, predictions and the images that
    failed to decode (`failures`: (sha256, path, reason) rows); `replace` (--rescore) first
    drops the version's old rows for these images, in the same transaction."""
    n_labels = probs.shape[1]
    scores = pa.table(
        {
            "image_sha256": pa.array(shas),
            "model_version": pa.array([version] * len(shas)),
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), n_labels),
        }
    )
    vectors = pa.table(
        {
            "image_sha256": pa.array(shas),
            "model_version": pa.array([version] * len(shas)),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(embeddings.ravel()), EMBEDDING_DIM
            ),
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
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("batch_scores", scores)
        con.register("batch_embeddings", vectors)
        con.register("batch_predictions", predictions)
        con.register("batch_failures", failed)
        if replace:
            run_script(con, SCORE_SQL / "forget_version.sql", {})
        run_script(con, SCORE_SQL / "insert_batch.sql", {})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("batch_scores", "batch_embeddings", "batch_predictions", "batch_failures"):
            con.unregister(name)
    return len(rows)


def score_images(
    con: duckdb.DuckDBPyConnection,
    manifests: list[Path],
    images_root: Path,
    models_root: Path,
    model_version: str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    rescore: bool = False,
    progress: Callable[[int, int], None] | None = None,
    write_every: int = WRITE_EVERY,
    decode: str = "auto",
) -> ScoreSummary:
    """Score every ok image of `manifests` not yet scored by the model version, into `con`,
    one transaction per `write_every` images: a run killed midway keeps what it committed and
    a rerun scores the rest. Images that fail to decode go to `score_failures`.

    On CUDA the model runs in bf16 autocast with channels_last, batches are pinned, and
    (decode="auto") JPEGs are read as bytes by the workers and decoded on the GPU in batches;
    decode="pil" decodes with Pillow in the workers (JPEG draft mode), decode="torch" with
    torchvision on the model's device."""
    if batch_size < 1:
        raise FashionError("--batch-size must be at least 1")
    if decode not in ("auto", "pil", "torch"):
        raise FashionError(f"decode {decode!r} is not one of auto, pil, torch")
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    decode_bytes = decode == "torch" or (decode == "auto" and on_gpu)
    if num_workers is None:
        # On CPU the model already uses every core and decoding a 256 px JPEG in draft mode is
        # cheap: decoding in the main process measured fastest (benchmarks/score.py).
        num_workers = min(8, os.cpu_count() or 1) if on_gpu else 0
    version = resolve_version(models_root, model_version)
    net, card, label_map = load_model(models_root, version)
    net = net.to(device, memory_format=torch.channels_last if on_gpu else torch.preserve_format)
    sync_labels(con, label_map)
    sync_model(con, card, is_production=version == production_version(models_root))
    todo, already = _todo(con, manifests, version, rescore)
    summary = ScoreSummary(model_version=version, skipped_already_scored=already)
    thresholds = card.label_thresholds()
    paths = [str(Path(images_root) / p) for p in todo.column("path").to_pylist()]
    shas = todo.column("sha256").to_pylist()
    if decode_bytes:
        dataset, collate = JpegBytes(paths), collate_bytes
    else:
        dataset, collate = ImageFiles(paths, eval_preset(card.image_size), card.image_size), None
    workers = num_workers if paths else 0
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=on_gpu and not decode_bytes,
        prefetch_factor=4 if workers else None,
    )
    tensor_preset = eval_tensor_preset(card.image_size)
    started = time.perf_counter()
    pending: tuple[list, list, list, list] = ([], [], [], [])  # shas, probs, vectors, failures
    offset = 0
    # Chunks are written by one background thread while the model scores the next ones (DuckDB
    # releases the GIL); at most one write is in flight, and only that thread touches `con`
    # until the loop ends.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
    in_flight: list[Future] = []

    def wait_for_writes() -> None:
        while in_flight:
            summary.predictions += in_flight.pop().result()

    def flush() -> None:
        if pending[0] or pending[3]:
            chunk = (
                list(pending[0]),
                np.concatenate(pending[1]),
                np.concatenate(pending[2]),
                list(pending[3]),
            )
            for part in pending:
                part.clear()
            wait_for_writes()
            in_flight.append(
                writer.submit(_write, con, version, chunk[0], chunk[1], chunk[2], thresholds,
                              chunk[3], rescore)
            )  # fmt: skip

    con.execute(f"SET memory_limit = '{APPEND_MEMORY_LIMIT}'")
    try:
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=on_gpu):
            for images, ok in loader:
                batch_shas = shas[offset : offset + len(ok)]
                batch_paths = paths[offset : offset + len(ok)]
                offset += len(ok)
                if decode_bytes:
                    images, ok = _decode_batch(images, ok, device, tensor_preset, card.image_size)
                images = images.to(device, non_blocking=True)
                if on_gpu:
                    images = images.contiguous(memory_format=torch.channels_last)
                logits, embeddings = net.logits_and_embeddings(images)
                logits, embeddings = logits.float().cpu(), embeddings.float().cpu()
                keep = ok.numpy()
                summary.failed_to_decode += int((~keep).sum())
                for index in np.flatnonzero(~keep):
                    path = batch_paths[index]
                    reason = "cannot decode" if os.path.exists(path) else "file missing"
                    pending[3].append((batch_shas[index], path, reason))
                pending[0].extend(s for s, k in zip(batch_shas, keep, strict=True) if k)
                pending[1].append(torch.sigmoid(logits).numpy()[keep])
                pending[2].append(embeddings.numpy()[keep])
                summary.scored += int(keep.sum())
                if len(pending[0]) + len(pending[3]) >= write_every:
                    flush()
                if progress:
                    progress(offset, len(paths))
        flush()
        wait_for_writes()
    finally:
        writer.shutdown(wait=True)
        con.execute("RESET memory_limit")
    summary.seconds = time.perf_counter() - started
    # Every run ends by rebuilding the analytics tables, also when it scored nothing new: the
    # catalog load or a promotion may have changed what the shipped queries must see.
    summary.products_in_analytics = int(refresh_analytics(con)["scored_products"])
    return summary


def _decode_batch(raw: list[torch.Tensor], ok: torch.Tensor, device, preset, size: int):
    """Decode a batch of JPEG byte tensors on `device` (nvJPEG on CUDA) through the eval
    preset; an image that does not decode is flagged, not fatal."""
    from torchvision.io import ImageReadMode, decode_jpeg

    ok = ok.clone()
    out = torch.zeros(len(raw), 3, size, size, device=device)
    readable = [i for i in range(len(raw)) if ok[i]]
    try:
        decoded = decode_jpeg([raw[i] for i in readable], mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one bad file fails the batch call: decode one by one
        decoded = []
        for i in readable:
            try:
                decoded.append(decode_jpeg(raw[i], mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                decoded.append(None)
    for i, image in zip(readable, decoded, strict=True):
        if image is None:
            ok[i] = False
        else:
            out[i] = preset(image)
    return out, ok


def promote(models_root: Path, version: str, db_path: Path) -> dict:
    """Make `version` the production model, after checking that the warehouse (when there is
    one) uses its label map; returns how many warehouse images it has not scored yet, which the
    next scoring run will score. The warehouse itself changes at that run, not here."""
    version = resolve_version(models_root, version)
    previous = production_version(models_root)
    unscored = None
    if Path(db_path).is_file():
        label_map = load_label_map(Path(models_root) / version / "label_map.csv")
        with connect(db_path, read_only=True) as con:
            check_labels(con, label_map)
            (sql,) = statements((SCORE_SQL / "unscored_images.sql").read_text(encoding="utf-8"))
            (unscored,) = run_statement(con, sql, {"model_version": version}).fetchone()
    set_production(models_root, version)
    card = load_card(models_root, version)
    return {
        "production": version,
        "previous": previous,
        "val_micro_f1": card.metrics.get("val_micro_f1"),
        "images_to_score": unscored,
    }
