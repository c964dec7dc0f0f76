"""Runtime variants of a registered version: the same model as an onnxruntime-optimised fp32
graph (`onnx`) or a statically quantised int8 one (`onnx-int8`), made by `fashion model
optimize` and kept beside the version's own weights, in HOME/models/VERSION/variants/NAME/
(model.onnx, variant.json). A variant is not a new model version: scores stay the version's.

Which one scores is decided once, by `choose_runtime`: `auto` takes the fastest registered
variant for this machine (int8 on a CPU with int8 dot-product instructions, the version's own
weights on a GPU), or the one asked for.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import get_args

from fashion_model.config import ScoreConfig
from fashion_model.errors import BadInput

RUNTIMES = get_args(ScoreConfig.model_fields["runtime"].annotation)  # what --runtime takes
VARIANTS = ("onnx", "onnx-int8")  # what `fashion model optimize` makes
VARIANT_FILE, VARIANT_CARD = "model.onnx", "variant.json"
# The graph `export_onnx` writes (and so every variant of a PyTorch version) takes and gives
# (model/onnx_export.py names its graph's input and outputs from this):
EXPORTED_NAMES = {
    "input": "images",
    "scores": "probabilities",
    "scores_are": "probabilities",
    "embeddings": "embeddings",
}


def variant_folder(models_root: Path, version: str, name: str) -> Path:
    return Path(models_root) / version / "variants" / name


def list_variants(models_root: Path, version: str) -> dict[str, dict]:
    """The registered variants of a version: name -> its card (variant.json)."""
    found = {}
    for name in VARIANTS:
        card = variant_folder(models_root, version, name) / VARIANT_CARD
        if card.is_file():
            found[name] = json.loads(card.read_text(encoding="utf-8"))
    return found


@cache
def cpu_has_int8_dot() -> bool:
    """The CPU multiplies int8 with a dot-product instruction (x86 VNNI, ARM dotprod), where
    an int8 model runs several times faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.machine() == "arm64"  # Apple silicon has dotprod
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "asimddp"))


def choose_runtime(models_root: Path, version: str, runtime: str, on_gpu: bool = False) -> str:
    """What scores `version`: `torch` (its own weights, whatever runs them), `onnx` or
    `onnx-int8` (a registered variant). `auto`: on a GPU the version itself; on a CPU the int8
    variant when the CPU has int8 dot products, else the fp32 variant, else the version. A
    variant asked for by name must exist."""
    if runtime not in RUNTIMES:
        raise BadInput(f"--runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    variants = list_variants(models_root, version)
    if runtime == "auto":
        if on_gpu:
            return "torch"
        if "onnx-int8" in variants and cpu_has_int8_dot():
            return "onnx-int8"
        return "onnx" if "onnx" in variants else "torch"
    if runtime != "torch" and runtime not in variants:
        flag = " --int8" if runtime == "onnx-int8" else ""
        raise BadInput(
            f"model {version} has no {runtime} variant: `fashion model optimize "
            f"{version}{flag}` makes one"
        )
    return runtime


def variant_card(models_root: Path, card, runtime: str) -> tuple[object, Path]:
    """The card scoring uses for a variant of the version `card` describes (that card,
    running the variant's graph) and the graph's path."""
    folder = variant_folder(models_root, card.model_version, runtime)
    names = json.loads((folder / VARIANT_CARD).read_text(encoding="utf-8"))["onnx"]
    return replace(card, runtime="onnx", onnx=names), folder / VARIANT_FILE


def onnx_threads() -> int:
    """onnxruntime's intra-op threads: the cores this process may use (no oversubscription)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
