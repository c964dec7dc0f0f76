"""The download outcome of one URL, declared once: the Python record, its Arrow schema (shard
parts, the manifest's outcome columns) and its column names (history lookups) derive from it.

A failed download is a row with a `status` and an `error_message`, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

import pyarrow as pa

STATUSES = (
    "ok",
    "http_error",
    "timeout",
    "connection_error",
    "too_large",
    "invalid_image",
    "blocked",
    "bad_url",
    "disallowed",
    "too_many_redirects",
    "host_unreachable",  # not tried: the host's circuit was open (timeouts in a row)
)
# Statuses a later run with --retry-failed tries again; the others are facts about the URL.
TRANSIENT_STATUSES = frozenset({"timeout", "connection_error", "host_unreachable"})
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _column(arrow_type: pa.DataType, default=None):
    return field(default=default, metadata={"arrow": arrow_type})


@dataclass
class Outcome:
    status: str = _column(pa.string())  # one of STATUSES
    error_message: str | None = _column(pa.string())
    http_status: int | None = _column(pa.int32())
    sha256: str | None = _column(pa.string())
    path: str | None = _column(pa.string())  # relative to the image store root
    width: int | None = _column(pa.int32())
    height: int | None = _column(pa.int32())
    original_width: int | None = _column(pa.int32())
    original_height: int | None = _column(pa.int32())
    bytes: int | None = _column(pa.int64())
    attempts: int = _column(pa.int32(), 0)
    downloaded_at: datetime | None = _column(pa.timestamp("us", tz="UTC"))


OUTCOME_SCHEMA = pa.schema([(f.name, f.metadata["arrow"]) for f in fields(Outcome)])
OUTCOME_COLUMNS = tuple(OUTCOME_SCHEMA.names)


def is_retryable(status: str, http_status: int | None) -> bool:
    """Whether a recorded failure may succeed later (what --retry-failed tries again)."""
    return status in TRANSIENT_STATUSES or (
        status == "http_error" and http_status in RETRYABLE_STATUS
    )
