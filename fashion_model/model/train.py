"""Train stage: Lightning fits a ResNet (multi-label BCE) on manifest rows, then registers it:
ResNet34 from ImageNet weights or from scratch by default, or (`--init VERSION`) any registered
PyTorch model, whose architecture and preprocessing the new version keeps (fine-tuning)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MultilabelF1Score

from fashion_model.config import TrainConfig
from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.model.datasets import LabelledImages, labelled_rows
from fashion_model.model.metrics import evaluate, micro_f1
from fashion_model.model.net import AttributeNet, load_backbone, resolve_weights
from fashion_model.model.plan import TrainPlan, init_card, plan_train
from fashion_model.model.presets import Preprocessing, eval_preset, train_preset
from fashion_model.model.registry import (
    ModelCard,
    list_versions,
    load_model,
    new_version_name,
    production_version,
    register_version,
)


def label_weights(config: TrainConfig, label_map: LabelMap) -> torch.Tensor | None:
    """Each output's loss weight: its task's from `task_weights` (1 for the others), or None
    when no task is weighted (the tasks are checked by plan_train)."""
    if not config.task_weights:
        return None
    return torch.tensor(
        [config.task_weights.get(label.task, 1.0) for label in label_map.labels],
        dtype=torch.float32,
    )


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def training_precision(config: TrainConfig) -> str:
    """Lightning's precision: bf16 mixed (autocast) where the hardware computes bf16 natively,
    a CUDA GPU or a CPU with AVX512-BF16/AMX (1.76x a ResNet34 step at 64 px on 2 EPYC cores,
    benchmarks/train.py), else full 32-bit. `--precision 32` or `bf16` chooses."""
    if config.precision == "32":
        return "32-true"
    if config.precision == "bf16":
        return "bf16-mixed"
    on_cuda = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if on_cuda or native_bf16_cpu() else "32-true"


class AttributeModule(pl.LightningModule):
    def __init__(
        self,
        n_labels: int,
        config: TrainConfig,
        weights: Path | None = None,
        arch: str = "resnet34",
        init: Path | None = None,
        loss_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.config = config
        self.net = AttributeNet(n_labels, arch)
        if init is not None:  # a registered version: the whole network, head included
            self.net.load_state_dict(torch.load(init, map_location="cpu", weights_only=True))
        elif weights is not None:
            load_backbone(self.net, weights)
        factor = config.backbone_lr_factor
        pretrained = weights is not None or init is not None
        self.backbone_lr_factor = factor if factor is not None else (0.1 if pretrained else 1.0)
        # channels_last pays on CUDA tensor cores; on CPU it measured 0.98x (benchmarks/train.py)
        self.channels_last = torch.cuda.is_available() and config.accelerator != "cpu"
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Not registered as a submodule, so the state dict stays the plain network's.
        object.__setattr__(self, "_run", torch.compile(self.net) if config.compile else self.net)
        # Per-output weights scale each label's BCE term (`task_weights`): a task the network
        # learns late (the demo's patterns) gets a larger share of the gradient.
        self.loss = nn.BCEWithLogitsLoss(weight=loss_weights)
        self.val_f1 = MultilabelF1Score(num_labels=n_labels, average="micro", threshold=0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self._run(images)

    def training_step(self, batch, batch_index):
        images, targets = batch
        loss = self.loss(self(images), targets)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_index):
        images, targets = batch
        logits = self(images)
        self.val_f1.update(torch.sigmoid(logits), targets.int())
        self.log("val_loss", self.loss(logits, targets), prog_bar=True)

    def on_validation_epoch_end(self):
        self.log("val_micro_f1", self.val_f1.compute(), prog_bar=True)
        self.val_f1.reset()

    def param_groups(self) -> list[dict]:
        """The backbone at `backbone_lr_factor` times the head's learning rate."""
        rate = self.config.learning_rate
        return [
            {"params": list(self.net.backbone.parameters()), "lr": rate * self.backbone_lr_factor},
            {"params": list(self.net.head.parameters()), "lr": rate},
        ]

    def configure_optimizers(self):
        groups = self.param_groups()
        optimizer = torch.optim.AdamW(groups, weight_decay=self.config.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in groups],
            # at least 8: OneCycleLR divides by zero when its warm-up phase rounds to no step
            # (4 or fewer steps, e.g. --max-steps 4); a longer cycle than the run is harmless
            total_steps=max(8, int(self.trainer.estimated_stepping_batches)),
            pct_start=0.25,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def _manifest_hash(manifests: list[Path]) -> str:
    digest = hashlib.sha256()
    for manifest in manifests:
        for part in sorted(Path(manifest).glob("part-*.parquet")):
            digest.update(part.read_bytes())
    return digest.hexdigest()


def _split(
    rows: dict, share: float, seed: int, reviewed_in_validation: bool = False
) -> tuple[tuple, tuple, str]:
    """Use the manifests' validation split, else hold out `share` of train with multi-label
    iterative stratification (Sechidis et al.; the `iterative-stratification` package), so
    that rare labels are represented on both sides. Reviewed images (split `reviewed`) are
    trained on and never held out, unless `reviewed_in_validation` (and no validation split)."""
    rows = dict(rows)
    reviewed = rows.pop("reviewed", None)
    if reviewed is not None and not rows:
        return reviewed, ([], reviewed[1][:0]), "none: only reviewed images"
    if reviewed is not None and reviewed_in_validation and "validation" not in rows:
        rows["train"] = _joined(rows.get("train"), reviewed)
        reviewed = None
    (train, validation, source) = _split_train(rows, share, seed)
    if reviewed is not None:
        train = _joined(train, reviewed)
    return train, validation, source


def _joined(first: tuple | None, second: tuple) -> tuple:
    if first is None or not len(first[0]):
        return second
    return first[0] + second[0], np.concatenate([first[1], second[1]])


def _split_train(rows: dict, share: float, seed: int) -> tuple[tuple, tuple, str]:
    if "validation" in rows and len(rows["validation"][0]):
        return rows.get("train", ([], None)), rows["validation"], "validation"
    paths, targets = rows.get("train", next(iter(rows.values())))
    if len(paths) < 2:
        return (paths, targets), ([], targets[:0]), "none: too few images to hold any out"
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    kept, held = next(splitter.split(np.zeros(len(paths)), targets.astype(int)))
    return (
        ([paths[i] for i in kept], targets[kept]),
        ([paths[i] for i in held], targets[held]),
        f"stratified {share:.0%} of train",
    )


def _predict(net: AttributeNet, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    net.eval()
    probs, targets = [], []
    with torch.inference_mode():
        for images, target in loader:
            probs.append(torch.sigmoid(net(images)).numpy())
            targets.append(target.numpy())
    return np.concatenate(probs), np.concatenate(targets)


def _device_count(devices: int | str) -> int:
    return devices if isinstance(devices, int) else 1


def _run_key(manifests: list[Path], config: TrainConfig) -> str:
    """One training run's identity: its data and the options that shape the model."""
    shaping = {
        k: v
        for k, v in config.model_dump(mode="json").items()
        if k not in ("resume", "force_promote", "max_minutes", "num_workers")
    }
    text = _manifest_hash([Path(m) for m in manifests]) + json.dumps(shaping, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def production_f1(models_root, version, label_map, val_paths, val_targets, batch_size: int):
    """A model's micro-F1 (its own thresholds and preprocessing) on these validation images,
    so that a new model is compared on the same data; None when its labels differ."""
    net, card, _ = load_model(models_root, version)
    if card.label_ids != label_map.ids:
        return None
    loader = DataLoader(
        LabelledImages(val_paths, val_targets, eval_preset(card.preprocessing), card.image_size),
        batch_size=batch_size,
    )
    probs, targets = _predict(net, loader)
    return round(micro_f1(probs, targets, card.label_thresholds()), 4)


def train_model(
    manifests: list[Path],
    images_root: Path,
    models_root: Path,
    config: TrainConfig | None = None,
    label_map: LabelMap | None = None,
    log: Callable[[str], None] = print,
    callbacks: list | None = None,
) -> ModelCard:
    """Train from a Python call: plan (every check), then fit."""
    plan = plan_train(
        manifests, config=config, images=images_root, models=models_root, label_map=label_map
    )
    return fit(plan, label_map, log, callbacks)


def train_version(plan: TrainPlan, log: Callable[[str], None] = print) -> dict:
    """The training stage: fit and register a version (see `fit`); its summary. What `fashion
    train` and the train-model task both run."""
    plan.images.mkdir(parents=True, exist_ok=True)
    card = fit(plan, log=log)
    return {"model_version": card.model_version, "threshold": card.threshold, **card.metrics}


def fit(
    plan: TrainPlan,
    label_map: LabelMap | None = None,
    log: Callable[[str], None] = print,
    callbacks: list | None = None,
) -> ModelCard:
    """Fit, tune thresholds on validation, register the version. The first version becomes
    production; a later one replaces it when it validates at least as well on the same
    validation images (or with `force_promote`)."""
    label_map = label_map or default_label_map()
    config, manifests, models_root = plan.config, list(plan.manifests), plan.models
    rows = labelled_rows(manifests, plan.images, label_map)
    (train_paths, train_targets), (val_paths, val_targets), val_source = _split(
        rows, config.validation_share, config.seed, config.reviewed_in_validation
    )
    if not train_paths:
        raise BadInput("the training split is empty: no downloaded, labelled train images")
    log(f"training on {len(train_paths)} images, validating on {len(val_paths)} ({val_source})")

    pl.seed_everything(config.seed, workers=True, verbose=False)
    start = init_card(models_root, config.init) if config.init else None
    if start is not None:  # fine-tuning keeps the model's input, as its card records it
        if start.label_ids != label_map.ids:
            raise BadInput(f"--init {config.init}: its labels are not this label map's")
        pre = start.preprocessing
        log(f"fine-tuning {start.model_version} ({start.arch}, {pre.image_size} px {pre.resize})")
    else:
        pre = Preprocessing(config.image_size)  # ImageNet statistics: the backbone's
    size = pre.image_size
    workers = config.num_workers
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if torch.cuda.is_available() else 1
    loader_args = {
        "batch_size": config.batch_size,
        "num_workers": workers,
        "pin_memory": torch.cuda.is_available(),
    }
    if workers > 0:
        loader_args["persistent_workers"] = True
    train_loader = DataLoader(
        LabelledImages(train_paths, train_targets, train_preset(pre), size),
        shuffle=True,
        drop_last=len(train_paths) > config.batch_size,
        **loader_args,
    )
    val_loader = DataLoader(
        LabelledImages(val_paths, val_targets, eval_preset(pre), size), **loader_args
    )
    if start is not None:
        weights, weights_used = None, f"model {start.model_version}"
        init = Path(models_root) / start.model_version / start.weights_file
    else:
        (weights, weights_used), init = resolve_weights(config.weights), None
    log(f"initial weights: {weights_used}")
    arch = start.arch if start is not None else "resnet34"
    module = AttributeModule(
        len(label_map), config, weights, arch, init, label_weights(config, label_map)
    )
    if config.task_weights:
        log("loss weights: " + ", ".join(f"{t} {w:g}" for t, w in config.task_weights.items()))
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    run_dir = Path(models_root) / ".runs" / _run_key(manifests, config)
    last = run_dir / "last.ckpt"
    resume_from = None
    if config.resume and last.is_file():
        resume_from = last
        log(f"resuming the interrupted run from {last}")
    else:
        if config.resume:
            log(f"no interrupted run of this data and configuration ({last}): starting afresh")
        shutil.rmtree(run_dir, ignore_errors=True)
    checkpoints = ModelCheckpoint(
        dirpath=run_dir,
        filename="best",
        monitor="val_micro_f1",
        mode="max",
        save_last=True,
        save_top_k=1,
        enable_version_counter=False,
    )
    trainer = pl.Trainer(
        max_epochs=config.epochs,
        max_steps=config.max_steps,
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        accelerator=config.accelerator,
        devices=config.devices,
        precision=training_precision(config),
        logger=False,
        callbacks=[checkpoints, *(callbacks or [])],
        # Several devices: one process each, spawned (the CLI and the flow are not re-run per
        # rank); gloo on CPU, NCCL on CUDA. Only this process registers the model afterwards.
        strategy="ddp_spawn" if _device_count(config.devices) > 1 else "auto",
        enable_model_summary=False,
        enable_progress_bar=os.environ.get("FASHION_PROGRESS", "1") != "0",
        deterministic=False,
    )
    started = time.perf_counter()
    trainer.fit(module, train_loader, val_loader, ckpt_path=resume_from)
    seconds = time.perf_counter() - started
    best_epoch = None
    if checkpoints.best_model_path and Path(checkpoints.best_model_path).is_file():
        best = torch.load(checkpoints.best_model_path, map_location="cpu", weights_only=False)
        module.load_state_dict(best["state_dict"])
        best_epoch = int(best["epoch"])
        log(f"best checkpoint: epoch {best_epoch + 1} of {trainer.current_epoch}")

    probs, targets = _predict(module.net.cpu(), val_loader)
    tuned, thresholds = evaluate(probs, targets, [label.task for label in label_map.labels])
    threshold = tuned["global_threshold"]
    trained_on = train_targets.sum(axis=0) > 0
    unseen = int((trained_on & (targets.sum(axis=0) == 0)).sum()) if len(targets) else 0
    if unseen:
        log(
            f"warning: {unseen} label(s) seen in training have no positive validation image; "
            "they keep the global threshold and do not count in validation micro-F1"
        )
    current = production_version(models_root)
    current_f1 = (
        production_f1(models_root, current, label_map, val_paths, val_targets, config.batch_size)
        if current and len(val_paths)
        else None
    )
    metrics = {
        **tuned,
        "production_val_micro_f1": current_f1,  # the production model on the same images
        "initial_weights": weights_used,
        "precision": str(trainer.precision),
        "task_weights": config.task_weights,
        "backbone_lr_factor": module.backbone_lr_factor,
        "train_images": len(train_paths),
        "val_images": len(val_paths),
        "train_seconds": round(seconds, 1),
        "epochs_run": trainer.current_epoch,
        "best_epoch": None if best_epoch is None else best_epoch + 1,
        "resumed": resume_from is not None,
    }
    card = ModelCard(
        model_version=new_version_name(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        arch=arch,
        image_size=size,
        label_ids=label_map.ids,
        label_map_fingerprint=label_map.fingerprint(),
        threshold=threshold,
        thresholds=[round(float(t), 2) for t in thresholds],
        mean=list(pre.mean),
        std=list(pre.std),
        resize=pre.resize,
        embedding_dim=module.net.embedding_dim,
        source={"kind": "fine-tuned", "from": start.model_version} if start else {},
        metrics=metrics,
        manifest_hash=_manifest_hash([Path(m) for m in manifests]),
        config=config.model_dump(mode="json"),
    )
    register_version(
        models_root,
        module.net,
        card,
        label_map,
        new_f1=metrics["val_micro_f1"],
        current=current,
        current_f1=current_f1,
        force=config.force_promote,
        log=log,
    )
    shutil.rmtree(run_dir, ignore_errors=True)  # registered: nothing left to resume
    log(
        f"model {card.model_version}: val micro-F1 {metrics['val_micro_f1']} with per-label "
        f"thresholds ({metrics['labels_with_own_threshold']} labels tuned), "
        f"{metrics['val_micro_f1_global']} at the global threshold {threshold}, "
        f"{metrics['val_micro_f1_at_0.5']} at 0.5; {seconds:.0f}s, "
        f"{len(list_versions(models_root))} version(s) in the registry"
    )
    return card
