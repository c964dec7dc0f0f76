"""`fashion model import`: trained weights from elsewhere become a registered model version with
a complete card, checked before anything is written.

Kinds:
- `reference-ckpt`: the reference project's (VisualFashionAttributePrediction) PyTorch
  Lightning checkpoint of `AttrPred_Resnet50`: `state_dict` keys `predictor.*` (a torchvision
  resnet50 whose `fc` is Linear(2048, 228)), `hyper_parameters` with `n_attributes` and
  `prediction_threshold` (on logits). Defaults: 512 px squashed, the reference's mean and std.
- `torchvision`: a state dict of a torchvision resnet34 or resnet50 whose `fc` has one output
  per label (also this project's own weights.pt, and keys prefixed `module.` by DDP).
  Defaults: 224 px squashed, ImageNet mean and std.
- `onnx`: an ONNX file with one image input (N x 3 x S x S) and scores for the labels (logits,
  or an output named `probabilities`); its pooled features (the input of the final Gemm or
  MatMul) are exposed as the embedding, else the scores are. This project's own export carries
  its preprocessing and thresholds in its metadata, which become the defaults.

The readers of each kind are in import_readers.py. A new version goes through the registry's one
registration and promotion gate: the first version becomes production, later ones when
`fashion model tune` validates them or `fashion model promote` is asked.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from fashion_model.config import DownloadConfig
from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.model.import_options import ImportOptions
from fashion_model.model.import_readers import DEFAULTS, read_model
from fashion_model.model.registry import (
    ModelCard,
    list_versions,
    new_version_name,
    production_version,
    register_version,
)

STORED_SIZE = DownloadConfig().image_size  # the default shorter side of stored images


def import_model(
    models_root: Path, path: Path, options: ImportOptions, label_map: LabelMap | None = None
) -> dict:
    """Check `path` as `options.kind`, then register it (atomically) with its card; the first
    version of a registry becomes production. Returns the summary."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    label_map = label_map or default_label_map()
    version = _check_name(models_root, options.name)
    pre = options.model_dump(include={"image_size", "mean", "std", "resize"})
    digest = _sha256(path)
    loaded = read_model(path, options, label_map, pre)
    found = loaded.found or {}
    defaults = DEFAULTS[options.kind]
    image_size = pre["image_size"] or found.get("image_size") or defaults["image_size"]
    if image_size is None:
        raise BadInput(f"{path}: the graph's input size is not fixed; pass --image-size")
    threshold = options.threshold if options.threshold is not None else loaded.threshold
    threshold = 0.5 if threshold is None else float(threshold)
    thresholds = found.get("thresholds") if options.threshold is None else None
    card = ModelCard(
        model_version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        arch=loaded.arch,
        image_size=int(image_size),
        label_ids=label_map.ids,
        label_map_fingerprint=label_map.fingerprint(),
        threshold=round(threshold, 6),
        thresholds=list(thresholds or []),
        mean=list(pre["mean"] or found.get("mean") or defaults["mean"]),
        std=list(pre["std"] or found.get("std") or defaults["std"]),
        resize=pre["resize"] or found.get("resize") or defaults["resize"],
        embedding_dim=loaded.embedding_dim,
        embedding_source=loaded.embedding_source,
        runtime=loaded.runtime,
        onnx=loaded.onnx or {},
        source={
            "kind": options.kind,
            "file": str(path.resolve()),
            "sha256": digest,
            "bytes": path.stat().st_size,
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(loaded.details or {}),
        },
        config={"import": options.model_dump(exclude_none=True)},
    )
    became = register_version(models_root, loaded.payload, card, label_map, log=lambda _: None)
    return {
        "model_version": version,
        "kind": options.kind,
        "arch": card.arch,
        "runtime": card.runtime,
        "input": f"{card.image_size}x{card.image_size} ({card.resize}), mean {card.mean}, "
        f"std {card.std}",
        "labels": len(card.label_ids),
        "threshold": card.threshold,
        "embedding": f"{card.embedding_dim}-d ({card.embedding_source})",
        "sha256": digest,
        "production": version if became else production_version(models_root),
        "next": (
            f"fashion model tune {version} --validation MANIFEST (per-label thresholds; "
            "production when it validates at least as well)"
        ),
        "note": (
            f"images are stored at {STORED_SIZE} px (shorter side) by default; this model reads "
            f"{card.image_size} px: ingest with --image-size {card.image_size} for full detail"
            if card.image_size > STORED_SIZE
            else ""
        ),
    }


def _check_name(models_root: Path, name: str | None) -> str:
    if name is None:
        return new_version_name()
    if name in list_versions(models_root):
        raise BadInput(f"--name {name!r}: that model version exists already")
    return name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
