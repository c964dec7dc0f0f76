"""The network: torchvision ResNet34 with a multi-label head; logits and 512-d embeddings."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet34

from fashion_model.errors import BadInput

EMBEDDING_DIM = 512
# torchvision's ResNet34_Weights.IMAGENET1K_V1, where torch.hub keeps it. Never downloaded here.
IMAGENET_FILE = "resnet34-b627a593.pth"


class AttributeNet(nn.Module):
    def __init__(self, n_labels: int):
        super().__init__()
        backbone = resnet34(weights=None)  # weights are loaded from local files, never downloaded
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.head = nn.Linear(EMBEDDING_DIM, n_labels)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The 512-d global-average-pooled features (before the head)."""
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
    """Load ResNet34 weights into the backbone: a torchvision state dict (its `fc` is dropped)
    or one of this project's weights.pt (its `head` is dropped)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same bad input
        raise BadInput(f"{path}: not a PyTorch weights file ({_first_line(error)})") from None
    if not isinstance(state, dict):
        raise BadInput(f"{path}: not a state dict of ResNet34 weights")
    backbone = {
        key.removeprefix("backbone."): value
        for key, value in state.items()
        if not key.startswith(("fc.", "head."))
    }
    try:
        missing, unexpected = net.backbone.load_state_dict(backbone, strict=False)
    except RuntimeError as error:
        raise BadInput(f"{path}: not ResNet34 weights ({_first_line(error)})") from None
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise BadInput(
            f"{path}: not ResNet34 weights ({len(missing)} missing and {len(unexpected)} "
            f"unexpected keys, e.g. {example})"
        )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
