"""`fashion model optimize`: a registered version as faster runtime variants, each checked
against the version itself before it is registered beside it (`model/variants.py`).

`onnx`: the version as ONNX (exported and checked against PyTorch, or an ONNX import's own
graph), with onnxruntime's graph optimisations applied and saved. `onnx-int8` (--int8): the
same graph statically quantised, QDQ format, per-channel int8 weights and uint8 activations of
every convolution, the activation ranges calibrated on images of a manifest; the head and the
pooled embeddings stay fp32. A variant whose validation micro-F1 falls more than
`max_f1_drop` points below the version's is refused with that figure, and so is one whose
embeddings drift (mean cosine to the version's below 0.99, or top-10 neighbours of the
validation images overlapping the version's below 0.95).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from fashion_model.config import OptimizeConfig
from fashion_model.errors import BadInput
from fashion_model.home import Home
from fashion_model.ingest.manifest import read_manifest, resolve_manifest
from fashion_model.model.registry import load_card, resolve_version
from fashion_model.model.variants import (
    EXPORTED_NAMES,
    VARIANT_CARD,
    VARIANT_FILE,
    variant_folder,
)

MIN_COSINE, MIN_OVERLAP, NEIGHBOURS = 0.99, 0.95, 10
BATCH = 32


class OptimizePlan(BaseModel):
    """What an optimize run does, checked once: the version, its labelled validation
    manifests, the calibration manifest and the options."""

    model_config = ConfigDict(frozen=True)

    models: Path
    images: Path
    version: str
    validation: tuple[Path, ...]
    calibrate: Path | None  # the int8 calibration manifest (None without int8)
    config: OptimizeConfig


def plan_optimize(
    home,
    version: str,
    config: OptimizeConfig | None = None,
    calibrate: str | None = None,
    validation: list[str] | None = None,
) -> OptimizePlan:
    """Check everything before any work: the version exists and its input size is known,
    the manifests exist, the calibration manifest has downloaded images, ONNX tools are there."""
    from fashion_model.ingest.manifest import catalog_manifests
    from fashion_model.model.onnx_net import runtime

    config = config or OptimizeConfig()
    paths = Home.resolve(home)
    version = resolve_version(paths.models, version)
    card = load_card(paths.models, version)
    if not isinstance(card.image_size, int) or card.image_size < 1:
        raise BadInput(
            f"model {version}: its input size is not known (image_size "
            f"{card.image_size!r}); import it again with --image-size"
        )
    runtime()
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise BadInput(
            "model optimize needs onnx: pip install 'fashion-attributes[onnx]'"
        ) from None
    checked = tuple(resolve_manifest(m, paths.manifests) for m in (validation or ["validation"]))
    source = None
    if calibrate:
        source = resolve_manifest(calibrate, paths.manifests)
    elif config.int8:  # production's view: a catalog; else the training images
        found = catalog_manifests(paths.manifests) or [paths.manifests / "train"]
        source = resolve_manifest(str(found[0]), paths.manifests)
    if source and not calibration_paths(source, paths.images, 1):
        raise BadInput(f"manifest {source.name}: no downloaded images to calibrate on")
    return OptimizePlan(
        models=paths.models,
        images=paths.images,
        version=version,
        validation=checked,
        calibrate=source,
        config=config,
    )


def calibration_paths(manifest: Path, images_root: Path, count: int) -> list[str]:
    """The first `count` downloaded images of a manifest, by content hash (deterministic)."""
    table = read_manifest(manifest, columns=["status", "sha256", "path"]).to_pylist()
    ok = sorted({r["sha256"]: r["path"] for r in table if r["status"] == "ok"}.items())
    return [str(Path(images_root) / path) for _, path in ok[:count]]


def optimize(
    plan: OptimizePlan, log: Callable[[str], None] = print, refused_ok: bool = False
) -> dict:
    """Build, check and register the variants; returns their cards. A refused variant is a
    BadInput naming its figure, after the others are registered; with `refused_ok` (a demo
    or a pipeline that scores with whatever passed) the refusals are returned instead."""
    from fashion_model.model.datasets import labelled_rows
    from fashion_model.model.onnx_net import OnnxNet
    from fashion_model.model.registry import load_model

    net, card, label_map = load_model(plan.models, plan.version)
    rows = labelled_rows(list(plan.validation), plan.images, label_map)
    paths = [p for split in rows.values() for p in split[0]]
    targets = np.concatenate([split[1] for split in rows.values()])
    log(f"{plan.version}: {len(paths)} validation images, the version itself first")
    source = _outputs(net, card, paths)
    built, refused = {}, []
    with tempfile.TemporaryDirectory(dir=plan.models / plan.version) as folder:
        graph, names = _source_graph(plan, card, Path(folder))
        candidates = {"onnx": _optimised(graph, Path(folder) / "onnx.onnx")}
        extras = {"onnx": {}}
        if plan.config.int8:
            calibration = calibration_paths(plan.calibrate, plan.images, plan.config.images)
            log(
                f"calibrating int8 activations on {len(calibration)} images of "
                f"{plan.calibrate.name}"
            )
            candidates["onnx-int8"] = _quantised(graph, Path(folder), card, names, calibration)
            extras["onnx-int8"] = {
                "calibration": {"manifest": plan.calibrate.name, "images": len(calibration)}
            }
        for name, path in candidates.items():
            variant = OnnxNet(path, replace(card, runtime="onnx", onnx=names))
            figures = _compare(card, label_map, source, _outputs(variant, card, paths), targets)
            drop = 100 * (figures["source_micro_f1"] - figures["variant_micro_f1"])
            why = []
            if drop > plan.config.max_f1_drop:
                why.append(
                    f"micro-F1 {figures['variant_micro_f1']:.4f} against "
                    f"{figures['source_micro_f1']:.4f}, {drop:.2f} points below "
                    f"(--max-f1-drop {plan.config.max_f1_drop:g})"
                )
            cosine = figures["embedding_cosine_mean"]
            if cosine < MIN_COSINE:
                why.append(f"embedding cosine {cosine:.4f} < {MIN_COSINE}")
            if figures["top10_overlap"] < MIN_OVERLAP:
                why.append(f"top-10 overlap {figures['top10_overlap']:.3f} < {MIN_OVERLAP}")
            if why:
                refused.append(f"{name} refused: {'; '.join(why)}")
                continue
            built[name] = _register(plan, name, path, names, figures, extras[name])
            log(
                f"{name}: registered (micro-F1 {figures['variant_micro_f1']:.4f} against "
                f"{figures['source_micro_f1']:.4f}, embedding cosine "
                f"{figures['embedding_cosine_mean']:.4f}, top-10 overlap "
                f"{figures['top10_overlap']:.3f})"
            )
    if refused and not refused_ok:
        kept = f"; registered: {', '.join(built)}" if built else "; nothing registered"
        raise BadInput(f"model optimize {plan.version}: {'; '.join(refused)}{kept}")
    return {"model_version": plan.version, "variants": built, "refused": refused}


def _outputs(net, card, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and embeddings of image files, in order."""
    import torch

    probs, vectors = [], []
    with torch.inference_mode():
        for batch in image_batches(card, paths):
            logits, embeddings = net.logits_and_embeddings(torch.from_numpy(batch))
            probs.append(torch.sigmoid(logits).numpy())
            vectors.append(embeddings.float().numpy())
    return np.concatenate(probs), np.concatenate(vectors)


def image_batches(card, paths: list[str]) -> Iterator[np.ndarray]:
    """Image files as the model takes them (its eval preset), BATCH at a time; a file that
    does not decode is bad input."""
    from torch.utils.data import DataLoader

    from fashion_model.model.datasets import ImageFiles
    from fashion_model.model.presets import eval_preset

    files = ImageFiles(paths, eval_preset(card.preprocessing), card.image_size, colors=False)
    for images, ok in DataLoader(files, batch_size=BATCH):
        if not bool(ok.all()):
            raise BadInput("an image of the validation or calibration manifest does not decode")
        yield images.numpy()


def _compare(card, label_map, source, variant, targets: np.ndarray) -> dict:
    from fashion_model.model.metrics import micro_f1, per_task_f1

    thresholds = card.label_thresholds()
    tasks = [label_map.labels[label_map.position[i]].task for i in card.label_ids]
    cosine = np.sum(source[1] * variant[1], axis=1) / (
        np.linalg.norm(source[1], axis=1) * np.linalg.norm(variant[1], axis=1)
    )
    return {
        "validation_images": len(targets),
        "source_micro_f1": round(micro_f1(source[0], targets, thresholds), 4),
        "variant_micro_f1": round(micro_f1(variant[0], targets, thresholds), 4),
        "source_f1_by_task": per_task_f1(source[0], targets, thresholds, tasks),
        "variant_f1_by_task": per_task_f1(variant[0], targets, thresholds, tasks),
        "embedding_cosine_mean": round(float(cosine.mean()), 5),
        "top10_overlap": round(_overlap(source[1], variant[1]), 4),
    }


def _overlap(first: np.ndarray, second: np.ndarray) -> float:
    """Mean share of each image's top-10 neighbours (cosine, itself left out) that two
    embeddings of the same images agree on."""
    k = min(NEIGHBOURS, len(first) - 1)
    if k < 1:
        return 1.0

    def top(vectors: np.ndarray) -> np.ndarray:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argsort(-similarity, axis=1)[:, :k]

    a, b = top(first), top(second)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)]))


def _source_graph(plan: OptimizePlan, card, folder: Path) -> tuple[Path, dict]:
    """The version as an ONNX graph and its input/output names."""
    if card.runtime == "onnx":
        return plan.models / plan.version / card.weights_file, dict(card.onnx)
    from fashion_model.model.onnx_export import export_onnx

    out = folder / "source.onnx"
    export_onnx(plan.models, plan.version, out)
    return out, dict(EXPORTED_NAMES)


def _optimised(graph: Path, out: Path) -> Path:
    """onnxruntime's graph optimisations (constant folding, Conv+BN+ReLU fusion, ...) saved;
    the extended level only, so the file runs on any CPU."""
    from fashion_model.model.onnx_net import runtime

    ort = runtime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    return out


def _quantised(graph: Path, folder: Path, card, names: dict, calibration: list[str]) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = image_batches(card, calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {names["input"]: batch}

    prepared, out = folder / "prepared.onnx", folder / "int8.onnx"
    quant_pre_process(str(graph), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
        calibrate_method=CalibrationMethod.MinMax,
    )
    return out


def _register(
    plan: OptimizePlan, name: str, graph: Path, names: dict, figures: dict, extra: dict
) -> dict:
    """Write the variant whole (staging folder, then rename), replacing an older one."""
    from fashion_model.model.onnx_net import runtime

    final = variant_folder(plan.models, plan.version, name)
    staging = final.with_name(f".staging-{name}-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    card = {
        "variant": name,
        "source_version": plan.version,
        "runtime": "onnxruntime",
        "onnxruntime": runtime().__version__,
        "precision": "int8" if name == "onnx-int8" else "fp32",
        "onnx": names,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bytes": graph.stat().st_size,
        **extra,
        **figures,
    }
    try:
        shutil.copyfile(graph, staging / VARIANT_FILE)
        (staging / VARIANT_CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
        old = final.with_name(f".old-{name}-{uuid.uuid4().hex[:8]}")
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card
