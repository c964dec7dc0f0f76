"""The colour side of the scoring stage: measured colours (fashion_model.colors) as the rows
of `image_colors` and `color_measurements`, and the colour-only pass over images scored
before colours were measured."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from fashion_model.colors.measure import METHOD_VERSION, SIDE, ColorReading, measure_image
from fashion_model.sqlfiles import run_over_tables

if TYPE_CHECKING:
    import torch

WRITE_EVERY = 1024  # images per DuckDB transaction


def color_tables(shas: list[str], readings: list) -> dict[str, pa.Table]:
    """The colour readings of images as the Arrow tables insert_batch.sql takes: batch_colors
    (image_colors rows) and batch_color_status (color_measurements rows)."""
    rows = [
        (sha, rank, color)
        for sha, reading in zip(shas, readings, strict=True)
        for rank, color in enumerate(reading.colors, 1)
    ]
    colors = pa.table(
        {
            "image_sha256": pa.array([sha for sha, _, _ in rows], pa.string()),
            "rank": pa.array([rank for _, rank, _ in rows], pa.int32()),
            **{
                field: pa.array([getattr(c, field) for _, _, c in rows], kind)
                for field, kind in (
                    ("hex", pa.string()),
                    ("l", pa.float64()),
                    ("a", pa.float64()),
                    ("b", pa.float64()),
                    ("share", pa.float64()),
                    ("name", pa.string()),
                    ("family", pa.string()),
                )
            },
            "method_version": pa.array([METHOD_VERSION] * len(rows), pa.string()),
        }
    )
    status = pa.table(
        {
            "image_sha256": pa.array(shas, pa.string()),
            "method_version": pa.array([METHOD_VERSION] * len(shas), pa.string()),
            "colors": pa.array([len(r.colors) for r in readings], pa.int32()),
            "reason": pa.array([r.reason for r in readings], pa.string()),
        }
    )
    return {"batch_colors": colors, "batch_color_status": status}


def write_colors(con, shas: list[str], readings: list) -> None:
    """The colour readings of images already scored, in one transaction."""
    run_over_tables(con, color_tables(shas, readings), ["score/insert_colors.sql"])


def measure_colors(
    writer, images_root: Path, todo: pa.Table, write_every: int = WRITE_EVERY, progress=None
) -> int:
    """The colour-only pass: images scored before colours were measured (or with colours
    off) are read and measured, `write_every` to a transaction; a file that cannot be read
    is recorded with its reason, not measured again. Returns the images measured."""
    from fashion_model.ingest.imaging import load_rgb

    shas, readings = [], []
    for done, (sha, path) in enumerate(
        zip(todo["sha256"].to_pylist(), todo["path"].to_pylist(), strict=True), 1
    ):
        try:
            reading = measure_image(load_rgb(str(Path(images_root) / path), shorter_side=2 * SIDE))
        except (OSError, ValueError) as error:
            reading = ColorReading((), f"cannot read the image ({type(error).__name__})")
        shas.append(sha)
        readings.append(reading)
        if len(shas) >= write_every or done == todo.num_rows:
            writer.submit_colors(shas, readings)
            shas, readings = [], []
        if progress:
            progress(done)
    return todo.num_rows


def measure_tensor(image: torch.Tensor):
    """The colours of a decoded (3, h, w) uint8 image on any device."""
    import torch.nn.functional as F
    from PIL import Image

    scale = min(1.0, 2 * SIDE / max(image.shape[1:]))
    small = F.interpolate(image[None].float(), scale_factor=scale, mode="area")[0]
    pixels = small.round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()
    return measure_image(Image.fromarray(pixels))
