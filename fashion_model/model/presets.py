"""Train and eval transform presets, built from a model's preprocessing as its card records it
(size, mean, std), the way torchvision's `weights.transforms()` does; scoring, predict and
similarity search build theirs from the card, so every path sees the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its input: a square of `image_size` pixels (the whole photo
    resized, never cropped: the garment stays in), normalised with `mean` and `std`."""

    image_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def train_preset(pre: Preprocessing) -> v2.Compose:
    """Augmentations that never change a label: no hue shift (colour is a label), flips are fine."""
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(
                pre.image_size, scale=(0.8, 1.0), ratio=(0.75, 1.33), antialias=True
            ),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.ColorJitter(brightness=0.15, contrast=0.15),
            v2.Normalize(pre.mean, pre.std),
        ]
    )


def eval_preset(pre: Preprocessing) -> v2.Compose:
    """Resize the whole photo to a square: the garment is never cropped away."""
    return v2.Compose([v2.PILToTensor(), *eval_tensor_preset(pre).transforms])


def eval_tensor_preset(pre: Preprocessing) -> v2.Compose:
    """The eval preset for an image already decoded to a uint8 CHW tensor (on any device):
    scoring uses it when JPEGs are decoded on the GPU."""
    return v2.Compose(
        [
            v2.Resize((pre.image_size, pre.image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(pre.mean, pre.std),
        ]
    )
