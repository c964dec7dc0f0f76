"""The single-stage commands' stages: the library's stage functions called in this process,
with a progress bar and the stage's own lines (`ingest_here`, `score_here`), or the stage's
Prefect flow where the command asks for Dask (`ingest_flow_run`)."""

from __future__ import annotations

from pathlib import Path

from fashion_model.config import ScaleOut
from fashion_model.flows.cli.common import (
    flow_logging,
    home_text,
    print_feed,
    progress_callback,
    say,
)
from fashion_model.home import Home


def ingest_here(source, home, name, split, ingest, download, feed) -> dict:
    """The ingest stage in this process: the library's fetch and `ingest_source` (which checks
    the source whole before any download), a progress bar, the warnings, the summary."""
    from fashion_model.ingest.pipeline import ingest_source
    from fashion_model.ingest.remote import check_feed_url, feed_name, fetch_feed
    from fashion_model.urls import is_url

    paths = Home.resolve(home)
    if is_url(source):
        check_feed_url(source)
        name = name or feed_name(source)
        source_path = fetch_feed(source, paths.ensure().feeds / name, download)
        say(f"fetched {source} -> {source_path} ({source_path.stat().st_size} bytes)")
    else:
        source_path = Path(source).absolute()
    with progress_callback(f"download {source_path.name}") as progress:
        summary = ingest_source(
            source_path,
            paths.manifests / (name or source_path.stem),
            paths.images,
            config=download,
            split=split,
            strict=ingest.strict,
            progress=progress,
            retry_failed=ingest.retry_failed,
            feed=feed,
        )
    result = {**summary.as_dict(), "task_runner": ScaleOut().describe()}
    print_feed(result)
    say(summary.headline())
    for line in summary.warnings():
        say(line, style="yellow")
    return result


def ingest_flow_run(source, home, name, split, ingest, download, scale, feed) -> dict:
    from fashion_model.ingest.pipeline import check_source
    from fashion_model.ingest.remote import check_feed_url
    from fashion_model.urls import is_url

    if is_url(source):
        check_feed_url(source)  # fetched by the flow, then checked whole
    else:
        check_source(Path(source), split, ingest.strict, feed=feed)  # before Prefect starts
        source = str(Path(source).absolute())
    flow_logging(home)
    from fashion_model.flows.ingest import ingest as ingest_flow

    return ingest_flow(
        source=source,
        home=home_text(home),
        name=name,
        split=split,
        strict=ingest.strict,
        retry_failed=ingest.retry_failed,
        download=download,
        scale_out=scale,
        feed=feed,
    )


def score_here(plan) -> dict:
    """The score stage in this process, as the score flow's tasks run it: the catalog loads,
    the images, the similarity index, under the warehouse's writer lock."""
    from dataclasses import asdict

    from fashion_model.match.index import refresh_index
    from fashion_model.scaleout.shards import score_plan_images
    from fashion_model.warehouse.catalog import load_catalog
    from fashion_model.warehouse.db import connect
    from fashion_model.warehouse.lock import this_command, warehouse_lock

    with warehouse_lock(plan.db, this_command()):
        loads = []
        for manifest in plan.catalogs:
            with connect(plan.db) as con:
                loads.append(asdict(load_catalog(con, manifest, plan.as_of, plan.config.retailer)))
        with progress_callback("scoring images") as progress:
            scored = score_plan_images(plan, progress)
        with progress_callback("indexing") as progress:
            index = refresh_index(plan.db, plan.config.rescore, log=say, progress=progress)
    if index["action"] == "failed":
        say(f"similarity index not updated ({index['reason']}); searches scan exactly", "yellow")
    return {
        "catalog_loads": loads,
        **scored,
        "task_runner": ScaleOut().describe(),
        "similarity_index": index,
    }
