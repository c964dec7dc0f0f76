"""What the benchmarks share: a registered, untrained ResNet34 that predicts as a trained one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import torch

from fashion_model.labels import default_label_map
from fashion_model.model.datasets import ImageFiles
from fashion_model.model.net import AttributeNet
from fashion_model.model.presets import Preprocessing, eval_preset
from fashion_model.model.registry import ModelCard, save_version, set_production

LABELS_PER_IMAGE = 10  # about what a trained model predicts per product photo


def make_model(root: Path, image_size: int, sample: list[str]) -> AttributeNet:
    """Register an untrained model as production under root/models. Its threshold is set on
    the `sample` image files so that about LABELS_PER_IMAGE labels per image pass it, as with a
    trained model (at 0.5 an untrained one predicts about half of the 228, which would make
    writes unrealistically heavy)."""
    label_map = default_label_map()
    net = AttributeNet(len(label_map)).eval()
    images = ImageFiles(sample, eval_preset(Preprocessing(image_size)), image_size, colors=False)
    batch = torch.stack([images[i][0] for i in range(len(images))])
    with torch.inference_mode():
        logits, _ = net.logits_and_embeddings(batch)
    threshold = float(torch.sigmoid(logits).quantile(1 - LABELS_PER_IMAGE / len(label_map)))
    card = ModelCard(
        model_version="bench",
        created_at=datetime.now(UTC).isoformat(),
        arch="resnet34",
        image_size=image_size,
        label_ids=label_map.ids,
        label_map_fingerprint=label_map.fingerprint(),
        threshold=threshold,
        mean=[0.0] * 3,
        std=[1.0] * 3,
    )
    save_version(root / "models", net, card, label_map)
    set_production(root / "models", "bench")
    return net


def sample_paths(root: Path, manifest: Path, count: int = 64) -> list[str]:
    """The first `count` stored files of a manifest (to calibrate the bench model on)."""
    import pyarrow.parquet as pq

    first = sorted(manifest.glob("part-*.parquet"))[0]
    paths = pq.read_table(first, columns=["path"]).column("path").to_pylist()[:count]
    return [str(root / "images" / p) for p in paths if p is not None]  # None: not downloaded
