"""Flow `demo`: synthesise a catalog, serve it on loopback, retrain, run nightly, show the trend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from fashion_model.analytics.reports import (
    run_report,
    share_error_vs_truth,
    share_table,
    truth_micro_f1,
)
from fashion_model.config import (
    DemoConfig,
    DownloadConfig,
    NightlyConfig,
    OptimizeConfig,
    ReportConfig,
    TrainConfig,
)
from fashion_model.demo.server import free_port, running_image_server
from fashion_model.demo.synth import PLANTED_TRENDS
from fashion_model.errors import BadInput
from fashion_model.flows.nightly import nightly
from fashion_model.flows.retrain import retrain
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.model.optimize import plan_optimize
from fashion_model.sqlfiles import named
from fashion_model.tasks.catalog import synthesize_catalog_images
from fashion_model.tasks.common import publish_summary
from fashion_model.tasks.similar import find_competitor_equivalents, similar_products_sheet
from fashion_model.tasks.tracking import flow
from fashion_model.tasks.train import optimize_model_version, promote_model_version
from fashion_model.warehouse.db import connect

TREND = PLANTED_TRENDS[0]  # the trend the demo shows: a retailer's share of red rising
PATTERN_TREND = PLANTED_TRENDS[1]  # shown too when the model recovers patterns: stripes rising
RECOVERED_POINTS = 5.0  # a task's mean share error (points) at most this: its trend is shown
# One retailer per feed format, as real catalogs come: Merchant TSV, Shopify, the plain CSV.
DEMO_FEEDS = ("merchant-tsv", "shopify", "catalog")


def _reusable(catalog: Path, wanted: dict) -> str | None:
    """The base URL of an earlier demo catalog drawn with the same options, if its port is free."""
    info = catalog / "synth.json"
    if not info.is_file():
        return None
    summary = json.loads(info.read_text(encoding="utf-8"))
    if any(value is not None and summary.get(key) != value for key, value in wanted.items()):
        return None
    base_url = summary["base_url"]
    try:
        free = free_port("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
    except (OSError, ValueError):
        return None
    return base_url if free else None


def _true_share(catalog: Path, truth: pd.DataFrame, trend=TREND) -> pd.Series:
    """The planted label's true share (%) of the trend retailer's new products, per month."""
    products = pd.read_csv(catalog / "catalog.csv", dtype={"product_id": str})
    products = products[products["retailer"] == trend.retailer]
    label_id = default_label_map().label_id(trend.task, trend.label)
    carriers = set(truth.loc[truth["label_id"] == label_id, "product_id"])
    month = products["first_seen"].str[:7]
    return (products["product_id"].isin(carriers).groupby(month).mean() * 100).round(1)


def _top_trend(trending: pd.DataFrame, column: str = "attribute") -> str:
    if trending.empty:
        return "none"
    top = trending.iloc[0]
    return (
        f"{top[column]} {top.prior_share_pct:.0f}% -> {top.recent_share_pct:.0f}% "
        f"(z {top.z_score:+.1f}, last 6 months against the 6 before)"
    )


@flow(name="demo", validate_parameters=False)
def demo(home: str | None = None, config: DemoConfig = DemoConfig()) -> dict:
    """Synthesise a catalog, serve it on loopback, retrain, run nightly, show the trend."""
    config = DemoConfig.parse(config, where="parameter config")
    paths = Home.resolve(home).ensure()
    catalog = paths.catalog
    wanted = {
        "products": config.products,
        "seed": config.seed,
        "train_images": config.train_images,
        "validation_images": config.validation_images,
        "feed_formats": list(DEMO_FEEDS),
    }
    base_url = _reusable(catalog, wanted)
    if base_url is None:
        if catalog.exists():
            if not (catalog / "synth.json").is_file():
                raise BadInput(f"{catalog} exists and is not a demo catalog; use another --home")
            shutil.rmtree(catalog)  # the demo's own data, drawn afresh for a new port or size
        base_url = f"http://127.0.0.1:{free_port()}"
        synthesize_catalog_images(
            out=catalog, base_url=base_url, **{**wanted, "feed_formats": DEMO_FEEDS}
        )
    port = int(base_url.rsplit(":", 1)[1])
    # The images are served from loopback by our own server: no need to spare it.
    local = DownloadConfig(allow_private=True, per_host_rate=0)

    with running_image_server(catalog, port=port):
        trained = retrain(
            train_file=str(catalog / "train.json"),
            validation_file=str(catalog / "validation.json"),
            home=str(paths.root),
            download=local,
            train=TrainConfig(
                epochs=config.epochs,
                image_size=config.image_size,
                task_weights=config.task_weights,
            ),
        )
        # The demo's home is its own: the model it just trained is the one to show.
        promote_model_version(
            models_root=paths.models, version=trained["model_version"], db=paths.db
        )
        # Most teams score on CPUs: the int8 variant is what `--runtime auto` takes there.
        optimize_model_version(
            plan=plan_optimize(paths.root, trained["model_version"], OptimizeConfig(int8=True))
        )
        nightly_result = nightly(
            catalog=str(catalog / "feeds.yaml"),
            home=str(paths.root),
            config=NightlyConfig(report=ReportConfig(task=TREND.task, retailer=TREND.retailer)),
            download=local,
        )

    trend_label = default_label_map().label_id(TREND.task, TREND.label)
    sheet = similar_products_sheet(
        db=paths.db,
        images_root=paths.images,
        reports_dir=paths.reports,
        retailer=TREND.retailer,
        label_id=trend_label,
    )
    rival = next(r for r in ("Southbay", "Eastpeak") if r != TREND.retailer)
    equivalents = find_competitor_equivalents(
        db=paths.db, from_retailer=TREND.retailer, to_retailer=rival, same=("category",)
    )
    with connect(paths.db, read_only=True) as con:
        shares = run_report(
            con, "attribute_share", {"task": TREND.task, "retailer": TREND.retailer}
        )
        predicted = run_report(con, "predicted_labels", {"retailer": None})
        scored = con.execute(named("warehouse/statements.sql", "scored_products")).df()
        trending = run_report(
            con,
            "trending_attributes",
            {"task": TREND.task, "retailer": TREND.retailer, "window": "6"},
        )
        shades = run_report(con, "shade_trend", {"retailer": TREND.retailer, "window": "6"})
        pattern_shares = run_report(
            con, "attribute_share", {"task": PATTERN_TREND.task, "retailer": PATTERN_TREND.retailer}
        )
    truth = pd.read_csv(catalog / "truth.csv", dtype={"product_id": str})
    table = share_table(shares)
    table[f"{TREND.label} (truth)"] = _true_share(catalog, truth).reindex(table.index)
    label_tasks = {label.label_id: label.task for label in default_label_map().labels}
    share_errors = share_error_vs_truth(predicted, scored, truth, label_tasks)
    summary = {
        "home": str(paths.root),
        "model_version": trained["model_version"],
        "val_micro_f1": trained["val_micro_f1"],
        "catalog_micro_f1_vs_truth": round(truth_micro_f1(predicted, truth), 4),
        "share_error_points_mean": round(float(share_errors["mean"].mean()), 2),
        "share_error_points_by_task": share_errors["mean"].to_dict(),
        "top_trend": _top_trend(trending),
        "top_measured_shade": _top_trend(shades, "shade"),
        "scored_images": nightly_result["score"]["scored"],
        "scored_by": nightly_result["score"].get("runtime"),
        "feeds": {
            name: f"{result['feed']['format']}, {result['feed']['products']} products"
            for name, result in nightly_result["ingest"].items()
        },
        "chart": nightly_result["report"]["chart"],
        "contact_sheet": sheet["sheet"],
        "equivalents": f"{equivalents['rows']} {TREND.retailer} products matched to {rival} "
        f"(same category, mean similarity {equivalents['mean_similarity']}, "
        f"{equivalents['seconds']:.1f} s)",
        "database": str(paths.db),
    }
    heading = (
        f"{TREND.task.title()} share of {TREND.retailer}'s new products by month (%), "
        f"predicted by model {trained['model_version']} (planted: {TREND.label} "
        f"{TREND.share_first_month:.0%} -> {TREND.share_last_month:.0%})"
    )
    pattern_error = float(share_errors["mean"].get(PATTERN_TREND.task, float("nan")))
    tables = [(heading, table)]
    pattern_heading = (
        f"{PATTERN_TREND.task.title()} share of {PATTERN_TREND.retailer}'s new products by month "
        f"(%) (planted: {PATTERN_TREND.label} {PATTERN_TREND.share_first_month:.0%} -> "
        f"{PATTERN_TREND.share_last_month:.0%})"
    )
    if pattern_error <= RECOVERED_POINTS and not pattern_shares.empty:
        patterns = share_table(pattern_shares)
        patterns[f"{PATTERN_TREND.label} (truth)"] = _true_share(
            catalog, truth, PATTERN_TREND
        ).reindex(patterns.index)
        tables.append((pattern_heading, patterns))
        summary["pattern_trend"] = f"recovered (share error {pattern_error:.1f} points)"
    else:
        summary["pattern_trend"] = (
            f"not recovered: pattern share error {pattern_error:.1f} points (shown at "
            f"{RECOVERED_POINTS:.0f} or less); a model trained longer or at a larger size sees it"
        )
    publish_summary("demo", summary, heading)
    text = "\n\n".join(f"{title}:\n{frame.to_string()}" for title, frame in tables)
    return {**summary, "heading": heading, "table": table.to_string(), "tables": text}
