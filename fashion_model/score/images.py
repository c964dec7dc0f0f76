"""Score stage: stored images -> label probabilities and embeddings (the model's width: 512-d
for ResNet34, 2048-d for ResNet50) -> DuckDB.

Each (image_sha256, model_version) is scored once; results go in through Arrow, one transaction
per chunk, so a killed run loses at most the chunk in flight and a rerun picks up the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fashion_model.colors.measure import METHOD_VERSION
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
from fashion_model.score.colors import (
    WRITE_EVERY,
    measure_colors,
    measure_tensor,
)
from fashion_model.score.writer import ChunkWriter
from fashion_model.sqlfiles import named, read_sql, run_script, statements
from fashion_model.warehouse.db import (
    refresh_analytics,
    sync_labels,
    sync_model,
)

if TYPE_CHECKING:  # torch is imported when there is something to score (~5 s on 2 cores)
    import torch


@dataclass
class ScoreSummary:
    model_version: str
    scored: int = 0
    skipped_already_scored: int = 0
    failed_to_decode: int = 0
    predictions: int = 0
    seconds: float = 0.0
    products_in_analytics: int = 0  # scored products the shipped queries see after the run
    colors_only: int = 0  # images scored before, measured for colours only
    runtime: str | None = None  # the variant that scored: torch, onnx, onnx-int8

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 1)}


def _todo(
    con, manifests: list[Path], version: str, rescore: bool, colors: bool
) -> tuple[pa.Table, int, pa.Table]:
    """Distinct ok images of the manifests that this model version has not scored yet, how
    many it has, and (with `colors`) those already scored that have no colour measurement."""
    parts = [str(Path(m) / "part-*.parquet") for m in manifests]
    run_script(con, "score/candidates.sql", {"parts": parts})
    unscored = statements(read_sql("score/unscored.sql"))[0]
    params = {"model_version": version, "rescore": rescore}
    todo = con.sql(unscored, params=params).to_arrow_table()
    total = con.execute(named("score/statements.sql", "candidate_count")).fetchall()[0][0]
    uncolored = con.sql(
        named("score/statements.sql", "uncolored"), params={"method_version": METHOD_VERSION}
    ).to_arrow_table()
    con.execute(named("score/statements.sql", "drop_candidates"))
    # the images scored now are measured as they are scored
    uncolored = uncolored.filter(pc.invert(pc.is_in(uncolored["sha256"], todo["sha256"])))
    return todo, total - todo.num_rows, uncolored if colors else uncolored.slice(0, 0)


def prepare(
    con,
    manifests: list[Path],
    models_root: Path,
    model_version: str | None,
    rescore: bool,
    colors: bool = default_of(ScoreConfig, "colors"),
):
    """Resolve the model version, record its labels and card in the warehouse, and list the
    images it has not scored yet: (version, card, todo table, images already scored, images
    scored before whose colours are still to measure)."""
    version = resolve_version(models_root, model_version)
    card = load_card(models_root, version)
    label_map = load_label_map(Path(models_root) / version / "label_map.csv")
    sync_labels(con, label_map)
    sync_model(con, card, is_production=version == production_version(models_root))
    todo, already, uncolored = _todo(con, manifests, version, rescore, colors)
    return version, card, todo, already, uncolored


class ScoredBatch(NamedTuple):
    """Scored images: what `score_batches` yields per batch and a chunk source per chunk."""

    shas: list[str]  # the images that decoded, in order
    probabilities: np.ndarray  # one row of label probabilities per image of `shas`
    embeddings: np.ndarray  # one row per image of `shas`
    failures: list[tuple[str, str, str]]  # (sha256, path, reason) of those that did not
    readings: list | None  # the colour readings of `shas`, or None without colours


def score_batches(
    net,
    card,
    paths: list[str],
    shas: list[str],
    batch_size: int = default_of(ScoreConfig, "batch_size"),
    num_workers: int | None = None,
    decode: str = "auto",
    colors: bool = default_of(ScoreConfig, "colors"),
) -> Iterator[ScoredBatch]:
    """Run the model over image files, a `ScoredBatch` per batch. The one compute path of the
    scoring stage,
    in-process and in scale-out shards alike; colours are measured on the pixels decoded for
    the model.

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

    from fashion_model.model.datasets import (
        ImageFiles,
        JpegBytes,
        collate_bytes,
        collate_with_colors,
    )

    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    decode_bytes = decode == "torch" or (decode == "auto" and on_gpu)
    if num_workers is None:
        # On CPU torch's model already uses every core and decoding a 256 px JPEG in draft
        # mode is cheap: decoding in the main process measured fastest (benchmarks/score.py).
        # An onnxruntime model is fast enough that one process decoding (and measuring
        # colours) beside it pays: +10% end to end for int8 (benchmarks/score_cpu.py).
        from fashion_model.model.onnx_net import OnnxNet

        num_workers = min(8, os.cpu_count() or 1) if on_gpu else int(isinstance(net, OnnxNet))
    net = net.to(device, memory_format=torch.channels_last if on_gpu else torch.preserve_format)
    if decode_bytes:
        dataset, collate = JpegBytes(paths), collate_bytes
    else:
        dataset = ImageFiles(paths, eval_preset(card.preprocessing), card.image_size, colors)
        collate = collate_with_colors if colors else None
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
        for images, ok, *measured in loader:
            readings = measured[0] if measured else None
            batch_shas = shas[offset : offset + len(ok)]
            batch_paths = paths[offset : offset + len(ok)]
            offset += len(ok)
            if decode_bytes:
                images, ok, readings = _decode_batch(
                    images, ok, device, tensor_preset, card.image_size, colors
                )
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
            yield ScoredBatch(
                shas=[s for s, k in zip(batch_shas, keep, strict=True) if k],
                probabilities=torch.sigmoid(logits).numpy()[keep],
                embeddings=embeddings.numpy()[keep],
                failures=failures,
                readings=[r for r, k in zip(readings, keep, strict=True) if k] if colors else None,
            )


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
    colors: bool = default_of(ScoreConfig, "colors"),
    runtime: str = default_of(ScoreConfig, "runtime"),
    chunks: ChunkSource | None = None,
) -> ScoreSummary:
    """Score every ok image of `manifests` not yet scored by the model version, into `con`,
    one transaction per `write_every` images: a run killed midway keeps what it committed and
    a rerun scores the rest. Images that fail to decode go to `score_failures`. With
    `colors`, each image's dominant colours go to `image_colors` as it is scored, and images
    scored before that have none are measured after (a colour-only pass). See
    `score_batches` for devices and decoding; `runtime` picks the model's variant
    (`model/variants.py`). The one scoring driver: `chunks` scores elsewhere
    (`fashion_model.scaleout` on a cluster: each chunk it yields is one transaction)."""
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    version, card, todo, already, uncolored = prepare(
        con, manifests, models_root, model_version, rescore, colors
    )
    summary = ScoreSummary(model_version=version, skipped_already_scored=already)
    started = time.perf_counter()
    if not todo.num_rows and not uncolored.num_rows:  # nothing new: no torch, no model loaded
        return finish(con, summary, started)
    total = todo.num_rows + uncolored.num_rows
    pending = _Pending()
    summary.runtime = scoring_runtime(models_root, version, runtime) if todo.num_rows else None
    with ChunkWriter(con, version, card.label_thresholds(), rescore, summary.runtime) as writer:
        if todo.num_rows:
            source = chunks or _in_process(
                images_root, models_root, card, batch_size, num_workers, decode, colors
            )
            with closing(source(version, summary.runtime, todo)) as scored:
                for batch in scored:
                    pending.add(batch)
                    summary.scored += len(batch.shas)
                    summary.failed_to_decode += len(batch.failures)
                    if pending.size >= write_every or chunks:
                        pending.flush(writer)
                    if progress:
                        progress(summary.scored + summary.failed_to_decode, total)
            pending.flush(writer)
        after = (lambda n: progress(todo.num_rows + n, total)) if progress else None
        summary.colors_only = measure_colors(writer, images_root, uncolored, write_every, after)
    summary.predictions = writer.predictions
    return finish(con, summary, started)


# Scored chunks from (version, runtime variant, todo table with sha256 and path).
ChunkSource = Callable[[str, str, pa.Table], Iterator[ScoredBatch]]


def _in_process(
    images_root: Path,
    models_root: Path,
    card,
    batch_size: int,
    num_workers: int | None,
    decode: str,
    colors: bool,
) -> ChunkSource:
    """The model in this process, a batch at a time (`score_batches`)."""

    def batches(version: str, runtime: str, todo: pa.Table) -> Iterator[ScoredBatch]:
        net, _, _ = load_model(models_root, version, runtime)
        paths = [str(Path(images_root) / p) for p in todo.column("path").to_pylist()]
        shas = todo.column("sha256").to_pylist()
        yield from score_batches(net, card, paths, shas, batch_size, num_workers, decode, colors)

    return batches


def scoring_runtime(models_root: Path, version: str, runtime: str) -> str:
    """The variant that scores here (`choose_runtime`: auto takes the fastest registered one
    for this device)."""
    import torch

    from fashion_model.model.variants import choose_runtime

    return choose_runtime(models_root, version, runtime, on_gpu=torch.cuda.is_available())


class _Pending:
    """Scored batches gathered into one chunk for the writer."""

    def __init__(self):
        self.batches: list[ScoredBatch] = []

    @property
    def size(self) -> int:
        return sum(len(b.shas) + len(b.failures) for b in self.batches)

    def add(self, batch: ScoredBatch) -> None:
        self.batches.append(batch)

    def flush(self, writer: ChunkWriter) -> None:
        """Submit the gathered batches as one chunk, and start gathering anew."""
        batches, self.batches = self.batches, []
        if not batches:
            return
        measured = batches[-1].readings is not None
        writer.submit(
            [sha for b in batches for sha in b.shas],
            np.concatenate([b.probabilities for b in batches]),
            np.concatenate([b.embeddings for b in batches]),
            [failure for b in batches for failure in b.failures],
            [r for b in batches for r in b.readings or []] if measured else None,
        )


def _decode_batch(
    raw: list[torch.Tensor], ok: torch.Tensor, device, preset, size: int, colors: bool
):
    """Decode a batch of JPEG byte tensors on `device` (nvJPEG on CUDA) through the eval
    preset; an image that does not decode is flagged, not fatal. With `colors`, each decoded
    image is also measured (shrunk on the device first, then fashion_model.colors)."""
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
    readings = [None] * len(raw)
    for i, image in zip(readable, decoded, strict=True):
        if image is None:
            ok[i] = False
        else:
            out[i] = preset(image)
            if colors:
                readings[i] = measure_tensor(image)
    return out, ok, readings
