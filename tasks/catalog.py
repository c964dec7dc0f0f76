"""Task: draw the synthetic catalog."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from fashion_model.demo.synth import synthesize_catalog
from fashion_model.tasks.common import progress_reporter, publish_summary
from fashion_model.tasks.tracking import task


@task(name="synthesize-catalog", cache=False)
def synthesize_catalog_images(
    out: Path,
    products: int,
    seed: int,
    base_url: str,
    train_images: int | None = None,
    validation_images: int | None = None,
    feed_formats: tuple[str, ...] = (),
) -> dict:
    with progress_reporter("drawing images") as progress:
        summary = synthesize_catalog(
            out,
            products=products,
            seed=seed,
            base_url=base_url,
            train_images=train_images,
            validation_images=validation_images,
            progress=progress,
            feed_formats=feed_formats,
        )
    publish_summary("synthetic-catalog", asdict(summary), f"Synthetic catalog in {out}")
    return asdict(summary)
