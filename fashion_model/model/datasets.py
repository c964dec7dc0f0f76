"""Datasets over the manifest: labelled `ok` rows for training, stored images for scoring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset, default_collate

from fashion_model.colors.measure import measure_image
from fashion_model.errors import BadInput
from fashion_model.ingest.imaging import load_rgb
from fashion_model.ingest.manifest import read_manifest
from fashion_model.labels import LabelMap


class LabelledImages(Dataset):
    """(image tensor, multi-hot target) for labelled manifest rows."""

    def __init__(self, paths: list[str], targets: np.ndarray, transform: Callable, size: int):
        self.paths, self.targets, self.transform, self.size = paths, targets, transform, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = load_rgb(self.paths[index], shorter_side=self.size)
        return self.transform(image), torch.from_numpy(self.targets[index])


def labelled_rows(
    manifests: list[Path], images_root: Path, label_map: LabelMap
) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per split: image paths and multi-hot targets of the `ok` rows that carry labels."""
    by_split: dict[str, tuple[list[str], list[list[int]]]] = {}
    for manifest in manifests:
        table = read_manifest(manifest, columns=["status", "path", "labels", "split"])
        table = table.filter(pc.and_(pc.equal(table["status"], "ok"), pc.is_valid(table["labels"])))
        for path, labels, split in zip(
            table["path"].to_pylist(),
            table["labels"].to_pylist(),
            table["split"].to_pylist(),
            strict=True,
        ):
            unknown = [i for i in labels if i not in label_map.position]
            if unknown:
                raise BadInput(
                    f"{manifest}: label id {unknown[0]} is not in the label map "
                    f"{Path(label_map.source).name}; train with the label map the manifest "
                    "was made with"
                )
            paths, targets = by_split.setdefault(split or "train", ([], []))
            paths.append(str(Path(images_root) / path))
            targets.append([label_map.position[i] for i in labels])
    result = {}
    for split, (paths, positions) in by_split.items():
        targets = np.zeros((len(paths), len(label_map)), dtype=np.float32)
        for row, cols in enumerate(positions):
            targets[row, cols] = 1.0
        result[split] = (paths, targets)
    if not result or sum(len(p) for p, _ in result.values()) == 0:
        names = ", ".join(str(m) for m in manifests)
        raise BadInput(f"no downloaded, labelled images in manifest(s) {names}")
    return result


class ImageFiles(Dataset):
    """Stored images for scoring; a file that fails to decode yields a flag instead of an error.
    With `colors`, each item also carries the photo's measured colours (fashion_model.colors),
    taken from the pixels decoded for the model: the file is read once."""

    def __init__(self, paths: list[str], transform: Callable, size: int, colors: bool):
        self.paths, self.transform, self.size, self.colors = paths, transform, size, colors

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            image = load_rgb(self.paths[index], shorter_side=self.size)
            item = (self.transform(image), True)
            return (*item, measure_image(image)) if self.colors else item
        except (OSError, ValueError):
            item = (torch.zeros(3, self.size, self.size), False)
            return (*item, None) if self.colors else item


def collate_with_colors(items: list) -> tuple[torch.Tensor, torch.Tensor, list]:
    """A batch of ImageFiles(colors=True) items: images, flags, and the colour readings."""
    images, flags = default_collate([(image, ok) for image, ok, _ in items])
    return images, flags, [reading for _, _, reading in items]


class JpegBytes(Dataset):
    """Stored images as raw file bytes (uint8 tensors), for decoding a whole batch on the GPU;
    a file that cannot be read yields an empty tensor and a False flag."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            data = Path(self.paths[index]).read_bytes()
        except OSError:
            return torch.empty(0, dtype=torch.uint8), False
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), True


def collate_bytes(items: list) -> tuple[list[torch.Tensor], torch.Tensor]:
    return [data for data, _ in items], torch.tensor([ok for _, ok in items])
