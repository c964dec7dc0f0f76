"""Train and eval transform presets, built from a model's preprocessing as its card records it
(size, resize mode, mean, std), the way torchvision's `weights.transforms()` does; scoring,
predict, similarity search, tuning and fine-tuning build theirs from the card, so every path
sees the same pixels.

Resize modes: `squash` resizes the whole photo to a square without keeping its aspect ratio
(the garment is never cropped away; the reference project's `Resize((512, 512))`), `crop`
resizes the shorter side to size / 0.875 and takes the centre square (torchvision's ImageNet
evaluation). Photos are resized by Pillow (bilinear, antialiased), as torchvision's
`Resize` does on a PIL image; JPEGs decoded on the GPU are resized as tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a preset is built: reading a card needs none
    from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("squash", "crop")
CROP_SHARE = 0.875  # `crop`: the centre square is this share of the resized shorter side


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its input: a square of `image_size` pixels (the whole photo
    resized, never cropped: the garment stays in), normalised with `mean` and `std`."""

    image_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "squash"

    def resize_steps(self) -> list:
        from torchvision.transforms import v2

        if self.resize == "crop":
            shorter = round(self.image_size / CROP_SHARE)
            return [v2.Resize(shorter, antialias=True), v2.CenterCrop(self.image_size)]
        return [v2.Resize((self.image_size, self.image_size), antialias=True)]


def train_preset(pre: Preprocessing) -> v2.Compose:
    """Augmentations that never change a label: no hue shift (colour is a label), flips are fine."""
    import torch
    from torchvision.transforms import v2

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
    """A PIL photo resized as the card says (by Pillow), then scaled and normalised."""
    from torchvision.transforms import v2

    return v2.Compose([*pre.resize_steps(), v2.PILToTensor(), *_normalise(pre)])


def eval_tensor_preset(pre: Preprocessing) -> v2.Compose:
    """The eval preset for an image already decoded to a uint8 CHW tensor (on any device):
    scoring uses it when JPEGs are decoded on the GPU."""
    from torchvision.transforms import v2

    return v2.Compose([*pre.resize_steps(), *_normalise(pre)])


def _normalise(pre: Preprocessing) -> list:
    import torch
    from torchvision.transforms import v2

    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]
