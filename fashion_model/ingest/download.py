"""Async image downloader (aiohttp): every URL ends as one outcome, never an exception.

One `Downloader` is one aiohttp `ClientSession` with a global and a per-host concurrency limit,
a per-host request pace (`HostPace`: adaptive by default, or a hard cap), timeouts, bounded
retries with exponential backoff and jitter (honouring Retry-After), redirects followed by
hand so that every hop passes the SSRF guard, and a resolver that refuses non-public
addresses at connection time (DNS rebinding). Decoding, resizing and encoding run on a thread
pool sized to the cores, off the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import socket
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp

from fashion_model.config import DownloadConfig
from fashion_model.ingest import store
from fashion_model.ingest.imaging import InvalidImage, TooManyPixels, process_image
from fashion_model.ingest.outcomes import RETRYABLE_STATUS, Outcome
from fashion_model.ingest.politeness import (
    THROTTLE_STATUS,
    BlockedAddress,
    GuardedResolver,
    HostBreaker,
    HostPace,
    retry_after_seconds,
    robots_refusal,
)
from fashion_model.urls import AddressPolicy, url_refusal

REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


# URLs of one busy host queued beyond its `per_host` in flight; a full queue makes the producer
# wait (about 1 KB each with its row: 10 MB at most per host).
HOST_QUEUE = 10_000


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class _Permanent(Exception):
    """A failure that a retry cannot fix (404, too large, ...)."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome


class _Transient(Exception):
    """A failure worth retrying (429, 5xx), with the server's Retry-After when it gave one."""

    def __init__(self, outcome: Outcome, retry_after: float | None = None):
        self.outcome = outcome
        self.retry_after = retry_after


class Downloader:
    """One ClientSession and one image thread pool; `submit` URLs, results arrive by callback."""

    def __init__(self, config: DownloadConfig, images_root: Path):
        self.config = config
        self.images_root = Path(images_root)
        self.policy = AddressPolicy(config.allow_private, config.allow_networks)
        self.semaphore = asyncio.Semaphore(config.concurrency)
        self.paces: dict[str, HostPace] = {}
        self.breakers: dict[str, HostBreaker] = {}
        self.busy: Counter[str] = Counter()  # host -> URLs started and not finished
        self.waiting: dict[str, deque] = {}  # host -> (url, done) not started yet
        self.room = asyncio.Condition()  # a host's queue has room again
        self.tasks: set[asyncio.Task] = set()
        self.session: aiohttp.ClientSession | None = None
        self.pool: ThreadPoolExecutor | ProcessPoolExecutor | None = None

    async def __aenter__(self) -> Downloader:
        self.images_root.mkdir(parents=True, exist_ok=True)
        config = self.config
        connector = aiohttp.TCPConnector(
            limit=config.concurrency,
            limit_per_host=config.per_host,
            resolver=GuardedResolver(self.policy),
            ttl_dns_cache=60,
        )
        timeout = aiohttp.ClientTimeout(
            total=config.total_timeout,
            sock_connect=config.connect_timeout,
            sock_read=config.read_timeout,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={"User-Agent": config.user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )
        workers = config.cpu_workers or max(1, os.cpu_count() or 1)
        if config.cpu_pool == "process":
            self.pool = ProcessPoolExecutor(max_workers=workers)
        else:
            self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-cpu")
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                await self.drain()
            else:
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            await self.session.close()
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def submit(self, url: str, done: Callable[[Outcome], None]) -> None:
        """Start downloading `url` once fewer than `concurrency` are in flight. A URL of a host
        that already has `per_host` in flight waits in that host's queue, holding no slot, so
        a slow or dead host never holds back the others; an open circuit ends its queue."""
        host = _host(url)
        queue = self.waiting.setdefault(host, deque())
        if self.busy[host] >= self.config.per_host or queue:
            if len(queue) >= HOST_QUEUE:  # memory stays bounded: wait for the host to move
                async with self.room:
                    await self.room.wait_for(lambda: len(queue) < HOST_QUEUE)
            queue.append((url, done))
            return
        await self._start(host, url, done)

    async def _start(self, host: str, url: str, done: Callable[[Outcome], None]) -> None:
        await self.semaphore.acquire()
        self.busy[host] += 1

        async def run() -> None:
            try:
                outcome = await self.fetch(url)
            finally:
                self.semaphore.release()
                self.busy[host] -= 1
            done(outcome)
            await self._next(host)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    async def _next(self, host: str) -> None:
        """The host's next queued URL, or (circuit open) its whole queue as host_unreachable."""
        queue = self.waiting.get(host)
        breaker = self.breakers.get(host)
        if queue and breaker is not None and breaker.is_open():
            while queue:
                url, done = queue.popleft()
                done(self._unreachable(host, breaker, 0))
        if queue and self.busy[host] < self.config.per_host:
            url, done = queue.popleft()
            await self._start(host, url, done)
        async with self.room:
            self.room.notify_all()

    def _unreachable(self, host: str, breaker: HostBreaker, attempts: int) -> Outcome:
        outcome = Outcome("host_unreachable", breaker.refusal(host))
        outcome.attempts, outcome.downloaded_at = attempts, datetime.now(UTC)
        return outcome

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failure = task.exception()  # a bug, not a URL's fault: drain() re-raises it

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))
        if getattr(self, "failure", None) is not None:
            raise self.failure

    async def fetch(self, url: str) -> Outcome:
        """Download, verify, resize and store one URL; the outcome says what happened."""
        attempts = 0
        outcome = Outcome("connection_error", "not attempted")
        fetched: bytes | None = None
        host = _host(url)
        breaker = self.breakers.get(host)
        if breaker is None:
            breaker = self.breakers[host] = HostBreaker(
                self.config.circuit_failures, self.config.circuit_probe_after
            )
        while attempts <= self.config.retries:
            if not breaker.allows():
                return self._unreachable(host, breaker, attempts)
            attempts += 1
            wait: float | None = None
            try:
                async with asyncio.timeout(self.config.total_timeout) as deadline:
                    body = await self._follow(url, deadline=deadline)
            except _Permanent as permanent:
                outcome = permanent.outcome
                if outcome.http_status is not None:
                    breaker.answered()
                break
            except _Transient as transient:
                outcome, wait = transient.outcome, transient.retry_after
                if outcome.http_status is None:  # no answer (a DNS failure)
                    breaker.failed(url)
                else:
                    breaker.answered()
            except TimeoutError:
                outcome = Outcome("timeout", "request timed out")
                breaker.failed(url)
            except aiohttp.ClientConnectorDNSError as error:
                if isinstance(error.os_error, BlockedAddress):
                    outcome = Outcome("blocked", str(error.os_error))
                    break
                outcome = Outcome("connection_error", f"DNS lookup failed: {error.os_error}")
                breaker.failed(url)
            except aiohttp.InvalidURL as error:
                outcome = Outcome("bad_url", f"invalid URL: {error}")
                break
            except (aiohttp.ClientError, OSError) as error:
                outcome = Outcome("connection_error", f"{type(error).__name__}: {error}"[:300])
                breaker.failed(url)
            else:
                breaker.answered()
                fetched = body  # stored below, out of the host's slot (CPU work)
                break
            if attempts > self.config.retries:
                break
            if wait is not None and wait > self.config.max_retry_wait:
                outcome.error_message += (
                    f"; Retry-After {wait:.0f} s exceeds the {self.config.max_retry_wait:.0f} s "
                    "limit (--retry-failed tries again later)"
                )
                break
            delay = wait if wait is not None else self.config.backoff * 2 ** (attempts - 1)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        if fetched is not None:
            outcome = await self._store(fetched)
        outcome.attempts = attempts
        outcome.downloaded_at = datetime.now(UTC)
        return outcome

    async def _check_url(self, url: str) -> None:
        """Refuse non-HTTP URLs, and hosts whose addresses the policy refuses (every hop)."""
        refusal = url_refusal(url)
        if refusal:
            raise _Permanent(Outcome("bad_url", refusal))
        host = urlsplit(url).hostname
        if self.policy.allow_all:
            return
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None)
            except (socket.gaierror, UnicodeError) as error:
                outcome = Outcome("connection_error", f"DNS lookup failed: {error}")
                raise _Transient(outcome) from None
            addresses = [info[4][0] for info in infos]
        for address in addresses:
            refusal = self.policy.refusal(address)
            if refusal:
                raise _Permanent(Outcome("blocked", f"{host} resolves to {refusal}"))

    def _pace(self, url: str) -> HostPace | None:
        """The host's pace; None when `per_host_rate` is 0 (no limit, no backing off)."""
        rate = self.config.per_host_rate
        if rate is not None and rate <= 0:
            return None
        host = (urlsplit(url).hostname or "").lower()
        pace = self.paces.get(host)
        if pace is None:
            pace = self.paces[host] = HostPace(rate)
        return pace

    async def _follow(self, url: str, read=None, deadline: asyncio.Timeout | None = None) -> bytes:
        """GET `url`, following redirects by hand: each hop is checked before it is requested.
        `read(response)` reads the final answer [default: the image body, in memory]. Time
        spent waiting for the host's pace does not count against `deadline` (the attempt's
        timeout): a backed-off host makes requests wait, not fail."""
        seen = {url}
        for _ in range(self.config.max_redirects + 1):
            await self._check_url(url)
            pace = self._pace(url)
            if pace is not None:
                waited = await pace.acquire()
                if deadline is not None and waited and deadline.when() is not None:
                    deadline.reschedule(deadline.when() + waited)
            async with self.session.get(url, allow_redirects=False) as response:
                self._check_peer(response)
                if pace is not None:
                    if response.status in THROTTLE_STATUS:
                        pace.throttled(retry_after_seconds(response.headers.get("Retry-After")))
                    elif response.status < 400:
                        pace.succeeded()
                if response.status in REDIRECT_STATUS:
                    location = response.headers.get("Location")
                    if not location:
                        raise _Permanent(
                            Outcome("http_error", "redirect without Location", response.status)
                        )
                    url = urljoin(url, location)
                    if url in seen:
                        raise _Permanent(
                            Outcome("too_many_redirects", f"redirect loop at {url[:200]}")
                        )
                    seen.add(url)
                    continue
                return await (read or self._read)(response)
        raise _Permanent(
            Outcome("too_many_redirects", f"more than {self.config.max_redirects} redirects")
        )

    def _check_peer(self, response: aiohttp.ClientResponse) -> None:
        """The address actually connected to passes the policy too (belt and braces)."""
        connection = response.connection
        transport = connection.transport if connection is not None else None
        peer = transport.get_extra_info("peername") if transport is not None else None
        if peer:
            refusal = self.policy.refusal(peer[0])
            if refusal:
                raise _Permanent(Outcome("blocked", f"connected to {refusal}"))

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        self._check_answer(response)
        limit = self.config.max_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            raise _Permanent(Outcome("too_large", f"{declared} bytes > {limit}", response.status))
        body = bytearray()
        async for chunk in response.content.iter_chunked(256 * 1024):
            body.extend(chunk)
            if len(body) > limit:
                raise _Permanent(Outcome("too_large", f"body over {limit} bytes", 200))
        return bytes(body)

    def _check_answer(self, response: aiohttp.ClientResponse) -> None:
        """The status and the robots directive of a final (non-redirect) answer."""
        status = response.status
        if status in RETRYABLE_STATUS:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise _Transient(Outcome("http_error", f"HTTP {status}", status), wait)
        if status >= 400:
            raise _Permanent(Outcome("http_error", f"HTTP {status}", status))
        if status != 200:
            raise _Permanent(Outcome("http_error", f"unexpected HTTP {status}", status))
        if self.config.honor_robots:
            directive = robots_refusal(response.headers.getall("X-Robots-Tag", []))
            if directive:
                raise _Permanent(
                    Outcome("disallowed", f"X-Robots-Tag: {directive} (the server opts out)", 200)
                )

    async def fetch_file(self, url: str, target: Path) -> Outcome:
        """Fetch `url` (a feed) to `target` through the same guard, politeness and timeouts
        as images, streamed to disk up to `max_feed_bytes`; the outcome says what happened.
        A failed fetch leaves no file."""
        limit = self.config.max_feed_bytes
        partial = target.with_name(f".{target.name}.partial")

        async def to_file(response: aiohttp.ClientResponse) -> bytes:
            self._check_answer(response)
            written = 0
            with partial.open("wb") as handle:
                async for chunk in response.content.iter_chunked(1024 * 1024):
                    written += len(chunk)
                    if written > limit:
                        raise _Permanent(Outcome("too_large", f"feed over {limit} bytes", 200))
                    handle.write(chunk)
            return b""

        outcome = Outcome("connection_error", "not attempted")
        try:
            for attempt in range(self.config.retries + 1):
                try:
                    async with asyncio.timeout(max(self.config.total_timeout, 600)) as deadline:
                        await self._follow(url, to_file, deadline)
                    partial.replace(target)
                    return Outcome("ok", None, 200)
                except _Permanent as permanent:
                    return permanent.outcome
                except _Transient as transient:
                    outcome = transient.outcome
                except TimeoutError:
                    outcome = Outcome("timeout", "request timed out")
                except (aiohttp.ClientError, OSError) as error:
                    outcome = Outcome("connection_error", f"{type(error).__name__}: {error}"[:300])
                await asyncio.sleep(self.config.backoff * 2**attempt)
            return outcome
        finally:
            partial.unlink(missing_ok=True)

    async def _store(self, body: bytes) -> Outcome:
        loop = asyncio.get_running_loop()
        config = self.config
        try:
            stored = await loop.run_in_executor(
                self.pool,
                _process_and_store,
                body,
                config.image_size,
                config.jpeg_quality,
                config.max_pixels,
                self.images_root,
            )
        except TooManyPixels as error:
            return Outcome("too_large", str(error)[:300], 200)
        except InvalidImage as error:
            return Outcome("invalid_image", str(error)[:300], 200)
        return Outcome("ok", None, 200, *stored)


def _process_and_store(body, image_size, quality, max_pixels, images_root) -> tuple:
    """Worker: decode, resize, encode and store; returns the Outcome fields from sha256 to
    bytes (small, so that a process pool sends little back)."""
    processed = process_image(body, image_size, quality, max_pixels)
    sha256, relative = store.put(images_root, processed.data)
    return (
        sha256,
        relative,
        processed.width,
        processed.height,
        processed.original_width,
        processed.original_height,
        len(processed.data),
    )


async def _download_all(urls: list[str], config: DownloadConfig, images_root: Path):
    outcomes: list[Outcome | None] = [None] * len(urls)
    async with Downloader(config, images_root) as downloader:
        for index, url in enumerate(urls):
            await downloader.submit(url, lambda o, i=index: outcomes.__setitem__(i, o))
    return outcomes


def download_batch(urls: list[str], config: DownloadConfig, images_root: Path) -> list[Outcome]:
    """Download a list of URLs; outcomes come back in the order of `urls` (tests, `predict`)."""
    return asyncio.run(_download_all(urls, config, images_root))
