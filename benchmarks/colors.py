"""Measured colour accuracy on drawn garments whose true colours are known.

Plain garments and two-colour stripes (known proportions) on white, grey and tinted studio
backgrounds, white-on-white included, with soft light, a shadow, noise and blur. Reports the
mean CIEDE2000 between the first measured colour and the truth, the share error on two-colour
prints, and how often the background comes back as a colour. With --home, also the agreement of
the measured family with the classifier's colour label on a scored home (the demo's).

    python benchmarks/colors.py [--garments 400] [--home DEMO_HOME]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from fashion_model.colors.measure import measure_image
from fashion_model.colors.palette import SHADES, hex_to_rgb
from fashion_model.demo.drawing import CATEGORIES, draw_known_colors
from fashion_model.home import Home

BACKGROUNDS = {"white": (248, 248, 246), "grey": (200, 201, 203), "tinted": None}
OFF_WHITES = [(236, 232, 220), (228, 228, 226), (240, 236, 226)]


def lab(rgb) -> np.ndarray:
    return rgb2lab(np.array(rgb, np.float64)[None, None, :] / 255)[0, 0]


def delta(rgb_a, rgb_b) -> float:
    return float(deltaE_ciede2000(lab(rgb_a), lab(rgb_b)))


def draw_case(rng: np.random.Generator, index: int):
    kind = ("plain", "two-colour", "white-on-white")[index % 3]
    backdrop = list(BACKGROUNDS)[index // 3 % 3]
    background = BACKGROUNDS[backdrop] or tuple(int(c) for c in rng.uniform(200, 240, 3))
    shades = [hex_to_rgb(h) for _, h, _ in SHADES]
    if kind == "white-on-white":
        background = (250, 250, 250)
        colors = [OFF_WHITES[index % len(OFF_WHITES)]]
    else:
        # a garment is told from its backdrop (white-on-white is its own case) and a print's
        # two colours from each other
        first = shades[rng.integers(len(shades))]
        while delta(first, background) < 10:
            first = shades[rng.integers(len(shades))]
        second = shades[rng.integers(len(shades))]
        while delta(first, second) < 15 or delta(second, background) < 10:
            second = shades[rng.integers(len(shades))]
        colors = [first] if kind == "plain" else [first, second]
    category = CATEGORIES[rng.integers(len(CATEGORIES) - 1)]  # not Sneakers: two-tone soles
    stripe = float(rng.uniform(0.15, 0.4))  # the main colour covers 60% or more
    return kind, draw_known_colors(category, colors, stripe, background, rng)


def score_case(kind: str, drawn, reading) -> dict:
    colors = reading.colors
    if not colors:
        return {"kind": kind, "main_de": float("nan"), "share_error": None, "leak": False}
    main_truth = drawn.colors[int(np.argmax(drawn.shares))]
    main_de = delta(hex_to_rgb(colors[0].hex), main_truth)
    leak = any(
        delta(hex_to_rgb(c.hex), drawn.background)
        < min(delta(hex_to_rgb(c.hex), t) for t in drawn.colors)
        for c in colors
    )
    share_error = None
    if len(drawn.colors) == 2:
        found = np.zeros(2)
        for c in colors:
            found[np.argmin([delta(hex_to_rgb(c.hex), t) for t in drawn.colors])] += c.share
        share_error = float(np.abs(found / max(found.sum(), 1e-9) - drawn.shares).max())
    return {"kind": kind, "main_de": main_de, "share_error": share_error, "leak": leak}


def family_agreement(home: str) -> None:
    from fashion_model.analytics.reports import run_report
    from fashion_model.warehouse.reader import open_reader

    reader = open_reader(Home.resolve(home).db, need_products=True)
    try:
        table = run_report(reader.con, "color_label_agreement", {})
    finally:
        reader.con.close()
    total = int(table["products"].sum())
    main, anywhere = int(table["main_agrees"].sum()), int(table["any_agrees"].sum())
    print(
        f"classifier colour label vs measured family on {total} scored products: main colour "
        f"agrees {100 * main / max(total, 1):.1f}%, "
        f"any colour {100 * anywhere / max(total, 1):.1f}%"
    )
    print(table.to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--garments", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", help="a scored home: family vs classifier agreement")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, seconds = [], 0.0
    for index in range(args.garments):
        kind, drawn = draw_case(rng, index)
        started = time.perf_counter()
        reading = measure_image(drawn.photo)
        seconds += time.perf_counter() - started
        rows.append(score_case(kind, drawn, reading))
    for kind in ("plain", "two-colour", "white-on-white", "all"):
        part = [r for r in rows if kind in ("all", r["kind"])]
        des = np.array([r["main_de"] for r in part])
        errors = [r["share_error"] for r in part if r["share_error"] is not None]
        line = (
            f"{kind:>15}: {len(part):4d} garments, main colour CIEDE2000 mean "
            f"{np.nanmean(des):5.2f} (median {np.nanmedian(des):5.2f}), background as a "
            f"colour {100 * np.mean([r['leak'] for r in part]):4.1f}%, "
            f"no colour {100 * np.isnan(des).mean():4.1f}%"
        )
        if errors:
            line += f", share error mean {100 * np.mean(errors):4.1f} points"
        print(line)
    print(f"measuring: {1000 * seconds / len(rows):.2f} ms per image")
    if args.home:
        family_agreement(args.home)


if __name__ == "__main__":
    main()
