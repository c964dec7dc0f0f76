"""Tasks: the shard workers of the download and scoring stages, run on Dask by prefect-dask.

`DaskShards` is the ShardPool (fashion_model/shards.py) of the `dask` task runner: it enters a
`DaskTaskRunner` (the scheduler at an address, or a LocalCluster started for the stage) and
submits the `download-shard` and `score-shard` tasks to it, so each shard is a Prefect task
run of the flow run, with its own state, retries and logs, executed on a Dask worker.
"""

from __future__ import annotations

import logging

from fashion_model.config import ScaleOut
from fashion_model.errors import RuntimeFailure
from fashion_model.scaleout.shards import (
    DownloadShard,
    ScoreShard,
    ShardFuture,
    download_shard,
    score_shard,
)
from fashion_model.tasks.common import retry_unless_bad_input
from fashion_model.tasks.tracking import run_logger, task


# A shard downloads into the content-addressed store and writes its outcomes file atomically,
# so a retry redoes it whole and harmlessly. Never cached: a server may have recovered.
@task(
    name="download-shard",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_unless_bad_input,
    cache=False,
)
def download_shard_task(job: DownloadShard) -> dict:
    return download_shard(job)


@task(name="score-shard", retries=1, retry_delay_seconds=5, cache=False)
def score_shard_task(job: ScoreShard) -> dict:
    return score_shard(job)


def _api_url() -> str | None:
    """The API this flow run reports to, also the ephemeral one a serverless run starts: local
    workers get it, so their task runs land in the same place instead of each starting its own
    temporary server. (The run's own client: closing a new one would stop the run's events.)"""
    from prefect.context import get_run_context
    from prefect.exceptions import MissingContextError

    try:
        url = get_run_context().client.api_url
    except MissingContextError:
        return None
    return str(url) if url else None


class DaskShards:
    """ShardPool on a Dask cluster through prefect-dask's DaskTaskRunner."""

    def __init__(self, scale: ScaleOut):
        self.scale = scale
        self.runner = None
        self.slots = 1

    def __enter__(self) -> DaskShards:
        from prefect_dask import DaskTaskRunner

        logger = run_logger()
        logging.getLogger("distributed").setLevel(logging.WARNING)
        if self.scale.dask_address:
            self.runner = DaskTaskRunner(address=self.scale.dask_address)
        else:
            env = {"PREFECT_API_URL": url} if (url := _api_url()) else {}
            self.runner = DaskTaskRunner(
                cluster_kwargs={
                    "n_workers": self.scale.local_workers,
                    "threads_per_worker": 1,  # torch and the image pool use the worker's cores
                    "processes": True,
                    "dashboard_address": ":0",  # a free port: never two clusters on 8787
                    "env": env,
                }
            )
        self.runner.__enter__()
        try:
            threads = self.runner.client.nthreads()
        except (OSError, TimeoutError) as error:
            self.runner.__exit__(None, None, None)
            raise RuntimeFailure(
                f"dask scheduler {self.scale.dask_address or 'local cluster'} did not answer: "
                + (" ".join(str(error).split()) or type(error).__name__)
            ) from None
        except BaseException:
            self.runner.__exit__(None, None, None)
            raise
        self.slots = max(1, sum(threads.values()))
        where = self.scale.dask_address or "a local cluster"
        logger.info("dask: %d worker(s), %d slot(s) on %s", len(threads), self.slots, where)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.runner is not None:
            self.runner.__exit__(*exc_info)
            self.runner = None

    def download(self, job: DownloadShard) -> ShardFuture:
        return self.runner.submit(download_shard_task, {"job": job})

    def score(self, job: ScoreShard) -> ShardFuture:
        return self.runner.submit(score_shard_task, {"job": job})


def shard_pool(scale: ScaleOut | None) -> DaskShards | None:
    """The ShardPool of a stage: None runs it in the flow's own process."""
    return DaskShards(scale) if scale is not None and scale.sharded else None
