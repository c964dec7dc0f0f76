"""Synthetic catalog: procedurally drawn product photos labelled with real iMaterialist label ids.

It is the embedded default data: labelled train/validation sets in the iMaterialist JSON format,
and a 12-month product catalog CSV with planted trends plus its ground truth. Every image is drawn
from its own seeded generator, so the output is deterministic for a seed and can be drawn in
parallel.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap, default_label_map

DEFAULT_BASE_URL = "http://127.0.0.1:8765"
CATALOG_START = date(2025, 12, 1)  # fixed, so that a seed always gives the same catalog
CATALOG_MONTHS = 12

CATEGORIES = ("Dresses", "T-Shirts", "Trousers", "Skirts", "Jackets", "Sneakers")
COLORS = {  # label name -> base RGB
    "Black": (28, 28, 30),
    "White": (236, 236, 232),
    "Red": (196, 32, 40),
    "Blue": (34, 72, 178),
    "Green": (40, 136, 64),
    "Yellow": (236, 200, 40),
    "Pink": (238, 146, 178),
    "Gray": (128, 128, 130),
}
PATTERNS = ("Stripes", "Polka Dot", "Plaid", "Floral")  # a plain garment has no pattern label
SLEEVED = {"Dresses", "T-Shirts", "Jackets"}
SLEEVES = ("Long Sleeved", "Short Sleeves", "Sleeveless")
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
class Garment:
    """What one photo shows; every field maps to a label except the drawing details."""

    category: str
    color: str
    pattern: str | None
    sleeve: str | None
    gender: str

    def label_ids(self, label_map: LabelMap) -> list[int]:
        ids = [
            label_map.label_id("category", self.category),
            label_map.label_id("color", self.color),
            label_map.label_id("gender", self.gender),
        ]
        if self.pattern:
            ids.append(label_map.label_id("pattern", self.pattern))
        if self.sleeve:
            ids.append(label_map.label_id("sleeve", self.sleeve))
        return sorted(ids)


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


# --------------------------------------------------------------------------- drawing


def _draw_pattern(
    size: tuple[int, int], pattern: str, ink: tuple[int, ...], rng: np.random.Generator, unit: float
) -> Image.Image:
    """An RGBA layer with the pattern drawn in `ink`; `unit` is the pattern period in pixels."""
    width, height = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    rgba = (*ink, 255)
    if pattern == "Stripes":
        thickness = max(2, int(unit * rng.uniform(0.35, 0.55)))
        vertical = rng.random() < 0.3
        offset = rng.uniform(0, unit)
        extent = width if vertical else height
        for start in np.arange(-unit + offset, extent + unit, unit):
            if vertical:
                draw.rectangle([start, 0, start + thickness, height], fill=rgba)
            else:
                draw.rectangle([0, start, width, start + thickness], fill=rgba)
    elif pattern == "Polka Dot":
        radius = unit * rng.uniform(0.18, 0.28)
        for row, y in enumerate(np.arange(rng.uniform(0, unit), height + unit, unit)):
            shift = unit / 2 if row % 2 else 0
            for x in np.arange(shift, width + unit, unit):
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=rgba)
    elif pattern == "Plaid":
        band = max(2, int(unit * 0.3))
        thin = max(1, int(unit * 0.08))
        translucent = (*ink, 150)
        for start in np.arange(rng.uniform(0, unit), max(width, height) + unit, unit * 1.5):
            draw.rectangle([start, 0, start + band, height], fill=translucent)
            draw.rectangle([0, start, width, start + band], fill=translucent)
            draw.rectangle([start + band * 2, 0, start + band * 2 + thin, height], fill=rgba)
            draw.rectangle([0, start + band * 2, width, start + band * 2 + thin], fill=rgba)
    elif pattern == "Floral":
        count = int(width * height / (unit * unit) * 0.9)
        petal = unit * rng.uniform(0.14, 0.2)
        for _ in range(count):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            turn = rng.uniform(0, math.pi)
            for k in range(5):
                angle = turn + k * 2 * math.pi / 5
                px, py = cx + math.cos(angle) * petal * 1.1, cy + math.sin(angle) * petal * 1.1
                draw.ellipse([px - petal, py - petal, px + petal, py + petal], fill=rgba)
            centre = (230, 190, 40, 255) if sum(ink) < 380 else (120, 70, 20, 255)
            draw.ellipse(
                [cx - petal * 0.6, cy - petal * 0.6, cx + petal * 0.6, cy + petal * 0.6],
                fill=centre,
            )
    return layer


def _silhouette(garment: Garment, size: int, rng: np.random.Generator) -> Image.Image:
    """A white-on-black mask of the garment in a size x size box."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)

    def box(x0, y0, x1, y1):
        return [x0 * size, y0 * size, x1 * size, y1 * size]

    def poly(points):
        draw.polygon([(x * size, y * size) for x, y in points], fill=255)

    female = garment.gender == "Female"
    waist = 0.25 if female else 0.37  # half-widths: a tapered cut reads as womenswear
    shoulder = 0.29 if female else 0.38
    category = garment.category
    if category in ("T-Shirts", "Jackets", "Dresses"):
        top, bottom = 0.12, 0.62 if category != "Jackets" else 0.70
        if category == "Dresses":
            hem = rng.uniform(0.34, 0.44)
            poly(
                [
                    (0.5 - shoulder + 0.04, top),
                    (0.5 + shoulder - 0.04, top),
                    (0.5 + waist - 0.06, 0.46),
                    (0.5 + hem, 0.95),
                    (0.5 - hem, 0.95),
                    (0.5 - waist + 0.06, 0.46),
                ]
            )
        else:
            poly(
                [
                    (0.5 - shoulder, top),
                    (0.5 + shoulder, top),
                    (0.5 + waist, bottom),
                    (0.5 - waist, bottom),
                ]
            )
        sleeve_end = {"Long Sleeved": 0.66, "Short Sleeves": 0.30, "Sleeveless": None}
        end = sleeve_end[garment.sleeve or "Sleeveless"]
        if end is not None:
            for side in (-1, 1):
                sx = 0.5 + side * shoulder
                if garment.sleeve == "Long Sleeved":
                    poly(
                        [
                            (sx, top),
                            (sx + side * 0.10, top + 0.02),
                            (sx + side * 0.16, end),
                            (sx + side * 0.06, end + 0.01),
                            (sx, top + 0.14),
                        ]
                    )
                else:
                    poly(
                        [
                            (sx, top),
                            (sx + side * 0.12, top + 0.04),
                            (sx + side * 0.17, end),
                            (sx + side * 0.02, end + 0.02),
                        ]
                    )
        neck = 0.08 if category != "Jackets" else 0.06
        draw.ellipse(box(0.5 - neck, top - neck * 0.8, 0.5 + neck, top + neck * 0.9), fill=0)
        if category == "Jackets":  # open front reads as a jacket
            draw.polygon(
                [
                    (0.5 * size, top * size),
                    (0.47 * size, bottom * size),
                    (0.53 * size, bottom * size),
                ],
                fill=0,
            )
    elif category == "Trousers":
        hip = 0.24 if female else 0.28
        leg_gap = 0.02
        poly(
            [
                (0.5 - hip, 0.08),
                (0.5 + hip, 0.08),
                (0.5 + hip + 0.02, 0.95),
                (0.5 + leg_gap + 0.02, 0.95),
                (0.5, 0.34),
                (0.5 - leg_gap - 0.02, 0.95),
                (0.5 - hip - 0.02, 0.95),
            ]
        )
    elif category == "Skirts":
        hem = rng.uniform(0.32, 0.42)
        poly([(0.5 - 0.2, 0.25), (0.5 + 0.2, 0.25), (0.5 + hem, 0.78), (0.5 - hem, 0.78)])
    elif category == "Sneakers":
        poly(
            [
                (0.10, 0.62),
                (0.14, 0.44),
                (0.36, 0.40),
                (0.52, 0.30),
                (0.66, 0.30),
                (0.70, 0.46),
                (0.90, 0.56),
                (0.92, 0.66),
                (0.10, 0.68),
            ]
        )
    return mask


def draw_photo(garment: Garment, rng: np.random.Generator) -> Image.Image:
    """A catalog-like photo: varied size, framing, rotation, background, light, blur and noise."""
    width = int(rng.integers(400, 601))
    height = int(width * rng.uniform(1.15, 1.4))
    tint = rng.uniform(205, 250) + rng.normal(0, 6, size=3)
    background = Image.new("RGB", (width, height), tuple(int(c) for c in np.clip(tint, 0, 255)))

    box = int(min(width, height) * rng.uniform(0.8, 0.96))
    mask = _silhouette(garment, box, rng)
    base = np.array(COLORS[garment.color], dtype=float) * rng.uniform(0.92, 1.06)
    fabric = Image.new("RGB", (box, box), tuple(int(c) for c in np.clip(base, 0, 255)))
    if garment.pattern:
        luminance = base @ np.array([0.299, 0.587, 0.114])
        ink = base * 0.35 if luminance > 110 else base + (255 - base) * 0.75
        ink_rgb = tuple(int(c) for c in np.clip(ink, 0, 255))
        # Bold prints: a period of about a third of the garment survives the ResNet stem at
        # 64 px (its stride-4 downsampling aliases finer stripes away).
        unit = box * rng.uniform(0.28, 0.34)
        layer = _draw_pattern((box, box), garment.pattern, ink_rgb, rng, unit)
        fabric.paste(layer, (0, 0), layer)
    if garment.category == "Sneakers":  # a light sole under the upper
        ImageDraw.Draw(fabric).rectangle([0, int(box * 0.62), box, box], fill=(238, 238, 238))

    # Soft light from one side, so that the same colour never has one exact pixel value.
    ramp = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(1.0, 1.15), box)
    light = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
    shaded = np.clip(np.asarray(fabric, dtype=float) * light, 0, 255).astype(np.uint8)
    garment_layer = Image.fromarray(shaded).convert("RGBA")
    garment_layer.putalpha(mask)

    angle = float(rng.uniform(-8, 8))
    garment_layer = garment_layer.rotate(angle, resample=Image.BILINEAR, expand=True)
    shadow = Image.new("RGBA", garment_layer.size, (0, 0, 0, 0))
    shadow.putalpha(garment_layer.getchannel("A").point(lambda a: int(a * 0.3)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(6))
    x = int(rng.integers(0, max(1, width - garment_layer.width + 1)))
    y = int(rng.integers(0, max(1, height - garment_layer.height + 1)))
    background.paste(shadow, (x + 6, y + 8), shadow)
    background.paste(garment_layer, (x, y), garment_layer)

    pixels = np.asarray(background, dtype=float) * rng.uniform(0.85, 1.12)
    pixels += rng.normal(0, rng.uniform(1, 6), size=pixels.shape)
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blur = float(rng.uniform(0, 1.2))
    if blur > 0.3:
        photo = photo.filter(ImageFilter.GaussianBlur(blur))
    return photo


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
    tmp = f"{path}.tmp-{os.getpid()}"
    photo.save(tmp, "JPEG", quality=int(rng.integers(72, 95)))
    os.replace(tmp, path)


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
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_json(path: Path, payload: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def check_arguments(out: Path, products: int, base_url: str) -> None:
    """Refuse bad options before any work starts."""
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
) -> SynthSummary:
    """Write train.json, validation.json, catalog.csv, truth.csv and the images under `out`.

    The whole output is built in a sibling temp folder and renamed into place, so a crash
    never leaves half a catalog behind.
    """
    check_arguments(out, products, base_url)
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

    _write_json(staging / "train.json", train)
    _write_json(staging / "validation.json", validation)
    _write_csv(staging / "catalog.csv", rows)
    _write_csv(staging / "truth.csv", truth)
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
    )
    _write_json(staging / "synth.json", asdict(summary))
    if out.exists():
        out.rmdir()
    os.replace(staging, out)
    return summary
