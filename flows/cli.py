"""The `fashion` command line: validates inputs up front, then runs the library or a flow."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from fashion_model.errors import FashionError
from fashion_model.home import Home
from fashion_model.synth import DEFAULT_BASE_URL

# Prefect is imported lazily, by the commands that run flows. Its ephemeral API needs ~20 s to
# start on 2 busy cores, which is Prefect's default limit: allow more.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network beyond loopback

app = typer.Typer(
    help="Predict fashion attributes from product images and answer trend questions in SQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts say "[default all]": square brackets are not markup
)
catalog_app = typer.Typer(
    help="Synthetic catalogs: the embedded default data.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")
model_app = typer.Typer(
    help="The model registry: list and show versions, promote one, export one as ONNX.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")
console = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Home folder for everything a run makes [env FASHION_HOME; default ./fashion-home].",
    ),
]
DbOption = Annotated[
    Path | None, typer.Option("--db", help="DuckDB file [default HOME/fashion.duckdb].")
]
TaskOption = Annotated[
    str, typer.Option("--task", help="Label task: pattern, color, category, ...")
]
WeightsOption = Annotated[
    str,
    typer.Option(
        "--weights",
        help="Initial weights: imagenet (torchvision's file in $TORCH_HOME/hub/checkpoints, "
        "never downloaded), none (from scratch) or a weights file [default auto: imagenet when "
        "the file is there, else none].",
    ),
]
TaskRunnerOption = Annotated[
    str,
    typer.Option(
        "--task-runner",
        help="default (this process) or dask: download and score in shards on a Dask cluster.",
    ),
]
DaskAddressOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="Dask scheduler, e.g. tcp://scheduler:8786 [env FASHION_DASK_ADDRESS; default a "
        "local cluster].",
    ),
]
DaskWorkersOption = Annotated[
    int | None,
    typer.Option("--dask-workers", help="Worker processes of the local cluster [default cores]."),
]
RetailerOption = Annotated[
    str | None, typer.Option("--retailer", help="One retailer [default all].")
]


def _home(home: Path | None) -> str | None:
    return str(home) if home else None


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise FashionError(f"--as-of {value!r} is not a date like 2026-11-27") from None


@catalog_app.command("synth")
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
    from fashion_model.synth import check_arguments, synthesize_catalog

    check_arguments(out, products, base_url)
    with _progress() as progress:
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


@model_app.command("list")
def model_list(home: HomeOption = None) -> None:
    """The registered model versions, newest last; * marks production."""
    from fashion_model.registry import list_versions, load_card, production_version

    models = Home.resolve(home).models
    current = production_version(models)
    versions = list_versions(models)
    if not versions:
        raise FashionError(f"no models in {models}; run `fashion train` first")
    for version in versions:
        card = load_card(models, version)
        f1 = card.metrics.get("val_micro_f1")
        print(
            f"{'*' if version == current else ' '} {version}  {card.arch} {card.image_size}px  "
            f"val micro-F1 {f1 if f1 is not None else 'n/a'}  created {card.created_at[:19]}"
        )


@model_app.command("show")
def model_show(
    version: Annotated[str, typer.Argument(help="The model version, or 'production'.")],
    home: HomeOption = None,
) -> None:
    """A version's card: metrics (micro-F1 at 0.5, global and per-label thresholds, per task),
    thresholds, training data and configuration."""
    import json

    from fashion_model.registry import load_card, production_version, resolve_version

    models = Home.resolve(home).models
    version = resolve_version(models, version)
    card = load_card(models, version)
    metrics = dict(card.metrics)
    by_task = metrics.pop("val_micro_f1_by_task", {})
    print(f"{version}{'  (production)' if version == production_version(models) else ''}")
    print(f"  {card.arch} {card.image_size}px, created {card.created_at}, code {card.code_version}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")
    for task, value in by_task.items():
        print(f"  val_micro_f1[{task}]: {value}")
    thresholds = card.label_thresholds()
    print(f"  thresholds: global {card.threshold}, per label {thresholds.min():.2f}-"
          f"{thresholds.max():.2f} over {len(thresholds)} labels")  # fmt: skip
    print(f"  training manifests sha256: {card.manifest_hash}")
    print(f"  config: {json.dumps(card.config)}")


@model_app.command("promote")
def model_promote(
    version: Annotated[str, typer.Argument(help="The model version to make production.")],
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Make a version the production model; say how many images it has yet to score."""
    from fashion_model.score import promote

    paths = Home.resolve(home, db=db)
    result = promote(paths.models, version, paths.db)
    todo = result["images_to_score"]
    if todo is not None:
        console.print(
            f"{todo} warehouse image(s) not yet scored by {version}: the next `fashion score` "
            "or nightly run scores them",
            highlight=False,
        )
    _print_summary("promote", result)


@model_app.command("export-onnx")
def model_export_onnx(
    version: Annotated[str, typer.Argument(help="The model version, or 'production'.")],
    home: HomeOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="ONNX file [default HOME/models/VERSION/model.onnx]."),
    ] = None,
) -> None:
    """Export a version as ONNX (dynamic batch; probabilities and embeddings), checked against
    PyTorch with onnxruntime."""
    from fashion_model.onnx_export import export_onnx

    _print_summary("export-onnx", export_onnx(Home.resolve(home).models, version, out))


@app.command("serve-images")
def serve_images_command(
    folder: Annotated[Path, typer.Argument(help="Folder to serve (e.g. a synthetic catalog).")],
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
) -> None:
    """Serve a folder of images over HTTP on loopback only, until interrupted."""
    from fashion_model.server import make_app, serve_images

    make_app(folder)  # validates the folder before binding
    console.print(f"serving {folder} at http://{host}:{port}/ (Ctrl+C to stop)")
    serve_images(folder, port, host)


@app.command("ingest")
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
    ] = 256,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Requests in flight.")] = 64,
    per_host: Annotated[int, typer.Option("--per-host", help="Requests in flight per host.")] = 16,
    per_host_rate: Annotated[
        float,
        typer.Option("--per-host-rate", help="Requests per second to one host (0: no limit)."),
    ] = 50.0,
    jpeg_quality: Annotated[
        int, typer.Option("--jpeg-quality", help="JPEG quality of stored images (1-95).")
    ] = 90,
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
    ] = False,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow loopback/private hosts (local servers).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Label ids not in the label map are an error.")
    ] = False,
    task_runner: TaskRunnerOption = "default",
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Download a source's images into HOME/images and write its manifest to HOME/manifests/NAME.

    A rerun with the same NAME skips what is already ok and keeps recorded failures (add
    --retry-failed to try the transient ones again); an interrupted run resumes where it died."""
    from fashion_model.labels import default_label_map
    from fashion_model.sources import open_source

    _check_positive(
        image_size=image_size, concurrency=concurrency, per_host=per_host, jpeg_quality=jpeg_quality
    )
    if jpeg_quality > 95:
        raise FashionError(f"--jpeg-quality {jpeg_quality}: use 1 to 95")
    if per_host_rate < 0:
        raise FashionError(f"--per-host-rate {per_host_rate}: must be 0 (no limit) or more")
    opened = open_source(source, default_label_map(), split)  # bad input fails before Prefect
    if strict and opened.unknown_label_count:
        raise FashionError(
            f"{source}: {opened.unknown_label_count} label id(s) are not in the label map "
            "(--strict)"
        )
    from flows.ingest import ingest

    result = ingest(
        str(source),
        _home(home),
        name,
        split,
        image_size,
        concurrency,
        per_host,
        allow_private,
        strict,
        retry_failed=retry_failed,
        per_host_rate=per_host_rate,
        jpeg_quality=jpeg_quality,
        honor_robots=not ignore_robots_tag,
        **_scale_out(task_runner, dask_address, dask_workers),
    )
    _print_summary("ingest", result)


@app.command("train")
def train_command(
    home: HomeOption = None,
    manifest: Annotated[
        list[str] | None,
        typer.Option(
            "--manifest", help="Manifest name or path (repeatable) [default: train and validation]."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs")] = 6,
    image_size: Annotated[
        int, typer.Option("--image-size", help="Training image size in pixels.")
    ] = 64,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    max_steps: Annotated[
        int, typer.Option("--max-steps", help="Stop after N optimiser steps (-1: epochs decide).")
    ] = -1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    weights: WeightsOption = "auto",
    force: Annotated[
        bool,
        typer.Option("--force", help="Make it production even if it validates worse."),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the interrupted run of the same data and options."),
    ] = False,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            "--max-minutes", help="Stop training after M minutes, then tune and register."
        ),
    ] = None,
    devices: Annotated[
        str,
        typer.Option("--devices", help="Devices to train on: N (DDP when above 1) or auto."),
    ] = "auto",
    compile_net: Annotated[
        bool, typer.Option("--compile", help="torch.compile the network (long GPU runs).")
    ] = False,
) -> None:
    """Train ResNet34 on labelled manifests; the new version lands in HOME/models and becomes
    production when it validates at least as well as the current one on the same images."""
    from fashion_model.manifest import resolve_manifest
    from fashion_model.train import TrainConfig

    paths = Home.resolve(home)
    names = manifest or [n for n in ("train", "validation") if (paths.manifests / n).is_dir()]
    if not names:
        raise FashionError(
            f"no manifests named train or validation in {paths.manifests}; pass --manifest"
        )
    for name in names:
        resolve_manifest(name, paths.manifests)
    if devices != "auto" and not (devices.isdigit() and int(devices) >= 1):
        raise FashionError(f"--devices {devices!r} is not a positive number or auto")
    if max_minutes is not None and max_minutes <= 0:
        raise FashionError("--max-minutes must be above 0")
    TrainConfig(
        epochs=epochs, image_size=image_size, batch_size=batch_size, weights=weights
    ).validate()
    from flows.train import train

    result = train(
        names, _home(home), epochs, image_size, batch_size, max_steps, seed, weights, force,
        resume, max_minutes, devices if devices == "auto" else int(devices), compile_net,
    )  # fmt: skip
    _print_summary("train", result)


@app.command("score")
def score_command(
    home: HomeOption = None,
    manifest: Annotated[
        list[str] | None,
        typer.Option("--manifest", help="Manifest name or path (repeatable) [default: catalog]."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model version, or 'production'.")
    ] = "production",
    db: DbOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The run's date, YYYY-MM-DD [default today].")
    ] = None,
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="Retailer for a catalog without a retailer column."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Replace this model's existing scores.")
    ] = False,
    task_runner: TaskRunnerOption = "default",
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Score manifest images into DuckDB (probabilities, embeddings, predictions)."""
    from fashion_model.manifest import manifest_kind, manifest_schema, resolve_manifest
    from fashion_model.registry import resolve_version

    paths = Home.resolve(home, db=db)
    names = manifest or ["catalog"]
    for name in names:
        manifest = resolve_manifest(name, paths.manifests)
        catalog_without_retailer = "retailer" not in manifest_schema(manifest).names
        if manifest_kind(manifest) == "catalog" and catalog_without_retailer and not retailer:
            raise FashionError(f"{manifest}: catalog has no retailer column; pass --retailer NAME")
    version = resolve_version(paths.models, model)
    _check_positive(batch_size=batch_size)
    day = _as_of(as_of)
    _check_writable(paths.db, paths.models / version / "label_map.csv")
    from flows.score import score

    _print_summary(
        "score",
        score(
            names,
            _home(home),
            str(db) if db else None,
            model,
            day,
            retailer,
            batch_size,
            rescore,
            **_scale_out(task_runner, dask_address, dask_workers),
        ),
    )


@app.command("predict")
def predict_command(
    images: Annotated[list[str], typer.Argument(help="Image files or http(s) URLs.")],
    home: HomeOption = None,
    model: Annotated[
        str, typer.Option("--model", help="Model version, or 'production'.")
    ] = "production",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow URLs on loopback/private hosts.")
    ] = False,
) -> None:
    """Predicted attributes of a few images, grouped by task, with their scores."""
    import json

    from fashion_model.predict import predict_images

    if output_format not in ("table", "json"):
        raise FashionError(f"--format {output_format!r} is not one of table, json")
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


@app.command("report")
def report_command(
    home: HomeOption = None,
    db: DbOption = None,
    task: TaskOption = "pattern",
    retailer: RetailerOption = None,
) -> None:
    """Write the attribute-share report (CSV) and trend chart (PNG) to HOME/reports."""
    from fashion_model.labels import default_label_map

    default_label_map().task_labels(task)
    paths = Home.resolve(home, db=db)
    if not paths.db.is_file():
        raise FashionError(f"{paths.db}: database not found; run `fashion score` first")
    from flows.report import report

    result = report(_home(home), str(db) if db else None, task, retailer)
    print(result.pop("table"))
    _print_summary("report", result)


@app.command("sql")
def sql_command(
    query: Annotated[
        str | None, typer.Argument(help="A shipped query name (see --list) or a .sql file.")
    ] = None,
    list_queries: Annotated[
        bool, typer.Option("--list", help="List the shipped queries and their parameters.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE (repeatable).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet.")
    ] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Run a shipped SQL query (or your own .sql file) read-only against the warehouse."""
    from fashion_model.report import (
        REPORTS_DIR,
        describe_report,
        list_reports,
        prepare_report,
        report_path,
        run_report,
        write_frame,
    )

    if list_queries:
        for name, declared in list_reports().items():
            print(f"{name}: {describe_report(report_path(name))}")
            for key, (default, help_text) in declared.items():
                print(f"    --param {key}=...  [default: {default or 'NULL'}]  {help_text}")
        return
    if query is None:
        raise FashionError("name a query (see `fashion sql --list`) or a .sql file")
    if output_format not in ("table", "csv", "json", "parquet"):
        raise FashionError(f"--format {output_format!r} is not one of table, csv, json, parquet")
    if output_format == "parquet" and out is None:
        raise FashionError("--format parquet needs --out FILE")
    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FashionError(f"--param {item!r} is not NAME=VALUE")
        params[key.strip()] = None if value == "NULL" else value
    prepare_report(query, params)  # unknown names and bad values fail before the database opens
    shipped = report_path(query).parent == REPORTS_DIR
    with _open_warehouse(home, db, need_products=shipped) as con:
        frame = run_report(con, query, params)
    if out is not None:
        write_frame(frame, out, output_format)
        console.print(f"{len(frame)} row(s) written to {out}")
    elif output_format == "table":
        print(frame.to_string(index=False) if len(frame) else "(no rows)")
    elif output_format == "csv":
        print(frame.to_csv(index=False), end="")
    else:
        print(frame.to_json(orient="records", date_format="iso", indent=1))


@app.command("trends")
def trends_command(
    task: TaskOption = "pattern",
    retailer: RetailerOption = None,
    brand: Annotated[str | None, typer.Option("--brand", help="One brand [default all].")] = None,
    by: Annotated[str, typer.Option("--by", help="Period: month or week.")] = "month",
    basis: Annotated[
        str,
        typer.Option(
            "--basis", help="first_seen (new arrivals) or observed_on (what was on offer)."
        ),
    ] = "first_seen",
    home: HomeOption = None,
    db: DbOption = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the trend chart to this PNG file.")
    ] = None,
) -> None:
    """Share of each attribute of a task over time, as a table and (--plot) a line chart."""
    from fashion_model.report import plot_shares, prepare_report, run_report, share_table

    params = {"task": task, "by": by, "basis": basis, "retailer": retailer, "brand": brand}
    prepare_report("attribute_share", params)
    with _open_warehouse(home, db, need_products=True) as con:
        shares = run_report(con, "attribute_share", params)
    if shares.empty:
        raise FashionError(
            f"no scored products match task={task} retailer={retailer} brand={brand}"
        )
    print(share_table(shares, by).to_string())
    if plot is not None:
        scope = " / ".join(filter(None, (retailer, brand))) or "all retailers"
        basis_text = "new products" if basis == "first_seen" else "products on offer"
        title = f"{task.title()} share of {basis_text} by {by}: {scope}"
        console.print(f"chart written to {plot_shares(shares, title, plot)}")


SameOption = Annotated[
    list[str] | None,
    typer.Option("--same", help="Only products sharing a predicted label of this task with the "
                 "query (repeatable, e.g. --same category --same color)."),
]  # fmt: skip
ModelOption = Annotated[
    str,
    typer.Option("--model", help="Whose embeddings to compare: 'production' or a version."),
]


@app.command("similar")
def similar_command(
    image: Annotated[
        str | None, typer.Option("--image", help="Query photo: an image file or http(s) URL.")
    ] = None,
    product_id: Annotated[
        str | None, typer.Option("--product-id", help="Query product: its stored image.")
    ] = None,
    retailer: Annotated[
        str | None,
        typer.Option("--retailer", help="The query product's retailer (when several use its id)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many products to return.")] = 10,
    in_retailer: Annotated[
        str | None, typer.Option("--in-retailer", help="Only products of this retailer.")
    ] = None,
    same: SameOption = None,
    model: ModelOption = "production",
    home: HomeOption = None,
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write a contact sheet PNG of query and matches.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    allow_private: Annotated[
        bool,
        typer.Option("--allow-private", help="Allow an --image URL on a loopback/private host."),
    ] = False,
) -> None:
    """The products that look most like a photo or a stored product (cosine similarity of the
    512-d embeddings), optionally within one retailer or sharing predicted attributes."""
    import json
    import tempfile

    from fashion_model.contact_sheet import similar_sheet
    from fashion_model.similar import check_k, product_query, resolve_model, search_similar

    if (image is None) == (product_id is None):
        raise FashionError("name the query with exactly one of --image or --product-id")
    if retailer is not None and product_id is None:
        raise FashionError(
            "--retailer names the query product's retailer; use it with --product-id"
        )
    if output_format not in ("table", "json"):
        raise FashionError(f"--format {output_format!r} is not one of table, json")
    check_k(k)
    paths = Home.resolve(home, db=db)
    with (
        _open_warehouse(home, db, need_products=True) as con,
        tempfile.TemporaryDirectory(prefix="fashion-similar-") as scratch,
    ):
        version = resolve_model(con, model)
        if product_id is not None:
            query = product_query(con, version, product_id, retailer)
        else:
            query = _image_query(con, paths.models, image, version, allow_private, Path(scratch))
        result = search_similar(con, paths.db, query, version, k, in_retailer, same or [])
        if out is not None:
            similar_sheet(query, result, paths.images, out)
    frame = result.frame
    if output_format == "json":
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        print(json.dumps({"query": query.description, "model_version": version,
                          "method": result.method, "results": records}, indent=1))  # fmt: skip
    elif frame.empty:
        print("(no products match)")
    else:
        shown = ["rank", "similarity", "retailer", "product_id", "brand", "title", "price",
                 "currency"]  # fmt: skip
        print(frame[shown].to_string(index=False))
    console.print(
        f"{query.description}: {len(frame)} product(s), model {version}, {result.note}, "
        f"{result.seconds * 1000:.0f} ms",
        highlight=False,
        soft_wrap=True,
    )
    if out is not None:
        console.print(f"contact sheet written to {out}", highlight=False)


def _image_query(con, models_root: Path, image: str, version: str, allow_private, scratch):
    """Embed a photo the way scoring would (stored at 256 px, the model's eval preset)."""
    from fashion_model.predict import predict_images
    from fashion_model.similar import Query

    _, (prediction,) = predict_images(
        models_root, [image], version, allow_private=allow_private, scratch=scratch
    )
    if prediction.error:
        raise FashionError(f"--image {image}: {prediction.error}")
    tasks = dict(con.execute("SELECT label_id, task FROM labels").fetchall())
    labels: dict[str, set[int]] = {}
    for label_id in prediction.label_ids:
        labels.setdefault(tasks.get(label_id, "?"), set()).add(label_id)
    return Query(prediction.embedding, f"image {image}", prediction.stored_path, labels)


@app.command("equivalents")
def equivalents_command(
    from_retailer: Annotated[str, typer.Option("--from", help="Retailer whose products to match.")],
    to_retailer: Annotated[str, typer.Option("--to", help="Retailer to find equivalents in.")],
    same: SameOption = None,
    top: Annotated[int, typer.Option("--top", help="Equivalents kept per product.")] = 1,
    model: ModelOption = "production",
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """For every product of one retailer, its nearest products of another (by image), written
    to the table `equivalents` (replacing that pair's previous result) for SQL."""
    from fashion_model.db import connect
    from fashion_model.report import check_warehouse
    from fashion_model.similar import check_k, find_equivalents, resolve_model

    check_k(top, "--top")
    paths = Home.resolve(home, db=db)
    if not paths.db.is_file():
        raise FashionError(f"{paths.db}: database not found; run `fashion score` first")
    with connect(paths.db) as con, _progress() as bar:
        check_warehouse(con, str(paths.db), need_products=True)
        version = resolve_model(con, model)
        job = bar.add_task(f"{from_retailer} -> {to_retailer}", total=None)
        result = find_equivalents(
            con, paths.db, from_retailer, to_retailer, version, same or [], top,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )  # fmt: skip
    _print_summary("equivalents", result.as_dict())
    console.print(
        f"query them: fashion sql equivalent_price_gaps --param from_retailer={from_retailer} "
        f"--param to_retailer={to_retailer}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("gc")
def gc_command(
    home: HomeOption = None,
    keep_models: Annotated[
        int,
        typer.Option(
            "--keep-models",
            help="Keep the results of the N newest registered versions (production always).",
        ),
    ] = 2,
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove what the dry run lists (default: only list).")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="List up to N paths of each kind.")] = 10,
) -> None:
    """List (dry run) or remove garbage: images no manifest or product refers to, results of
    model versions that are neither production nor among the newest N, the journals and shard
    folders that interrupted runs left, and the half-written image files of killed downloads.
    Never anything the production model's results
    need."""
    from fashion_model import gc
    from fashion_model.db import connect
    from fashion_model.ops import warehouse_lock

    if keep_models < 0:
        raise FashionError(f"--keep-models {keep_models}: must be 0 or more")
    paths = Home.resolve(home)
    if not paths.db.is_file():
        raise FashionError(f"{paths.db}: database not found; nothing to collect")
    with warehouse_lock(paths.db, "fashion gc"), connect(paths.db) as con:
        planned = gc.plan(con, paths, keep_models)
        for row in planned.rows():
            console.print(f"  {row['what']}: {row['count']}"
                          + (f" ({row['MiB']} MiB)" if row["MiB"] is not None else ""),
                          highlight=False, soft_wrap=True)  # fmt: skip
        for kind in (planned.images, planned.folders, planned.temps):
            for relative in kind[:show]:
                console.print(f"    {relative}", highlight=False, soft_wrap=True)
        console.print(f"  kept model versions: {', '.join(planned.kept_models) or 'none'}")
        if apply:
            gc.apply(con, paths, planned)
            console.print("removed.")
        else:
            console.print("dry run: nothing removed (add --apply to remove)")


@app.command("index")
def index_command(
    home: HomeOption = None,
    db: DbOption = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build afresh instead of adding what is new.")
    ] = False,
    status_only: Annotated[
        bool, typer.Option("--status", help="Only show the index's state; change nothing.")
    ] = False,
) -> None:
    """Bring the similarity index beside the warehouse up to date (scoring runs do this
    themselves); show its state."""
    from fashion_model.vector_index import index_status, update_index

    paths = Home.resolve(home, db=db)
    with _open_warehouse(home, db, need_products=True) as con:
        if not status_only:
            with _progress() as bar:
                job = bar.add_task("indexing", total=None)
                result = update_index(
                    con, paths.db, rebuild=rebuild,
                    progress=lambda done, total: bar.update(job, completed=done, total=total),
                )  # fmt: skip
            _print_summary("index", result.as_dict())
        _print_summary("index status", index_status(con, paths.db))


def _open_warehouse(home: Path | None, db: Path | None, need_products: bool):
    """Open the warehouse read-only, refuse one that cannot answer, say what is being read."""
    from fashion_model.db import WarehouseBusy, connect
    from fashion_model.ops import snapshot_age, snapshot_path
    from fashion_model.report import check_warehouse

    path = Home.resolve(home, db=db).db
    note = ""
    try:
        con = connect(path, read_only=True)
    except WarehouseBusy as busy:
        # A writer holds the file: read the snapshot the last nightly run published.
        snapshot = snapshot_path(path)
        if not snapshot.is_file():
            raise FashionError(
                f"{busy}; no snapshot {snapshot} to read meanwhile (each nightly run publishes one)"
            ) from None
        con = connect(snapshot, read_only=True)
        note = f"; {path.name} is being written, so this is the snapshot, {snapshot_age(snapshot)}"
        path = snapshot
    try:
        refresh = check_warehouse(con, str(path), need_products)
    except BaseException:
        con.close()
        raise
    if refresh:
        model = refresh["model_version"] or "none: nothing scored yet"
        console.print(
            f"reading {path} (model {model}, refreshed {refresh['refreshed_at']:%Y-%m-%d %H:%M} "
            f"UTC{note})",
            highlight=False,
            soft_wrap=True,
        )
    return con


@app.command("retrain")
def retrain_command(
    train_file: Annotated[Path, typer.Argument(help="Labelled iMaterialist JSON (train).")],
    validation_file: Annotated[
        Path | None, typer.Argument(help="Labelled iMaterialist JSON (validation).")
    ] = None,
    home: HomeOption = None,
    epochs: Annotated[int, typer.Option("--epochs")] = 6,
    image_size: Annotated[int, typer.Option("--image-size")] = 64,
    allow_private: Annotated[bool, typer.Option("--allow-private")] = False,
    strict: Annotated[bool, typer.Option("--strict")] = False,
    weights: WeightsOption = "auto",
) -> None:
    """Flow `retrain`: ingest labelled files, then train and register a model."""
    from fashion_model.labels import default_label_map
    from fashion_model.sources import open_source
    from fashion_model.train import TrainConfig

    TrainConfig(epochs=epochs, image_size=image_size, weights=weights).validate()

    for path in filter(None, (train_file, validation_file)):
        open_source(path, default_label_map())
    from flows.retrain import retrain

    result = retrain(
        str(train_file),
        str(validation_file) if validation_file else None,
        _home(home),
        epochs,
        image_size,
        allow_private=allow_private,
        strict=strict,
        weights=weights,
    )
    _print_summary("retrain", result)


@app.command("nightly")
def nightly_command(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV or Parquet.")],
    home: HomeOption = None,
    name: Annotated[
        str, typer.Option("--name", help="Stable manifest name across nights.")
    ] = "catalog",
    retailer: Annotated[str | None, typer.Option("--retailer")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The run's date [default today].")
    ] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private")] = False,
    stage_timeout_minutes: Annotated[
        float, typer.Option("--stage-timeout-minutes", help="Time limit of each stage.")
    ] = 240.0,
    lock_wait_minutes: Annotated[
        float,
        typer.Option(
            "--lock-wait-minutes", help="Wait this long for a run that is writing the database."
        ),
    ] = 0.0,
    task_runner: TaskRunnerOption = "default",
    dask_address: DaskAddressOption = None,
    dask_workers: DaskWorkersOption = None,
) -> None:
    """Flow `nightly`: ingest a catalog, score it into DuckDB, write the trend report, and
    publish HOME/fashion-snapshot.duckdb for readers."""
    from fashion_model.labels import default_label_map
    from fashion_model.registry import resolve_version
    from fashion_model.sources import open_source

    opened = open_source(catalog, default_label_map())
    if "retailer" not in opened.metadata_columns and not retailer:
        raise FashionError(f"{catalog}: catalog has no retailer column; pass --retailer NAME")
    models = Home.resolve(home).models
    version = resolve_version(models, "production")
    day = _as_of(as_of)
    _check_writable(Home.resolve(home).db, models / version / "label_map.csv")
    from flows.nightly import nightly

    result = nightly(
        str(catalog),
        _home(home),
        name,
        retailer,
        day,
        allow_private=allow_private,
        stage_timeout_minutes=stage_timeout_minutes,
        lock_wait_minutes=lock_wait_minutes,
        **_scale_out(task_runner, dask_address, dask_workers),
    )
    summary = {"chart": result["report"]["chart"], "snapshot": result["snapshot"]}
    _print_summary("nightly", {**summary, **result["score"]})


@app.command("demo")
def demo_command(
    home: HomeOption = None,
    products: Annotated[int, typer.Option("--products", help="Catalog products to draw.")] = 1200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    epochs: Annotated[int, typer.Option("--epochs")] = 6,
    image_size: Annotated[int, typer.Option("--image-size")] = 64,
    train_images: Annotated[
        int, typer.Option("--train-images", help="Labelled training photos.")
    ] = 1200,
    validation_images: Annotated[
        int, typer.Option("--validation-images", help="Labelled validation photos.")
    ] = 300,
) -> None:
    """Synthesise a catalog, serve it locally, run `retrain` and `nightly`, print the trend."""
    _check_positive(
        products=products, epochs=epochs, train_images=train_images,
        validation_images=validation_images,
    )  # fmt: skip
    catalog = Home.resolve(home).catalog
    if catalog.exists() and not (catalog / "synth.json").is_file():
        raise FashionError(f"{catalog} exists and is not a demo catalog; use another --home")
    from flows.demo import demo

    result = demo(_home(home), products, seed, epochs, image_size, train_images, validation_images)
    print(f"\n{result.pop('heading')}:\n{result.pop('table')}\n")
    _print_summary("demo", result)


def _check_writable(db: Path, label_map_csv: Path) -> None:
    """Fail before any work when another process holds the warehouse's write lock (DuckDB
    allows one writer) or the model's label map is not the warehouse's; opening also applies
    pending migrations."""
    from fashion_model.db import check_labels, connect
    from fashion_model.labels import load_label_map

    with connect(db) as con:
        check_labels(con, load_label_map(label_map_csv))


def _scale_out(runner: str, address: str | None, workers: int | None) -> dict:
    """The flows' scale-out parameters, checked here so that a bad one fails before Prefect."""
    from fashion_model.shards import ScaleOut

    try:
        scale = ScaleOut.from_options(runner, address, workers)
    except FashionError as error:
        raise FashionError(f"--task-runner/--dask-*: {error}") from None
    return {"task_runner": scale.runner, "dask_address": scale.address,
            "dask_workers": scale.workers}  # fmt: skip


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise FashionError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _print_summary(stage: str, summary: dict) -> None:
    console.print(f"[bold]{stage} summary[/bold]")
    for key, value in summary.items():
        console.print(f"  {key}: {value}")


def main() -> None:
    try:
        app()
    except FashionError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
