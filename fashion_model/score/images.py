"""Score stage: stored images -> label probabilities and embeddings (the model's width: 512-d
for ResNet34, 2048-d for ResNet50) -> DuckDB.

Each (image_sha256, model_version) is scored once; results go in through Arrow, one transaction
per chunk, so a killed run loses at most the chunk in flight and a rerun picks up the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from fashion_model.config import ScoreConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.labels import load_label_map
from fashion_model.model.presets import eval_preset, eval_tensor_preset
from fashion_model.model.registry import (
    load_card,
    load_model,
    production_version,
    resolve_version,
)
from fashion_model.sqlfiles import named, read_sql, run_script, statements, transaction
from fashion_model.warehouse.db import (
    refresh_analytics,
    sync_labels,
    sync_model,
)

if TYPE_CHECKING:  # torch is imported when there is something to score (~5 s on 2 cores)
    import torch

WRITE_EVERY = 1024  # images per DuckDB transaction
# DuckDB keeps what a session appended in its buffer pool up to its memory limit (80% of RAM by
# default), so a writer's memory grew with the catalog. Appending needs little: the limit is
# lowered while the images are written (ChunkWriter) and reset afterwards.
APPEND_MEMORY_LIMIT = "128MB"


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
    run_script(con, "score/candidates.sql", {"parts": parts})
    unscored = statements(read_sql("score/unscored.sql"))[0]
    todo = con.sql(unscored, params={"model_version": version, "rescore": rescore}).to_arrow_table()
    total = con.execute(named("score/statements.sql", "candidate_count")).fetchall()[0][0]
    con.execute(named("score/statements.sql", "drop_candidates"))
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
                pa.array(embeddings.ravel().astype(np.float32)), embeddings.shape[1]
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
    try:
        with transaction(con):
            con.register("batch_scores", scores)
            con.register("batch_embeddings", vectors)
            con.register("batch_predictions", predictions)
            con.register("batch_failures", failed)
            if replace:
                run_script(con, "score/forget_version.sql", {})
            run_script(con, "score/insert_batch.sql", {})
    finally:
        for name in ("batch_scores", "batch_embeddings", "batch_predictions", "batch_failures"):
            con.unregister(name)
    return len(rows)


def prepare(con, manifests: list[Path], models_root: Path, model_version: str | None,
            rescore: bool):  # fmt: skip
    """Resolve the model version, record its labels and card in the warehouse, and list the
    images it has not scored yet: (version, card, todo table, images already scored)."""
    version = resolve_version(models_root, model_version)
    card = load_card(models_root, version)
    label_map = load_label_map(Path(models_root) / version / "label_map.csv")
    sync_labels(con, label_map)
    sync_model(con, card, is_production=version == production_version(models_root))
    todo, already = _todo(con, manifests, version, rescore)
    return version, card, todo, already


def score_batches(
    net,
    card,
    paths: list[str],
    shas: list[str],
    batch_size: int = default_of(ScoreConfig, "batch_size"),
    num_workers: int | None = None,
    decode: str = "auto",
) -> Iterator[tuple[list[str], np.ndarray, np.ndarray, list[tuple[str, str, str]], int]]:
    """Run the model over image files: per batch, (decoded shas, probabilities, embeddings,
    failures as (sha256, path, reason), images done so far). The one compute path of the
    scoring stage, in-process and in scale-out shards alike.

    On CUDA the model runs in bf16 autocast with channels_last, batches are pinned, and
    (decode="auto") JPEGs are read as bytes by the workers and decoded on the GPU in batches;
    decode="pil" decodes with Pillow in the workers (JPEG draft mode), decode="torch" with
    torchvision on the model's device."""
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    if decode not in ("auto", "pil", "torch"):
        raise BadInput(f"decode {decode!r} is not one of auto, pil, torch")
    import torch
    from torch.utils.data import DataLoader

    from fashion_model.model.datasets import ImageFiles, JpegBytes, collate_bytes

    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    decode_bytes = decode == "torch" or (decode == "auto" and on_gpu)
    if num_workers is None:
        # On CPU the model already uses every core and decoding a 256 px JPEG in draft mode is
        # cheap: decoding in the main process measured fastest (benchmarks/score.py).
        num_workers = min(8, os.cpu_count() or 1) if on_gpu else 0
    net = net.to(device, memory_format=torch.channels_last if on_gpu else torch.preserve_format)
    if decode_bytes:
        dataset, collate = JpegBytes(paths), collate_bytes
    else:
        dataset, collate = ImageFiles(paths, eval_preset(card.preprocessing), card.image_size), None
    workers = num_workers if paths else 0
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=on_gpu and not decode_bytes,
        prefetch_factor=4 if workers else None,
    )
    tensor_preset = eval_tensor_preset(card.preprocessing)
    offset = 0
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
            failures = []
            for index in np.flatnonzero(~keep):
                path = batch_paths[index]
                reason = "cannot decode" if os.path.exists(path) else "file missing"
                failures.append((batch_shas[index], path, reason))
            yield (
                [s for s, k in zip(batch_shas, keep, strict=True) if k],
                torch.sigmoid(logits).numpy()[keep],
                embeddings.numpy()[keep],
                failures,
                offset,
            )


class ChunkWriter:
    """Writes scored chunks into DuckDB from one background thread while the caller computes
    the next ones (DuckDB releases the GIL): at most one write in flight, and only that thread
    touches `con` until `close`. DuckDB's memory limit is lowered meanwhile: it keeps what a
    session appended in its buffer pool up to the limit (benchmarks/score_memory.py)."""

    def __init__(self, con, version: str, thresholds: np.ndarray, replace: bool):
        self.con, self.version, self.thresholds, self.replace = con, version, thresholds, replace
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        self.in_flight: list[Future] = []
        self.predictions = 0

    def __enter__(self) -> ChunkWriter:
        self.con.execute(f"SET memory_limit = '{APPEND_MEMORY_LIMIT}'")
        return self

    def submit(self, shas: list[str], probs, embeddings, failures: list) -> None:
        self.wait()
        self.in_flight.append(
            self.pool.submit(_write, self.con, self.version, shas, probs, embeddings,
                             self.thresholds, failures, self.replace)
        )  # fmt: skip

    def wait(self) -> None:
        while self.in_flight:
            self.predictions += self.in_flight.pop().result()

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)
            self.con.execute("RESET memory_limit")


def finish(con, summary: ScoreSummary, started: float) -> ScoreSummary:
    summary.seconds = time.perf_counter() - started
    # Every run ends by rebuilding the analytics tables, also when it scored nothing new: the
    # catalog load or a promotion may have changed what the shipped queries must see.
    summary.products_in_analytics = int(refresh_analytics(con)["scored_products"])
    return summary


def score_images(
    con: duckdb.DuckDBPyConnection,
    manifests: list[Path],
    images_root: Path,
    models_root: Path,
    model_version: str | None = None,
    batch_size: int = default_of(ScoreConfig, "batch_size"),
    num_workers: int | None = None,
    rescore: bool = default_of(ScoreConfig, "rescore"),
    progress: Callable[[int, int], None] | None = None,
    write_every: int = WRITE_EVERY,
    decode: str = "auto",
) -> ScoreSummary:
    """Score every ok image of `manifests` not yet scored by the model version, into `con`,
    one transaction per `write_every` images: a run killed midway keeps what it committed and
    a rerun scores the rest. Images that fail to decode go to `score_failures`. See
    `score_batches` for devices and decoding; `fashion_model.scaleout` runs the same work on a
    cluster."""
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    version, card, todo, already = prepare(con, manifests, models_root, model_version, rescore)
    summary = ScoreSummary(model_version=version, skipped_already_scored=already)
    paths = [str(Path(images_root) / p) for p in todo.column("path").to_pylist()]
    shas = todo.column("sha256").to_pylist()
    started = time.perf_counter()
    if not paths:  # nothing new: neither torch nor the model is loaded
        return finish(con, summary, started)
    net, _, _ = load_model(models_root, version)
    pending: tuple[list, list, list, list] = ([], [], [], [])  # shas, probs, vectors, failures
    with ChunkWriter(con, version, card.label_thresholds(), rescore) as writer:
        batches = score_batches(net, card, paths, shas, batch_size, num_workers, decode)
        for batch_shas, probs, embeddings, failures, done in batches:
            summary.scored += len(batch_shas)
            summary.failed_to_decode += len(failures)
            for part, value in zip(pending, (batch_shas, [probs], [embeddings], failures),
                                   strict=True):  # fmt: skip
                part.extend(value)
            if len(pending[0]) + len(pending[3]) >= write_every:
                _flush(writer, pending)
            if progress:
                progress(done, len(paths))
        _flush(writer, pending)
    summary.predictions = writer.predictions
    return finish(con, summary, started)


def _flush(writer: ChunkWriter, pending: tuple[list, list, list, list]) -> None:
    if pending[0] or pending[3]:
        probs, vectors = np.concatenate(pending[1]), np.concatenate(pending[2])
        writer.submit(list(pending[0]), probs, vectors, list(pending[3]))
        for part in pending:
            part.clear()


def _decode_batch(raw: list[torch.Tensor], ok: torch.Tensor, device, preset, size: int):
    """Decode a batch of JPEG byte tensors on `device` (nvJPEG on CUDA) through the eval
    preset; an image that does not decode is flagged, not fatal."""
    import torch
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
