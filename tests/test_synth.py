import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_model.demo.synth import (
    CATALOG_MONTHS,
    PLANTED_TRENDS,
    mix_for,
    synthesize_catalog,
)
from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_same_seed_gives_identical_output(tmp_path):
    args = {"products": 6, "train_images": 4, "validation_images": 2, "workers": 2}
    synthesize_catalog(tmp_path / "a", seed=3, **args)
    synthesize_catalog(tmp_path / "b", seed=3, **args)
    synthesize_catalog(tmp_path / "c", seed=4, **args)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    a.pop("synth.json"), b.pop("synth.json")  # it names its own folder
    assert a == b
    assert sum(k.startswith("images/train/") for k in a) == 4
    assert a["catalog.csv"] != c["catalog.csv"]
    assert a["images/train/1.jpg"] != c["images/train/1.jpg"]


def test_outputs_follow_the_imaterialist_format(catalog_server):
    folder, base_url = catalog_server
    label_map = default_label_map()
    payload = json.loads((folder / "train.json").read_text())
    assert set(payload) == {"images", "annotations"}
    for image, note in zip(payload["images"], payload["annotations"], strict=True):
        assert isinstance(image["imageId"], str) and image["imageId"] == note["imageId"]
        assert image["url"].startswith(base_url + "/")
        assert all(isinstance(i, str) and int(i) in label_map.by_id for i in note["labelId"])
        tasks = [label_map.by_id[int(i)].task for i in note["labelId"]]
        assert tasks.count("category") == 1 and tasks.count("color") == 1
        assert tasks.count("gender") == 1 and tasks.count("pattern") <= 1
    with Image.open(folder / "images" / "train" / "1.jpg") as image:
        assert image.format == "JPEG"
        assert min(image.size) >= 400 and max(image.size) <= 900


def test_catalog_and_truth_line_up(catalog_server):
    folder, _ = catalog_server
    with (folder / "catalog.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"product_id", "image_url", "brand", "retailer", "first_seen", "price"} <= set(rows[0])
    with (folder / "truth.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    assert {r["product_id"] for r in truth} == {r["product_id"] for r in rows}
    months = {r["first_seen"][:7] for r in rows}
    assert len(months) >= CATALOG_MONTHS


def test_the_planted_trend_is_in_the_sampling_weights():
    for trend in PLANTED_TRENDS:
        shares = [
            mix_for(trend.retailer, m)[trend.task][trend.label] for m in range(CATALOG_MONTHS)
        ]
        rising = trend.share_last_month > trend.share_first_month
        assert shares == sorted(shares, reverse=not rising)
        assert abs(shares[-1] - shares[0]) > 0.35
        for month in range(CATALOG_MONTHS):
            for weights in mix_for(trend.retailer, month).values():
                assert sum(weights.values()) == pytest.approx(1.0)
    assert mix_for("Eastpeak", 5) == mix_for(None, 0)  # the control retailer does not move


def test_the_planted_trend_shows_in_the_truth(tmp_path):
    """A larger catalog (no images needed to check it: the truth comes with the rows)."""
    folder = tmp_path / "big"
    synthesize_catalog(
        folder,
        products=720,
        seed=1,
        train_images=0,
        validation_images=0,
        workers=2,
        missing_share=1.0,
    )
    trend = PLANTED_TRENDS[0]
    label_id = default_label_map().label_id(trend.task, trend.label)
    with (folder / "catalog.csv").open() as handle:
        month_of = {
            r["product_id"]: r["first_seen"][:7]
            for r in csv.DictReader(handle)
            if r["retailer"] == trend.retailer
        }
    hits, totals = defaultdict(int), defaultdict(int)
    for month in month_of.values():
        totals[month] += 1
    with (folder / "truth.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["product_id"] in month_of and int(row["label_id"]) == label_id:
                hits[month_of[row["product_id"]]] += 1
    months = sorted(totals)
    shares = np.array([hits[m] / totals[m] for m in months])
    first, last = shares[:3].mean(), shares[-3:].mean()
    assert last - first > 0.25, shares


def test_bad_arguments_fail_clearly(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(FashionError, match="not empty"):
        synthesize_catalog(tmp_path / "full", products=6)
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    with pytest.raises(FashionError, match="--base-url"):
        synthesize_catalog(tmp_path / "new", products=6, base_url="ftp://x")
    with pytest.raises(FashionError, match="--products"):
        synthesize_catalog(tmp_path / "new", products=1)
    assert not (tmp_path / "new").exists()
