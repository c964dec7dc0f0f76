"""Model registry: one folder per version with everything needed to score with it later.

HOME/models/<version>/{weights.pt, model.json, label_map.csv}; HOME/models/production names the
production version. Versions appear atomically (staging folder + rename).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from fashion_model import __version__
from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap, load_label_map
from fashion_model.model.net import AttributeNet
from fashion_model.model.presets import Preprocessing

PRODUCTION = "production"


@dataclass
class ModelCard:
    model_version: str
    created_at: str
    arch: str
    image_size: int
    label_ids: list[int]
    label_map_fingerprint: str
    threshold: float  # the best global threshold (validation)
    mean: list[float]
    std: list[float]
    metrics: dict[str, float] = field(default_factory=dict)
    manifest_hash: str = ""
    config: dict = field(default_factory=dict)
    code_version: str = __version__
    thresholds: list[float] = field(default_factory=list)  # per label, in label_ids order

    @property
    def preprocessing(self) -> Preprocessing:
        """The input this model expects (the presets are built from it)."""
        return Preprocessing(self.image_size, tuple(self.mean), tuple(self.std))

    def label_thresholds(self) -> np.ndarray:
        """The threshold of each output position: tuned per label, or the global one (cards
        written before per-label tuning have only that)."""
        if len(self.thresholds) == len(self.label_ids):
            return np.asarray(self.thresholds, dtype=np.float32)
        return np.full(len(self.label_ids), self.threshold, dtype=np.float32)


def new_version_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def save_version(
    models_root: Path, net: AttributeNet, card: ModelCard, label_map: LabelMap
) -> Path:
    models_root = Path(models_root)
    models_root.mkdir(parents=True, exist_ok=True)
    staging = models_root / f".staging-{card.model_version}"
    staging.mkdir()
    try:
        torch.save(net.state_dict(), staging / "weights.pt")
        shutil.copyfile(label_map.source, staging / "label_map.csv")
        (staging / "model.json").write_text(json.dumps(asdict(card), indent=2), encoding="utf-8")
        final = models_root / card.model_version
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def list_versions(models_root: Path) -> list[str]:
    root = Path(models_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.json").is_file())


def production_version(models_root: Path) -> str | None:
    pointer = Path(models_root) / PRODUCTION
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


def set_production(models_root: Path, version: str) -> None:
    if version not in list_versions(models_root):
        raise BadInput(f"unknown model version {version!r}")
    pointer = Path(models_root) / PRODUCTION
    tmp = pointer.with_name(f".{PRODUCTION}.tmp")
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, pointer)


def resolve_version(models_root: Path, version: str | None) -> str:
    """`production` (the default) or an explicit version; fails with the versions that exist."""
    known = list_versions(models_root)
    if version in (None, PRODUCTION):
        current = production_version(models_root)
        if current is None:
            raise BadInput(f"no production model in {models_root}; run `fashion train` first")
        return current
    if version not in known:
        raise BadInput(f"unknown model version {version!r} (known: {', '.join(known) or 'none'})")
    return version


def load_card(models_root: Path, version: str) -> ModelCard:
    path = Path(models_root) / version / "model.json"
    return ModelCard(**json.loads(path.read_text(encoding="utf-8")))


def load_model(models_root: Path, version: str) -> tuple[AttributeNet, ModelCard, LabelMap]:
    folder = Path(models_root) / version
    card = load_card(models_root, version)
    label_map = load_label_map(folder / "label_map.csv")
    net = AttributeNet(len(card.label_ids))
    net.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    net.eval()
    return net, card, label_map
