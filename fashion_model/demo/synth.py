"""Synthetic catalog: procedurally drawn product photos labelled with real iMaterialist label ids.

It is the embedded default data: labelled train/validation sets in the iMaterialist JSON format,
and a 12-month product catalog CSV with planted trends plus its ground truth. Every image is drawn
from its own seeded generator, so the output is deterministic for a seed and can be drawn in
parallel.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from fashion_model.demo import DEFAULT_BASE_URL
from fashion_model.demo.drawing import (
    CATEGORIES,
    COLORS,
    SLEEVED,
    SLEEVES,
    Garment,
    draw_photo,
)
from fashion_model.demo.feeds import FEED_FORMATS, write_feeds
from fashion_model.errors import BadInput
from fashion_model.files import replacing, write_json
from fashion_model.labels import default_label_map

CATALOG_START = date(2025, 12, 1)  # fixed, so that a seed always gives the same catalog
CATALOG_MONTHS = 12

# Retailers and their brands; the planted trends below refer to these names.
RETAILERS = {
    "Northwind": ("Northwind Basics", "Atelier Nord"),
    "Southbay": ("Southbay", "Coral & Co"),
    "Eastpeak": ("Eastpeak Studio", "Summit Wear"),
}
PRICE_RANGE = {
    "Dresses": (39, 149),
    "T-Shirts": (9, 39),
    "Trousers": (29, 99),
    "Skirts": (25, 89),
    "Jackets": (59, 249),
    "Sneakers": (49, 159),
}


@dataclass(frozen=True)
class PlantedTrend:
    retailer: str
    task: str
    label: str
    share_first_month: float
    share_last_month: float

    def share(self, month_index: int) -> float:
        step = month_index / (CATALOG_MONTHS - 1)
        return self.share_first_month + (self.share_last_month - self.share_first_month) * step


# The first trend is the one the demo shows. Colour is what a 64 px model trained for a few
# minutes on 2 CPU cores resolves reliably; the pattern trends are there for models trained at
# higher resolution (a from-scratch ResNet34 at 64 px stays near chance on patterns).
PLANTED_TRENDS = (
    PlantedTrend("Northwind", "color", "Red", 0.06, 0.5),
    PlantedTrend("Northwind", "pattern", "Stripes", 0.08, 0.62),
    PlantedTrend("Southbay", "pattern", "Floral", 0.45, 0.08),
)


@dataclass
class SynthSummary:
    out: str
    base_url: str
    seed: int
    train_images: int
    validation_images: int
    products: int
    missing_catalog_images: int
    months: int
    planted_trends: list[dict] = field(default_factory=list)
    feed_formats: list[str] = field(default_factory=list)  # feeds/ and feeds.yaml when given


# --------------------------------------------------------------------------- sampling


Mix = dict[str, dict[str | None, float]]  # task -> label (None: no label) -> weight

BASE_MIX: Mix = {
    "color": dict.fromkeys(COLORS, 1.0 / len(COLORS)),
    "pattern": {None: 0.4, "Stripes": 0.15, "Polka Dot": 0.15, "Plaid": 0.15, "Floral": 0.15},
}


def _draw(rng: np.random.Generator, weights: dict[str | None, float]) -> str | None:
    names = list(weights)
    odds = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=odds / odds.sum()))]


def sample_garment(rng: np.random.Generator, mix: Mix = BASE_MIX) -> Garment:
    category = str(rng.choice(CATEGORIES))
    color = str(_draw(rng, mix["color"]))
    pattern = _draw(rng, mix["pattern"])
    if category == "Sneakers":
        pattern = None  # sneakers are drawn plain
    sleeve = None
    if category in SLEEVED:
        odds = {"T-Shirts": (0.15, 0.7, 0.15), "Jackets": (0.85, 0.15, 0.0)}
        sleeve = str(rng.choice(SLEEVES, p=odds.get(category, (0.34, 0.33, 0.33))))
    if category in ("Dresses", "Skirts"):
        gender = "Female"
    elif category == "Sneakers":
        gender = "Neutral"
    else:
        gender = "Female" if rng.random() < 0.5 else "Male"
    return Garment(category, color, pattern, sleeve, gender)


def mix_for(retailer: str | None, month_index: int) -> Mix:
    """The colour and pattern mix of a retailer in a month, with the planted trends applied."""
    mix = {task: dict(weights) for task, weights in BASE_MIX.items()}
    for trend in PLANTED_TRENDS:
        if trend.retailer == retailer:
            weights = mix[trend.task]
            share = trend.share(month_index)
            rest = sum(v for k, v in weights.items() if k != trend.label)
            mix[trend.task] = {k: v * (1 - share) / rest for k, v in weights.items()}
            mix[trend.task][trend.label] = share
    return mix


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


def _render(job: tuple[str, Garment, int, int, int]) -> None:
    """Worker: draw one photo and write it atomically (runs in a process pool)."""
    path, garment, seed, stream, index = job
    rng = _rng(seed, stream + 100, index)
    photo = draw_photo(garment, rng)
    with replacing(path) as tmp:
        photo.save(tmp, "JPEG", quality=int(rng.integers(72, 95)))


# --------------------------------------------------------------------------- the command


def _labelled_split(name: str, count: int, stream: int, seed: int, out: Path, base_url: str):
    images, annotations, jobs = [], [], []
    label_map = default_label_map()
    for index in range(count):
        garment = sample_garment(_rng(seed, stream, index))
        image_id = str(index + 1)
        relative = f"images/{name}/{image_id}.jpg"
        images.append({"url": f"{base_url}/{relative}", "imageId": image_id})
        labels = [str(i) for i in garment.label_ids(label_map)]
        annotations.append({"labelId": labels, "imageId": image_id})
        jobs.append((str(out / relative), garment, seed, stream, index))
    return {"images": images, "annotations": annotations}, jobs


def _month_start(index: int) -> date:
    year = CATALOG_START.year + (CATALOG_START.month - 1 + index) // 12
    return date(year, (CATALOG_START.month - 1 + index) % 12 + 1, 1)


def _catalog(products: int, seed: int, out: Path, base_url: str, missing_share: float):
    label_map = default_label_map()
    rows, truth, jobs, missing = [], [], [], 0
    retailers = list(RETAILERS)
    for index in range(products):
        rng = _rng(seed, 3, index)
        retailer = retailers[index % len(retailers)]
        month = index * CATALOG_MONTHS // products  # months fill in order, evenly
        garment = sample_garment(rng, mix_for(retailer, month))
        start = _month_start(month)
        days = (_month_start(month + 1) - start).days
        first_seen = start + timedelta(days=int(rng.integers(0, days)))
        product_id = f"{retailer[:2].upper()}-{index + 1:06d}"
        relative = f"images/catalog/{product_id}.jpg"
        low, high = PRICE_RANGE[garment.category]
        rows.append(
            {
                "product_id": product_id,
                "image_url": f"{base_url}/{relative}",
                "brand": str(rng.choice(RETAILERS[retailer])),
                "retailer": retailer,
                "title": f"{garment.color} {garment.pattern or 'plain'} {garment.category}".lower(),
                "first_seen": first_seen.isoformat(),
                "price": f"{rng.uniform(low, high):.2f}",
                "currency": "EUR",
            }
        )
        truth.extend(
            {"product_id": product_id, "label_id": i} for i in garment.label_ids(label_map)
        )
        if rng.random() < missing_share:
            missing += 1  # a dead link, as on the real web: the URL is listed, no file is served
        else:
            jobs.append((str(out / relative), garment, seed, 3, index))
    return rows, truth, jobs, missing


def _write_csv(path: Path, rows: list[dict]) -> None:
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def check_arguments(
    out: Path, products: int, base_url: str, feed_formats: tuple[str, ...] = ()
) -> None:
    """Refuse bad options before any work starts."""
    for fmt in feed_formats:
        if fmt not in FEED_FORMATS:
            raise BadInput(f"--feed-format {fmt!r} is not one of {', '.join(FEED_FORMATS)}")
    if products < len(RETAILERS):
        raise BadInput(f"--products must be at least {len(RETAILERS)} (one per retailer)")
    if not base_url.startswith(("http://", "https://")):
        raise BadInput(f"--base-url must start with http:// or https://, got {base_url!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"{out}: output folder exists and is not empty")


def synthesize_catalog(
    out: Path,
    products: int,
    seed: int = 0,
    base_url: str = DEFAULT_BASE_URL,
    train_images: int | None = None,
    validation_images: int | None = None,
    missing_share: float = 0.02,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    feed_formats: tuple[str, ...] = (),
) -> SynthSummary:
    """Write train.json, validation.json, catalog.csv, truth.csv and the images under `out`;
    with `feed_formats`, also one feed per retailer under feeds/ and feeds.yaml listing them.

    The whole output is built in a sibling temp folder and renamed into place, so a crash
    never leaves half a catalog behind.
    """
    check_arguments(out, products, base_url, feed_formats)
    base_url = base_url.rstrip("/")
    train_images = 2 * products if train_images is None else train_images
    validation_images = max(1, products // 2) if validation_images is None else validation_images
    out = Path(out).absolute()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("train", "validation", "catalog"):
        (staging / "images" / sub).mkdir(parents=True)

    train, train_jobs = _labelled_split("train", train_images, 1, seed, staging, base_url)
    validation, val_jobs = _labelled_split(
        "validation", validation_images, 2, seed, staging, base_url
    )
    rows, truth, catalog_jobs, missing = _catalog(products, seed, staging, base_url, missing_share)
    jobs = train_jobs + val_jobs + catalog_jobs
    workers = workers or min(os.cpu_count() or 1, 8)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(_render, jobs, chunksize=16), start=1):
            if progress:
                progress(done, len(jobs))

    write_json(staging / "train.json", train)
    write_json(staging / "validation.json", validation)
    _write_csv(staging / "catalog.csv", rows)
    _write_csv(staging / "truth.csv", truth)
    if feed_formats:  # the same catalog as real feeds come: one retailer per feed
        write_feeds(staging, rows, list(feed_formats))
    summary = SynthSummary(
        out=str(out),
        base_url=base_url,
        seed=seed,
        train_images=train_images,
        validation_images=validation_images,
        products=products,
        missing_catalog_images=missing,
        months=CATALOG_MONTHS,
        planted_trends=[asdict(t) for t in PLANTED_TRENDS],
        feed_formats=list(feed_formats),
    )
    write_json(staging / "synth.json", asdict(summary))
    if out.exists():
        out.rmdir()
    os.replace(staging, out)
    return summary
