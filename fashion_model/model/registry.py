"""Model registry: one folder per version with everything needed to score with it later.

HOME/models/<version>/{weights.pt or weights.onnx, model.json, label_map.csv}; HOME/models/
production names the production version. Versions appear atomically (staging folder + rename).
The card (model.json) says what the model expects and gives: architecture, runtime, input size,
resize mode, mean and std, label order, thresholds, embedding width, and where it came from.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fashion_model import __version__
from fashion_model.errors import BadInput
from fashion_model.files import write_text
from fashion_model.labels import LabelMap, load_label_map
from fashion_model.model.presets import Preprocessing

if TYPE_CHECKING:  # torch only where weights are read or written: a card needs none
    from fashion_model.model.net import AttributeNet

EMBEDDING_DIM = 512  # the built-in ResNet34's pooled width (net.ARCHS); a card says its own

PRODUCTION = "production"
WEIGHTS = {"torch": "weights.pt", "onnx": "weights.onnx"}  # the weights file of each runtime


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
    resize: str = "squash"  # squash: the whole photo to a square; crop: shorter side, centre crop
    embedding_dim: int = EMBEDDING_DIM
    embedding_source: str = "pooled"  # pooled features before the head, or the logits
    runtime: str = "torch"  # torch (weights.pt) or onnx (weights.onnx, onnxruntime)
    onnx: dict = field(default_factory=dict)  # input and output names of an ONNX model
    source: dict = field(default_factory=dict)  # an imported model: kind, file, sha256, when

    @property
    def preprocessing(self) -> Preprocessing:
        """The input this model expects (the presets are built from it)."""
        return Preprocessing(self.image_size, tuple(self.mean), tuple(self.std), self.resize)

    @property
    def weights_file(self) -> str:
        return WEIGHTS[self.runtime]

    def label_thresholds(self) -> np.ndarray:
        """The threshold of each output position: tuned per label, or the global one (cards
        written before per-label tuning have only that)."""
        if len(self.thresholds) == len(self.label_ids):
            return np.asarray(self.thresholds, dtype=np.float32)
        return np.full(len(self.label_ids), self.threshold, dtype=np.float32)


def new_version_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def save_version(
    models_root: Path, net: AttributeNet | bytes, card: ModelCard, label_map: LabelMap
) -> Path:
    """Register a version: a network's state dict (torch) or an ONNX file's bytes (onnx)."""
    models_root = Path(models_root)
    models_root.mkdir(parents=True, exist_ok=True)
    if (models_root / card.model_version).exists():
        raise BadInput(f"model version {card.model_version!r} exists already; choose another name")
    staging = models_root / f".staging-{card.model_version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if isinstance(net, bytes):
            (staging / card.weights_file).write_bytes(net)
        else:
            import torch

            torch.save(net.state_dict(), staging / card.weights_file)
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
    write_text(Path(models_root) / PRODUCTION, version + "\n")


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


def save_card(models_root: Path, card: ModelCard) -> None:
    """Rewrite a version's card whole (thresholds tuned after registration)."""
    from fashion_model.files import write_json

    write_json(Path(models_root) / card.model_version / "model.json", asdict(card))


def load_model(
    models_root: Path, version: str, variant: str = "torch"
) -> tuple[AttributeNet, ModelCard, LabelMap]:
    """The version's network (an `OnnxNet` for ONNX models: the same interface for scoring),
    its card and label map; `variant` `onnx` or `onnx-int8`: a registered variant of it
    (`model/variants.py`, already chosen by `choose_runtime`); `torch`: its own weights."""
    folder = Path(models_root) / version
    card = load_card(models_root, version)
    label_map = load_label_map(folder / "label_map.csv")
    if variant != "torch":
        from fashion_model.model.onnx_net import OnnxNet
        from fashion_model.model.variants import variant_card

        chosen, path = variant_card(models_root, card, variant)
        return OnnxNet(path, chosen), chosen, label_map
    if card.runtime == "onnx":
        from fashion_model.model.onnx_net import OnnxNet

        return OnnxNet(folder / card.weights_file, card), card, label_map
    import torch

    from fashion_model.model.net import AttributeNet

    net = AttributeNet(len(card.label_ids), card.arch)
    net.load_state_dict(
        torch.load(folder / card.weights_file, map_location="cpu", weights_only=True)
    )
    net.eval()
    return net, card, label_map


def apply_production_rule(
    models_root: Path,
    version: str,
    new_f1: float | None,
    current: str | None,
    current_f1: float | None,
    force: bool,
    log: Callable[[str], None],
) -> bool:
    """The one promotion gate of every new or re-tuned version (trained, fine-tuned, imported,
    tuned): the first version becomes production; a later one when it validates at least as
    well as production on the same images, or with `force`, or when production cannot be
    compared (other labels). A version never validated (`new_f1` None: an import) stays out
    until `fashion model tune` or `promote`. True when `version` is production."""
    if current is None:
        set_production(models_root, version)
        log(f"model {version} is the first version: now production")
        return True
    if current == version:
        return True
    if new_f1 is None and not force:
        log(
            f"production stays {current}: {version} is not validated yet (`fashion model "
            "tune` compares it, `fashion model promote` makes it production)"
        )
        return False
    if force or current_f1 is None or (new_f1 is not None and new_f1 >= current_f1):
        set_production(models_root, version)
        why = "--force" if force else f"{new_f1} >= {current_f1}"
        log(f"model {version} is now production, replacing {current} ({why})")
        return True
    log(
        f"production stays {current}: it scores {current_f1} on the same validation images, "
        f"the new model {new_f1} (`fashion model promote` or --force)"
    )
    return False


def register_version(
    models_root: Path,
    payload: AttributeNet | bytes,
    card: ModelCard,
    label_map: LabelMap,
    *,
    new_f1: float | None = None,
    current: str | None = None,
    current_f1: float | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> bool:
    """The one way a new version enters the registry (train, fine-tune, import): saved whole,
    then through the promotion gate. True when it became production."""
    current = current if current is not None else production_version(models_root)
    save_version(models_root, payload, card, label_map)
    return apply_production_rule(
        models_root, card.model_version, new_f1, current, current_f1, force, log
    )
