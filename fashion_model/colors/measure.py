"""Dominant colours of the product in a photo, not of the photo: the background (and its
shadow, and a model's skin) left out, the product's pixels clustered in CIELAB, clusters closer
than a glance can tell apart merged by CIEDE2000, up to five colours of at least 5% each.

Classical image processing only (no learned weights): scikit-image for the colour science
(sRGB <-> CIELAB, CIEDE2000, Sobel edges), SciPy for the connected regions and k-means. The
background is what can be reached from the photo's border through pixels close to the border's
colour (or a shadow of it: darker, same hue) without crossing an edge, so a white shirt on a
white sweep keeps its pixels: its outline stops the fill.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fashion_model.colors.palette import nearest_shades, rgb_to_hex
from fashion_model.config import MAX_PIXELS

METHOD_VERSION = "colors-1"  # bump when a change below changes what is measured
MAX_COLORS = 5
MIN_SHARE = 0.05  # a colour covers at least this share of the product's pixels
SIDE = 64  # the photo is measured at this longest side: colours, not details
MIN_SIDE = 8
MERGE_DE = 10.0  # CIEDE2000 below which two clusters read as one colour at a glance
BACKGROUND_DE = 12.0  # Lab distance to the border's colour that still counts as background
CLOSE_DE = 3.0  # ... when that leaves no product (white on white), a second, closer look
SHADOW_DEPTH = 45.0  # a shadow is at most this much darker (L*) than the background ...
SHADOW_HUE = 6.0  # ... with a*b* within this of the background's
EDGE = 3.0  # Lab gradient (Sobel) from which a pixel is an edge the background fill stops at
UNIFORM_BORDER = 0.5  # share of the border that must look alike for a studio background
SKIN_MOST = 0.4  # skin-toned pixels are dropped when fewer than this share of the product
CLUSTERS = 8
SAMPLE = 1024  # pixels k-means is fitted on, at most
INNER_LEAST = 0.5  # the product without its outline keeps at least this share of its pixels
RESIDUAL_DE = 15.0  # Lab distance from every colour found on flat pixels that asks for more
BLEND_RGB = 12.0  # sRGB distance (0-255) to the line between two colours: a blend of them
FLAT_LEAST = 0.2  # below this share of flat pixels, every product pixel is clustered
BAND = 3  # pixels of an outline's edge band (smoothing and Sobel widen an edge)


@dataclass(frozen=True)
class MeasuredColor:
    hex: str
    l: float  # noqa: E741 (the CIELAB name)
    a: float
    b: float
    share: float
    name: str
    family: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ColorReading:
    """The colours, largest share first, or why there are none."""

    colors: tuple[MeasuredColor, ...]
    reason: str | None = None

    def as_dict(self) -> dict:
        """`{"colors": [...], "reason": ...}`, the colours as dicts, largest share first."""
        return {"colors": [c.as_dict() for c in self.colors], "reason": self.reason}

    @classmethod
    def from_dict(cls, value: dict) -> ColorReading:
        return cls(tuple(MeasuredColor(**c) for c in value["colors"]), value["reason"])


def measure_file(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> ColorReading:
    """The colours of an image file (a path, or its bytes): any format Pillow reads, EXIF
    orientation applied; an unreadable file, or one above `max_pixels` (a decompression
    bomb, refused from its header), is a reading with the reason, never an exception."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
            if width * height > max_pixels:
                return ColorReading((), f"too many pixels ({width}x{height})")
            if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that suffices
                image.draft(image.mode, (2 * SIDE, 2 * SIDE))
            image = ImageOps.exif_transpose(image)
            return measure_image(image)
    except FileNotFoundError:
        return ColorReading((), "no such file")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        reason = str(error).split("\n")[0] or type(error).__name__
        return ColorReading((), f"not a readable image ({reason})")


def measure_image(image: Image.Image) -> ColorReading:
    """The dominant colours of any Pillow image: greyscale, CMYK, palette, 16-bit; a
    transparent image's alpha is its product mask."""
    if min(image.size) < MIN_SIDE:
        w, h = image.size
        return ColorReading((), f"too small to measure ({w}x{h} px; at least {MIN_SIDE} a side)")
    image = image.copy()
    image.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A")) >= 128
        if alpha.all():
            alpha = None
        image = rgba
    if image.mode.startswith("I") or image.mode == "F":  # 16-bit / float greyscale
        values = np.asarray(image, dtype=np.float64)
        top = values.max() or 1.0
        image = Image.fromarray((values / top * 255).astype(np.uint8))
    return measure_rgb(np.asarray(image.convert("RGB")), alpha)


def measure_rgb(rgb: np.ndarray, product: np.ndarray | None = None) -> ColorReading:
    """The dominant colours of an (h, w, 3) uint8 photo, already small (about SIDE a side);
    `product`, when given, is the mask of the product's pixels (else the background is found)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(rgb.astype(np.float32) / 255).astype(np.float32)
    edges = _edges(lab)
    backdrop = None
    if product is None:
        product, backdrop = _product_mask(lab, edges)
        if product.sum() < product.size // 100:  # a pale product on a pale sweep: look closer
            product, backdrop = _product_mask(lab, edges, CLOSE_DE)
        product &= ~_skin(lab, product)
    if product.sum() < max(4, product.size // 100):
        return ColorReading((), "no product found: the image is background only")
    # The outline's pixels blend the product with the background: left out where the product
    # is thick enough to keep most of its pixels without them.
    from scipy import ndimage

    inner = ndimage.binary_erosion(product, iterations=1)
    if inner.sum() >= INNER_LEAST * product.sum():
        product = inner
    # Pixels on an edge blend two colours (a stripe's border): the colours are found on the
    # flat pixels, and every product pixel then counts towards its nearest one.
    flat = product & (edges < EDGE)
    if flat.sum() < FLAT_LEAST * product.sum():
        flat = product
    return ColorReading(_dominant(lab[flat], lab[product], backdrop))


def _edges(lab: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the Lab image (central differences), in Lab units per pixel."""
    rows, cols = np.gradient(lab, axis=(0, 1))
    return np.sqrt((rows**2 + cols**2).sum(axis=2)) * 2


def _product_mask(
    lab: np.ndarray, edges: np.ndarray, tolerance: float = BACKGROUND_DE
) -> tuple[np.ndarray, np.ndarray | None]:
    """The product's pixels, and the background's colour (None: no studio background);
    `tolerance`: how far from the border's colour a pixel is still background (the shadow
    rule only at the full tolerance)."""
    from scipy import ndimage

    height, width = lab.shape[:2]
    ring = max(1, min(height, width) // 32)
    border = np.zeros((height, width), bool)
    border[:ring], border[-ring:], border[:, :ring], border[:, -ring:] = True, True, True, True
    background_lab = np.median(lab[border], axis=0)
    distance = np.linalg.norm(lab - background_lab, axis=2)
    if (distance[border] < BACKGROUND_DE).mean() < UNIFORM_BORDER:
        return np.ones((height, width), bool), None  # no studio background: all product
    hue_gap = np.linalg.norm(lab[..., 1:] - background_lab[1:], axis=2)
    darker = background_lab[0] - lab[..., 0]
    shadow = (darker > 0) & (darker < SHADOW_DEPTH) & (hue_gap < SHADOW_HUE)
    shadow &= tolerance == BACKGROUND_DE
    alike = (distance < tolerance) | shadow
    passable = alike & (edges < EDGE)
    regions, _ = ndimage.label(passable)
    reached = np.unique(regions[border & passable])
    background = np.isin(regions, reached[reached > 0])
    # the fill stops short of the outline (its edge band); the background-like pixels of the
    # band are background too
    near = (distance < tolerance / 2) | shadow
    background = ndimage.binary_dilation(background, iterations=BAND, mask=near)
    background = ndimage.binary_dilation(background, iterations=1, mask=alike)
    return ndimage.binary_opening(~background, iterations=1), background_lab


def _skin(lab: np.ndarray, product: np.ndarray) -> np.ndarray:
    """Skin-toned regions of the product that the frame cuts (CIELAB: a warm hue, 20 to 70
    degrees, of moderate chroma), when they are a minority: a model's face, neck or legs on a
    worn shot. A skin-toned garment, or a coral stripe inside the frame, keeps its pixels; a
    model's arm inside the frame is measured with the garment."""
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))
    chroma = np.hypot(a, b)
    skin = product & (lightness > 25) & (lightness < 90) & (chroma > 8) & (chroma < 40)
    skin &= (hue > 20) & (hue < 70)
    if skin.sum() >= SKIN_MOST * max(1, product.sum()):
        return np.zeros_like(skin)
    from scipy import ndimage

    regions, _ = ndimage.label(skin)
    frame = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    cut = np.unique(frame[frame > 0])
    return np.isin(regions, cut)


def _clusters(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k-means++ seeding, fixed seed: the same photo, the same colours) in Lab."""
    from scipy.cluster.vq import kmeans2

    k = min(k, len(np.unique(pixels.round(1), axis=0)))
    if k < 2:
        return pixels.mean(axis=0, keepdims=True).astype(np.float64), np.array([len(pixels)], float)
    step = max(1, len(pixels) // SAMPLE)  # a regular sample: k-means needs no more
    centres, members = kmeans2(pixels[::step].astype(np.float64), k, minit="++", seed=0, iter=6)
    counts = np.bincount(members, minlength=k).astype(np.float64)
    return centres[counts > 0], counts[counts > 0]


def _merged(centres: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clusters a glance cannot tell apart merged: the closest pair first while its CIEDE2000
    is below MERGE_DE (average linkage, weighted by pixels), each group the pixel-weighted
    mean of its members."""
    from skimage.color import deltaE_ciede2000

    centres, counts = centres.copy(), counts.copy()
    gaps = deltaE_ciede2000(centres[:, None, :], centres[None, :, :])
    gaps = (gaps + gaps.T) / 2  # CIEDE2000 is not exactly symmetric
    np.fill_diagonal(gaps, np.inf)
    alive = np.ones(len(centres), bool)
    while alive.sum() > 1:
        i, j = np.unravel_index(gaps.argmin(), gaps.shape)
        if gaps[i, j] >= MERGE_DE:
            break
        total = counts[i] + counts[j]
        gaps[i] = gaps[:, i] = (counts[i] * gaps[i] + counts[j] * gaps[j]) / total
        gaps[i, i] = np.inf
        gaps[j] = gaps[:, j] = np.inf
        centres[i] = (centres[i] * counts[i] + centres[j] * counts[j]) / total
        counts[i], alive[j] = total, False
    return centres[alive], counts[alive]


def _blend_distance(points: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each Lab point, its distance to the nearest segment between two of the Lab `ends`,
    counting only the segment's middle (a blend, not one of the ends); inf with fewer than two
    ends. Blur and resizing mix colours in sRGB, so the segments are drawn there (0-255)."""
    from skimage.color import lab2rgb

    points = lab2rgb(points[None])[0] * 255
    ends = lab2rgb(ends[None])[0] * 255
    best = np.full(len(points), np.inf)
    for n, p in enumerate(ends):
        for q in ends[n + 1 :]:
            line = q - p
            t = (points - p) @ line / max(float(line @ line), 1e-9)
            gap = np.linalg.norm(p + t[:, None] * line - points, axis=1)
            best = np.where((t > 0.1) & (t < 0.9), np.minimum(best, gap), best)
    return best


def _without_blends(centres: np.ndarray, counts: np.ndarray, backdrop) -> np.ndarray:
    """Drop a cluster that lies between two larger ones, or between a larger one and the
    background (within BLEND_RGB of the segment joining them): the border pixels of a print or
    of the outline, where two colours blend. Smallest first."""
    keep = np.ones(len(centres), bool)
    for k in np.argsort(counts):
        ends = [centres[i] for i in np.flatnonzero(keep) if counts[i] > counts[k]]
        ends += [backdrop] if backdrop is not None else []
        if len(ends) > 1 and _blend_distance(centres[k : k + 1], np.array(ends))[0] < BLEND_RGB:
            keep[k] = False
    return centres[keep]


def _dominant(flat: np.ndarray, product: np.ndarray, backdrop) -> tuple[MeasuredColor, ...]:
    """The colours of the product's pixels (Lab): clustered on its flat pixels; then the
    pixels no colour found so far explains (far from each, and no blend of two) clustered
    too, as thin stripes have no flat pixels at this size; merged, blends dropped, and every
    product pixel counted towards its nearest colour."""
    from skimage.color import lab2rgb

    centres, counts = _merged(*_clusters(flat, CLUSTERS))
    ends = np.vstack([centres, backdrop]) if backdrop is not None else centres
    far = np.linalg.norm(product[:, None, :] - ends[None], axis=2).min(axis=1) > RESIDUAL_DE
    unexplained = product[far][_blend_distance(product[far], ends) >= BLEND_RGB]
    if len(unexplained) >= MIN_SHARE * len(product):
        more, more_counts = _clusters(unexplained, 3)
        centres, counts = _merged(np.vstack([centres, more]), np.concatenate([counts, more_counts]))
    stack = _without_blends(centres, counts, backdrop)
    nearest = np.linalg.norm(product[:, None, :] - stack[None, :, :], axis=2).argmin(axis=1)
    shares = np.bincount(nearest, minlength=len(stack)) / len(product)
    order = [i for i in np.argsort(-shares, kind="stable") if shares[i] >= MIN_SHARE]
    chosen = stack[order[:MAX_COLORS]]
    names = nearest_shades(chosen)
    rgb = np.clip(lab2rgb(chosen[None, :, :])[0] * 255, 0, 255).round()
    return tuple(
        MeasuredColor(
            rgb_to_hex(rgb[n]),
            round(float(chosen[n][0]), 2),
            round(float(chosen[n][1]), 2),
            round(float(chosen[n][2]), 2),
            round(float(shares[i]), 4),
            *names[n],
        )
        for n, i in enumerate(order[:MAX_COLORS])
    )
