"""The network: a torchvision ResNet (34 or 50) with a multi-label head; logits and pooled
embeddings (512-d for ResNet34, 2048-d for ResNet50)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet34, resnet50

from fashion_model.errors import BadInput

# The architectures a model version can have, with the width of their pooled features.
ARCHS = {"resnet34": (resnet34, 512), "resnet50": (resnet50, 2048)}
DEFAULT_ARCH = "resnet34"
# torchvision's ResNet34_Weights.IMAGENET1K_V1, where torch.hub keeps it. Never downloaded here.
IMAGENET_FILE = "resnet34-b627a593.pth"


def check_arch(arch: str, option: str = "--arch") -> str:
    if arch not in ARCHS:
        raise BadInput(f"{option} {arch!r} is not one of {', '.join(ARCHS)}")
    return arch


def display(arch: str) -> str:
    """`resnet50` -> `ResNet50`, as people write it."""
    return arch.replace("resnet", "ResNet")


class AttributeNet(nn.Module):
    def __init__(self, n_labels: int, arch: str = DEFAULT_ARCH):
        super().__init__()
        build, width = ARCHS[check_arch(arch)]
        backbone = build(weights=None)  # weights are loaded from local files, never downloaded
        backbone.fc = nn.Identity()
        self.arch, self.embedding_dim = arch, width
        self.backbone = backbone
        self.head = nn.Linear(width, n_labels)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The global-average-pooled features (before the head)."""
        return self.backbone(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))

    def logits_and_embeddings(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.embed(images)
        return self.head(features), nn.functional.normalize(features, dim=1)


def imagenet_weights_path() -> Path:
    """Where torchvision's ImageNet ResNet34 weights live: $TORCH_HOME/hub/checkpoints/."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def resolve_weights(choice: str) -> tuple[Path | None, str]:
    """`auto` (ImageNet when its file is there, else from scratch), `imagenet`, `none` or a
    file: (the weights file or None, what was chosen, in words)."""
    if choice == "none":
        return None, "none (from scratch)"
    if choice in ("auto", "imagenet"):
        path = imagenet_weights_path()
        if path.is_file():
            return path, f"imagenet ({path})"
        if choice == "auto":
            return None, f"none (from scratch: no ImageNet weights at {path})"
        raise BadInput(
            f"--weights imagenet: {path} not found; copy torchvision's {IMAGENET_FILE} there "
            "(this project never downloads), or pass --weights PATH or --weights none"
        )
    path = Path(choice)
    if not path.is_file():
        raise BadInput(f"--weights {choice}: no such file (imagenet, none or a weights file)")
    return path, f"file {path}"


def load_backbone(net: AttributeNet, path: Path) -> None:
    """Load ResNet weights into the backbone: a torchvision state dict (its `fc` is dropped)
    or one of this project's weights.pt (its `head` is dropped)."""
    from fashion_model.model.checkpoints import first_line

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same bad input
        raise BadInput(f"{path}: not a PyTorch weights file ({first_line(error)})") from None
    if not isinstance(state, dict):
        raise BadInput(f"{path}: not a state dict of {display(net.arch)} weights")
    backbone = {
        key.removeprefix("backbone."): value
        for key, value in state.items()
        if not key.startswith(("fc.", "head."))
    }
    try:
        missing, unexpected = net.backbone.load_state_dict(backbone, strict=False)
    except RuntimeError as error:
        raise BadInput(f"{path}: not {display(net.arch)} weights ({first_line(error)})") from None
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise BadInput(
            f"{path}: not {display(net.arch)} weights ({len(missing)} missing and "
            f"{len(unexpected)} unexpected keys, e.g. {example})"
        )
