"""Ad-hoc scoring gives what bulk scoring stored, for files and URLs alike."""

import json
import subprocess

import pytest

from fashion_model.errors import FashionError
from fashion_model.ingest.manifest import read_manifest
from fashion_model.score.images import score_images
from fashion_model.score.predict import predict_images
from fashion_model.warehouse.db import connect

from .commands import FASHION


def test_predict_matches_bulk_scoring(trained_home, catalog_server, tmp_path):
    folder, base_url = catalog_server
    manifest = read_manifest(trained_home / "manifests" / "catalog").to_pandas()
    row = manifest[manifest["status"] == "ok"].iloc[0]
    local = folder / row["url"].removeprefix(base_url + "/")
    with connect(tmp_path / "w.duckdb") as con:
        score_images(
            con,
            [trained_home / "manifests" / "catalog"],
            trained_home / "images",
            trained_home / "models",
            num_workers=0,
        )
        stored = con.execute(
            "SELECT l.task, l.name, p.score FROM predictions AS p JOIN labels AS l USING "
            "(label_id) WHERE p.image_sha256 = ?",
            [row["sha256"]],
        ).fetchall()
        (probs,) = con.execute(
            "SELECT probs FROM scores WHERE image_sha256 = ?", [row["sha256"]]
        ).fetchone()
    version, (from_file, from_url) = predict_images(
        trained_home / "models", [str(local), row["url"]], allow_private=True
    )
    expected = {(task, name): score for task, name, score in stored}
    for result in (from_file, from_url):
        assert result.error is None
        got = {
            (task, name): score for task, found in result.labels.items() for name, score in found
        }
        assert got.keys() == expected.keys()
        assert all(got[k] == pytest.approx(expected[k], abs=1e-4) for k in got)
        assert result.probabilities == pytest.approx(probs, abs=1e-5)  # the same eval path
    assert from_file.line().count("|") == max(len(from_file.labels) - 1, 0)


def test_predict_refuses_missing_files_and_reports_blocked_urls(trained_home, catalog_server):
    _, base_url = catalog_server
    with pytest.raises(FashionError, match="nope.jpg: image file not found"):
        predict_images(trained_home / "models", ["nope.jpg"])
    _, (blocked,) = predict_images(trained_home / "models", [f"{base_url}/x.jpg"])
    assert blocked.error is not None and not blocked.labels


def test_predict_command_prints_json(trained_home, catalog_server, tmp_path):
    folder, _ = catalog_server
    image = next((folder / "images" / "catalog").glob("*.jpg"))
    result = subprocess.run(
        [*FASHION, "predict", str(image), "--home", str(trained_home), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["image"] == str(image) and entry["error"] is None
    assert set(entry["labels"]) <= {
        "category",
        "color",
        "gender",
        "material",
        "neckline",
        "pattern",
        "sleeve",
        "style",
    }
