import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fashion_model.errors import FashionError
from fashion_model.ingest.manifest import read_manifest
from fashion_model.labels import LabelMap, default_label_map
from fashion_model.model.registry import production_version
from fashion_model.score.images import score_images
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect, migrations, sync_labels

from .commands import FASHION


def _score(con, home, **options):
    return score_images(
        con,
        [home / "manifests" / "catalog"],
        home / "images",
        home / "models",
        num_workers=0,
        **options,
    )


def test_migrations_apply_once(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        applied = con.execute("SELECT version FROM schema_migrations").fetchall()
    assert [v for (v,) in applied] == [v for v, _ in migrations()]
    with connect(tmp_path / "w.duckdb") as con:  # reopening upgrades nothing twice
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(applied)


def test_every_catalog_product_lands_with_its_download_outcome(trained_home, tmp_path):
    manifest = read_manifest(trained_home / "manifests" / "catalog")
    with connect(tmp_path / "w.duckdb") as con:
        load_catalog(con, trained_home / "manifests" / "catalog", date(2026, 11, 1))
        load_catalog(con, trained_home / "manifests" / "catalog", date(2026, 11, 1))  # same day
        load_catalog(con, trained_home / "manifests" / "catalog", date(2026, 11, 2))
        products = con.execute("SELECT count(*), min(last_seen) FROM products").fetchone()
        statuses = dict(
            con.execute("SELECT image_status, count(*) FROM product_images GROUP BY ALL").fetchall()
        )
        observations = con.execute(
            "SELECT count(*), count(DISTINCT observed_on) FROM product_observations"
        ).fetchone()
        price = con.execute("SELECT typeof(price), typeof(first_seen) FROM products").fetchone()
    assert products == (manifest.num_rows, date(2026, 11, 2))
    expected = {
        s: manifest["status"].to_pylist().count(s) for s in set(manifest["status"].to_pylist())
    }
    assert statuses == expected
    assert observations == (2 * manifest.num_rows, 2)
    assert price == ("DECIMAL(18,4)", "DATE")


def _above(con) -> int:
    """(image, label) pairs whose probability reaches that label's tuned threshold."""
    return con.execute(
        "SELECT count(*) FROM (SELECT unnest(s.probs) AS x, unnest(m.thresholds) AS t "
        "FROM scores AS s JOIN models AS m USING (model_version)) WHERE x >= t"
    ).fetchone()[0]


def test_scoring_writes_each_image_once_per_model_version(trained_home, tmp_path):
    manifest = read_manifest(trained_home / "manifests" / "catalog")
    ok_images = {
        s
        for s, st in zip(
            manifest["sha256"].to_pylist(), manifest["status"].to_pylist(), strict=True
        )
        if st == "ok"
    }
    with connect(tmp_path / "w.duckdb") as con:
        load_catalog(con, trained_home / "manifests" / "catalog", date(2026, 11, 1))
        first = _score(con, trained_home)
        again = _score(con, trained_home)
        assert first.scored == len(ok_images) and first.failed_to_decode == 0
        assert again.scored == 0 and again.skipped_already_scored == len(ok_images)
        version = production_version(trained_home / "models")
        assert first.model_version == version
        rows = con.execute(
            "SELECT count(*), count(DISTINCT image_sha256), min(len(probs)), max(len(probs))"
            " FROM scores WHERE model_version = ?",
            [version],
        ).fetchone()
        assert rows == (len(ok_images), len(ok_images), 228, 228)
        norms = np.array(
            con.execute(
                "SELECT list_dot_product(embedding::FLOAT[], embedding::FLOAT[]) FROM embeddings"
            ).fetchall()
        )
        assert np.allclose(norms, 1.0, atol=1e-4)
        (production,) = con.execute(
            "SELECT is_production FROM models WHERE model_version = ?", [version]
        ).fetchone()
        assert production
        expected = _above(con)
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == expected
        assert first.predictions == expected
        rescored = _score(con, trained_home, rescore=True)
        assert rescored.scored == len(ok_images)
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == len(ok_images)
        attributes = con.execute(
            "SELECT count(*) FROM product_attributes AS a JOIN labels AS l USING (label_id) "
            "JOIN models AS m USING (model_version) WHERE a.score < m.thresholds[l.position + 1]"
        ).fetchone()[0]
        assert attributes == 0


def test_corrupt_and_vanished_images_are_recorded_and_the_run_goes_on(trained_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    paths = sorted(
        {p for p in read_manifest(home / "manifests" / "catalog")["path"].to_pylist() if p}
    )
    (home / "images" / paths[0]).write_bytes(b"not a jpeg")
    good = (home / "images" / paths[1]).read_bytes()
    (home / "images" / paths[1]).unlink()
    with connect(tmp_path / "w.duckdb") as con:
        summary = _score(con, home, write_every=4)
        assert summary.failed_to_decode == 2
        assert summary.scored == len(paths) - 2
        failures = con.execute("SELECT path, reason FROM score_failures ORDER BY reason").fetchall()
        assert [(Path(p).name, r) for p, r in failures] == [
            (Path(paths[0]).name, "cannot decode"),
            (Path(paths[1]).name, "file missing"),
        ]
        (home / "images" / paths[1]).write_bytes(good)  # the store is repaired
        again = _score(con, home)
        assert (again.scored, again.failed_to_decode) == (0 + 1, 1)
        assert con.execute("SELECT reason FROM score_failures").fetchall() == [("cannot decode",)]


KILLED_SCORER = """
import os, signal, sys
from pathlib import Path
from fashion_model.warehouse.db import connect
from fashion_model.score.images import score_images
home = Path(sys.argv[1])
def progress(done, total):
    if done >= 12:  # three chunks of four are committed by now
        os.kill(os.getpid(), signal.SIGKILL)
with connect(Path(sys.argv[2])) as con:
    score_images(con, [home / "manifests" / "catalog"], home / "images", home / "models",
                 batch_size=4, num_workers=0, progress=progress, write_every=4,
                 rescore=len(sys.argv) > 3)
"""


@pytest.mark.slow
def test_a_killed_scorer_rerun_leaves_exactly_one_row_per_image(trained_home, tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SCORER, str(trained_home), str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr  # a real SIGKILL, mid-run
    shas = {
        p for p in read_manifest(trained_home / "manifests" / "catalog")["sha256"].to_pylist() if p
    }
    with connect(db) as con:
        kept = con.execute("SELECT count(*) FROM scores").fetchone()[0]
        assert 0 < kept < len(shas)  # what was committed survived the kill, nothing more
        rerun = _score(con, trained_home)
        assert rerun.scored == len(shas) - kept and rerun.skipped_already_scored == kept
        for table in ("scores", "embeddings"):
            rows, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT (image_sha256, model_version)) FROM {table}"
            ).fetchone()
            assert rows == distinct == len(shas), table
        orphans = con.execute(
            "SELECT count(*) FROM predictions ANTI JOIN scores USING (image_sha256, model_version)"
        ).fetchone()[0]
        assert orphans == 0


@pytest.mark.slow
def test_a_killed_rescore_loses_nothing(trained_home, tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        first = _score(con, trained_home)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SCORER, str(trained_home), str(db), "rescore"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    with connect(db, read_only=True) as con:
        for table in ("scores", "embeddings"):
            rows, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT image_sha256) FROM {table}"
            ).fetchone()
            assert rows == distinct == first.scored, table  # every image still has its rows
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == _above(con)


HOLDER = """
import sys, time
from fashion_model.warehouse.db import connect
con = connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def test_a_second_writer_stops_with_a_clear_message(trained_home, tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    with connect(db):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = subprocess.run(
            [*FASHION, "score", "--home", str(trained_home), "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert f"another process (PID {holder.pid}) is writing this database" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
    with connect(db, read_only=True) as con:  # the file is intact
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == 0


def test_a_database_keeps_one_label_map(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        sync_labels(con, default_label_map())
        sync_labels(con, default_label_map())  # the same map again is fine
        other = LabelMap(labels=default_label_map().labels[:10])
        with pytest.raises(FashionError, match="label map differs"):
            sync_labels(con, other)


def test_a_catalog_without_retailer_needs_one(trained_home, tmp_path):
    from fashion_model.config import DownloadConfig
    from fashion_model.ingest.pipeline import ingest_source

    catalog = tmp_path / "c.csv"
    catalog.write_text("product_id,image_url\np1,http://127.0.0.1:9/y.jpg\n")
    ingest_source(catalog, tmp_path / "m", tmp_path / "images", DownloadConfig())
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(
            FashionError, match=r"no retailer column, or empty values\); pass --retailer"
        ):
            load_catalog(con, tmp_path / "m", date(2026, 1, 1))
        load_catalog(con, tmp_path / "m", date(2026, 1, 1), retailer="Ours")
        assert con.execute(
            "SELECT retailer, image_status FROM products JOIN product_images "
            "USING (retailer, product_id)"
        ).fetchall() == [("Ours", "blocked")]


def test_one_production_model_at_a_time(trained_home, tmp_path):
    from dataclasses import replace

    from fashion_model.model.registry import load_card
    from fashion_model.warehouse.db import sync_model

    card = load_card(trained_home / "models", production_version(trained_home / "models"))
    with connect(tmp_path / "w.duckdb") as con:
        sync_model(con, card, is_production=True)
        sync_model(con, replace(card, model_version="v2"), is_production=True)
        sync_model(con, replace(card, model_version="v3"), is_production=False)
        rows = con.execute("SELECT model_version, is_production FROM models ORDER BY 1").fetchall()
    assert rows == [(card.model_version, False), ("v2", True), ("v3", False)]


def _copy_version(models, source: str, name: str, label_rows: int | None = None) -> str:
    """A second registered version: the same weights under a new name (optionally with a
    truncated label map, i.e. another label map)."""
    import json

    shutil.copytree(models / source, models / name)
    card = json.loads((models / name / "model.json").read_text())
    card["model_version"] = name
    (models / name / "model.json").write_text(json.dumps(card))
    if label_rows is not None:
        lines = (models / name / "label_map.csv").read_text().splitlines()
        (models / name / "label_map.csv").write_text("\n".join(lines[: label_rows + 1]) + "\n")
    return name


def test_promote_says_how_many_images_the_new_model_will_score(trained_home, tmp_path):
    from fashion_model.score.promote import promote

    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(trained_home / "models", home / "models")
    (home / "manifests").symlink_to(trained_home / "manifests")
    (home / "images").symlink_to(trained_home / "images")
    first = production_version(home / "models")
    second = _copy_version(home / "models", first, "20990101-000000-second")
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        load_catalog(con, home / "manifests" / "catalog", date(2026, 11, 1))
        scored = _score(con, home).scored
    result = promote(home / "models", second, db)
    assert result == {**result, "production": second, "previous": first, "images_to_score": scored}
    assert production_version(home / "models") == second
    with connect(db) as con:
        assert _score(con, home).scored == scored  # the next run scores them with the new one
        assert con.execute("SELECT model_version FROM models WHERE is_production").fetchall() == [
            (second,)
        ]
    assert promote(home / "models", first, db)["images_to_score"] == 0
    other = _copy_version(home / "models", first, "20990101-000000-other", label_rows=10)
    with pytest.raises(FashionError, match="label map differs"):
        promote(home / "models", other, db)
    assert production_version(home / "models") == first


def test_batch_decoding_of_jpeg_bytes_matches_the_pillow_path(trained_home, tmp_path):
    """decode="torch" (what CUDA uses, with nvJPEG) on CPU: the same images scored, a corrupt
    one flagged, probabilities close to Pillow's (draft mode makes them differ slightly), and
    the same colours measured (from the tensor the batch decoder made)."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    paths = sorted(
        {p for p in read_manifest(home / "manifests" / "catalog")["path"].to_pylist() if p}
    )
    (home / "images" / paths[0]).write_bytes(b"not a jpeg")
    probs, colours = {}, {}
    for decode in ("pil", "torch"):
        with connect(tmp_path / f"{decode}.duckdb") as con:
            summary = _score(con, home, decode=decode, batch_size=8)
            assert (summary.scored, summary.failed_to_decode) == (len(paths) - 1, 1)
            probs[decode] = dict(con.execute("SELECT image_sha256, probs FROM scores").fetchall())
            main = "SELECT image_sha256, family FROM image_colors WHERE rank = 1"
            colours[decode] = dict(con.execute(main).fetchall())
    assert colours["pil"].keys() == colours["torch"].keys() and len(colours["pil"]) > 0
    same = sum(colours["pil"][k] == colours["torch"][k] for k in colours["pil"])
    assert same >= 0.9 * len(colours["pil"]), (same, len(colours["pil"]))
    assert probs["pil"].keys() == probs["torch"].keys()
    gaps = [
        np.abs(np.array(probs["pil"][k]) - np.array(probs["torch"][k])).max() for k in probs["pil"]
    ]
    assert max(gaps) < 0.1, max(gaps)


def test_score_refuses_a_model_of_another_label_map_before_any_work(trained_home, tmp_path):
    import subprocess

    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(trained_home / "models", home / "models")
    (home / "manifests").symlink_to(trained_home / "manifests")
    (home / "images").symlink_to(trained_home / "images")
    other = _copy_version(
        home / "models", production_version(home / "models"), "20990101-000000-other", label_rows=10
    )
    with connect(home / "fashion.duckdb") as con:
        sync_labels(con, default_label_map())
    result = subprocess.run(
        [*FASHION, "score", "--home", str(home), "--model", other, "--retailer", "R"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "label map differs" in lines[0], result.stderr
    with connect(home / "fashion.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM products").fetchone()[0] == 0
