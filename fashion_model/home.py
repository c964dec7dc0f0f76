"""The home directory: one place for everything a run makes, each path overridable on its own."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_HOME = Path("fashion-home")


@dataclass(frozen=True)
class Home:
    root: Path
    images: Path
    manifests: Path
    models: Path
    db: Path
    reports: Path
    catalog: Path

    @classmethod
    def resolve(cls, root: Path | str | None = None, **overrides: Path | str | None) -> Home:
        """`root` beats $FASHION_HOME beats ./fashion-home; any single path can be overridden."""
        base = Path(root or os.environ.get("FASHION_HOME") or DEFAULT_HOME).expanduser().absolute()
        home = cls(
            root=base,
            images=base / "images",
            manifests=base / "manifests",
            models=base / "models",
            db=base / "fashion.duckdb",
            reports=base / "reports",
            catalog=base / "catalog",
        )
        chosen = {k: Path(v).expanduser().absolute() for k, v in overrides.items() if v}
        return replace(home, **chosen)

    @property
    def feeds(self) -> Path:
        """Feeds fetched from URLs, kept with the run: feeds/NAME/<stamp>-<file>."""
        return self.root / "feeds"

    def ensure(self) -> Home:
        for folder in (self.root, self.images, self.manifests, self.models, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        self.db.parent.mkdir(parents=True, exist_ok=True)
        return self
