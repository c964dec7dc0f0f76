"""ONNX export of a registered model version, checked against PyTorch with onnxruntime.

The graph takes `images` (float32, N x 3 x S x S, already normalised with the card's mean and
std, S = the card's image size; N is dynamic) and returns `probabilities` (N x labels, sigmoid
of the logits, in the card's label order) and `embeddings` (N x the model's width: 512 for
ResNet34, 2048 for ResNet50; L2-normalised), exactly what scoring stores. The label ids,
per-label thresholds, image size, resize mode, mean and std travel in the model's metadata
(`metadata_props`), so the file is usable on its own (and `fashion model import --kind onnx`
reads them back).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from fashion_model.errors import BadInput
from fashion_model.files import replacing
from fashion_model.model.net import AttributeNet
from fashion_model.model.registry import load_model, resolve_version
from fashion_model.model.variants import EXPORTED_NAMES

NAMES = EXPORTED_NAMES  # the graph's input and output names, declared in model/variants.py
TOLERANCE = 1e-4  # max absolute difference from PyTorch, probabilities and embeddings
CHECK_BATCH = 3


class _Scoring(torch.nn.Module):
    """What scoring computes: probabilities and normalised embeddings."""

    def __init__(self, net: AttributeNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embeddings = self.net.logits_and_embeddings(images)
        return torch.sigmoid(logits), embeddings


def export_onnx(models_root: Path, version: str | None, out: Path | None = None) -> dict:
    """Write the version as ONNX (default: beside its weights, `model.onnx`), atomically, and
    check onnxruntime's outputs against PyTorch's on a batch of CHECK_BATCH."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise BadInput(
            "ONNX export needs onnx, onnxscript and onnxruntime: "
            "pip install 'fashion-attributes[onnx]'"
        ) from None
    version = resolve_version(models_root, version)
    net, card, _ = load_model(models_root, version)
    if card.runtime == "onnx":
        raise BadInput(
            f"model {version} is an ONNX model already: "
            f"{Path(models_root) / version / card.weights_file}"
        )
    out = Path(out) if out else Path(models_root) / version / "model.onnx"
    module = _Scoring(net).eval()
    size = card.image_size
    example = torch.randn(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    with replacing(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (example,),
                input_names=[NAMES["input"]],
                output_names=[NAMES["scores"], NAMES["embeddings"]],
                dynamic_shapes={NAMES["input"]: {0: batch}},
                dynamo=True,
                verbose=False,
            )
        model = program.model_proto
        metadata = {
            "fashion_model_version": version,
            "label_ids": json.dumps(card.label_ids),
            "thresholds": json.dumps([float(t) for t in card.label_thresholds()]),
            "image_size": str(size),
            "resize": card.resize,
            "mean": json.dumps(card.mean),
            "std": json.dumps(card.std),
        }
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save_model(model, str(tmp))
        check = torch.randn(CHECK_BATCH, 3, size, size)
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        probs, embeddings = session.run(None, {NAMES["input"]: check.numpy()})
        with torch.inference_mode():
            want_probs, want_embeddings = module(check)
        diff = max(
            float(np.abs(probs - want_probs.numpy()).max()),
            float(np.abs(embeddings - want_embeddings.numpy()).max()),
        )
        if not diff <= TOLERANCE:
            raise BadInput(
                f"ONNX export of {version}: outputs differ from PyTorch by {diff:.2g} "
                f"(tolerance {TOLERANCE:g}); not written"
            )
    return {
        "model_version": version,
        "path": str(out),
        "bytes": out.stat().st_size,
        "input": f"images float32 [N, 3, {size}, {size}] (normalised)",
        "outputs": (
            f"probabilities [N, {len(card.label_ids)}], embeddings [N, {card.embedding_dim}]"
        ),
        "max_abs_difference": float(f"{diff:.3g}"),
        "tolerance": TOLERANCE,
    }
