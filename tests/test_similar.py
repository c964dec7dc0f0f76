"""Product matching on a hand-built warehouse whose embeddings give known answers."""

import hashlib
import subprocess
from datetime import date

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashion_model.analytics.reports import run_report
from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map
from fashion_model.match import index as vector_index
from fashion_model.match.contact_sheet import similar_sheet
from fashion_model.match.equivalents import find_equivalents
from fashion_model.match.index import index_folder, load_index, update_index
from fashion_model.match.similar import product_query, search_similar
from fashion_model.sqlfiles import run_script
from fashion_model.warehouse.db import connect, refresh_analytics

from .commands import FASHION

LABELS = default_label_map()
DRESSES = LABELS.label_id("category", "Dresses")
SKIRTS = LABELS.label_id("category", "Skirts")
RED = LABELS.label_id("color", "Red")
BLUE = LABELS.label_id("color", "Blue")
DIM = 512


def unit(*parts: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    for axis, weight in parts:
        vector[axis] += weight
    return vector / np.linalg.norm(vector)


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


# product -> (retailer, [(image name, vector)], labels, price). Cosine to a (= e0):
# b 0.995, f = g 0.981 (one shared image), c 0.958, h 0.912 (its better image), d 0.857, e 0.
PRODUCTS = {
    "a": ("R", [("a", unit((0, 1)))], [DRESSES, RED], 100.0),
    "b": ("R", [("b", unit((0, 1), (1, 0.1)))], [SKIRTS, RED], 50.0),
    "c": ("S", [("c", unit((0, 1), (2, 0.3)))], [DRESSES, RED, BLUE], 120.0),
    "d": ("S", [("d", unit((0, 1), (3, 0.6)))], [DRESSES, BLUE], 80.0),
    "e": ("R", [("e", unit((4, 1)))], [DRESSES], 10.0),
    "f": ("S", [("fg", unit((0, 1), (5, 0.2)))], [SKIRTS], 45.0),
    "g": ("S", [("fg", unit((0, 1), (5, 0.2)))], [SKIRTS], 60.0),
    "h": ("R", [("h1", unit((6, 1))), ("h2", unit((0, 1), (7, 0.45)))], [DRESSES], 70.0),
}


def _build(con, version="m1", products=PRODUCTS):
    """Insert products, their images, embeddings, scores and predictions (in bulk)."""
    rows = {
        "products": [],
        "product_images": [],
        "images": {},
        "embeddings": {},
        "predictions": set(),
    }
    for name, (retailer, images, labels, price) in products.items():
        rows["products"].append(
            (retailer, name, f"Brand {name}", f"Title {name}", date(2026, 1, 1), price)
        )
        for position, (image, vector) in enumerate(images):
            rows["product_images"].append((retailer, name, position, sha(image)))
            rows["images"][sha(image)] = f"{image}.jpg"
            rows["embeddings"][sha(image)] = vector.tolist()
            rows["predictions"].update((sha(image), label) for label in labels)
    frames = {
        "new_products": pd.DataFrame(
            rows["products"],
            columns=["retailer", "product_id", "brand", "title", "first_seen", "price"],
        ),
        "new_images": pd.DataFrame(
            rows["product_images"], columns=["retailer", "product_id", "position", "sha"]
        ),
        "new_paths": pd.DataFrame(list(rows["images"].items()), columns=["sha", "path"]),
        "new_vectors": pd.DataFrame(list(rows["embeddings"].items()), columns=["sha", "v"]),
        "new_labels": pd.DataFrame(sorted(rows["predictions"]), columns=["sha", "label_id"]),
    }
    for name, frame in frames.items():
        con.register(name, frame)
    con.execute(
        "INSERT INTO products (retailer, product_id, brand, title, first_seen, price, "
        "currency) SELECT *, 'EUR' FROM new_products ON CONFLICT DO NOTHING"
    )
    con.execute(
        "INSERT INTO product_images SELECT retailer, product_id, position, 'u', sha, "
        "'ok', NULL FROM new_images ON CONFLICT DO NOTHING"
    )
    con.execute(
        "INSERT INTO images SELECT sha, 10, 10, 10, 10, 100, path, now() FROM new_paths "
        "ON CONFLICT DO NOTHING"
    )
    con.execute(
        "INSERT INTO embeddings (image_sha256, model_version, embedding) "
        "SELECT sha, ?, v::FLOAT[512] FROM new_vectors",
        [version],
    )
    con.execute(
        "INSERT INTO scores (image_sha256, model_version, probs) SELECT sha, ?, ? FROM new_vectors",
        [version, [0.0] * len(LABELS.labels)],
    )
    con.execute("INSERT INTO predictions SELECT sha, ?, label_id, 0.9 FROM new_labels", [version])
    for name in frames:
        con.unregister(name)
    run_script(con, "load/refresh_image_products.sql", {})  # as loading a catalog does


@pytest.fixture()
def warehouse(tmp_path):
    db = tmp_path / "fashion.duckdb"
    con = connect(db)
    con.executemany(
        "INSERT INTO labels VALUES (?, ?, ?, ?)",
        [(lb.label_id, lb.task, lb.name, i) for i, lb in enumerate(LABELS.labels)],
    )
    con.execute(
        "INSERT INTO models VALUES ('m1', now(), 'resnet34', 64, 0.9, ?, true, 'x', '{}')",
        [[0.5] * len(LABELS.labels)],
    )
    _build(con)
    refresh_analytics(con)
    yield con, db
    con.close()


def _ids(result) -> list[str]:
    return list(result.frame["product_id"])


def test_top_k_is_the_cosine_order_without_the_query_product(warehouse):
    con, db = warehouse
    query = product_query(con, "m1", "a", None)
    result = search_similar(con, db, query, "m1", k=4)
    assert _ids(result) == ["b", "f", "g", "c"]  # f and g show one image: both, by id
    assert list(result.frame["rank"]) == [1, 2, 3, 4]
    assert result.frame["similarity"].tolist() == pytest.approx(
        [0.995, 0.981, 0.981, 0.958], abs=1e-3
    )
    assert result.method == "exact" and "no similarity index" in result.note


def test_a_product_is_as_similar_as_its_closest_image(warehouse):
    con, db = warehouse
    result = search_similar(con, db, product_query(con, "m1", "a", None), "m1", k=10)
    assert _ids(result) == ["b", "f", "g", "c", "h", "d", "e"]
    assert result.frame.set_index("product_id").loc["h", "similarity"] == pytest.approx(
        0.912, abs=1e-3
    )
    assert result.frame.set_index("product_id").loc["h", "image_sha256"] == sha("h2")


def test_filters_by_retailer_and_shared_attributes(warehouse):
    con, db = warehouse
    query = product_query(con, "m1", "a", None)
    assert _ids(search_similar(con, db, query, "m1", k=10, in_retailer="S")) == ["f", "g", "c", "d"]
    same_category = search_similar(con, db, query, "m1", k=10, same=["category"])
    assert _ids(same_category) == ["c", "h", "d", "e"]
    assert same_category.candidates == 6  # a, c, d, e and h's two images
    both = search_similar(con, db, query, "m1", k=10, same=["category", "color"])
    assert _ids(both) == ["c"]  # d is Blue only; h and e have no predicted colour


def test_the_index_agrees_with_exact_search_and_is_updated_not_rebuilt(warehouse):
    con, db = warehouse
    query = product_query(con, "m1", "a", None)
    exact = search_similar(con, db, query, "m1", k=10)
    built = update_index(con, db)
    assert (built.action, built.vectors, built.kind) == ("built", 8, "flat")
    indexed = search_similar(con, db, query, "m1", k=10)
    assert indexed.method == "index"
    assert _ids(indexed) == _ids(exact)
    assert indexed.frame["similarity"].tolist() == pytest.approx(
        exact.frame["similarity"].tolist(), abs=1e-5
    )
    filtered = search_similar(con, db, query, "m1", k=10, in_retailer="S")
    assert _ids(filtered) == ["f", "g", "c", "d"]

    # A new product arrives: stale until the update, which adds it without a rebuild.
    _build(con, products={"n": ("S", [("n", unit((0, 1), (8, 0.05)))], [DRESSES], 99.0)})
    index, why = load_index(con, db, "m1")
    assert index is None and "stale (8 vectors, the warehouse has 9" in why
    fallback = search_similar(con, db, query, "m1", k=1)
    assert _ids(fallback) == ["n"] and fallback.method == "exact" and "stale" in fallback.note
    before = vector_index.read_meta(index_folder(db))
    updated = update_index(con, db)
    assert (updated.action, updated.added, updated.removed, updated.vectors) == ("updated", 1, 0, 9)
    after = vector_index.read_meta(index_folder(db))
    assert after.built_at == before.built_at and after.generation != before.generation
    assert _ids(search_similar(con, db, query, "m1", k=1)) == ["n"]
    assert sorted(p.name for p in index_folder(db).iterdir()) == sorted(
        ["current.json", *after.files]
    )  # the previous generation's files are gone
    assert update_index(con, db).action == "unchanged"
    con.execute("DELETE FROM embeddings WHERE image_sha256 = ?", [sha("n")])
    assert update_index(con, db).removed == 1
    assert update_index(con, db, rebuild=True).action == "built"


def test_an_ivf_index_agrees_with_exact_search(warehouse, monkeypatch):
    """Clustered vectors past FLAT_MAX build an IVF index whose top-10 matches exact search."""
    con, db = warehouse
    monkeypatch.setattr(vector_index, "FLAT_MAX", 100)
    monkeypatch.setattr(vector_index, "NPROBE", 3)  # of 30 lists: approximate for real
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    extra = {}
    for i in range(1200):
        vector = centres[i % 20] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        extra[f"x{i:04d}"] = ("T", [(f"x{i}", vector / np.linalg.norm(vector))], [SKIRTS], 1.0)
    _build(con, products=extra)
    refresh_analytics(con)
    built = update_index(con, db)
    assert (built.kind, built.vectors, vector_index.read_meta(index_folder(db)).nlist) == (
        "ivf",
        1208,
        30,
    )
    asked = [
        ("x0003", None),
        ("x0117", None),
        ("a", None),
        ("x0042", "T"),  # 99% of the images pass: oversampled probe, then filtered
        ("x0042", "S"),
    ]  # 3 images of 1208: exact among the candidates
    for name, retailer in asked:
        query = product_query(con, "m1", name, None)
        indexed = search_similar(con, db, query, "m1", k=10, in_retailer=retailer)
        assert indexed.method == "index"
        index_folder(db).joinpath("current.json").rename(db.parent / "off.json")
        exact = search_similar(con, db, query, "m1", k=10, in_retailer=retailer)
        db.parent.joinpath("off.json").rename(index_folder(db) / "current.json")
        assert exact.method == "exact"
        assert _ids(indexed) == _ids(exact), (name, retailer, indexed.note)
    assert "searched exactly among the 3 candidate images" in indexed.note


def test_a_new_production_model_rebuilds_the_index(warehouse):
    con, db = warehouse
    update_index(con, db)
    con.execute("UPDATE models SET is_production = false")
    con.execute(
        "INSERT INTO models VALUES ('m2', now(), 'resnet34', 64, 0.9, ?, true, 'x', '{}')",
        [[0.5] * len(LABELS.labels)],
    )
    _build(con, version="m2")
    refresh_analytics(con)
    index, why = load_index(con, db, "m2")
    assert index is None and "is for model m1" in why
    rebuilt = update_index(con, db)
    assert rebuilt.action == "built" and "m1 -> m2" in rebuilt.reason


def test_equivalents_rows_are_the_nearest_competitor_products(warehouse):
    con, db = warehouse
    result = find_equivalents(con, db, "R", "S", "m1", top=2)
    assert (result.products, result.matched, result.rows) == (4, 4, 8)
    rows = con.execute(
        "SELECT from_product_id, rank, to_product_id, round(similarity, 3) FROM equivalents "
        "WHERE model_version = 'm1' AND from_retailer = 'R' AND to_retailer = 'S' ORDER BY 1, 2"
    ).fetchall()
    assert [r[:3] for r in rows] == [
        ("a", 1, "f"),
        ("a", 2, "g"),  # f and g share their image: tied, by id
        ("b", 1, "f"),
        ("b", 2, "g"),
        ("e", 1, "c"),
        ("e", 2, "d"),  # e is orthogonal to all: similarity 0, by id
        ("h", 1, "c"),
        ("h", 2, "d"),  # h queries with its first image, orthogonal too
    ]
    assert rows[0][3] == pytest.approx(0.981, abs=1e-3)
    same = find_equivalents(con, db, "R", "S", "m1", same=["category"])
    assert same.rows == 4
    pairs = con.execute(
        "SELECT from_product_id, to_product_id FROM equivalents WHERE from_retailer = 'R' "
        "ORDER BY 1"
    ).fetchall()
    assert pairs == [("a", "c"), ("b", "f"), ("e", "c"), ("h", "c")]  # replaced, not added


def test_equivalents_through_the_index_match_the_exact_scan(warehouse, monkeypatch):
    con, db = warehouse
    exact = find_equivalents(con, db, "R", "S", "m1", top=2)
    expected = con.execute("SELECT * FROM equivalents ORDER BY ALL").fetchall()
    update_index(con, db)
    monkeypatch.setattr("fashion_model.match.equivalents.EXACT_MAX_PAIRS", 0)
    indexed = find_equivalents(con, db, "R", "S", "m1", top=2)
    assert (exact.method, indexed.method) == ("exact", "index")
    got = con.execute("SELECT * FROM equivalents ORDER BY ALL").fetchall()
    assert [r[:5] + (r[6],) for r in got] == [r[:5] + (r[6],) for r in expected]


def test_equivalent_price_gaps_query(warehouse):
    con, db = warehouse
    find_equivalents(con, db, "R", "S", "m1", same=["category"])
    gaps = run_report(con, "equivalent_price_gaps", {"from_retailer": "R", "to_retailer": "S"})
    got = {r.from_product_id: (r.to_product_id, r.price_gap, r.gap_pct) for r in gaps.itertuples()}
    assert got == {
        "a": ("c", 20.0, 20.0),
        "b": ("f", -5.0, -10.0),
        "e": ("c", 110.0, 1100.0),
        "h": ("c", 50.0, 71.4),
    }
    assert list(gaps["from_product_id"]) == ["e", "h", "a", "b"]  # largest relative gap first
    params = {"from_retailer": "R", "to_retailer": "S", "min_similarity": "0.5"}
    strict = run_report(con, "equivalent_price_gaps", params)
    assert "e" not in set(strict["from_product_id"])


def test_bad_input_is_refused_with_one_line(warehouse):
    con, db = warehouse
    query = product_query(con, "m1", "a", None)
    cases = [
        (lambda: search_similar(con, db, query, "m1", k=0), "-k must be between 1 and 1000"),
        (
            lambda: search_similar(con, db, query, "m1", same=["fabric"]),
            "--same 'fabric' is not one of category, color, gender",
        ),
        (
            lambda: search_similar(con, db, query, "m1", same=["pattern"]),
            "has no predicted pattern",
        ),
        (
            lambda: search_similar(con, db, query, "m1", in_retailer="Nope"),
            "--in-retailer 'Nope': no such retailer (have: R, S)",
        ),
        (lambda: product_query(con, "m1", "zzz", None), "product 'zzz': no such product"),
        (lambda: find_equivalents(con, db, "R", "R", "m1"), "name the same retailer"),
        (lambda: find_equivalents(con, db, "R", "Q", "m1"), "--to 'Q': no such retailer"),
    ]
    for call, message in cases:
        with pytest.raises(FashionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            call()
    con.execute("INSERT INTO products (retailer, product_id) VALUES ('S', 'a')")
    con.execute("INSERT INTO product_images VALUES ('S', 'a', 0, 'u', NULL, 'http_error', NULL)")
    with pytest.raises(FashionError, match=r"several retailers use this product id \(R, S\)"):
        product_query(con, "m1", "a", None)
    with pytest.raises(FashionError, match="has no embedding of its images .*http_error"):
        product_query(con, "m1", "a", "S")


def test_contact_sheet_shows_query_and_matches(warehouse, tmp_path):
    con, db = warehouse
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b", "fg"):
        Image.new("RGB", (60, 80), (200, 30, 30)).save(images / f"{name}.jpg")
    query = product_query(con, "m1", "a", None)
    result = search_similar(con, db, query, "m1", k=3)
    out = similar_sheet(query, result, images, tmp_path / "sheets" / "grid.png")
    with Image.open(out) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * 220, 40 + 321)  # one row: query + 3 matches
        assert sheet.getpixel((10 + 100, 40 + 10 + 125))[0] > 150  # the query photo, red
    assert not list((tmp_path / "sheets").glob(".*tmp"))


def test_cli_on_an_empty_warehouse_is_one_line(tmp_path):
    connect(tmp_path / "fashion.duckdb").close()
    for args in (
        ["similar", "--product-id", "a"],
        ["equivalents", "--from", "R", "--to", "S"],
        ["index"],
    ):
        result = subprocess.run(
            [*FASHION, *args, "--home", str(tmp_path)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result.stderr
        assert "the warehouse is empty" in result.stderr
        assert "Traceback" not in result.stderr
