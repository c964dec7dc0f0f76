"""`fashion model tune`: per-label thresholds of a registered version (an imported one, mostly)
tuned on a labelled validation manifest exactly as training tunes them, the figures recorded
on its card, then the training's production rule applied on the same images."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from fashion_model.config import ScoreConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.model.datasets import LabelledImages, labelled_rows
from fashion_model.model.metrics import evaluate, micro_f1
from fashion_model.model.presets import eval_preset
from fashion_model.model.registry import (
    apply_production_rule,
    load_model,
    production_version,
    resolve_version,
    save_card,
)
from fashion_model.model.train import (
    _manifest_hash,
    _predict,
    production_f1,
)


def tune_version(
    models_root: Path,
    images_root: Path,
    version: str,
    manifests: list[Path],
    batch_size: int = default_of(ScoreConfig, "batch_size"),
    promote: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Tune `version`'s thresholds on every labelled, downloaded image of `manifests` (all
    splits), record them and the metrics on its card, and (`promote`) make it production when
    it validates at least as well as production on the same images."""
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    version = resolve_version(models_root, version)
    net, card, label_map = load_model(models_root, version)
    rows = labelled_rows([Path(m) for m in manifests], images_root, label_map)
    paths = [p for split in rows.values() for p in split[0]]
    targets = np.concatenate([split[1] for split in rows.values()])
    if not targets.sum():
        raise BadInput("the validation manifest has no positive labels to tune on")
    log(f"tuning {version} on {len(paths)} labelled images")
    loader = DataLoader(
        LabelledImages(paths, targets, eval_preset(card.preprocessing), card.image_size),
        batch_size=batch_size,
    )
    probs, truth = _predict(net, loader)
    before = round(micro_f1(probs, truth, card.label_thresholds()), 4)
    tuned, thresholds = evaluate(probs, truth, [label.task for label in label_map.labels])
    current = production_version(models_root)
    current_f1 = None
    if current is not None and current != version:
        current_f1 = production_f1(models_root, current, label_map, paths, targets, batch_size)
    card.threshold = tuned["global_threshold"]
    card.thresholds = [round(float(t), 2) for t in thresholds]
    card.metrics = {
        **card.metrics,
        **tuned,
        "val_micro_f1_before_tuning": before,
        "production_val_micro_f1": current_f1,
        "val_images": len(paths),
        "tuned_on": {
            "manifests": [str(m) for m in manifests],
            "manifest_hash": _manifest_hash([Path(m) for m in manifests]),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    save_card(models_root, card)
    log(
        f"model {version}: val micro-F1 {tuned['val_micro_f1']} with per-label thresholds "
        f"({tuned['labels_with_own_threshold']} labels tuned), {before} with its own before"
    )
    production = current
    if promote:
        became = apply_production_rule(
            models_root, version, tuned["val_micro_f1"], current, current_f1, False, log
        )
        production = version if became else current
    return {
        "model_version": version,
        "val_images": len(paths),
        "val_micro_f1_before": before,
        "val_micro_f1": tuned["val_micro_f1"],
        "val_micro_f1_global": tuned["val_micro_f1_global"],
        "global_threshold": tuned["global_threshold"],
        "labels_with_own_threshold": tuned["labels_with_own_threshold"],
        "production_val_micro_f1": current_f1,
        "production": production,
    }
