"""The nightly run's one edge: its raw parameters (CLI options, a deployment's mappings, a
Python call) become one checked `NightlyPlan`, before any work. The nightly flow takes the plan
and checks nothing again; the CLI makes it before Prefect starts, a deployment's run first thing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from fashion_model.config import DownloadConfig, FeedConfig, FeedSpec, NightlyConfig, ScaleOut
from fashion_model.home import Home
from fashion_model.ingest.feedlist import check_feed_location, plan_feeds
from fashion_model.ingest.pipeline import check_catalog
from fashion_model.labels import load_label_map
from fashion_model.model.registry import resolve_version
from fashion_model.urls import is_url
from fashion_model.warehouse.db import check_writable


class NightlyPlan(BaseModel):
    """What a nightly run does, decided once: the feeds with their manifest names, the options
    of each stage, the model version and the run's date."""

    model_config = ConfigDict(frozen=True)

    home: str | None
    feeds: tuple[FeedSpec, ...]
    config: NightlyConfig
    download: DownloadConfig
    scale_out: ScaleOut
    model_version: str
    as_of: date

    def feed_config(self, spec: FeedSpec) -> FeedConfig:
        """How the ingest stage reads one feed."""
        return FeedConfig.parse(spec.model_dump(exclude={"source", "name"}))


def plan_nightly(
    catalog: str | None,
    home: str | None,
    config: NightlyConfig | dict[str, Any] | None = None,
    download: DownloadConfig | dict[str, Any] | None = None,
    scale_out: ScaleOut | dict[str, Any] | None = None,
) -> NightlyPlan:
    """Every check a night can fail before its work: the parameters, the feeds (a feeds file is
    read, names given, files found, URLs well formed), a single local feed read whole (its
    values and retailers), the model version, and a warehouse free for writing (unless the run
    is told to wait for the writer). Bad input is one line naming it."""
    config = NightlyConfig.parse(config, where="parameter config")
    download = DownloadConfig.parse(download, where="parameter download")
    scale_out = ScaleOut.parse(scale_out, where="parameter scale_out")
    feeds = plan_feeds(catalog, config)
    for spec in feeds:
        check_feed_location(spec)
    if len(feeds) == 1 and not is_url(feeds[0].source):
        check_catalog(Path(feeds[0].source), config.retailer, feeds[0])
    paths = Home.resolve(home)
    version = resolve_version(paths.models, config.model)
    if not config.lock_wait_minutes:
        check_writable(paths.db, load_label_map(paths.models / version / "label_map.csv"))
    return NightlyPlan(
        home=home,
        feeds=tuple(feeds),
        config=config,
        download=download,
        scale_out=scale_out,
        model_version=version,
        as_of=config.as_of or date.today(),
    )
