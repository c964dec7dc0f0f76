"""The network: torchvision ResNet34 with a multi-label head; logits and 512-d embeddings."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet34

EMBEDDING_DIM = 512


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
