"""Signed image links for reviewers: Label Studio loads each task's picture in the reviewer's
browser, which cannot send the API token. `fashion review push` writes links to `fashion serve`
(`/review/images/SHA256?expires=...&signature=...`) signed with a key that never leaves the
home (HOME/.review-key, created on first use, mode 0600); the server checks the signature and
the expiry and serves that one image. A link opens one image until it expires; nothing else."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from fashion_model.errors import BadInput
from fashion_model.urls import url_refusal

KEY_FILE = ".review-key"
LINK_DAYS = 30  # how long a pushed task's image stays viewable
ROUTE = "/review/images/"


@cache
def _key(root: Path) -> bytes:
    """The home's signing key (read once per process: every signed link and check needs it)."""
    path = Path(root) / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: read theirs
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _signature(root: Path, sha256: str, expires: int) -> str:
    return hmac.new(_key(root), f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_link(root: Path, base_url: str, sha256: str, days: float = LINK_DAYS) -> str:
    """Where a reviewer's browser loads an image from `fashion serve` at `base_url`."""
    expires = int(time.time() + days * 86400)
    query = urlencode({"expires": expires, "signature": _signature(root, sha256, expires)})
    return f"{base_url.rstrip('/')}{ROUTE}{sha256}?{query}"


def check_link(root: Path, sha256: str, expires: int, signature: str) -> None:
    """A link made by `signed_link` for this home, not expired; else one line (a 403)."""
    if expires < time.time():
        raise PermissionError("this image link has expired; push the task again")
    if not hmac.compare_digest(signature, _signature(root, sha256, expires)):
        raise PermissionError("not a valid image link for this server")


def check_base_url(base_url: str) -> str:
    if url_refusal(base_url):
        raise BadInput(f"--image-base {base_url!r}: give the http(s) address of `fashion serve`")
    return base_url.rstrip("/")
