"""The one URL guard: what counts as a URL, which URLs may be fetched, and which addresses may be
connected to. Feed fetches (ingest/remote.py), image downloads (ingest/download.py, every hop
and every resolved address), `fashion predict` and the HTTP API's prediction route all ask here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from fashion_model.config import DownloadConfig, default_of


def is_url(text: str) -> bool:
    """Whether a source or image argument names an http(s) URL rather than a file."""
    return str(text).lower().startswith(("http://", "https://"))


def url_refusal(url: str) -> str | None:
    """Why `url` cannot be fetched at all (not http(s), no host, a bad port), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as error:
        return f"unparseable URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"only http(s) URLs with a host are fetched: {url[:200]!r}"
    return None


class AddressPolicy:
    """Which IP addresses may be connected to (the SSRF guard): public unicast ones, plus the
    networks allowed on purpose, or everything with `allow_private`."""

    def __init__(
        self,
        allow_private: bool = default_of(DownloadConfig, "allow_private"),
        allow_networks: Iterable[str] = (),
    ):
        self.allow_all = allow_private
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]

    def refusal(self, address: str) -> str | None:
        """Why `address` is refused, or None when it may be connected to."""
        if self.allow_all:
            return None
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_global and not ip.is_multicast:
            return None
        if any(ip in network for network in self.allowed):
            return None
        return f"non-public address {ip}"
