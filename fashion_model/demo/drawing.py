"""Drawing the synthetic catalog's product photos: a garment (category, colour, pattern, sleeve,
gender, each a real iMaterialist label) as a silhouette with its pattern, on a plain studio
background, from its own seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashion_model.labels import LabelMap

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
SLEEVED = {"Dresses", "T-Shirts", "Jackets"}
SLEEVES = ("Long Sleeved", "Short Sleeves", "Sleeveless")


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
    # The soft shadow: the garment's alpha at 30%, blurred at a quarter of the size (a blur of
    # radius 6 at full size costs a third of the drawing) and scaled back up.
    alpha = garment_layer.getchannel("A").point(lambda a: int(a * 0.3))
    small = alpha.resize((max(1, alpha.width // 4), max(1, alpha.height // 4)), Image.BILINEAR)
    shadow = Image.new("RGBA", garment_layer.size, (0, 0, 0, 0))
    shadow.putalpha(small.filter(ImageFilter.GaussianBlur(1.5)).resize(alpha.size, Image.BILINEAR))
    x = int(rng.integers(0, max(1, width - garment_layer.width + 1)))
    y = int(rng.integers(0, max(1, height - garment_layer.height + 1)))
    background.paste(shadow, (x + 6, y + 8), shadow)
    background.paste(garment_layer, (x, y), garment_layer)

    pixels = np.asarray(background, dtype=np.float32) * np.float32(rng.uniform(0.85, 1.12))
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(rng.uniform(1, 6))
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blur = float(rng.uniform(0, 1.2))
    if blur > 0.3:
        photo = photo.filter(ImageFilter.GaussianBlur(blur))
    return photo


@dataclass(frozen=True)
class KnownColors:
    """A drawn garment whose true colours are known: each colour's mean sRGB over its own
    pixels in the final photo, and its share of the garment's pixels."""

    photo: Image.Image
    colors: tuple[tuple[int, int, int], ...]
    shares: tuple[float, ...]
    background: tuple[int, int, int]


def draw_known_colors(
    category: str,
    colors: list[tuple[int, int, int]],
    stripe_share: float,
    background: tuple[int, int, int],
    rng: np.random.Generator,
    size: int = 256,
) -> KnownColors:
    """A studio shot (soft light, a shadow, noise, slight blur) of a plain garment (one colour)
    or a two-colour stripe whose second colour covers about `stripe_share` of it; the truth is
    measured on the photo itself, over each colour's pixels away from its borders."""
    box = int(size * rng.uniform(0.7, 0.85))
    mask = (
        np.asarray(_silhouette(Garment(category, "Red", None, "Short Sleeves", "Female"), box, rng))
        > 127
    )
    ink = np.zeros((box, box), bool)
    if len(colors) > 1:
        period = box / rng.uniform(3.0, 4.5)
        rows = np.arange(box)[:, None] % period < period * stripe_share
        ink = np.broadcast_to(rows, (box, box)) & mask
    layers = np.where(ink[..., None], colors[-1], colors[0]).astype(np.float32)
    light = np.linspace(rng.uniform(0.9, 1.0), rng.uniform(1.0, 1.08), box)[None, :, None]
    fabric = np.clip(layers * light, 0, 255)
    photo = np.empty((int(size * 1.25), size, 3), np.float32)
    photo[:] = background
    y0 = int(rng.integers(0, photo.shape[0] - box - 8))
    x0 = int(rng.integers(0, size - box - 8))
    shadow = np.zeros(photo.shape[:2], np.float32)
    shadow[y0 + 4 : y0 + 4 + box, x0 + 3 : x0 + 3 + box] = mask * 0.25
    shade = (
        np.asarray(
            Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(4)),
            np.float32,
        )
        / 255
    )
    photo *= 1 - shade[..., None]
    window = photo[y0 : y0 + box, x0 : x0 + box]
    window[mask] = fabric[mask]
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * np.float32(rng.uniform(1, 4))
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.6)
    )
    pixels = np.asarray(image, np.float32)[y0 : y0 + box, x0 : x0 + box]
    from scipy import ndimage

    truth, shares = [], []
    for part in (mask & ~ink, ink) if len(colors) > 1 else (mask,):
        inside = ndimage.binary_erosion(part, iterations=2)
        truth.append(tuple(int(round(c)) for c in pixels[inside].mean(axis=0)))
        shares.append(float(part.sum() / mask.sum()))
    return KnownColors(image, tuple(truth), tuple(shares), tuple(int(c) for c in background))
