"""The pipeline's commands: `fashion ingest`, `score`, `nightly`, `demo`, `predict`,
`catalog synth` and `serve-images`. Each checks its input before Prefect starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import (
    DemoConfig,
    DownloadConfig,
    FeedConfig,
    FeedSpec,
    IngestConfig,
    NightlyConfig,
    ReportConfig,
    ScaleOut,
    ScoreConfig,
)
from fashion_model.demo import DEFAULT_BASE_URL
from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import (
    DbOption,
    HomeOption,
    MapOption,
    check_choice,
    configured,
    console,
    feed_config,
    flow_logging,
    home_text,
    knob,
    print_feed,
    print_summary,
    progress_bar,
    task_weights,
)
from fashion_model.flows.cli.stages import ingest_flow_run, ingest_here, score_here
from fashion_model.home import Home

DEMO = DemoConfig()
FEED_OPTIONS = ("format", "delimiter", "currency", "date_order", "retailer")  # --map: a dict
INGEST_DOWNLOAD = (
    "image_size",
    "concurrency",
    "per_host",
    "per_host_rate",
    "jpeg_quality",
    "read_timeout",
    "circuit_failures",
    "circuit_probe_after",
    "allow_private",
)


def catalog_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to create (must be empty or absent).")],
    products: Annotated[int, typer.Option("--products", help="Catalog products to draw.")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same output.")] = 0,
    base_url: Annotated[
        str,
        typer.Option("--base-url", help="Where `fashion serve-images OUT` will serve the images."),
    ] = DEFAULT_BASE_URL,
    train_images: Annotated[
        int | None,
        typer.Option("--train-images", help="Labelled train images [default 2 x products]."),
    ] = None,
    validation_images: Annotated[
        int | None,
        typer.Option(
            "--validation-images", help="Labelled validation images [default products / 2]."
        ),
    ] = None,
    feed_formats: Annotated[
        list[str] | None,
        typer.Option(
            "--feed-format",
            help="Also write the catalog as feeds, one retailer per feed, the formats in turn "
            "(repeatable): catalog, merchant-tsv, merchant-xml, shopify, shopify-legacy; "
            "feeds.yaml lists them for `fashion nightly`.",
        ),
    ] = None,
) -> None:
    """Draw a synthetic catalog: train.json, validation.json, catalog.csv, truth.csv and images
    (and with --feed-format the same catalog as Merchant / Shopify feeds)."""
    from fashion_model.demo.synth import check_arguments, synthesize_catalog

    formats = tuple(feed_formats or ())
    check_arguments(out, products, base_url, formats)
    with progress_bar() as progress:
        bar = progress.add_task("drawing images", total=None)
        summary = synthesize_catalog(
            out,
            products,
            seed,
            base_url,
            train_images,
            validation_images,
            progress=lambda done, total: progress.update(bar, completed=done, total=total),
            feed_formats=formats,
        )
    console.print(
        f"wrote {summary.train_images} train, {summary.validation_images} validation images and "
        f"{summary.products} catalog products ({summary.missing_catalog_images} dead links) "
        f"to {out}" + (f", and the feeds listed in {out}/feeds.yaml" if formats else "")
    )


def serve_images_command(
    folder: Annotated[Path, typer.Argument(help="Folder to serve (e.g. a synthetic catalog).")],
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
) -> None:
    """Serve a folder of images over HTTP on loopback only, until interrupted."""
    from fashion_model.demo.server import make_app, serve_images

    make_app(folder)  # validates the folder before binding
    console.print(f"serving {folder} at http://{host}:{port}/ (Ctrl+C to stop)")
    serve_images(folder, port, host)


@configured(ScaleOut, into="scale")
@configured(FeedConfig, *FEED_OPTIONS, into="feed", parse=False)
@configured(IngestConfig, into="ingest")
@configured(DownloadConfig, *INGEST_DOWNLOAD, into="download", parse=False)
def ingest_command(
    source: Annotated[
        str,
        typer.Argument(
            help="iMaterialist JSON, or a catalog feed (CSV/Parquet, Merchant TSV/XML, Shopify "
            "export), as a file or an http(s) URL."
        ),
    ],
    home: HomeOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Manifest name [default: the source file's stem].")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="train, validation or test [default: from the file name]."),
    ] = None,
    ignore_robots_tag: Annotated[
        bool,
        typer.Option(
            "--ignore-robots-tag",
            help="Download images whose server sends X-Robots-Tag noai/noimageai "
            "(by default they are recorded as 'disallowed').",
        ),
    ] = False,
    maps: MapOption = None,
    *,
    download: dict,
    ingest: IngestConfig,
    feed: dict,
    scale: ScaleOut,
) -> None:
    """Download a source's images into HOME/images and write its manifest to HOME/manifests/NAME.

    A rerun with the same NAME skips what is already ok and keeps recorded failures (add
    --retry-failed to try the transient ones again); an interrupted run resumes where it died."""
    feed = feed_config(feed, maps)
    download = DownloadConfig.parse(where="--", **download, honor_robots=not ignore_robots_tag)
    if scale.sharded:  # shards on Dask: prefect-dask's task runner, so a Prefect flow run
        result = ingest_flow_run(source, home, name, split, ingest, download, scale, feed)
        print_feed(result)
    else:
        result = ingest_here(source, home, name, split, ingest, download, feed)
    print_summary("ingest", result)


@configured(ScaleOut, into="scale")
@configured(ScoreConfig, into="config")
def score_command(
    home: HomeOption = None,
    manifest: Annotated[
        list[str] | None,
        typer.Option(
            "--manifest",
            help="Manifest name or path (repeatable) [default: every catalog manifest with "
            "images not yet scored by the model].",
        ),
    ] = None,
    db: DbOption = None,
    *,
    config: ScoreConfig,
    scale: ScaleOut,
) -> None:
    """Score manifest images into DuckDB (probabilities, embeddings, predictions).

    Without --manifest: every catalog manifest under the home with images the model has not
    scored yet (a second run has nothing to do)."""
    from fashion_model.score.plan import plan_score

    plan = plan_score(home, manifest, config, db)
    console.print(plan.describe(), highlight=False, soft_wrap=True)
    if plan.empty:
        return
    if scale.sharded:  # shards on Dask: prefect-dask's task runner, so a Prefect flow run
        flow_logging(home)
        from fashion_model.flows.score import score

        result = score(plan=plan, scale_out=scale)
    else:
        result = score_here(plan)
    print_summary("score", result)


@configured(ScaleOut, into="scale")
@configured(DownloadConfig, "allow_private", "per_host_rate", "image_size", into="download")
@configured(FeedConfig, *FEED_OPTIONS[:-1], into="feed", parse=False)
@configured(
    NightlyConfig,
    "name",
    "as_of",
    "stage_timeout_minutes",
    "lock_wait_minutes",
    into="night",
    parse=False,
)
def nightly_command(
    catalogs: Annotated[
        list[str],
        typer.Argument(
            help="One or more catalog feeds (files or http(s) URLs: catalog CSV/Parquet, "
            "Merchant TSV/XML, Shopify export), or one feeds YAML file listing them."
        ),
    ],
    home: HomeOption = None,
    retailer: Annotated[
        list[str] | None,
        typer.Option(
            "--retailer",
            help="Retailer of a feed without a retailer column; with several feeds, once per "
            "feed in the same order.",
        ),
    ] = None,
    maps: MapOption = None,
    report_task: str = knob(ReportConfig, "task", "--report-task"),
    *,
    night: dict,
    feed: dict,
    download: DownloadConfig,
    scale: ScaleOut,
) -> None:
    """Flow `nightly`: ingest the catalog feeds (each under its own manifest), score them into
    DuckDB, write the trend report, and publish HOME/fashion-snapshot.duckdb for readers.

    A feed that fails to download or parse fails that feed, not the night (the run is
    flagged); with one feed, the night."""
    from fashion_model.ingest.feedlist import is_feed_list
    from fashion_model.ops.nightly import plan_nightly

    retailers = retailer or []
    if len(catalogs) > 1 and any(is_feed_list(c) for c in catalogs):
        raise BadInput("a feeds YAML file is given alone: list every feed in it")
    if len(retailers) > 1 and len(retailers) != len(catalogs):
        raise BadInput(
            f"--retailer given {len(retailers)} times for {len(catalogs)} feeds: give it once, "
            "or once per feed"
        )
    feed = feed_config(feed, maps)
    one = retailers[0] if len(retailers) == 1 else None
    feeds = ()
    if len(catalogs) > 1:
        feeds = tuple(
            FeedSpec.parse(
                {
                    **feed.model_dump(),
                    "source": _absolute(source),
                    "retailer": retailers[i] if len(retailers) > 1 else one,
                },
                where="--",
            )
            for i, source in enumerate(catalogs)
        )
    config = NightlyConfig.parse(
        where="--",
        **night,
        retailer=one if len(catalogs) == 1 else None,
        feed=feed,
        feeds=feeds,
        report={"task": report_task},
    )
    catalog = _absolute(catalogs[0]) if len(catalogs) == 1 else None
    plan = plan_nightly(catalog, home_text(home), config, download, scale)  # before Prefect
    flow_logging(home)
    from fashion_model.flows.nightly import nightly

    result = nightly(plan=plan)
    for manifest, outcome in result["ingest"].items():
        console.print(f"[bold]{manifest}[/bold]", highlight=False)
        print_feed(dict(outcome))
    for manifest, message in result["failed_feeds"].items():
        console.print(f"[red]feed {manifest} failed:[/red] {message}", highlight=False)
    summary = {"chart": result["report"]["chart"], "snapshot": result["snapshot"]}
    if result["report"].get("empty"):
        summary["report"] = result["report"]["table"]
    if result["comparison"]["flagged"]:
        summary["flagged"] = "; ".join(result["comparison"]["flags"])
    print_summary("nightly", {**summary, **result["score"]})


def _absolute(source: str) -> str:
    from fashion_model.urls import is_url

    return source if is_url(source) else str(Path(source).absolute())


@configured(
    DemoConfig,
    "products",
    "seed",
    "epochs",
    "image_size",
    "train_images",
    "validation_images",
    into="demo",
    parse=False,
)
def demo_command(
    home: HomeOption = None,
    task_weight: Annotated[
        list[str] | None,
        typer.Option(
            "--task-weight",
            help="TASK=W (repeatable): that task's loss weight [default: "
            + ", ".join(f"{t}={w:g}" for t, w in DEMO.task_weights.items())
            + "].",
        ),
    ] = None,
    *,
    demo: dict,
) -> None:
    """Synthesise a catalog, serve it locally, run `retrain` and `nightly`, print the trend."""
    weights = DEMO.task_weights if task_weight is None else task_weights(task_weight)
    config = DemoConfig.parse(where="--", **demo, task_weights=weights)
    catalog = Home.resolve(home).catalog
    if catalog.exists() and not (catalog / "synth.json").is_file():
        raise BadInput(f"{catalog} exists and is not a demo catalog; use another --home")
    flow_logging(home)
    from fashion_model.flows.demo import demo as demo_flow

    result = demo_flow(home=home_text(home), config=config)
    result.pop("heading"), result.pop("table")
    print(f"\n{result.pop('tables')}\n")
    print_summary("demo", result)
    where = Home.resolve(home).root
    console.print(
        f"next: fashion serve --home {where}  (the web app and API on http://127.0.0.1:8000/)",
        highlight=False,
        soft_wrap=True,
    )


def predict_command(
    images: Annotated[list[str], typer.Argument(help="Image files or http(s) URLs.")],
    home: HomeOption = None,
    model: str = knob(ScoreConfig, "model"),
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    allow_private: bool = knob(DownloadConfig, "allow_private"),
) -> None:
    """Predicted attributes of a few images, grouped by task, with their scores."""
    from fashion_model.score.predict import predict_images

    check_choice("--format", output_format, ("table", "json"))
    version, results = predict_images(
        Home.resolve(home).models, images, model, allow_private=allow_private
    )
    if output_format == "json":
        print(
            json.dumps(
                [
                    {
                        "image": r.image,
                        "model_version": version,
                        "labels": r.labels,
                        "error": r.error,
                    }
                    for r in results
                ],
                indent=1,
            )
        )
    else:
        for result in results:
            print(f"{result.image}\n  {result.line()}")
        console.print(f"model {version}", highlight=False)
