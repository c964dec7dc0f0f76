"""The pipeline's commands: `fashion ingest`, `score`, `nightly`, `demo`, `predict`,
`catalog synth` and `serve-images`. Each checks its input before Prefect starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import DemoConfig, DownloadConfig, NightlyConfig, ScoreConfig
from fashion_model.demo.synth import DEFAULT_BASE_URL
from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import (
    DOWNLOAD,
    SCALE_OUT,
    SCORE,
    AllowPrivateOption,
    AsOfOption,
    DaskAddressOption,
    DaskWorkersOption,
    DbOption,
    HomeOption,
    PerHostRateOption,
    TaskRunnerOption,
    check_choice,
    check_writable,
    console,
    home_text,
    print_summary,
    progress_bar,
    scale_out,
)
from fashion_model.home import Home

NIGHTLY, DEMO = NightlyConfig(), DemoConfig()
VersionOption = Annotated[str, typer.Option("--model", help="Model version, or 'production'.")]


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
) -> None:
    """Draw a synthetic catalog: train.json, validation.json, catalog.csv, truth.csv and images."""
    from fashion_model.demo.synth import check_arguments, synthesize_catalog

    check_arguments(out, products, base_url)
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
        )
    console.print(
        f"wrote {summary.train_images} train, {summary.validation_images} validation images and "
        f"{summary.products} catalog products ({summary.missing_catalog_images} dead links) "
        f"to {out}"
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


def ingest_command(
    source: Annotated[Path, typer.Argument(help="iMaterialist JSON file, or catalog CSV/Parquet.")],
    home: HomeOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Manifest name [default: the source file's stem].")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="train, validation or test [default: from the file name]."),
    ] = None,
    image_size: Annotated[
        int, typer.Option("--image-size", help="Shorter side of stored images.")
    ] = DOWNLOAD.image_size,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight.")
    ] = DOWNLOAD.concurrency,
    per_host: Annotated[
        int, typer.Option("--per-host", help="Requests in flight per host.")
    ] = DOWNLOAD.per_host,
    per_host_rate: PerHostRateOption = DOWNLOAD.per_host_rate,
    jpeg_quality: Annotated[
        int, typer.Option("--jpeg-quality", help="JPEG quality of stored images (1-95).")
    ] = DOWNLOAD.jpeg_quality,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Also retry earlier retryable failures (timeouts, connection errors, 429/5xx); "
            "a rerun always skips what is ok and picks up new records.",
        ),
    ] = False,
    ignore_robots_tag: Annotated[
        bool,
        typer.Option(
            "--ignore-robots-tag",
            help="Download images whose server sends X-Robots-Tag noai/noimageai "
            "(by default they are recorded as 'disallowed').",
        ),
    ] = not DOWNLOAD.honor_robots,
    allow_private: AllowPrivateOption = DOWNLOAD.allow_private,
    strict: Annotated[
        bool, typer.Option("--strict", help="Label ids not in the label map are an error.")
    ] = False,
    task_runner: TaskRunnerOption = SCALE_OUT.task_runner,
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Download a source's images into HOME/images and write its manifest to HOME/manifests/NAME.

    A rerun with the same NAME skips what is already ok and keeps recorded failures (add
    --retry-failed to try the transient ones again); an interrupted run resumes where it died."""
    from fashion_model.ingest.pipeline import check_source

    download = DownloadConfig.parse(
        where="--", image_size=image_size, concurrency=concurrency, per_host=per_host,
        per_host_rate=per_host_rate, jpeg_quality=jpeg_quality, allow_private=allow_private,
        honor_robots=not ignore_robots_tag,
    )  # fmt: skip
    scale = scale_out(task_runner, dask_address, dask_workers)
    check_source(source, split, strict)  # bad input fails before Prefect starts
    from fashion_model.flows.ingest import ingest

    result = ingest(
        source=str(source), home=home_text(home), name=name, split=split, strict=strict,
        retry_failed=retry_failed, download=download, scale_out=scale,
    )  # fmt: skip
    print_summary("ingest", result)


def score_command(
    home: HomeOption = None,
    manifest: Annotated[
        list[str] | None,
        typer.Option("--manifest", help="Manifest name or path (repeatable) [default: catalog]."),
    ] = None,
    model: VersionOption = SCORE.model,
    db: DbOption = None,
    as_of: AsOfOption = None,
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="Retailer for a catalog without a retailer column."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = SCORE.batch_size,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Replace this model's existing scores.")
    ] = SCORE.rescore,
    task_runner: TaskRunnerOption = SCALE_OUT.task_runner,
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Score manifest images into DuckDB (probabilities, embeddings, predictions)."""
    from fashion_model.ingest.manifest import manifest_kind, resolve_manifest
    from fashion_model.model.registry import resolve_version
    from fashion_model.warehouse.catalog import check_catalog_manifest

    config = ScoreConfig.parse(
        where="--", model=model, as_of=as_of, retailer=retailer,
        batch_size=batch_size, rescore=rescore,
    )  # fmt: skip
    scale = scale_out(task_runner, dask_address, dask_workers)
    paths = Home.resolve(home, db=db)
    names = manifest or ["catalog"]
    for name in names:
        found = resolve_manifest(name, paths.manifests)
        if manifest_kind(found) == "catalog":
            check_catalog_manifest(found, retailer)
    check_writable(paths.db, paths.models, resolve_version(paths.models, model))
    from fashion_model.flows.score import score

    result = score(
        manifests=names, home=home_text(home), db=str(db) if db else None, config=config,
        scale_out=scale,
    )  # fmt: skip
    print_summary("score", result)


def nightly_command(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV or Parquet.")],
    home: HomeOption = None,
    name: Annotated[
        str, typer.Option("--name", help="Stable manifest name across nights.")
    ] = NIGHTLY.name,
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="Retailer for a catalog without a retailer column."),
    ] = None,
    as_of: AsOfOption = None,
    allow_private: AllowPrivateOption = DOWNLOAD.allow_private,
    per_host_rate: PerHostRateOption = DOWNLOAD.per_host_rate,
    stage_timeout_minutes: Annotated[
        float, typer.Option("--stage-timeout-minutes", help="Time limit of each stage.")
    ] = NIGHTLY.stage_timeout_minutes,
    lock_wait_minutes: Annotated[
        float,
        typer.Option(
            "--lock-wait-minutes", help="Wait this long for a run that is writing the database."
        ),
    ] = NIGHTLY.lock_wait_minutes,
    task_runner: TaskRunnerOption = SCALE_OUT.task_runner,
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Flow `nightly`: ingest a catalog, score it into DuckDB, write the trend report, and
    publish HOME/fashion-snapshot.duckdb for readers."""
    from fashion_model.ingest.pipeline import check_catalog
    from fashion_model.model.registry import resolve_version

    config = NightlyConfig.parse(
        where="--", name=name, retailer=retailer, as_of=as_of,
        stage_timeout_minutes=stage_timeout_minutes, lock_wait_minutes=lock_wait_minutes,
    )  # fmt: skip
    download = DownloadConfig.parse(
        where="--", allow_private=allow_private, per_host_rate=per_host_rate
    )
    scale = scale_out(task_runner, dask_address, dask_workers)
    check_catalog(catalog, retailer)
    paths = Home.resolve(home)
    check_writable(paths.db, paths.models, resolve_version(paths.models, config.model))
    from fashion_model.flows.nightly import nightly

    result = nightly(
        catalog=str(catalog), home=home_text(home), config=config, download=download,
        scale_out=scale,
    )  # fmt: skip
    summary = {"chart": result["report"]["chart"], "snapshot": result["snapshot"]}
    print_summary("nightly", {**summary, **result["score"]})


def demo_command(
    home: HomeOption = None,
    products: Annotated[
        int, typer.Option("--products", help="Catalog products to draw.")
    ] = DEMO.products,
    seed: Annotated[int, typer.Option("--seed")] = DEMO.seed,
    epochs: Annotated[int, typer.Option("--epochs")] = DEMO.epochs,
    image_size: Annotated[int, typer.Option("--image-size")] = DEMO.image_size,
    train_images: Annotated[
        int, typer.Option("--train-images", help="Labelled training photos.")
    ] = DEMO.train_images,
    validation_images: Annotated[
        int, typer.Option("--validation-images", help="Labelled validation photos.")
    ] = DEMO.validation_images,
) -> None:
    """Synthesise a catalog, serve it locally, run `retrain` and `nightly`, print the trend."""
    config = DemoConfig.parse(
        where="--", products=products, seed=seed, epochs=epochs, image_size=image_size,
        train_images=train_images, validation_images=validation_images,
    )  # fmt: skip
    catalog = Home.resolve(home).catalog
    if catalog.exists() and not (catalog / "synth.json").is_file():
        raise BadInput(f"{catalog} exists and is not a demo catalog; use another --home")
    from fashion_model.flows.demo import demo

    result = demo(home=home_text(home), config=config)
    print(f"\n{result.pop('heading')}:\n{result.pop('table')}\n")
    print_summary("demo", result)


def predict_command(
    images: Annotated[list[str], typer.Argument(help="Image files or http(s) URLs.")],
    home: HomeOption = None,
    model: VersionOption = SCORE.model,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow URLs on loopback/private hosts.")
    ] = False,
) -> None:
    """Predicted attributes of a few images, grouped by task, with their scores."""
    from fashion_model.score.predict import predict_images

    check_choice("--format", output_format, ("table", "json"))
    version, results = predict_images(
        Home.resolve(home).models, images, model, allow_private=allow_private
    )
    if output_format == "json":
        print(json.dumps([{"image": r.image, "model_version": version, "labels": r.labels,
                           "error": r.error} for r in results], indent=1))  # fmt: skip
    else:
        for result in results:
            print(f"{result.image}\n  {result.line()}")
        console.print(f"model {version}", highlight=False)
