"""The training stage's one edge: raw options (CLI, a deployment's parameters, a Python call)
become one checked `TrainPlan` (train) or `RetrainPlan` (ingest labelled files, then train),
before any work. The train and retrain flows, their tasks and `fit` take the plan and check
nothing again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from fashion_model.config import DownloadConfig, IngestConfig, TrainConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.home import Home
from fashion_model.ingest.manifest import resolve_manifest
from fashion_model.ingest.pipeline import check_source
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.model.registry import load_card, resolve_version

DEFAULT_MANIFESTS = ("train", "validation")


class TrainPlan(BaseModel):
    """What a training run does, decided once: the labelled manifests (resolved), where images
    and models live, and the checked options."""

    model_config = ConfigDict(frozen=True)

    manifests: tuple[Path, ...]
    images: Path
    models: Path
    config: TrainConfig


class RetrainPlan(BaseModel):
    """Labelled files to ingest (each under its manifest name and split), then a training run
    on them with `train`."""

    model_config = ConfigDict(frozen=True)

    home: str | None
    sources: tuple[tuple[str, Path, str], ...]  # (split, file, manifest name)
    strict: bool
    download: DownloadConfig
    train: TrainConfig

    def train_plan(self) -> TrainPlan:
        """The training run on the manifests the ingest wrote (they exist once it ran)."""
        paths = Home.resolve(self.home)
        return TrainPlan(
            manifests=tuple(paths.manifests / name for _, _, name in self.sources),
            images=paths.images,
            models=paths.models,
            config=self.train,
        )


def check_train_config(
    config: TrainConfig | dict[str, Any] | None,
    models_root: Path | None = None,
    label_map: LabelMap | None = None,
    where: str = "--",
) -> TrainConfig:
    """The options, and what the model validates cannot check: the weighted tasks exist, the
    weights file is there, the --init version can be fine-tuned (a PyTorch one)."""
    config = TrainConfig.parse(config, where=where)
    tasks = (label_map or default_label_map()).tasks
    unknown = sorted(set(config.task_weights) - set(tasks))
    if unknown:
        raise BadInput(f"task weight {unknown[0]!r}: no such task (one of {', '.join(tasks)})")
    if config.init is not None:
        if config.weights != "auto":
            raise BadInput("--init and --weights both choose the initial weights; give one")
        if models_root is not None:
            init_card(models_root, config.init)
    else:
        from fashion_model.model.net import resolve_weights  # torch: only when training

        resolve_weights(config.weights)
    return config


def init_card(models_root: Path, version: str):
    """The card of the version to fine-tune from; an ONNX one cannot be."""
    card = load_card(models_root, resolve_version(models_root, version))
    if card.runtime != "torch":
        raise BadInput(
            f"--init {version}: an ONNX model cannot be fine-tuned; import its PyTorch "
            "weights (--kind reference-ckpt or torchvision)"
        )
    return card


def plan_train(
    manifests: list[str | Path] | tuple[str | Path, ...] | None,
    home: Path | str | None = None,
    config: TrainConfig | dict[str, Any] | None = None,
    images: Path | None = None,
    models: Path | None = None,
    label_map: LabelMap | None = None,
    where: str = "--",
) -> TrainPlan:
    """Check a training run before any work: the options, and each manifest (a name under
    HOME/manifests or a path; none named: train and validation, those that exist)."""
    paths = Home.resolve(home, **{k: v for k, v in (("images", images), ("models", models)) if v})
    if not manifests:
        manifests = [n for n in DEFAULT_MANIFESTS if (paths.manifests / n).is_dir()]
        if not manifests:
            raise BadInput(
                f"no manifests named train or validation in {paths.manifests}; pass --manifest"
            )
    config = check_train_config(config, paths.models, label_map, where)
    resolved = tuple(dict.fromkeys(resolve_manifest(m, paths.manifests) for m in manifests))
    return TrainPlan(manifests=resolved, images=paths.images, models=paths.models, config=config)


def plan_retrain(
    train_file: str | Path,
    validation_file: str | Path | None = None,
    home: str | None = None,
    strict: bool = default_of(IngestConfig, "strict"),
    download: DownloadConfig | dict[str, Any] | None = None,
    train: TrainConfig | dict[str, Any] | None = None,
    extra: list[str | Path] | None = None,
    where: str = "parameter",  # "--" for the CLI
) -> RetrainPlan:
    """Check a retraining run before any download: the options and every labelled file (read
    through once), each with a manifest name of its own. `extra` files (reviewed labels from
    `fashion review import`, or any labelled iMaterialist file) are the `reviewed` split:
    trained on, held out for validation only with `train.reviewed_in_validation`."""
    cli = where == "--"
    download = DownloadConfig.parse(download, where="--" if cli else "parameter download")
    config = check_train_config(
        train, Home.resolve(home).models, where="--" if cli else "parameter train"
    )
    pairs = [("train", train_file), ("validation", validation_file)]
    pairs += [("reviewed", source) for source in extra or []]
    sources: list[tuple[str, Path, str]] = []
    for split, source in pairs:
        if not source:
            continue
        path = Path(source)
        name = path.stem
        if name in {n for _, _, n in sources}:
            raise BadInput(f"{source}: another input has the manifest name {name!r}; rename it")
        check_source(path, split, strict)
        sources.append((split, path, name))
    return RetrainPlan(
        home=home, sources=tuple(sources), strict=strict, download=download, train=config
    )
