"""Files written whole or not at all: a temp file beside the target, then an atomic rename, so
that a reader (or a crash) never meets half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path: Path, payload: object) -> Path:
    return write_text(path, json.dumps(payload, indent=1, ensure_ascii=False))
