"""The web app in a real browser: Debian's headless Chromium driven by Playwright, against
`fashion serve`'s application under uvicorn on a loopback port. Screenshots go to
$FASHION_SCREENSHOTS when set (the README's come from here), else to the test's folder."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from .conftest import PLANTED
from .test_serve import catalog_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What a root session on a closed network needs (no sandbox, no calls home).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return "no Chromium: `apt-get install chromium` (make test installs it where it can)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Playwright for Python: pip install playwright (in .[dev])"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module")
def server(served_home):
    """The application under uvicorn in a thread, on a free loopback port."""
    import uvicorn

    from fashion_model.demo.server import free_port
    from fashion_model.service.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(served_home), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("FASHION_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_trends_page_shows_the_planted_trend(server, page, shots):
    page.goto(f"{server}/trends?task=pattern&retailer={PLANTED}")
    assert "Stripes rose the most" in page.inner_text("#mover")
    mover = page.locator("svg.chart polyline.mover")
    assert mover.count() == 1 and mover.get_attribute("data-attribute") == "Stripes"
    rows = page.locator("#trend-table tbody tr")
    assert rows.count() == 4
    stripes = [cell.strip() for cell in page.locator("#trend-table td.mover").all_inner_texts()]
    assert stripes == ["10.0%", "30.0%", "50.0%", "70.0%"]
    page.screenshot(path=str(shots / "trends.png"), full_page=True)
    page.select_option("select[name=task]", "color")
    page.click("form.controls button")
    page.wait_for_url("**task=color**")
    assert "Color share" in page.inner_text("h1")


def test_visual_search_finds_the_uploaded_photos_product_first(
    server, page, shots, served_home, catalog_server
):
    product, photo = catalog_photo(served_home, catalog_server)
    page.goto(f"{server}/search")
    page.set_input_files("#photo", {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": photo})
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results li")
    first = page.locator("#results li .who").first
    assert first.get_attribute("data-product") == product
    assert page.locator("#predicted dt").count() >= 1
    assert page.locator("#results img").first.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    page.click("#results li a >> nth=0")
    page.wait_for_selector("#attributes")
    assert product in page.inner_text("main")
    page.screenshot(path=str(shots / "product.png"), full_page=True)


def test_the_other_pages_in_the_browser(server, page, shots):
    for name, path, selector in (
        ("competitors", "/competitors?task=category&a=Northwind&b=Southbay", "#mix"),
        ("review", "/review?margin=0.1", "#review"),
        ("runs", "/runs", "#runs tbody tr.flagged"),
        ("overview", "/", "table.data tbody tr"),
    ):
        started = time.perf_counter()
        page.goto(server + path)
        page.wait_for_selector(selector)
        print(f"{name}: {1000 * (time.perf_counter() - started):.0f} ms")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert "snapshot" in page.inner_text("#data-banner")


def test_the_colour_page_searches_by_a_picked_colour(server, page, shots, direct):
    main = direct.execute("SELECT hex FROM analytics_colors WHERE rank = 1 LIMIT 1").fetchone()[0]
    page.goto(f"{server}/colors")
    page.wait_for_selector("svg.chart")  # the shade chart, lines in the shades' own colours
    page.fill("#picker", main)  # what the colour picker sets
    page.click("#color-form button[type=submit]")
    page.wait_for_selector("#near li")
    assert f"hex=%23{main[1:]}" in page.url
    swatch = page.locator("#near li .swatches .swatch").first
    assert swatch.evaluate("s => getComputedStyle(s).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.locator("#near img").first.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(shots / "colors.png"), full_page=True)
