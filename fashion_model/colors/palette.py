"""The named shades a measured colour is called by, and the iMaterialist colour label (its
family) each belongs to.

The shades are the few dozen names merchandisers and the commercial taggers use; each carries
its family, declared here once, so that a colour's name and family never disagree. Families
cover the 16 iMaterialist colour labels a pixel can show; Bronze, Gold and Silver (metal),
Clear (transparency) and Multi Color (a property of a product, not of a colour) are left to the
classifier.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# name, sRGB hex, family (an iMaterialist colour label)
SHADES: tuple[tuple[str, str, str], ...] = (
    ("black", "#141414", "Black"),
    ("charcoal", "#3b3f45", "Gray"),
    ("grey", "#7f7f80", "Gray"),
    ("light grey", "#c4c4c4", "Gray"),
    ("white", "#f5f5f3", "White"),
    ("ivory", "#f4efdc", "White"),
    ("cream", "#eadcb9", "Beige"),
    ("beige", "#d6c2a0", "Beige"),
    ("sand", "#c2ac82", "Beige"),
    ("khaki", "#a89a6a", "Tan"),
    ("camel", "#b98a55", "Tan"),
    ("tan", "#c9a57a", "Tan"),
    ("cognac", "#8e4a2a", "Brown"),
    ("brown", "#6b4a33", "Brown"),
    ("chocolate", "#3d2a20", "Brown"),
    ("rust", "#b04a1f", "Orange"),
    ("orange", "#ee7f22", "Orange"),
    ("coral", "#f2735c", "Orange"),
    ("peach", "#f8c4a0", "Peach"),
    ("salmon", "#ec8f80", "Pink"),
    ("blush", "#efc6c8", "Pink"),
    ("pink", "#ee92b2", "Pink"),
    ("hot pink", "#e8489a", "Pink"),
    ("fuchsia", "#c0207e", "Pink"),
    ("red", "#c42028", "Red"),
    ("tomato", "#e2432f", "Red"),
    ("burgundy", "#7a1f2b", "Maroon"),
    ("wine", "#5a1a2a", "Maroon"),
    ("plum", "#6a2f55", "Purple"),
    ("purple", "#6b3fa0", "Purple"),
    ("lavender", "#b7a7d8", "Purple"),
    ("lilac", "#caa0cc", "Purple"),
    ("navy", "#1d2744", "Blue"),
    ("denim", "#3e5f8f", "Blue"),
    ("royal blue", "#2448b2", "Blue"),
    ("cobalt", "#1f5fd0", "Blue"),
    ("sky blue", "#88c3e8", "Blue"),
    ("powder blue", "#b9cfe6", "Blue"),
    ("teal", "#11777a", "Teal"),
    ("turquoise", "#35c0c0", "Teal"),
    ("mint", "#a3e0c0", "Green"),
    ("sage", "#9cac88", "Green"),
    ("olive", "#6b6a2e", "Green"),
    ("forest green", "#1f4d2e", "Green"),
    ("green", "#288840", "Green"),
    ("emerald", "#129162", "Green"),
    ("lime", "#a5d452", "Green"),
    ("yellow", "#ecc828", "Yellow"),
    ("mustard", "#cf9e1e", "Yellow"),
    ("lemon", "#f6ea7a", "Yellow"),
)
FAMILIES = tuple(sorted({family for _, _, family in SHADES}))


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def rgb_to_hex(rgb) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


@cache
def shade_lab() -> np.ndarray:
    """The shades in CIELAB (D65), in SHADES order."""
    from skimage.color import rgb2lab

    rgb = np.array([hex_to_rgb(h) for _, h, _ in SHADES], dtype=np.float64) / 255
    return rgb2lab(rgb[None, :, :])[0]


def nearest_shades(lab: np.ndarray) -> list[tuple[str, str]]:
    """(name, family) of the nearest shade by CIEDE2000 for each row of an (n, 3) Lab array."""
    from skimage.color import deltaE_ciede2000

    if not len(lab):
        return []
    distances = deltaE_ciede2000(lab[:, None, :], shade_lab()[None, :, :])
    return [SHADES[i][0::2] for i in distances.argmin(axis=1)]
