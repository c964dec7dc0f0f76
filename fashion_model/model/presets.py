"""Train and eval transform presets; scoring imports `eval_preset` so both see the same pixels."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_preset(image_size: int) -> v2.Compose:
    """Augmentations that never change a label: no hue shift (colour is a label), flips are fine."""
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(image_size, scale=(0.8, 1.0), ratio=(0.75, 1.33), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.ColorJitter(brightness=0.15, contrast=0.15),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_preset(image_size: int) -> v2.Compose:
    """Resize the whole photo to a square: the garment is never cropped away."""
    return v2.Compose([v2.PILToTensor(), *eval_tensor_preset(image_size).transforms])


def eval_tensor_preset(image_size: int) -> v2.Compose:
    """The eval preset for an image already decoded to a uint8 CHW tensor (on any device):
    scoring uses it when JPEGs are decoded on the GPU."""
    return v2.Compose(
        [
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
