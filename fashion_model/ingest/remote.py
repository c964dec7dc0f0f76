"""Feeds given as http(s) URLs: fetched through the image downloader's guard (SSRF policy,
redirects checked hop by hop, politeness, timeouts, X-Robots-Tag), streamed to disk under a
size limit, and kept with the run (HOME/feeds/NAME/<UTC stamp>-<file name>)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fashion_model.config import DownloadConfig
from fashion_model.errors import BadInput, RuntimeFailure
from fashion_model.ingest.download import Downloader
from fashion_model.ingest.outcomes import is_retryable
from fashion_model.urls import url_refusal


def check_feed_url(url: str) -> None:
    """Before any work: an http(s) URL with a host (the guard checks the address on fetch)."""
    refusal = url_refusal(url)
    if refusal:
        raise BadInput(f"{url}: not a feed URL ({refusal}); a feed URL is http(s)://host/...")


def _file_name(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "feed"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "feed"
    if "." not in name:
        name += ".txt"  # read by its content: XML or delimited text
    return name[-120:]


def feed_name(url: str) -> str:
    """The manifest name of a feed fetched from `url` when none is given: its file's stem."""
    return Path(url.split("?", 1)[0].rstrip("/")).stem or "feed"


def fetch_feed(url: str, folder: Path, config: DownloadConfig) -> Path:
    """Download the feed at `url` into `folder`; a failure is one line naming the URL."""
    check_feed_url(url)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{_file_name(url)}"

    async def run():
        async with Downloader(config, folder) as downloader:
            return await downloader.fetch_file(url, target)

    outcome = asyncio.run(run())
    if outcome.status == "ok":
        return target
    message = f"{url}: feed download failed: {outcome.status} ({outcome.error_message})"
    if is_retryable(outcome.status, outcome.http_status):
        raise RuntimeFailure(message)
    raise BadInput(message)
