"""How the downloader behaves towards the hosts it fetches from (policy, not transport): the
per-host pace (`HostPace`: adaptive, backing off on 429/503, or a hard cap), Retry-After,
X-Robots-Tag refusals, and the resolver that applies the SSRF guard (fashion_model.urls) to the
addresses actually connected to."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from fashion_model.urls import AddressPolicy

ROBOTS_TOKEN = "fashion-attributes"  # the name an X-Robots-Tag may address us by
DISALLOWED_DIRECTIVES = frozenset({"noai", "noimageai"})
THROTTLE_STATUS = frozenset({429, 503})  # a server saying "slower": the host's pace backs off
MIN_RATE = 0.5  # requests/s: the slowest an adaptive pace goes (Retry-After can pause longer)
RECOVERY = 1.02  # each success raises a backed-off pace by 2% (doubles in about 35 answers)


class HostBreaker:
    """A host's circuit: `threshold` different URLs in a row that got no answer at all (timeouts,
    refused or dropped connections, DNS failures; one URL's retries count once) open it, and
    the host's other URLs end at once as host_unreachable instead of each waiting out its
    timeout. After `probe_after` seconds one request goes through (half-open): an answer of any
    kind closes the circuit, another failure opens it again for as long."""

    def __init__(self, threshold: int, probe_after: float):
        self.threshold, self.probe_after = threshold, probe_after
        self.failing: set[str] = set()  # URLs without an answer since the host's last answer
        self.opened_at: float | None = None
        self.probing = False

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        if not self.probing and time.monotonic() - self.opened_at >= self.probe_after:
            self.probing = True
            return True
        return False

    def is_open(self) -> bool:
        """Open, and no probe due yet (asking does not use the probe up)."""
        if self.opened_at is None:
            return False
        return self.probing or time.monotonic() - self.opened_at < self.probe_after

    def failed(self, url: str) -> None:
        self.failing.add(url)
        if self.probing or len(self.failing) >= self.threshold:
            self.opened_at, self.probing = time.monotonic(), False

    def answered(self) -> None:
        self.failing.clear()
        self.opened_at, self.probing = None, False

    def refusal(self, host: str) -> str:
        return (
            f"{host}: {len(self.failing)} URLs in a row got no answer; not tried (circuit "
            "open; the next run tries again)"
        )


class HostPace:
    """The request pace of one host. Adaptive (`cap` None): unlimited (the per-host concurrency
    still applies) until the host answers 429 or 503; then the pace drops to half the good
    answers the host gave in the last second and climbs back by 2% per good answer, halving
    again at the next refusal (the refusals of one second count once), the way TCP and polite
    crawlers share a server. A Retry-After pauses every request to the host until it has
    passed. A cap (`--per-host-rate R`) is a hard limit: the pace starts there, backs off
    below it the same way and never exceeds it."""

    def __init__(self, cap: float | None):
        self.cap = cap
        self.rate: float | None = cap  # requests/s; None: no limit yet
        self.next_start = 0.0  # monotonic time of the next permitted request start
        self.paused_until = 0.0
        self.recent: deque[float] = deque()  # good answers in the last second
        self.backoffs = 0
        self.backed_off_at = -1e9

    async def acquire(self) -> float:
        """Wait for this host's next slot (a slot is reserved before waiting: fair order);
        the seconds waited."""
        now = began = time.monotonic()
        start = max(now, self.paused_until)
        if self.rate is not None:
            start = max(start, self.next_start)
            self.next_start = start + 1.0 / self.rate
        if start > now:
            await asyncio.sleep(start - now)
        while (left := self.paused_until - time.monotonic()) > 0:  # a Retry-After meanwhile
            await asyncio.sleep(left)
        return time.monotonic() - began

    def _trim(self, now: float) -> None:
        while self.recent and self.recent[0] < now - 1.0:
            self.recent.popleft()

    def throttled(self, retry_after: float | None) -> None:
        """The host answered 429/503: halve the pace, and pause it for its Retry-After."""
        now = time.monotonic()
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self.backed_off_at < 1.0:  # the refusals of one burst halve the pace once
            return
        self.backed_off_at = now
        self._trim(now)
        observed = float(max(len(self.recent), 1))  # what the host served in the last second
        current = observed if self.rate is None else min(self.rate, observed)
        self.rate = max(MIN_RATE, current / 2)
        self.backoffs += 1

    def succeeded(self) -> None:
        now = time.monotonic()
        self._trim(now)
        self.recent.append(now)
        if self.rate is not None and self.backoffs:
            raised = self.rate * RECOVERY
            self.rate = min(raised, self.cap) if self.cap else raised


class BlockedAddress(OSError):
    """Raised by the resolver when every address of a host is refused by the SSRF guard."""


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops refused addresses: the check is on what is connected to, so a
    host that resolves to a public address for the pre-check and a private one for the
    connection (DNS rebinding) is still refused."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        allowed = [r for r in results if self.policy.refusal(r["host"]) is None]
        if not allowed:
            raise BlockedAddress(f"{host} resolves to {self.policy.refusal(results[0]['host'])}")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def robots_refusal(values: Iterable[str], token: str = ROBOTS_TOKEN) -> str | None:
    """The X-Robots-Tag directive that forbids AI use of the image, if any.

    A value is `directives` (for every crawler) or `agent: directives` (for one agent only)."""
    for value in values:
        agent, _, rest = value.partition(":")
        if rest and " " not in agent.strip() and "," not in agent:
            if agent.strip().lower() not in (token, "*"):
                continue
            value = rest
        for directive in value.split(","):
            if directive.strip().lower() in DISALLOWED_DIRECTIVES:
                return directive.strip().lower()
    return None
