"""`fashion colors`: the measured dominant colours of image files, for one-off use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import console


def colors_command(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, WebP, ...).")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='One JSON object per line: {"path": ..., "colors": [{"hex", "share", "name", '
            '"family", "l", "a", "b"}, ...]} largest share first, and "reason" when there are '
            "none.",
        ),
    ] = False,
) -> None:
    """The product's dominant colours in each photo (background, its shadow and a model's
    cropped skin left out): up to 5 of at least 5% each, with hex, CIELAB, share, shade name
    and family (an iMaterialist colour label). A file without colours says why; the command
    fails (exit 2) only when no file gives any."""
    from fashion_model.colors.measure import measure_file

    answered = 0
    for path in images:
        reading = measure_file(path)
        answered += bool(reading.colors)
        if as_json:
            record = {"path": str(path), "colors": [_ordered(c.as_dict()) for c in reading.colors]}
            if reading.reason:
                record["reason"] = reading.reason
            print(json.dumps(record), flush=True)
            continue
        console.print(f"[bold]{path}[/bold]", highlight=False)
        if reading.reason:
            console.print(f"  no colours: {reading.reason}", highlight=False)
        for color in reading.colors:
            console.print(
                f"  [on {color.hex}]    [/] {color.hex}  {100 * color.share:5.1f}%  "
                f"{color.name} ({color.family})",
                highlight=False,
            )
    if not answered:
        raise BadInput(f"no colours measured in {len(images)} image(s)")


def _ordered(color: dict) -> dict:
    keys = ("hex", "share", "name", "family", "l", "a", "b")
    return {key: color[key] for key in keys}
