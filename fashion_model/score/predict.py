"""Ad-hoc scoring: the attributes of a few images (local files or URLs), through the same path
as bulk scoring (stored at 256 px like an ingested image, the model's eval preset, its
threshold), with no database involved."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from fashion_model.config import DownloadConfig, default_of
from fashion_model.errors import BadInput
from fashion_model.ingest import store
from fashion_model.ingest.download import download_batch
from fashion_model.ingest.imaging import InvalidImage, process_image
from fashion_model.model.datasets import ImageFiles
from fashion_model.model.presets import eval_preset
from fashion_model.model.registry import load_model, resolve_version
from fashion_model.urls import is_url


@dataclass
class Prediction:
    image: str
    labels: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # task -> labels
    error: str | None = None
    probabilities: np.ndarray | None = None  # every label's, in label-map order
    embedding: np.ndarray | None = None  # the L2-normalised embedding, as scoring stores it
    label_ids: list[int] = field(default_factory=list)  # at or above the threshold
    stored_path: str | None = None  # the image as stored (256 px), while `scratch` exists

    def line(self) -> str:
        """`color: Black 0.93 | sleeve: Long Sleeved 0.88 | ...`, tasks in name order."""
        if self.error:
            return f"failed: {self.error}"
        if not self.labels:
            return "no label at or above the threshold"
        return " | ".join(
            f"{task}: " + ", ".join(f"{name} {score:.2f}" for name, score in found)
            for task, found in sorted(self.labels.items())
        )


def _store_local(path: Path, root: Path, image_size: int) -> str:
    """Process a local file as ingest would and store it; the stored path."""
    try:
        processed = process_image(path.read_bytes(), image_size)
    except InvalidImage as error:
        raise BadInput(f"{path}: not a readable image ({error})") from None
    _, relative = store.put(root, processed.data)
    return str(root / relative)


def predict_images(
    models_root: Path,
    images: list[str],
    model_version: str | None = None,
    allow_private: bool = default_of(DownloadConfig, "allow_private"),
    stored_size: int = 256,
    scratch: Path | None = None,
    model: tuple | None = None,
) -> tuple[str, list[Prediction]]:
    """Predicted labels (at or above the model's threshold) and embeddings per image, in the
    given order. Missing or unreadable local files are refused before any work; a URL that
    fails to download is reported on its own row. The processed images are kept in `scratch`
    when given (else in a temporary folder removed on return). `model`: the version already
    loaded (`load_model`'s net, card, label map), as a long-lived server keeps it."""
    if not images:
        raise BadInput("name at least one image file or URL")
    for image in images:
        if not is_url(image) and not Path(image).is_file():
            raise BadInput(f"{image}: image file not found")
    version = resolve_version(models_root, model_version)
    net, card, label_map = model or load_model(models_root, version)
    results = [Prediction(image) for image in images]
    with tempfile.TemporaryDirectory(prefix="fashion-predict-") as temporary:
        root = Path(scratch or temporary)
        paths: dict[int, str] = {}
        for index, image in enumerate(images):
            if not is_url(image):
                paths[index] = _store_local(Path(image), root, stored_size)
        urls = [(i, image) for i, image in enumerate(images) if is_url(image)]
        if urls:
            config = DownloadConfig(allow_private=allow_private, image_size=stored_size)
            outcomes = download_batch([url for _, url in urls], config, root)
            for (index, _), outcome in zip(urls, outcomes, strict=True):
                if outcome.status == "ok":
                    paths[index] = str(root / outcome.path)
                else:
                    results[index].error = outcome.error_message or outcome.status
        order = sorted(paths)
        loader = DataLoader(
            ImageFiles(
                [paths[i] for i in order],
                eval_preset(card.preprocessing),
                card.image_size,
                colors=False,
            ),
            batch_size=32,
        )
        probabilities, decoded, vectors = [], [], []
        with torch.inference_mode():
            for batch, ok in loader:
                logits, embeddings = net.logits_and_embeddings(batch)
                probabilities.append(torch.sigmoid(logits).numpy())
                vectors.append(embeddings.float().numpy())
                decoded.append(ok.numpy())
    if order:
        thresholds = card.label_thresholds()
        probs, ok = np.concatenate(probabilities), np.concatenate(decoded)
        embedded = np.concatenate(vectors)
        for row, index in enumerate(order):
            if not ok[row]:
                results[index].error = "the image could not be decoded"
                continue
            results[index].probabilities = probs[row]
            results[index].embedding = embedded[row]
            results[index].stored_path = paths[index]
            for position in np.flatnonzero(probs[row] >= thresholds):
                label = label_map.labels[position]
                results[index].label_ids.append(label.label_id)
                results[index].labels.setdefault(label.task, []).append(
                    (label.name, round(float(probs[row, position]), 4))
                )
            for found in results[index].labels.values():
                found.sort(key=lambda item: -item[1])
    return version, results
