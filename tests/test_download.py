"""Downloader faults, each against a local aiohttp server that misbehaves on purpose."""

import io
from collections import Counter

import pytest
from aiohttp import web
from PIL import Image

from fashion_model.download import DownloadConfig, download_batch
from fashion_model.server import running_app

LOCAL = DownloadConfig(allow_private=True, retries=2, backoff=0.01, max_bytes=200_000)


def _jpeg(size=(640, 480), color=(200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def _png_with_alpha() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 400), (0, 0, 255, 128)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def faulty_server():
    hits: Counter[str] = Counter()
    jpeg = _jpeg()

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] += 1
        if name == "ok.jpg":
            return web.Response(body=jpeg, content_type="image/jpeg")
        if name == "alpha.png":
            return web.Response(body=_png_with_alpha(), content_type="image/png")
        if name == "flaky.jpg":  # 500 once, then fine
            if hits[name] == 1:
                return web.Response(status=500)
            return web.Response(body=jpeg, content_type="image/jpeg")
        if name == "busy.jpg":  # 429 with Retry-After once, then fine
            if hits[name] == 1:
                return web.Response(status=429, headers={"Retry-After": "0"})
            return web.Response(body=jpeg, content_type="image/jpeg")
        if name == "always-500.jpg":
            return web.Response(status=500)
        if name == "html.jpg":
            return web.Response(body=b"<html>hi</html>", content_type="image/jpeg")
        if name == "truncated.jpg":
            return web.Response(body=jpeg[: len(jpeg) // 2], content_type="image/jpeg")
        if name == "huge.jpg":
            return web.Response(body=b"\xff" * 300_000, content_type="image/jpeg")
        if name == "redirect.jpg":
            raise web.HTTPFound("/ok.jpg")
        if name == "loop.jpg":
            raise web.HTTPFound("/loop.jpg")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", handler)
    with running_app(app) as base_url:
        yield base_url, hits


def test_every_url_ends_with_the_right_status(faulty_server, tmp_path):
    base, hits = faulty_server
    cases = {
        f"{base}/ok.jpg": "ok",
        f"{base}/alpha.png": "ok",
        f"{base}/flaky.jpg": "ok",
        f"{base}/busy.jpg": "ok",
        f"{base}/redirect.jpg": "ok",
        f"{base}/missing.jpg": "http_error",
        f"{base}/always-500.jpg": "http_error",
        f"{base}/html.jpg": "invalid_image",
        f"{base}/truncated.jpg": "invalid_image",
        f"{base}/huge.jpg": "too_large",
        f"{base}/loop.jpg": "http_error",
        "ftp://example.com/a.jpg": "bad_url",
        "not a url": "bad_url",
    }
    outcomes = download_batch(list(cases), LOCAL, tmp_path)
    assert [o.status for o in outcomes] == list(cases.values())
    by_url = dict(zip(cases, outcomes, strict=True))
    assert by_url[f"{base}/flaky.jpg"].attempts == 2
    assert by_url[f"{base}/missing.jpg"].attempts == 1  # 404 is permanent: no retry
    assert by_url[f"{base}/always-500.jpg"].attempts == LOCAL.retries + 1
    assert hits["missing.jpg"] == 1
    ok = by_url[f"{base}/ok.jpg"]
    assert (ok.original_width, ok.original_height) == (640, 480)
    assert min(ok.width, ok.height) == LOCAL.image_size
    assert (tmp_path / ok.path).is_file()
    assert not list(tmp_path.rglob(".tmp-*")), "temp files left behind"


def test_identical_images_are_stored_once(faulty_server, tmp_path):
    base, _ = faulty_server
    first, second = download_batch([f"{base}/ok.jpg", f"{base}/redirect.jpg"], LOCAL, tmp_path)
    assert first.sha256 == second.sha256
    assert len(list(tmp_path.rglob("*.jpg"))) == 1


def test_the_ssrf_guard_blocks_loopback_by_default(faulty_server, tmp_path):
    base, hits = faulty_server
    before = hits["ok.jpg"]
    (outcome,) = download_batch([f"{base}/ok.jpg"], DownloadConfig(), tmp_path)
    assert outcome.status == "blocked"
    assert "127.0.0.1" in outcome.error_message
    assert hits["ok.jpg"] == before, "a blocked URL must not be requested"
