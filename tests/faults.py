"""A local aiohttp server that misbehaves on purpose, one fault per path (shared by tests)."""

import asyncio
import io
import struct
import time
import zlib
from collections import Counter

from aiohttp import web
from PIL import Image

from fashion_model.config import DownloadConfig

# Loopback 127.0.0.1 is allowed explicitly; every other non-public address stays blocked.
LOCAL = DownloadConfig(
    allow_networks=("127.0.0.1/32",),
    retries=2,
    backoff=0.01,
    max_bytes=200_000,
    read_timeout=0.5,
    total_timeout=5.0,
    max_retry_wait=5.0,
    per_host_rate=0,
)


def jpeg(size=(640, 480), color=(200, 30, 40), mode="RGB", exif=None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, size, color)
    image.save(buffer, "JPEG", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def png_with_alpha() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 400), (0, 0, 255, 0)).save(buffer, "PNG")  # fully transparent
    return buffer.getvalue()


def bomb_png(width=60_000, height=60_000) -> bytes:
    """A tiny PNG whose header declares 3.6 gigapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return jpeg((640, 480), exif=exif)


CAPACITY_PER_SECOND = 20  # what the `capacity-N.jpg` route serves before it answers 429


def make_faulty_app(hits: Counter, times: dict, other_base: str) -> web.Application:
    body = jpeg()

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] += 1
        times[name].append(time.monotonic())
        image = {"content_type": "image/jpeg"}
        if name in ("ok.jpg", "ok-again.jpg"):
            return web.Response(body=body, **image)
        if name == "alpha.png":
            return web.Response(body=png_with_alpha(), content_type="image/png")
        if name == "cmyk.jpg":
            return web.Response(body=jpeg(mode="CMYK", color=(0, 255, 255, 0)), **image)
        if name == "rotated.jpg":
            return web.Response(body=rotated_jpeg(), **image)
        if name == "gone.jpg":
            return web.Response(status=410)
        if name == "flaky.jpg":  # 500 once, then fine
            if hits[name] == 1:
                return web.Response(status=500)
            return web.Response(body=body, **image)
        if name == "busy.jpg":  # 429 with Retry-After: 1 once, then fine
            if hits[name] == 1:
                return web.Response(status=429, headers={"Retry-After": "1"})
            return web.Response(body=body, **image)
        if name.startswith("capacity-"):  # a shop's server: 20 requests/s, 429 beyond
            shop = name.split("-")[1]  # capacity-SHOP-N.jpg: each shop has its own window
            now = time.monotonic()
            window = times[f"capacity window {shop}"]
            while window and window[0] < now - 1.0:
                window.pop(0)
            if len(window) >= CAPACITY_PER_SECOND:
                hits[f"capacity 429 {shop}"] += 1
                return web.Response(status=429)
            window.append(now)
            return web.Response(body=body, **image)
        if name == "busy-for-an-hour.jpg":
            return web.Response(status=429, headers={"Retry-After": "3600"})
        if name == "always-500.jpg":
            return web.Response(status=500)
        if name == "noai.jpg":
            return web.Response(body=body, headers={"X-Robots-Tag": "noindex, noai"}, **image)
        if name == "noai-for-others.jpg":
            return web.Response(body=body, headers={"X-Robots-Tag": "otherbot: noimageai"}, **image)
        if name == "html.jpg":
            return web.Response(body=b"<html><body>Not found</body></html>", **image)
        if name == "truncated.jpg":
            return web.Response(body=body[: len(body) // 2], **image)
        if name == "bomb.png":
            return web.Response(body=bomb_png(), content_type="image/png")
        if name == "huge.jpg":  # declares its length
            return web.Response(body=b"\xff" * 300_000, **image)
        if name in ("huge-chunked.jpg", "stall.jpg", "reset.jpg"):
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(body[:1000])
            if name == "reset.jpg":
                request.transport.abort()  # the connection drops mid-body
                return response
            if name == "stall.jpg":
                await asyncio.sleep(3)  # the client's read timeout ends it
            for _ in range(40):
                await response.write(b"\xff" * 10_000)
            await response.write_eof()
            return response
        if name == "redirect.jpg":
            raise web.HTTPFound("/ok.jpg")
        if name == "loop.jpg":
            raise web.HTTPFound("/loop-2.jpg")
        if name == "loop-2.jpg":
            raise web.HTTPFound("/loop.jpg")
        if name.startswith("once-500-"):  # a server that recovers: 500 the first time only
            if hits[name] == 1:
                return web.Response(status=500)
            return web.Response(body=body, **image)
        if name.startswith("item-"):  # item-17.jpg: a distinct small image per number
            number = int(name.removeprefix("item-").removesuffix(".jpg"))
            await asyncio.sleep(0.01)
            color = (number % 256, number // 256 % 256, 128)
            return web.Response(body=jpeg((96, 128), color=color), **image)
        if name.startswith("chain-"):  # chain-7 -> chain-6 -> ... -> ok.jpg
            left = int(name.removeprefix("chain-").removesuffix(".jpg"))
            raise web.HTTPFound("/ok.jpg" if left == 0 else f"/chain-{left - 1}.jpg")
        if name == "to-other-loopback.jpg":
            raise web.HTTPFound(f"{other_base}/ok.jpg")
        if name == "to-ftp.jpg":
            raise web.HTTPFound("ftp://127.0.0.1/ok.jpg")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", handler)
    return app


EXPECTED = {
    "ok.jpg": "ok",
    "alpha.png": "ok",
    "cmyk.jpg": "ok",
    "rotated.jpg": "ok",
    "flaky.jpg": "ok",
    "busy.jpg": "ok",
    "redirect.jpg": "ok",
    "chain-3.jpg": "ok",
    "noai-for-others.jpg": "ok",
    "missing.jpg": "http_error",
    "gone.jpg": "http_error",
    "always-500.jpg": "http_error",
    "busy-for-an-hour.jpg": "http_error",
    "noai.jpg": "disallowed",
    "html.jpg": "invalid_image",
    "truncated.jpg": "invalid_image",
    "bomb.png": "too_large",
    "huge.jpg": "too_large",
    "huge-chunked.jpg": "too_large",
    "stall.jpg": "timeout",
    "reset.jpg": "connection_error",
    "loop.jpg": "too_many_redirects",
    "chain-9.jpg": "too_many_redirects",
    "to-other-loopback.jpg": "blocked",
    "to-ftp.jpg": "bad_url",
}
