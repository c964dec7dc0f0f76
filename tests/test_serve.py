"""`fashion serve`: the API and the pages with FastAPI's test client over `served_home`, every
number checked against the same query run directly on the snapshot."""

import io
import os
import subprocess
import threading
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fashion_model.analytics.reports import list_reports, run_report, share_table
from fashion_model.ingest.manifest import read_manifest
from fashion_model.match.similar import product_query, search_similar
from fashion_model.service import queries
from fashion_model.service.app import create_app

from .commands import FASHION
from .conftest import PLANTED, PLANTED_STRIPES


def catalog_photo(served_home, catalog_server) -> tuple[str, bytes]:
    """(product id, the original photo's bytes) of the first downloaded catalog product."""
    folder, _ = catalog_server
    rows = [
        r
        for r in read_manifest(served_home.manifests / "catalog").to_pylist()
        if r["status"] == "ok"
    ]
    product = rows[3]["source_id"]
    return product, (folder / "images" / "catalog" / f"{product}.jpg").read_bytes()


def test_health_models_and_what_every_answer_read(client, served_home):
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok"
    assert health["warehouse"]["source"] == "snapshot" and not health["warehouse"]["writer_running"]
    models = client.get("/api/v1/models").json()
    assert [m["production"] for m in models["models"]] == [True]
    assert models["warehouse"]["model_version"] == models["models"][0]["model_version"]


def test_trends_are_the_attribute_share_query_with_the_planted_mover(client, direct):
    body = client.get("/api/v1/trends", params={"task": "pattern", "retailer": PLANTED}).json()
    shares = run_report(direct, "attribute_share", {"task": "pattern", "retailer": PLANTED})
    table = share_table(shares, "month")
    assert body["periods"] == [str(p)[:10] for p in table.index]
    assert body["series"]["Stripes"] == [round(float(v), 2) for v in table["Stripes"]]
    assert body["series"]["Stripes"] == [10 * n for n in PLANTED_STRIPES.values()]
    assert body["biggest_mover"]["attribute"] == "Stripes"
    assert body["biggest_mover"]["change_points"] == 60
    csv = client.get(
        "/api/v1/trends", params={"task": "pattern", "retailer": PLANTED, "format": "csv"}
    )
    assert csv.headers["content-type"].startswith("text/csv") and "Stripes" in csv.text


def test_every_shipped_query_is_listed_and_runs_as_fashion_sql_does(client, direct):
    listed = client.get("/api/v1/queries").json()["queries"]
    assert sorted(q["name"] for q in listed) == sorted(list_reports())
    params = {"task": "pattern", "min_support": "1"}
    body = client.get("/api/v1/queries/trending_attributes", params=params).json()
    want = run_report(direct, "trending_attributes", params)
    assert [r["attribute"] for r in body["rows"]] == want["attribute"].tolist()
    pair = {"retailer_a": "Northwind", "retailer_b": "Southbay", "format": "csv"}
    csv = client.get("/api/v1/queries/competitor_comparison", params=pair)
    assert csv.status_code == 200 and csv.text.startswith("attribute,")


def test_a_product_with_its_attributes_images_prices_and_equivalents(client, direct, served_home):
    product = direct.execute(
        "SELECT from_product_id FROM equivalents ORDER BY from_product_id LIMIT 1"
    ).fetchone()[0]
    body = client.get(f"/api/v1/products/Northwind/{product}").json()
    assert body["product"]["product_id"] == product
    assert len(body["prices"]) == 2  # observed on two nights
    assert body["equivalents"][0]["retailer"] == "Southbay"
    want = direct.execute(
        "SELECT DISTINCT pr.label_id FROM product_images pi JOIN predictions pr USING "
        "(image_sha256) WHERE pi.retailer = 'Northwind' AND pi.product_id = ?",
        [product],
    ).fetchall()
    assert sorted(a["label_id"] for a in body["attributes"]) == sorted(r[0] for r in want)
    image = client.get(body["images"][0]["url"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    sha = body["images"][0]["image_sha256"]
    path = direct.execute("SELECT path FROM images WHERE image_sha256 = ?", [sha]).fetchone()[0]
    assert image.content == (served_home.images / path).read_bytes()


def test_similar_to_a_product_and_to_an_uploaded_catalog_photo(
    client, direct, served_home, catalog_server
):
    product, photo = catalog_photo(served_home, catalog_server)
    retailer = direct.execute(
        "SELECT retailer FROM products WHERE product_id = ?", [product]
    ).fetchone()[0]
    body = client.get("/api/v1/similar", params={"product_id": product, "k": 5}).json()
    version = body["model_version"]
    want = search_similar(
        direct, served_home.db, product_query(direct, version, product, None), version, 5
    )
    assert [r["product_id"] for r in body["results"]] == want.frame["product_id"].tolist()
    upload = client.post(
        "/api/v1/similar", files={"image": ("photo.jpg", photo, "image/jpeg")}, params={"k": 3}
    )
    assert upload.status_code == 200, upload.text
    first = upload.json()["results"][0]
    assert (first["retailer"], first["product_id"]) == (retailer, product)
    assert first["similarity"] > 0.99
    within = client.post(
        "/api/v1/similar",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        params={"k": 3, "in_retailer": "Southbay"},
    ).json()
    assert {r["retailer"] for r in within["results"]} == {"Southbay"}


def test_predict_gives_labels_by_task_with_scores_and_thresholds(
    client, served_home, catalog_server
):
    _, photo = catalog_photo(served_home, catalog_server)
    files = [("images", ("a.jpg", photo, "image/jpeg")), ("images", ("b.jpg", photo, "image/jpeg"))]
    body = client.post("/api/v1/predict", files=files).json()
    assert [r["image"] for r in body["results"]] == ["a.jpg", "b.jpg"]
    labels = [label for found in body["results"][0]["labels"].values() for label in found]
    assert labels and all(label["score"] >= label["threshold"] for label in labels)
    assert body["results"][0]["labels"] == body["results"][1]["labels"]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def test_bad_input_is_4xx_json_with_a_clear_message(client):
    checks = [
        (
            client.post(
                "/api/v1/similar", files={"image": ("x.jpg", b"not an image", "image/jpeg")}
            ),
            400,
            "not a readable image",
        ),
        (
            client.post("/api/v1/similar", files={"image": ("bomb.png", _png(20000, 20000))}),
            400,
            "decompression bomb",
        ),
        (
            client.post("/api/v1/predict", files={"images": ("big.jpg", b"\xff" * (25 << 20))}),
            413,
            "over",
        ),
        (client.get("/api/v1/queries/drop_everything"), 404, "unknown query"),
        (
            client.get("/api/v1/queries/attribute_share", params={"task": "pattern", "nope": "1"}),
            400,
            "unknown parameter",
        ),
        (
            client.get(
                "/api/v1/queries/attribute_share", params={"task": "color'; DROP TABLE x--"}
            ),
            400,
            "task: Input should be",
        ),
        (
            client.get("/api/v1/trends", params={"retailer": "x' OR '1'='1"}),
            404,
            "no such retailer",
        ),
        (client.get("/api/v1/products/Northwind/NO-does-not-exist"), 404, "no product"),
        (
            client.get("/api/v1/similar", params={"product_id": "NO-000001", "k": 0}),
            400,
            "k: Input should be greater than or equal to 1",
        ),
        (client.get("/api/v1/trends", params={"task": "fabric"}), 400, "task: Input should be"),
        (client.options("/api/v1/similar"), 405, "Method Not Allowed"),
        (client.get("/api/v1/similar", params={"product_id": "nope"}), 404, "no such product"),
        (client.get("/api/v1/similar", params={"product_id": "NO-000001", "k": "many"}), 400, "k:"),
        (client.get("/api/v1/images/../../etc/passwd"), 404, ""),
        (client.get("/api/v1/images/" + "0" * 64), 404, "no image"),
        (client.post("/api/v1/predict", data={"urls": ["http://127.0.0.1:1/x.jpg"]}), 200, ""),
    ]
    for index, (response, status, text) in enumerate(checks):
        assert response.status_code == status, (index, response.text)
        if status >= 400:
            assert text in response.json()["error"], (index, response.text)
            assert "Traceback" not in response.text
    (options,) = [r for r, status, _ in checks if status == 405]
    assert options.headers["allow"] == "GET, POST"  # every method of the path
    private = checks[-1][0].json()["results"][0]["error"]
    assert "non-public address" in private  # the SSRF guard, per URL


def test_a_token_is_required_off_loopback(served_home):
    token = "s3cret-token-for-tests"
    with TestClient(create_app(served_home, token=token, prepare=False)) as guarded:
        assert guarded.get("/api/v1/health").status_code == 200
        assert guarded.get("/api/v1/models").status_code == 401
        wrong = guarded.get("/api/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]
        good = guarded.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200
        page = guarded.get("/trends", headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        login = guarded.post(
            "/login", data={"token": token, "next": "/trends"}, follow_redirects=False
        )
        assert login.status_code == 303
        assert guarded.get("/trends", headers={"accept": "text/html"}).status_code == 200
    run = subprocess.run(
        [*FASHION, "serve", "--host", "0.0.0.0", "--home", str(served_home.root)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FASHION_API_TOKEN": ""},
    )
    assert run.returncode == 2 and "not loopback" in run.stderr


def test_a_signed_review_link_opens_its_one_image_without_the_token(served_home, direct):
    """What a reviewer's browser gets from a pushed Label Studio task: that image, until the
    link expires; a changed image, expiry or signature is refused (403)."""
    from urllib.parse import parse_qs, urlsplit

    from fashion_model.review.signing import signed_link

    sha = direct.execute("SELECT image_sha256 FROM images LIMIT 1").fetchone()[0]
    other = direct.execute("SELECT image_sha256 FROM images LIMIT 1 OFFSET 1").fetchone()[0]
    link = urlsplit(signed_link(served_home.root, "http://testserver", sha))
    query = parse_qs(link.query)
    with TestClient(create_app(served_home, token="t0ken", prepare=False)) as guarded:
        opened = guarded.get(f"{link.path}?{link.query}")
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/jpeg"
        assert opened.content[:2] == b"\xff\xd8"
        expires, signature = int(query["expires"][0]), query["signature"][0]
        bad = [
            f"/review/images/{other}?{link.query}",
            f"{link.path}?expires={expires + 1}&signature={signature}",
            f"{link.path}?expires=1&signature={signature}",
            f"/api/v1/images/{sha}",
        ]
        assert [guarded.get(url).status_code for url in bad] == [403, 403, 403, 401]


def test_serve_is_a_label_studio_ml_backend(served_home, direct):
    """The calls Label Studio makes of a model (health, setup, predict, webhook), with the token
    as Basic auth as its ML backend settings send it; predict answers one result per task in
    Label Studio's prediction format, labels only for the config's label-task controls."""
    import base64

    from fashion_model.labels import default_label_map
    from fashion_model.review.labelstudio import labelling_config

    shas = [r[0] for r in direct.execute("SELECT image_sha256 FROM images LIMIT 2").fetchall()]
    config = labelling_config(default_label_map(), ["color", "gender"])
    basic = {"Authorization": "Basic " + base64.b64encode(b"labelstudio:t0ken").decode()}
    with TestClient(create_app(served_home, token="t0ken", prepare=False)) as guarded:
        assert guarded.get("/label-studio/health").status_code == 401
        health = guarded.get("/label-studio/health", headers=basic).json()
        assert health["status"] == "UP"
        version = health["model_version"]
        setup = guarded.post("/label-studio/setup", headers=basic, json={"project": "1.1"})
        assert setup.json() == {"model_version": version}
        tasks = [
            {"id": i, "data": {"image": "http://elsewhere/x.jpg", "sha256": sha}}
            for i, sha in enumerate(shas)
        ]
        answer = guarded.post(
            "/label-studio/predict", headers=basic, json={"tasks": tasks, "label_config": config}
        )
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert len(results) == 2 and {r["model_version"] for r in results} == {version}
        found = queries.predictions(
            served_home_source(guarded),
            version,
            [
                str(
                    served_home.images
                    / direct.execute(
                        "SELECT path FROM images WHERE image_sha256 = ?", [shas[0]]
                    ).fetchone()[0]
                )
            ],
        )[0]["labels"]
        shown = {r["from_name"]: r["value"]["choices"] for r in results[0]["result"]}
        assert shown == {
            t: [lb["label"] for lb in found[t]][: 1 if t == "gender" else None]
            for t in ("color", "gender")
            if found.get(t)
        }
        assert all(r["to_name"] == "image" and r["type"] == "choices" for r in results[0]["result"])
        bad = guarded.post("/label-studio/predict", headers=basic, json={"tasks": []})
        assert bad.status_code == 400 and "tasks" in bad.json()["error"]
        hook = guarded.post("/label-studio/webhook", headers=basic, json={"action": "X"})
        assert hook.status_code == 200


def served_home_source(test_client):
    return test_client.app.state.source


def test_a_server_with_no_snapshot_yet_answers_503_with_retry_after(tmp_path):
    """Before the first night publishes a snapshot: a clear 503 with Retry-After, at once
    (never a hang), and a health check that says why."""
    from fashion_model.home import Home

    with TestClient(create_app(Home.resolve(tmp_path / "new"), prepare=False)) as fresh:
        for url in ("/api/v1/trends", "/api/v1/runs", "/api/v1/products/A/1"):
            answer = fresh.get(url)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "30", url
            assert "no snapshot" in answer.json()["error"]
        assert fresh.get("/api/v1/health").json()["status"] == "degraded"


def test_every_page_renders(client, direct):
    product = direct.execute(
        "SELECT product_id FROM products WHERE retailer = 'Northwind' ORDER BY 1 LIMIT 1"
    ).fetchone()[0]
    pages = {  # path: (status, text on the page)
        "/": (200, "Northwind"),
        f"/trends?task=pattern&retailer={PLANTED}": (200, 'class="series mover"'),
        "/competitors?task=color&a=Northwind&b=Southbay": (200, "Assortment mix"),
        "/search": (200, 'type="file"'),
        f"/products/Northwind/{product}": (200, "Price history"),
        "/review?margin=0.1": (200, "closest to the threshold"),
        "/runs": (200, "download failure rate 10%"),
        "/products/Northwind/nope": (404, "no product"),
        "/trends?task=fabric": (400, "fabric"),
    }
    for path, (status, text) in pages.items():
        response = client.get(path, headers={"accept": "text/html"})
        assert response.status_code == status, (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
        assert text.lower() in response.text.lower(), path
        assert status != 200 or "snapshot" in response.text, path  # the page says what it reads
    trends = client.get(f"/trends?task=pattern&retailer={PLANTED}").text
    assert "Stripes" in trends and "70.0%" in trends
    assert "cdn" not in trends.lower() and "https://" not in trends


@pytest.mark.slow
def test_the_server_answers_while_a_nightly_run_writes(
    served_home, catalog_server, tmp_path, prefect_api_env
):
    """A real nightly run (its own process) writes the warehouse while the API is asked the
    same question over and over: every answer comes, the run succeeds, and the next answer
    reads the snapshot the run published."""
    folder, _ = catalog_server
    home = tmp_path / "home"
    import shutil

    shutil.copytree(served_home.root, home)
    from fashion_model.home import Home

    app = create_app(Home.resolve(home))
    answers, stop = [], threading.Event()
    with TestClient(app) as local:
        before = local.get("/api/v1/health").json()["warehouse"]["published_at"]

        def ask():
            while not stop.is_set():
                response = local.get("/api/v1/trends", params={"task": "color"})
                answers.append((response.status_code, response.json()["warehouse"]))
                time.sleep(0.05)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            run = subprocess.run(
                [
                    *FASHION,
                    "nightly",
                    str(folder / "catalog.csv"),
                    "--home",
                    str(home),
                    "--allow-private",
                    "--per-host-rate",
                    "0",
                    "--as-of",
                    "2026-11-03",
                ],
                capture_output=True,
                text=True,
                timeout=600,
                env=prefect_api_env,
            )
        finally:
            stop.set()
            asker.join()
        assert run.returncode == 0, run.stderr[-2000:]
        assert answers and all(status == 200 for status, _ in answers)
        assert any(w["writer_running"] for _, w in answers)  # it saw the run and said so
        after = local.get("/api/v1/health").json()["warehouse"]
        assert after["published_at"] > before and not after["writer_running"]
        observed = local.get(
            "/api/v1/queries/assortment_as_of", params={"task": "color", "as_of": "2026-11-03"}
        ).json()
        assert observed["rows"], "the new night is served without a restart"
