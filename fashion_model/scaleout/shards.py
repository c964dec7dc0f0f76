"""Scale-out: the download and scoring stages cut into shards that run on other processes or
machines (Dask workers, through prefect-dask in `tasks/scaleout.py`).

A shard reads its input from a Parquet file and writes its result to another, atomically; only
paths travel between processes. The process that cuts the shards stays the only writer of the
manifest and of DuckDB (which has one writer): it reads each shard's result back and writes it
the same way the in-process path does, so both paths give the same rows. (torch is imported
only by the scoring functions: the download side stays light.) Every file lives in a
scratch folder under HOME, which shard workers must see at the same path (a shared file
system); the folder is removed when the stage ends, and `fashion gc` removes one a killed run
left behind.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fashion_model.config import DownloadConfig, ScoreConfig, default_of
from fashion_model.errors import RuntimeFailure
from fashion_model.files import replacing
from fashion_model.ingest.download import download_batch
from fashion_model.ingest.outcomes import OUTCOME_SCHEMA, Outcome

DOWNLOAD_SHARD = 500  # URLs per download shard
SCORE_SHARD = 2048  # images per scoring shard
SCRATCH = "scratch"  # HOME/scratch/score-*: scoring shards; ingest shards sit by the manifest


class ShardFuture(Protocol):
    def result(self) -> Any: ...


class ShardPool(Protocol):
    """Runs shard jobs somewhere (a Dask cluster, a local executor); entered before use."""

    slots: int  # shards that run at once

    def __enter__(self) -> ShardPool: ...

    def __exit__(self, *exc_info) -> None: ...

    def download(self, job: DownloadShard) -> ShardFuture: ...

    def score(self, job: ScoreShard) -> ShardFuture: ...


class ExecutorShards:
    """A ShardPool on a `concurrent.futures` executor (a library user's own pool, and tests)."""

    def __init__(self, executor, slots: int):
        self.executor, self.slots = executor, slots

    def __enter__(self) -> ExecutorShards:
        return self

    def __exit__(self, *exc_info) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def download(self, job: DownloadShard) -> ShardFuture:
        return self.executor.submit(download_shard, job)

    def score(self, job: ScoreShard) -> ShardFuture:
        return self.executor.submit(score_shard, job)


def _write_atomic(table: pa.Table, path: Path) -> None:
    with replacing(path) as tmp:  # a reader sees the whole part or none
        pq.write_table(table, tmp)


# --- download -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadShard:
    urls_file: Path
    out_file: Path
    config: DownloadConfig
    images_root: Path


def download_shard(job: DownloadShard) -> dict:
    """Worker side: download the shard's URLs into the shared store; the outcomes, in URL
    order, go to `out_file`."""
    urls = pq.read_table(job.urls_file).column("url").to_pylist()
    started = time.perf_counter()
    outcomes = download_batch(urls, job.config, job.images_root)
    rows = [vars(outcome) for outcome in outcomes]
    _write_atomic(pa.Table.from_pylist(rows, schema=OUTCOME_SCHEMA), job.out_file)
    ok = sum(outcome.status == "ok" for outcome in outcomes)
    return {"urls": len(urls), "ok": ok, "seconds": round(time.perf_counter() - started, 2)}


def shard_download_config(config: DownloadConfig, slots: int) -> DownloadConfig:
    """The per-host limits hold for the whole cluster: each of `slots` shards running at once
    gets its share of them (requests in flight, and a per-host cap; an adaptive pace adapts in
    each shard)."""
    return config.replace(
        per_host=max(1, config.per_host // slots),
        per_host_rate=(config.per_host_rate / slots)
        if config.per_host_rate
        else config.per_host_rate,
    )


class ShardedFetcher:
    """The Downloader's interface (`async with`, `submit(url, done)`) over a ShardPool: URLs
    are cut into shards of at most `shard_size` (fewer when `expected` URLs would not give
    every slot two shards); at most two shards per slot are out at once. A shard's outcomes go
    to `done` as soon as it finishes, whatever the order (the ingest's reorder buffer puts
    rows back in source order), so one slow shard never idles the others' slots."""

    def __init__(
        self,
        pool: ShardPool,
        folder: Path,
        config: DownloadConfig,
        images_root: Path,
        shard_size: int | None = None,
        expected: int | None = None,
    ):
        self.pool, self.folder, self.images_root = pool, Path(folder), Path(images_root)
        self.config, self.largest, self.expected = config, shard_size or DOWNLOAD_SHARD, expected
        self.batch: list[tuple[str, Callable[[Outcome], None]]] = []
        self.out: dict[asyncio.Future, tuple[ShardFuture, list, DownloadShard]] = {}
        self.shards = 0

    async def __aenter__(self) -> ShardedFetcher:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pool.__enter__()  # starts a local cluster only now, after the input was checked
        self.limit = 2 * self.pool.slots
        self.shard_config = shard_download_config(self.config, self.pool.slots)
        self.shard_size = _shard_size(self.largest, self.expected, self.pool.slots)
        # one thread per shard out, each waiting for its shard's result
        self.waiters = ThreadPoolExecutor(self.limit, thread_name_prefix="shard-wait")
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                await self._send()
                while self.out:
                    await self._collect()
            else:  # interrupted: hand over what already finished, so that the journal keeps it
                for waiter in [w for w in self.out if _succeeded(w)]:
                    self._deliver(waiter)
        finally:
            for future, _, _ in self.out.values():
                cancel = getattr(future, "cancel", None)
                if cancel:
                    cancel()
            self.pool.__exit__(*exc_info)
            self.waiters.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(self.folder, ignore_errors=True)

    async def submit(self, url: str, done: Callable[[Outcome], None]) -> None:
        self.batch.append((url, done))
        if len(self.batch) >= self.shard_size:
            await self._send()

    async def _send(self) -> None:
        if not self.batch:
            return
        while len(self.out) >= self.limit:
            await self._collect()
        self.shards += 1
        stem = f"shard-{self.shards:06d}"
        job = DownloadShard(
            self.folder / f"{stem}.urls.parquet",
            self.folder / f"{stem}.outcomes.parquet",
            self.shard_config,
            self.images_root,
        )
        _write_atomic(pa.table({"url": [url for url, _ in self.batch]}), job.urls_file)
        future = self.pool.download(job)
        waiter = asyncio.get_running_loop().run_in_executor(self.waiters, future.result)
        self.out[waiter] = (future, [done for _, done in self.batch], job)
        self.batch = []

    async def _collect(self) -> None:
        """Hand over the outcomes of every shard that has finished (waiting for one)."""
        finished, _ = await asyncio.wait(self.out, return_when=asyncio.FIRST_COMPLETED)
        for waiter in sorted(finished, key=_succeeded, reverse=True):  # failures last
            self._deliver(waiter)

    def _deliver(self, waiter: asyncio.Future) -> None:
        _, dones, job = self.out.pop(waiter)
        waiter.result()  # a shard that failed after its retries fails the run
        rows = pq.read_table(job.out_file).to_pylist()
        if len(rows) != len(dones):
            # not bad input (BadInput would discard the run's journal): a broken shard
            raise RuntimeFailure(f"{job.out_file}: {len(rows)} outcomes for {len(dones)} URLs")
        for done, row in zip(dones, rows, strict=True):
            done(Outcome(**row))
        job.urls_file.unlink(missing_ok=True)
        job.out_file.unlink(missing_ok=True)


def _succeeded(waiter: asyncio.Future) -> bool:
    return waiter.done() and not waiter.cancelled() and waiter.exception() is None


def _shard_size(largest: int, items: int | None, slots: int) -> int:
    """At most `largest`, and small enough that every slot gets two shards to work on."""
    if not items:
        return largest
    return max(1, min(largest, -(-items // (2 * slots))))


def sharded_fetcher(pool: ShardPool):
    """For `ingest_source(fetcher=...)`: download a source's URLs in shards on `pool`."""

    def make(
        config: DownloadConfig, images_root: Path, manifest_dir: Path, expected: int | None
    ) -> ShardedFetcher:
        folder = ingest_shard_folder(manifest_dir)
        return ShardedFetcher(pool, folder, config, images_root, expected=expected)

    return make


def ingest_shard_folder(manifest_dir: Path) -> Path:
    """Next to the manifest's journal, so that `fashion gc` finds one a killed run left."""
    manifest_dir = Path(manifest_dir)
    return manifest_dir.parent / f".{manifest_dir.name}.shards-{uuid.uuid4().hex[:12]}"


# --- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreShard:
    todo_file: Path  # sha256, path (relative to images_root)
    out_file: Path
    images_root: Path
    models_root: Path
    version: str
    batch_size: int = default_of(ScoreConfig, "batch_size")
    colors: bool = default_of(ScoreConfig, "colors")
    runtime: str = "torch"  # the variant chosen by the writer (score_images_sharded)


@lru_cache(maxsize=2)
def _model(models_root: str, version: str, runtime: str):
    """A worker loads a model version once, not once per shard."""
    from fashion_model.model.registry import load_model

    net, card, _ = load_model(Path(models_root), version, runtime)
    return net, card


def score_shard(job: ScoreShard) -> dict:
    """Worker side: probabilities and embeddings of the shard's images (failures with their
    reason) go to `out_file`, one row per image, in the todo's order."""
    from fashion_model.score.images import score_batches

    net, card = _model(str(job.models_root), job.version, job.runtime)
    todo = pq.read_table(job.todo_file)
    paths = [str(Path(job.images_root) / p) for p in todo.column("path").to_pylist()]
    shas = todo.column("sha256").to_pylist()
    started = time.perf_counter()
    kept: list[str] = []
    probs: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    failures: list[tuple[str, str, str]] = []
    readings: list = []
    for batch in score_batches(net, card, paths, shas, job.batch_size, colors=job.colors):
        kept += batch.shas
        probs.append(batch.probabilities)
        vectors.append(batch.embeddings)
        failures += batch.failures
        readings += batch.readings or []
    n_labels = len(card.label_ids)
    probs_array = np.concatenate(probs) if probs else np.zeros((0, n_labels), np.float32)
    width = card.embedding_dim
    vectors_array = np.concatenate(vectors) if vectors else np.zeros((0, width))
    table = pa.table(
        {
            "image_sha256": pa.array(kept + [f[0] for f in failures], pa.string()),
            "probs": _fixed_lists(probs_array, n_labels, len(failures)),
            "embedding": _fixed_lists(vectors_array, width, len(failures)),
            "path": pa.array([None] * len(kept) + [f[1] for f in failures], pa.string()),
            "reason": pa.array([None] * len(kept) + [f[2] for f in failures], pa.string()),
            "colors": pa.array(
                [json.dumps(r.as_dict()) for r in readings]
                + [None] * (len(kept) - len(readings) + len(failures)),
                pa.string(),
            ),
        }
    )
    _write_atomic(table, job.out_file)
    return {
        "scored": len(kept),
        "failed": len(failures),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _fixed_lists(values: np.ndarray, size: int, nulls: int) -> pa.Array:
    """Rows of `values` as fixed-size float32 lists, then `nulls` null rows (the failures)."""
    flat = np.concatenate([values.astype(np.float32).ravel(), np.zeros(nulls * size, np.float32)])
    mask = np.array([False] * len(values) + [True] * nulls)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), size, mask=pa.array(mask))


def read_scored(path: Path):
    """A score shard's result as the writer takes it: a `ScoredBatch` (its readings None when
    the shard measured no colours)."""
    from fashion_model.colors.measure import ColorReading
    from fashion_model.score.images import ScoredBatch

    table = pq.read_table(path)
    failed = table.column("reason").is_valid()
    ok = table.filter(pc.invert(failed))
    bad = table.filter(failed)
    n_ok = ok.num_rows
    probs = ok.column("probs").combine_chunks()
    vectors = ok.column("embedding").combine_chunks()
    probs_array = np.asarray(probs.flatten(), np.float32).reshape(n_ok, probs.type.list_size)
    vectors_array = np.asarray(vectors.flatten(), np.float32).reshape(n_ok, vectors.type.list_size)
    failures = list(
        zip(
            bad.column("image_sha256").to_pylist(),
            bad.column("path").to_pylist(),
            bad.column("reason").to_pylist(),
            strict=True,
        )
    )
    measured = ok.column("colors").to_pylist()
    readings = [ColorReading.from_dict(json.loads(r)) for r in measured] if all(measured) else None
    return ScoredBatch(
        ok.column("image_sha256").to_pylist(), probs_array, vectors_array, failures, readings
    )


def score_images_sharded(
    con,
    manifests: list[Path],
    images_root: Path,
    models_root: Path,
    home_root: Path,
    pool: ShardPool,
    model_version: str | None = None,
    batch_size: int = default_of(ScoreConfig, "batch_size"),
    rescore: bool = default_of(ScoreConfig, "rescore"),
    progress: Callable[[int, int], None] | None = None,
    shard_size: int | None = None,
    colors: bool = default_of(ScoreConfig, "colors"),
    runtime: str = default_of(ScoreConfig, "runtime"),
):
    """`score_images` on a ShardPool: the unscored images are cut into todo shards, workers
    score them, and this process writes each result into DuckDB as it arrives, one transaction
    per shard (a killed run keeps the shards it wrote; a rerun scores the rest)."""
    from fashion_model.score.images import score_images

    def shards(version: str, variant: str, todo: pa.Table):
        folder = Path(home_root) / SCRATCH / f"score-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True)
        try:
            with pool:
                size = _shard_size(shard_size or SCORE_SHARD, todo.num_rows, pool.slots)
                jobs = []
                for number, start in enumerate(range(0, todo.num_rows, size), 1):
                    job = ScoreShard(
                        folder / f"shard-{number:06d}.todo.parquet",
                        folder / f"shard-{number:06d}.scores.parquet",
                        Path(images_root),
                        Path(models_root),
                        version,
                        batch_size,
                        colors,
                        variant,
                    )
                    _write_atomic(todo.slice(start, size).select(["sha256", "path"]), job.todo_file)
                    jobs.append(job)
                futures = [pool.score(job) for job in jobs]
                for job, future in zip(jobs, futures, strict=True):
                    future.result()
                    yield read_scored(job.out_file)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return score_images(
        con,
        manifests,
        images_root,
        models_root,
        model_version,
        batch_size,
        rescore=rescore,
        progress=progress,
        colors=colors,
        runtime=runtime,
        chunks=shards,
    )


def score_plan_images(
    plan, progress: Callable[[int, int], None] | None = None, pool: ShardPool | None = None
) -> dict:
    """The scoring of a `ScorePlan` (score/plan.py): its manifests' images in this process, or
    in shards on `pool`; the summary as a dict. What `fashion score` and the score-images task
    both run."""
    from fashion_model.score.images import score_images
    from fashion_model.warehouse.db import connect

    options = dict(
        model_version=plan.model_version,
        batch_size=plan.config.batch_size,
        rescore=plan.config.rescore,
        colors=plan.config.colors,
        runtime=plan.config.runtime,
    )
    manifests = list(plan.manifests)
    with connect(plan.db) as con:
        if pool is None:
            summary = score_images(
                con, manifests, plan.images, plan.models, progress=progress, **options
            )
        else:
            summary = score_images_sharded(
                con,
                manifests,
                plan.images,
                plan.models,
                home_root=plan.root,
                pool=pool,
                progress=progress,
                **options,
            )
    return summary.as_dict()
