"""`fashion model list|show|import|tune|promote|export-onnx`, `fashion train` and
`fashion retrain`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import (
    DownloadConfig,
    IngestConfig,
    OptimizeConfig,
    ScoreConfig,
    TrainConfig,
)
from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import (
    DbOption,
    HomeOption,
    TaskWeightOption,
    configured,
    console,
    flow_logging,
    home_text,
    knob,
    print_summary,
    say,
    task_weights,
)
from fashion_model.home import Home
from fashion_model.model.import_options import ImportOptions

VersionArgument = Annotated[str, typer.Argument(help="The model version, or 'production'.")]


def model_list(home: HomeOption = None) -> None:
    """The registered model versions, newest last; * marks production."""
    from fashion_model.model.registry import list_versions, load_card, production_version

    models = Home.resolve(home).models
    current = production_version(models)
    versions = list_versions(models)
    if not versions:
        raise BadInput(f"no models in {models}; run `fashion train` first")
    for version in versions:
        card = load_card(models, version)
        f1 = card.metrics.get("val_micro_f1")
        origin = f"  imported ({card.source['kind']})" if card.source.get("sha256") else ""
        print(
            f"{'*' if version == current else ' '} {version}  {card.arch} {card.image_size}px  "
            f"{card.embedding_dim}-d  val micro-F1 {f1 if f1 is not None else 'n/a'}  "
            f"created {card.created_at[:19]}{origin}{_variants_line(models, version)}"
        )


def _variants_line(models: Path, version: str) -> str:
    """`  variants: onnx (F1 -0.01), onnx-int8 (F1 -0.08)`: each variant `fashion model
    optimize` registered, with its micro-F1 against the version's, in points."""
    from fashion_model.model.variants import list_variants

    variants = list_variants(models, version)
    if not variants:
        return ""

    def described(name: str, card: dict) -> str:
        if "variant_micro_f1" not in card or "source_micro_f1" not in card:
            return name
        return f"{name} (F1 {100 * (card['variant_micro_f1'] - card['source_micro_f1']):+.2f})"

    return "  variants: " + ", ".join(described(n, c) for n, c in variants.items())


def model_show(version: VersionArgument, home: HomeOption = None) -> None:
    """A version's card: metrics (micro-F1 at 0.5, global and per-label thresholds, per task),
    thresholds, training data and configuration."""
    from fashion_model.model.registry import load_card, production_version, resolve_version

    models = Home.resolve(home).models
    version = resolve_version(models, version)
    card = load_card(models, version)
    metrics = dict(card.metrics)
    by_task = metrics.pop("val_micro_f1_by_task", {})
    print(f"{version}{'  (production)' if version == production_version(models) else ''}")
    print(f"  {card.arch} {card.image_size}px, created {card.created_at}, code {card.code_version}")
    print(
        f"  runtime {card.runtime} ({card.weights_file}); input {card.image_size}x"
        f"{card.image_size} {card.resize}, mean {card.mean}, std {card.std}"
    )
    print(
        f"  embedding {card.embedding_dim}-d ({card.embedding_source}); "
        f"{len(card.label_ids)} labels"
    )
    if card.source:
        print(f"  source: {json.dumps(card.source)}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")
    for task, value in by_task.items():
        print(f"  val_micro_f1[{task}]: {value}")
    thresholds = card.label_thresholds()
    print(
        f"  thresholds: global {card.threshold}, per label {thresholds.min():.2f}-"
        f"{thresholds.max():.2f} over {len(thresholds)} labels"
    )
    print(f"  training manifests sha256: {card.manifest_hash}")
    print(f"  config: {json.dumps(card.config)}")
    from fashion_model.model.variants import list_variants

    for name, variant in list_variants(models, version).items():
        print(f"  variant {name}: {json.dumps(variant)}")


def model_promote(
    version: Annotated[str, typer.Argument(help="The model version to make production.")],
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Make a version the production model; say how many images it has yet to score."""
    from fashion_model.score.promote import promote

    paths = Home.resolve(home, db=db)
    result = promote(paths.models, version, paths.db)
    todo = result["images_to_score"]
    if todo is not None:
        console.print(
            f"{todo} warehouse image(s) not yet scored by {version}: the next `fashion score` "
            "or nightly run scores them",
            highlight=False,
        )
    print_summary("promote", result)


@configured(ImportOptions, into="options")
def model_import(
    path: Annotated[Path, typer.Argument(help="The weights file: .ckpt, .pt/.pth or .onnx.")],
    home: HomeOption = None,
    *,
    options: ImportOptions,
) -> None:
    """Register trained weights as a model version with a complete card (architecture, input,
    normalisation, thresholds, embedding width, source and sha256), checked before anything is
    written; the first version becomes production."""
    from fashion_model.model.imports import import_model

    result = import_model(Home.resolve(home).models, path, options)
    note = result.pop("note")
    print_summary("model import", result)
    if note:
        console.print(f"note: {note}", style="yellow", highlight=False, soft_wrap=True)


@configured(OptimizeConfig, into="config")
def model_optimize(
    version: VersionArgument,
    home: HomeOption = None,
    calibrate: Annotated[
        str | None,
        typer.Option(
            "--calibrate",
            help="Manifest whose images calibrate the int8 activations "
            "[default: the first catalog manifest, else train].",
        ),
    ] = None,
    validation: Annotated[
        list[str] | None,
        typer.Option(
            "--validation",
            help="Labelled manifest(s) the variants are checked on "
            "against the version [default: validation].",
        ),
    ] = None,
    *,
    config: OptimizeConfig,
) -> None:
    """Faster runtime variants of a registered version, each checked against it before it
    is registered beside it: onnxruntime-optimised fp32 (`onnx`) and, with --int8, statically
    quantised int8 (`onnx-int8`); `fashion score --runtime auto` then takes the fastest."""
    from fashion_model.model.optimize import optimize, plan_optimize

    plan = plan_optimize(home, version, config, calibrate, validation)
    result = optimize(plan, log=lambda line: console.print(line, highlight=False, soft_wrap=True))
    for name, card in result["variants"].items():
        print_summary(f"variant {name}", {k: v for k, v in card.items() if k != "onnx"})


def model_tune(
    version: VersionArgument,
    validation: Annotated[
        list[str],
        typer.Option(
            "--validation",
            help="Labelled manifest name or path (repeatable), e.g. "
            "from `fashion ingest labelled.json --name validation`.",
        ),
    ],
    home: HomeOption = None,
    batch_size: int = knob(ScoreConfig, "batch_size"),
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Only record; never change production.")
    ] = False,
) -> None:
    """Tune a version's per-label thresholds on a labelled validation manifest (as training
    does) and record the figures; it becomes production when it validates at least as well as
    production on the same images."""
    from fashion_model.ingest.manifest import resolve_manifest
    from fashion_model.model.tune import tune_version

    paths = Home.resolve(home)
    manifests = [resolve_manifest(name, paths.manifests) for name in validation]
    result = tune_version(
        paths.models,
        paths.images,
        version,
        manifests,
        batch_size,
        not no_promote,
        log=lambda line: console.print(line, highlight=False, soft_wrap=True),
    )
    print_summary("model tune", result)


def model_export_onnx(
    version: VersionArgument,
    home: HomeOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="ONNX file [default HOME/models/VERSION/model.onnx]."),
    ] = None,
) -> None:
    """Export a version as ONNX (dynamic batch; probabilities and embeddings), checked against
    PyTorch with onnxruntime."""
    from fashion_model.model.onnx_export import export_onnx

    print_summary("export-onnx", export_onnx(Home.resolve(home).models, version, out))


@configured(
    TrainConfig,
    "epochs",
    "image_size",
    "batch_size",
    "max_steps",
    "seed",
    "weights",
    "force_promote",
    "resume",
    "max_minutes",
    "devices",
    "compile",
    "precision",
    "init",
    into="train",
    parse=False,
    flags={"force_promote": "--force"},
)
def train_command(
    home: HomeOption = None,
    manifest: Annotated[
        list[str] | None,
        typer.Option(
            "--manifest", help="Manifest name or path (repeatable) [default: train and validation]."
        ),
    ] = None,
    task_weight: TaskWeightOption = None,
    *,
    train: dict,
) -> None:
    """Train ResNet34 (or fine-tune a registered model) on labelled manifests; the new version
    lands in HOME/models and becomes production when it validates at least as well as the
    current one on the same images."""
    from fashion_model.model.plan import plan_train

    plan = plan_train(manifest, home, {**train, "task_weights": task_weights(task_weight)})
    from fashion_model.model.train import train_version

    print_summary("train", train_version(plan, log=say))


@configured(IngestConfig, "strict", into="ingest")
@configured(DownloadConfig, "allow_private", "per_host_rate", into="download", parse=False)
@configured(
    TrainConfig,
    "epochs",
    "image_size",
    "batch_size",
    "weights",
    "precision",
    "reviewed_in_validation",
    into="train",
    parse=False,
    flags={"reviewed_in_validation": "--validate-on-reviewed"},
)
def retrain_command(
    train_file: Annotated[Path, typer.Argument(help="Labelled iMaterialist JSON (train).")],
    validation_file: Annotated[
        Path | None, typer.Argument(help="Labelled iMaterialist JSON (validation).")
    ] = None,
    home: HomeOption = None,
    task_weight: TaskWeightOption = None,
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra",
            help="More labelled files (repeatable), e.g. reviewed.json from `fashion review "
            "import`: trained on, never held out for validation (unless "
            "--validate-on-reviewed).",
        ),
    ] = None,
    *,
    train: dict,
    download: dict,
    ingest: IngestConfig,
) -> None:
    """Flow `retrain`: ingest labelled files (and --extra ones), then train and register a
    model; the new version becomes production only if it validates at least as well."""
    from fashion_model.model.plan import plan_retrain

    train = {**train, "task_weights": task_weights(task_weight)}
    plan = plan_retrain(
        train_file,
        validation_file,
        home_text(home),
        ingest.strict,
        download,
        train,
        extra,
        where="--",
    )
    flow_logging(home)
    from fashion_model.flows.retrain import retrain

    result = retrain(plan=plan)
    print_summary("retrain", result)
