"""The readers behind `fashion model import` (imports.py): each kind of file checked and loaded
into a network or a graph, with what the file itself records. Checkpoints are read with torch's
weights-only unpickler (`fashion_model.model.checkpoints`); outputs are taken in the label map's
order."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap
from fashion_model.model.checkpoints import first_line, safe_load, tensor_dict
from fashion_model.model.import_options import ImportOptions
from fashion_model.model.net import ARCHS, AttributeNet, display
from fashion_model.model.presets import IMAGENET_MEAN, IMAGENET_STD, RESIZE_MODES

REFERENCE_MEAN = (0.6765, 0.6347, 0.6207)
REFERENCE_STD = (0.3284, 0.3371, 0.3379)
# What each kind assumes when the file and the options do not say.
DEFAULTS = {
    "reference-ckpt": {
        "arch": "resnet50",
        "image_size": 512,
        "mean": REFERENCE_MEAN,
        "std": REFERENCE_STD,
        "resize": "squash",
    },
    "torchvision": {
        "arch": None,
        "image_size": 224,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "resize": "squash",
    },
    "onnx": {
        "arch": "onnx",
        "image_size": None,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "resize": "squash",
    },
}


@dataclass
class Loaded:
    """A file read and checked: the network (torch) or graph bytes (onnx), and what it says."""

    payload: AttributeNet | bytes
    arch: str
    embedding_dim: int
    embedding_source: str = "pooled"
    runtime: str = "torch"
    onnx: dict | None = None
    threshold: float | None = None  # a probability
    found: dict | None = None  # preprocessing the file itself records
    details: dict | None = None  # for the card's source entry


# --- PyTorch files ---------------------------------------------------------------------------


def _reference(path: Path, options: ImportOptions, label_map: LabelMap, pre: dict) -> Loaded:
    content = safe_load(path)
    if not isinstance(content, dict) or "state_dict" not in content:
        keys = ", ".join(map(str, list(content)[:4])) if isinstance(content, dict) else ""
        raise BadInput(
            f"{path}: not a Lightning checkpoint (no 'state_dict'"
            + (f"; keys: {keys}" if keys else "")
            + "); a plain state dict is --kind torchvision"
        )
    state = tensor_dict(content["state_dict"], path, "state_dict")
    predictor = {
        k.removeprefix("predictor."): v for k, v in state.items() if k.startswith("predictor.")
    }
    if not predictor:
        raise BadInput(
            f"{path}: no 'predictor.*' weights in its state_dict (found e.g. "
            f"{next(iter(state), 'nothing')}): not the reference project's AttrPred_Resnet50"
        )
    hyper = content.get("hyper_parameters") or {}
    hyper = dict(hyper) if isinstance(hyper, dict) else {}
    arch = options.arch or DEFAULTS["reference-ckpt"]["arch"]
    net = _network(path, predictor, arch, label_map)
    declared = hyper.get("n_attributes")
    if declared is not None and int(declared) != len(label_map):
        raise BadInput(
            f"{path}: hyper_parameters n_attributes is {declared}, the label map has "
            f"{len(label_map)} labels"
        )
    logit = hyper.get("prediction_threshold")
    threshold = None
    if isinstance(logit, int | float) and math.isfinite(logit):
        threshold = 1.0 / (1.0 + math.exp(-float(logit)))  # applied to logits there
    details = {
        "lightning_version": content.get("pytorch-lightning_version"),
        "epoch": content.get("epoch"),
        "hyper_parameters": {k: v for k, v in hyper.items() if isinstance(v, int | float | str)},
    }
    return Loaded(
        net,
        arch,
        net.embedding_dim,
        threshold=threshold,
        details={k: v for k, v in details.items() if v is not None},
    )


def _torchvision(path: Path, options: ImportOptions, label_map: LabelMap, pre: dict) -> Loaded:
    content = safe_load(path)
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    state = tensor_dict(content, path, "the file")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):  # this project's own weights.pt
        state = {
            ("fc." + k.removeprefix("head."))
            if k.startswith("head.")
            else k.removeprefix("backbone."): v
            for k, v in state.items()
        }
    inferred = "resnet50" if "layer1.0.conv3.weight" in state else "resnet34"
    arch = options.arch or inferred
    net = _network(path, state, arch, label_map)
    return Loaded(net, arch, net.embedding_dim)


def _network(path: Path, weights: dict, arch: str, label_map: LabelMap) -> AttributeNet:
    """Weights keyed like a torchvision ResNet (`fc.*` the head) loaded into an AttributeNet,
    every key and shape checked; a mismatch is one line saying what."""
    head = weights.get("fc.weight")
    if head is None:
        raise BadInput(f"{path}: no fc.weight (the classifier layer) among its weights")
    width = ARCHS[arch][1]
    if head.ndim != 2 or head.shape[0] != len(label_map):
        raise BadInput(
            f"{path}: the classifier has {head.shape[0]} outputs, the label map has "
            f"{len(label_map)} labels"
        )
    if head.shape[1] != width:
        other = next((a for a, (_, w) in ARCHS.items() if w == head.shape[1]), None)
        hint = f" (that is {display(other)}: --arch {other})" if other else ""
        raise BadInput(
            f"{path}: the classifier takes {head.shape[1]} features, {display(arch)} gives "
            f"{width}{hint}"
        )
    net = AttributeNet(len(label_map), arch)
    mapped = {
        (f"head.{k[3:]}" if k.startswith("fc.") else f"backbone.{k}"): v for k, v in weights.items()
    }
    expected = net.state_dict()
    missing = [k for k in expected if k not in mapped]
    unexpected = [k for k in mapped if k not in expected]
    if missing or unexpected:
        example = _torchvision_key((missing or unexpected)[0])
        raise BadInput(
            f"{path}: not {display(arch)} weights: {len(missing)} missing and "
            f"{len(unexpected)} unexpected key(s), e.g. {'missing' if missing else 'unexpected'}"
            f" {example}"
        )
    for key, tensor in mapped.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise BadInput(
                f"{path}: {_torchvision_key(key)} has shape {tuple(tensor.shape)}, "
                f"{display(arch)} has {tuple(expected[key].shape)}"
            )
    try:
        net.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in mapped.items()}
        )
    except RuntimeError as error:
        raise BadInput(f"{path}: not {display(arch)} weights ({first_line(error)})") from None
    return net.eval()


def _torchvision_key(key: str) -> str:
    return ("fc." + key[5:]) if key.startswith("head.") else key.removeprefix("backbone.")


# --- ONNX files ------------------------------------------------------------------------------


def _onnx(path: Path, options: ImportOptions, label_map: LabelMap, pre: dict) -> Loaded:
    from fashion_model.model.onnx_net import ONNX_EXTRA, session

    try:
        import onnx
    except ImportError:
        raise BadInput(f"importing ONNX models needs onnx: {ONNX_EXTRA}") from None
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as error:  # noqa: BLE001 - onnx raises many kinds for a bad file
        raise BadInput(f"{path}: not a valid ONNX model ({first_line(error)})") from None
    graph = model.graph
    initialisers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise BadInput(f"{path}: the graph has {len(inputs)} inputs; one image input is needed")
    dims = [
        d.dim_value if d.HasField("dim_value") else None
        for d in inputs[0].type.tensor_type.shape.dim
    ]
    if len(dims) != 4 or dims[1] not in (3, None):
        raise BadInput(f"{path}: input {inputs[0].name!r} is not N x 3 x S x S (shape {dims})")
    fixed = dims[2] if dims[2] == dims[3] and dims[2] else None
    if fixed and pre["image_size"] and pre["image_size"] != fixed:
        raise BadInput(f"--image-size {pre['image_size']}: the graph takes {fixed} x {fixed}")
    found = _onnx_metadata(model, path, label_map)
    found.setdefault("image_size", fixed)
    size = pre["image_size"] or found["image_size"]
    if size is None:
        raise BadInput(f"{path}: the graph's input size is not fixed; pass --image-size")
    outputs = [o.name for o in graph.output]
    if "probabilities" in outputs:
        scores, scores_are = "probabilities", "probabilities"
    elif len(outputs) == 1 or "logits" in outputs:
        scores, scores_are = ("logits" if "logits" in outputs else outputs[0]), "logits"
    else:
        raise BadInput(
            f"{path}: outputs {', '.join(outputs)}: say which are the scores by naming it "
            "'logits' or 'probabilities'"
        )
    embeddings = "embeddings" if "embeddings" in outputs else _expose_features(model, scores)
    payload = model.SerializeToString()
    names = {
        "input": inputs[0].name,
        "scores": scores,
        "scores_are": scores_are,
        "embeddings": embeddings,
    }
    width = _try_onnx(path, payload, names, size, label_map, session)
    return Loaded(
        payload,
        options.arch or "onnx",
        width or len(label_map),
        embedding_source="pooled" if width else "logits",
        runtime="onnx",
        onnx=names if width else {**names, "embeddings": None},
        found=found,
        details={"opset": max((o.version for o in model.opset_import), default=None)},
    )


def _onnx_metadata(model, path: Path, label_map: LabelMap) -> dict:
    """Preprocessing and thresholds that this project's export writes into the metadata."""
    meta = {p.key: p.value for p in model.metadata_props}
    found: dict = {}
    try:
        if "label_ids" in meta and json.loads(meta["label_ids"]) != label_map.ids:
            raise BadInput(f"{path}: its label ids (metadata) are not the label map's, in order")
        if "image_size" in meta:
            found["image_size"] = int(meta["image_size"])
        if meta.get("resize") in RESIZE_MODES:
            found["resize"] = meta["resize"]
        for key in ("mean", "std", "thresholds"):
            if key in meta:
                found[key] = [float(v) for v in json.loads(meta[key])]
    except (ValueError, TypeError):
        raise BadInput(f"{path}: unreadable fashion metadata in the ONNX file") from None
    return found


def _expose_features(model, scores: str) -> str | None:
    """Add the input of the layer producing `scores` (Gemm, or MatMul + Add, behind an optional
    Sigmoid) as a graph output: the pooled features. None when the graph ends otherwise."""
    from onnx import TensorProto, helper

    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get(scores)
    for _ in range(3):
        if node is None:
            return None
        if node.op_type in ("Gemm", "MatMul"):
            break
        if node.op_type in ("Sigmoid", "Add", "Identity", "Flatten", "Reshape"):
            node = (
                producers.get(node.input[0])
                if node.op_type != "Add"
                else next(
                    (
                        producers.get(i)
                        for i in node.input
                        if producers.get(i) is not None
                        and producers[i].op_type in ("MatMul", "Gemm")
                    ),
                    None,
                )
            )
            continue
        return None
    if node is None or node.op_type not in ("Gemm", "MatMul"):
        return None
    features = node.input[0]
    if features not in {o.name for o in model.graph.output}:
        model.graph.output.append(helper.make_tensor_value_info(features, TensorProto.FLOAT, None))
    return features


def _try_onnx(path, payload, names, size, label_map, session) -> int | None:
    """Run the graph once (2 blank images): scores must be N x labels; the width of the
    embeddings (None: unusable, the scores serve)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".onnx") as handle:
        handle.write(payload)
        handle.flush()
        runner = session(Path(handle.name))
        wanted = [names["scores"]] + ([names["embeddings"]] if names["embeddings"] else [])
        try:
            outputs = runner.run(wanted, {names["input"]: np.zeros((2, 3, size, size), np.float32)})
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own kinds
            raise BadInput(
                f"{path}: the graph does not run on 2 x 3 x {size} x {size} ({first_line(error)})"
            ) from None
    scores = outputs[0]
    if scores.ndim != 2 or scores.shape[1] != len(label_map):
        raise BadInput(
            f"{path}: output {names['scores']!r} has shape {list(scores.shape)}; "
            f"N x {len(label_map)} (one score per label) is needed"
        )
    if len(outputs) < 2:
        return None
    features = outputs[1].reshape(len(outputs[1]), -1)
    return int(features.shape[1]) if len(outputs[1]) == 2 else None


def reference_checkpoint(net: torch.nn.Module, n_labels: int = 228) -> dict:
    """A checkpoint of the reference project's layout around a torchvision ResNet (`predictor`):
    what its Lightning 1.x training saved. For tests and demos that have no released file."""
    return {
        "epoch": 3,
        "global_step": 0,
        "pytorch-lightning_version": "1.2.4",
        "state_dict": {f"predictor.{k}": v for k, v in net.state_dict().items()},
        "hparams_name": "kwargs",
        "hyper_parameters": {"n_attributes": n_labels, "prediction_threshold": 0.0},
    }


def read_model(path: Path, options: ImportOptions, label_map: LabelMap, pre: dict) -> Loaded:
    """`path` read as `options.kind` (checked by the caller), or one line saying what is wrong."""
    reader = {"reference-ckpt": _reference, "torchvision": _torchvision, "onnx": _onnx}
    return reader[options.kind](path, options, label_map, pre)
