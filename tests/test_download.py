"""Downloader faults, each against a local aiohttp server that misbehaves on purpose."""

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from PIL import Image

from fashion_model.ingest.download import Downloader, download_batch
from fashion_model.ingest.politeness import (
    BlockedAddress,
    GuardedResolver,
    HostPace,
    retry_after_seconds,
    robots_refusal,
)
from fashion_model.urls import AddressPolicy

from .faults import EXPECTED, LOCAL


def test_every_fault_ends_with_the_right_status(faulty_server, tmp_path):
    base, hits, times, other_hits, _ = faulty_server
    urls = [f"{base}/{name}" for name in EXPECTED]
    urls += ["ftp://example.com/a.jpg", "not a url", "http://", "http://10.1.2.3/a.jpg"]
    outcomes = download_batch(urls, LOCAL, tmp_path)
    statuses = {
        url.removeprefix(f"{base}/"): o.status for url, o in zip(urls, outcomes, strict=True)
    }
    assert statuses == {
        **EXPECTED,
        "ftp://example.com/a.jpg": "bad_url",
        "not a url": "bad_url",
        "http://": "bad_url",
        "http://10.1.2.3/a.jpg": "blocked",  # private address, guard on: never requested
    }
    by_name = dict(zip(statuses, outcomes, strict=True))
    # transient failures are retried, permanent ones are not
    assert by_name["flaky.jpg"].attempts == 2
    assert by_name["missing.jpg"].attempts == hits["missing.jpg"] == 1
    assert by_name["gone.jpg"].attempts == hits["gone.jpg"] == 1
    assert by_name["always-500.jpg"].attempts == LOCAL.retries + 1 == hits["always-500.jpg"]
    assert by_name["stall.jpg"].attempts == LOCAL.retries + 1
    assert hits["html.jpg"] == 1 and hits["noai.jpg"] == 1
    # Retry-After: the second request came no sooner than the server asked
    first, second = times["busy.jpg"]
    assert second - first >= 0.75
    assert by_name["busy-for-an-hour.jpg"].attempts == 1
    assert "Retry-After 3600 s" in by_name["busy-for-an-hour.jpg"].error_message
    assert by_name["busy-for-an-hour.jpg"].http_status == 429
    # the guard is checked on every hop: the redirect to 127.0.0.2 was never followed
    assert other_hits == Counter()
    assert "127.0.0.2" in by_name["to-other-loopback.jpg"].error_message
    assert "redirect loop" in by_name["loop.jpg"].error_message
    assert "decompression bomb" in by_name["bomb.png"].error_message
    assert "X-Robots-Tag: noai" in by_name["noai.jpg"].error_message
    # what was stored is RGB JPEG at the configured size, the right way up
    ok = by_name["ok.jpg"]
    assert (ok.original_width, ok.original_height) == (640, 480)
    assert (ok.width, ok.height) == (341, 256)
    rotated = by_name["rotated.jpg"]
    assert (rotated.width, rotated.height) == (256, 341)
    for name in ("cmyk.jpg", "alpha.png"):
        with Image.open(tmp_path / by_name[name].path) as stored:
            assert stored.mode == "RGB" and stored.format == "JPEG"
            if name == "alpha.png":  # transparency becomes white, not black
                assert min(stored.getpixel((10, 10))) > 245
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")], "temp files left"


def test_identical_images_are_stored_once(faulty_server, tmp_path):
    base = faulty_server[0]
    first, second = download_batch([f"{base}/ok.jpg", f"{base}/redirect.jpg"], LOCAL, tmp_path)
    assert first.sha256 == second.sha256
    assert len(list(tmp_path.rglob("*.jpg"))) == 1


def test_the_ssrf_guard_blocks_loopback_by_default(faulty_server, tmp_path):
    base, hits = faulty_server[:2]
    before = hits["ok.jpg"]
    config = LOCAL.replace(allow_networks=())
    (outcome,) = download_batch([f"{base}/ok.jpg"], config, tmp_path)
    assert outcome.status == "blocked"
    assert "127.0.0.1" in outcome.error_message
    assert hits["ok.jpg"] == before, "a blocked URL must not be requested"
    (allowed,) = download_batch([f"{base}/ok.jpg"], config.replace(allow_private=True), tmp_path)
    assert allowed.status == "ok"


def test_the_address_connected_to_is_checked_too(faulty_server, tmp_path):
    """DNS rebinding: the name passed the first check, then resolves to a refused address."""
    base, hits = faulty_server[:2]
    host_url = base.replace("127.0.0.1", "localhost")
    before = hits["ok.jpg"]

    async def run():
        config = LOCAL.replace(allow_networks=())
        async with Downloader(config, tmp_path) as downloader:

            async def trusting_check(url):  # what a rebinding DNS answer looks like
                return None

            downloader._check_url = trusting_check
            return await downloader.fetch(f"{host_url}/ok.jpg")

    outcome = asyncio.run(run())
    assert outcome.status == "blocked"
    assert hits["ok.jpg"] == before

    async def resolve():
        resolver = GuardedResolver(AddressPolicy())
        return await resolver.resolve("localhost", 80)

    with pytest.raises(BlockedAddress, match="non-public address 127.0.0.1"):
        asyncio.run(resolve())


def test_robots_can_be_ignored_on_request(faulty_server, tmp_path):
    base = faulty_server[0]
    config = LOCAL.replace(honor_robots=False)
    (outcome,) = download_batch([f"{base}/noai.jpg"], config, tmp_path)
    assert outcome.status == "ok"


def test_x_robots_tag_parsing():
    assert robots_refusal(["noai"]) == "noai"
    assert robots_refusal(["noindex, NoImageAI"]) == "noimageai"
    assert robots_refusal(["otherbot: noai"]) is None
    assert robots_refusal(["fashion-attributes: noai"]) == "noai"
    assert robots_refusal(["noindex", "nofollow"]) is None
    assert robots_refusal([]) is None


def test_retry_after_reads_seconds_and_dates():
    assert retry_after_seconds("7") == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(later) <= 31
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_the_per_host_rate_limit_spaces_requests(faulty_server, tmp_path):
    base, _, times = faulty_server[:3]
    config = LOCAL.replace(per_host_rate=10)
    start = len(times["ok-again.jpg"])
    download_batch([f"{base}/ok-again.jpg"] * 25, config, tmp_path)
    stamps = times["ok-again.jpg"][start:]
    assert len(stamps) == 25
    # a 10/s bucket lets the first 10 through at once, then about one every 0.1 s
    assert stamps[-1] - stamps[0] >= 1.2


def test_the_host_pace_halves_on_a_refusal_recovers_and_keeps_a_cap():
    async def started(pace, count):
        for _ in range(count):
            await pace.acquire()
            pace.succeeded()

    pace = HostPace(None)  # adaptive: no limit until a refusal
    asyncio.run(started(pace, 10))
    assert pace.rate is None
    pace.throttled(None)
    assert pace.rate == 5.0  # half of the 10 good answers of the last second
    pace.throttled(None)
    assert pace.rate == 5.0  # the refusals of one burst halve it once
    for _ in range(35):
        pace.succeeded()
    assert 9.5 < pace.rate < 10.5  # 2% per good answer
    capped = HostPace(4.0)
    asyncio.run(started(capped, 2))
    capped.throttled(None)
    assert capped.rate == 1.0  # half of min(cap, the 2 answers of the last second)
    for _ in range(200):
        capped.succeeded()
    assert capped.rate == 4.0  # never above the cap
    paused = HostPace(None)
    paused.throttled(0.4)  # Retry-After: 0.4 s for every request to the host
    began = time.monotonic()
    asyncio.run(started(paused, 1))
    assert time.monotonic() - began >= 0.35


def test_the_default_pace_backs_off_a_small_shop_and_still_gets_everything(faulty_server, tmp_path):
    """A server that serves 20 requests/s and answers 429 beyond: the adaptive default gets
    every image and is refused far less often than no pace at all."""
    base, hits = faulty_server[:2]
    refused = {}
    for name, rate in (("adaptive", None), ("unlimited", 0)):
        urls = [f"{base}/capacity-{name}-{i}.jpg" for i in range(60)]
        config = LOCAL.replace(per_host_rate=rate, per_host=16, retries=8, backoff=0.2)
        outcomes = download_batch(urls, config, tmp_path / name)
        refused[name] = hits[f"capacity 429 {name}"]  # each run is a shop of its own
        if name == "adaptive":
            assert [o.status for o in outcomes] == ["ok"] * len(urls)
    # both start unlimited, so the first second's refusals are the same; then adaptive stops
    assert refused["adaptive"] * 2 < refused["unlimited"], refused


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_the_libjpeg_turbo_path_gives_the_pillow_paths_image(orientation, mode):
    """JPEGs go through simplejpeg (decode at M/8 scale); the result is upright, of the same
    size and close to what the Pillow path (draft mode) gives for the same file."""
    import io

    import numpy as np
    from PIL import ImageDraw, ImageOps

    from fashion_model.ingest import imaging

    photo = Image.new("RGB", (800, 600), (230, 230, 225))
    ImageDraw.Draw(photo).rectangle([100, 50, 300, 550], fill=(200, 30, 40))  # left: red bar
    photo = photo.convert(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92, exif=exif)
    raw = buffer.getvalue()
    fast = imaging.process_image(raw, 256, 90)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(raw))).convert("RGB")
    reference = imaging.resize_shorter_side(upright, 256)
    assert (fast.width, fast.height) == reference.size
    assert (fast.original_width, fast.original_height) == (800, 600)
    got = np.asarray(Image.open(io.BytesIO(fast.data)).convert("RGB"), dtype=float)
    assert np.abs(got - np.asarray(reference, dtype=float)).mean() < 4


@pytest.fixture()
def black_hole():
    """A host that accepts TCP connections and never answers (the kernel completes the
    handshakes into the listen backlog; nothing ever reads them): a dead CDN."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(1024)
    yield f"http://127.0.0.2:{listener.getsockname()[1]}"
    listener.close()


def test_a_dead_host_costs_seconds_and_spares_the_live_one(faulty_server, black_hole, tmp_path):
    """Once `circuit_failures` URLs of the dead host got no answer, its other URLs end at once
    as host_unreachable (retryable); the live host on the same run is untouched."""
    from fashion_model.ingest.outcomes import is_retryable

    live = [f"{faulty_server[0]}/ok.jpg?n={n}" for n in range(20)]
    dead = [f"{black_hole}/item-{n}.jpg" for n in range(120)]
    config = LOCAL.replace(
        read_timeout=1.0,
        connect_timeout=1.0,
        total_timeout=2.0,
        per_host=4,
        circuit_failures=3,
        circuit_probe_after=600,
        allow_networks=("127.0.0.1/32", "127.0.0.2/32"),
    )
    urls = [u for pair in zip(dead, live * 6, strict=True) for u in pair]
    started = time.monotonic()
    outcomes = download_batch(urls, config, tmp_path)
    seconds = time.monotonic() - started
    by_url = dict(zip(urls, outcomes, strict=True))
    dead_statuses = Counter(by_url[u].status for u in dead)
    assert set(dead_statuses) <= {"timeout", "host_unreachable"}
    assert dead_statuses["host_unreachable"] >= len(dead) - 8  # the first in flight time out
    assert all(by_url[u].status == "ok" for u in live)
    assert seconds < 20, f"{seconds:.1f} s: the dead host's URLs waited out their timeouts"
    unreachable = [o for o in outcomes if o.status == "host_unreachable"]
    assert all("127.0.0.2: " in o.error_message for o in unreachable)
    assert sum(o.attempts == 0 for o in unreachable) >= len(dead) - 8  # never requested
    assert is_retryable("host_unreachable", None)


def test_an_open_circuit_lets_one_probe_through_and_closes_when_the_host_answers(monkeypatch):
    from fashion_model.ingest import politeness
    from fashion_model.ingest.politeness import HostBreaker

    now = [1000.0]
    monkeypatch.setattr(politeness.time, "monotonic", lambda: now[0])
    breaker = HostBreaker(threshold=3, probe_after=30)
    for _ in range(5):
        breaker.failed("a")  # one URL's retries count once
    breaker.failed("b")
    assert breaker.allows()
    breaker.failed("c")
    assert not breaker.allows()
    now[0] += 31
    assert breaker.allows() and not breaker.allows()  # one probe, the others wait
    breaker.failed("d")  # the probe failed: open again for as long
    now[0] += 29
    assert not breaker.allows()
    now[0] += 2
    assert breaker.allows()
    breaker.answered()
    assert breaker.allows() and breaker.allows()
