"""Async image downloader (aiohttp): every URL ends as one outcome row, never an exception."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from fashion_model import __version__, store
from fashion_model.imaging import InvalidImage, process_image

USER_AGENT = f"fashion-attributes/{__version__} (+catalog image fetcher)"
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class DownloadConfig:
    concurrency: int = 64  # requests in flight across all hosts
    per_host: int = 16  # requests in flight to one host
    image_size: int = 256  # shorter side of the stored image
    jpeg_quality: int = 90
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    retries: int = 2  # extra attempts for transient failures
    backoff: float = 0.5  # seconds, doubled per attempt, with jitter
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False  # the SSRF guard: loopback/private hosts need this on


@dataclass
class Outcome:
    status: str
    error_message: str | None = None
    http_status: int | None = None
    sha256: str | None = None
    path: str | None = None
    width: int | None = None
    height: int | None = None
    original_width: int | None = None
    original_height: int | None = None
    bytes: int | None = None
    attempts: int = 0
    downloaded_at: datetime | None = None


class _Permanent(Exception):
    """A failure that a retry cannot fix (404, too large, ...)."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome


class _Transient(Exception):
    """A failure worth retrying (429, 5xx), with the server's Retry-After when it gave one."""

    def __init__(self, outcome: Outcome, retry_after: float | None = None):
        self.outcome = outcome
        self.retry_after = retry_after


async def _guard(url: str, config: DownloadConfig) -> Outcome | None:
    """Refuse non-HTTP URLs and, unless allowed, hosts that resolve to non-public addresses."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return Outcome("bad_url", f"unparseable URL: {error}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome("bad_url", f"only http(s) URLs with a host are fetched: {url[:200]!r}")
    if config.allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, None)
    except socket.gaierror as error:
        return Outcome("connection_error", f"DNS lookup failed: {error}")
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return Outcome("blocked", f"{parts.hostname} resolves to non-public address {address}")
    return None


async def _fetch_once(session: aiohttp.ClientSession, url: str, config: DownloadConfig) -> bytes:
    async with session.get(url, max_redirects=config.max_redirects) as response:
        if response.status in RETRYABLE_STATUS:
            retry_after = response.headers.get("Retry-After", "")
            delay = float(retry_after) if retry_after.isdigit() else None
            raise _Transient(
                Outcome("http_error", f"HTTP {response.status}", response.status), delay
            )
        if response.status >= 400:
            raise _Permanent(Outcome("http_error", f"HTTP {response.status}", response.status))
        declared = response.content_length
        if declared is not None and declared > config.max_bytes:
            raise _Permanent(Outcome("too_large", f"{declared} bytes > {config.max_bytes}", 200))
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body.extend(chunk)
            if len(body) > config.max_bytes:
                raise _Permanent(Outcome("too_large", f"body over {config.max_bytes} bytes", 200))
        return bytes(body)


async def download_one(
    session: aiohttp.ClientSession,
    url: str,
    config: DownloadConfig,
    images_root: Path,
    pool: ThreadPoolExecutor,
) -> Outcome:
    blocked = await _guard(url, config)
    if blocked:
        return blocked
    attempts = 0
    outcome = Outcome("connection_error", "not attempted")
    while attempts <= config.retries:
        attempts += 1
        try:
            body = await _fetch_once(session, url, config)
        except _Permanent as permanent:
            outcome = permanent.outcome
            break
        except (_Transient, TimeoutError, aiohttp.ClientError) as error:
            if isinstance(error, _Transient):
                outcome, wait = error.outcome, error.retry_after
            elif isinstance(error, TimeoutError):
                outcome, wait = Outcome("timeout", "request timed out"), None
            elif isinstance(error, aiohttp.TooManyRedirects):
                outcome = Outcome("http_error", f"more than {config.max_redirects} redirects")
                break
            else:
                outcome, wait = (
                    Outcome("connection_error", f"{type(error).__name__}: {error}"),
                    None,
                )
            if attempts <= config.retries:
                delay = wait if wait is not None else config.backoff * 2 ** (attempts - 1)
                await asyncio.sleep(min(delay, 30.0) * random.uniform(0.8, 1.2))
            continue
        loop = asyncio.get_running_loop()
        try:
            # Decode, resize and encode off the event loop, on as many threads as cores.
            processed = await loop.run_in_executor(
                pool, process_image, body, config.image_size, config.jpeg_quality
            )
            sha256, relative = await loop.run_in_executor(
                pool, store.put, images_root, processed.data
            )
        except InvalidImage as error:
            outcome = Outcome("invalid_image", str(error)[:300], 200)
            break
        outcome = Outcome(
            "ok",
            None,
            200,
            sha256,
            relative,
            processed.width,
            processed.height,
            processed.original_width,
            processed.original_height,
            len(processed.data),
        )
        break
    outcome.attempts = attempts
    outcome.downloaded_at = datetime.now(UTC)
    return outcome


async def _download_all(
    urls: list[str], config: DownloadConfig, images_root: Path
) -> list[Outcome]:
    timeout = aiohttp.ClientTimeout(
        total=config.total_timeout,
        sock_connect=config.connect_timeout,
        sock_read=config.read_timeout,
    )
    connector = aiohttp.TCPConnector(limit=config.concurrency, limit_per_host=config.per_host)
    workers = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-cpu") as pool:
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as session:
            return await asyncio.gather(
                *(download_one(session, url, config, images_root, pool) for url in urls)
            )


def download_batch(urls: list[str], config: DownloadConfig, images_root: Path) -> list[Outcome]:
    """Download a bounded batch of URLs; outcomes come back in the order of `urls`."""
    Path(images_root).mkdir(parents=True, exist_ok=True)
    return asyncio.run(_download_all(urls, config, images_root))
