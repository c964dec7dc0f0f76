"""Scoring an ONNX model with onnxruntime, behind the interface scoring uses for a PyTorch
network (`logits_and_embeddings`, `to`, `eval`): the same rows land in the warehouse.

The card's `onnx` entry names the graph's input, its scores output (`logits`, or
`probabilities` already through a sigmoid) and its embeddings output (the pooled features, or
none: then the scores are the embedding). onnxruntime's CUDA provider is used when it is
installed and a GPU is there, else the CPU one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fashion_model.errors import BadInput

ONNX_EXTRA = "pip install 'fashion-attributes[onnx]'"


def runtime():
    try:
        import onnxruntime
    except ImportError:
        raise BadInput(f"ONNX models need onnxruntime: {ONNX_EXTRA}") from None
    return onnxruntime


def session(path: Path):
    """An inference session on the best provider available (CUDA, else CPU)."""
    ort = runtime()
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
        providers.insert(0, "CUDAExecutionProvider")
    from fashion_model.model.variants import onnx_threads

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = onnx_threads()  # one per core, no more
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own kinds
        text = str(error).strip().splitlines()
        raise BadInput(
            f"{path}: onnxruntime cannot load it ({text[0] if text else error})"
        ) from None


class OnnxNet:
    """An ONNX model as scoring sees a network."""

    def __init__(self, path: Path, card):
        self.path, self.card = Path(path), card
        self.session = session(self.path)
        names = card.onnx
        self.input = names["input"]
        self.scores, self.scores_are = names["scores"], names.get("scores_are", "logits")
        self.embeddings = names.get("embeddings")
        self.arch, self.embedding_dim = card.arch, card.embedding_dim

    def to(self, *args, **kwargs) -> OnnxNet:
        return self  # onnxruntime chose its provider when the session was made

    def eval(self) -> OnnxNet:
        return self

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(scores as logits, embeddings or None) of a float32 batch N x 3 x S x S."""
        wanted = [self.scores] + ([self.embeddings] if self.embeddings else [])
        outputs = self.session.run(wanted, {self.input: np.ascontiguousarray(images, np.float32)})
        scores = outputs[0].astype(np.float32, copy=False)
        if self.scores_are == "probabilities":
            with np.errstate(divide="ignore"):
                scores = np.log(scores) - np.log1p(-scores)  # back to logits; sigmoid undoes it
        return scores, (outputs[1] if self.embeddings else None)

    def logits_and_embeddings(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, features = self.run(images.detach().float().cpu().numpy())
        logits = torch.from_numpy(scores)
        features = logits if features is None else torch.from_numpy(features.astype(np.float32))
        return logits, torch.nn.functional.normalize(features.reshape(len(features), -1), dim=1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_embeddings(images)[0]
