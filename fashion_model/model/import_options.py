"""The options of `fashion model import`, checked once at the edge (the CLI's options are made
from these fields, and a Python caller gets the same one-line error). No torch import: the
command line reads these fields for its --help."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from fashion_model.config import StageConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KINDS = ("reference-ckpt", "torchvision", "onnx")


class ImportOptions(StageConfig):
    """What `fashion model import` is told, checked once (the CLI's options are made from these
    fields); None: the file's or the kind's default."""

    kind: str = Field(
        description="reference-ckpt (the reference project's Lightning checkpoint), "
        "torchvision (a resnet34/resnet50 state dict) or onnx"
    )
    arch: str | None = Field(
        None,
        description="resnet34 or resnet50 [reference-ckpt: resnet50; "
        "torchvision: from the weights]",
    )
    image_size: int | None = Field(
        None,
        ge=32,
        le=4096,
        description="input size in px [reference 512, torchvision 224, onnx: the graph's]",
    )
    mean: tuple[float, float, float] | None = Field(
        None, description="normalisation mean, three numbers: R,G,B"
    )
    std: tuple[float, float, float] | None = Field(
        None, description="normalisation std, three numbers: R,G,B"
    )
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="probability threshold for every label [the checkpoint's, else 0.5]",
    )
    resize: str | None = Field(
        None,
        description="squash (whole photo to a square) or crop "
        "(shorter side, centre square) [squash]",
    )
    name: str | None = Field(None, description="the version name [a new timestamped one]")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"is not one of {', '.join(KINDS)}")
        return value

    @field_validator("arch")
    @classmethod
    def _arch(cls, value: str | None) -> str | None:
        if value is not None:
            from fashion_model.model.net import ARCHS  # torch: only when an arch is named

            if value not in ARCHS:
                raise ValueError(f"is not one of {', '.join(ARCHS)}")
        return value

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _three_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):  # "0.485,0.456,0.406" from the command line
            value = value.replace(",", " ").split()
        if value is not None:
            numbers = [float(v) for v in value]
            if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
                raise ValueError("give three numbers, one per RGB channel")
            if info.field_name == "std" and min(numbers) <= 0:
                raise ValueError("every value must be above 0")
            return tuple(numbers)
        return value

    @field_validator("resize")
    @classmethod
    def _resize(cls, value: str | None) -> str | None:
        from fashion_model.model.presets import RESIZE_MODES  # imported when checked: --help

        if value is not None and value not in RESIZE_MODES:
            raise ValueError(f"is not one of {', '.join(RESIZE_MODES)}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        from fashion_model.model.registry import PRODUCTION  # numpy, only when checked

        if value is not None and (not NAME.match(value) or value == PRODUCTION):
            raise ValueError(
                "a version name is letters, digits, '.', '_' or '-' (at most 100, not 'production')"
            )
        return value
