"""The scoring stage's one edge: raw options (CLI, a flow's parameters, a Python call) become
one checked `ScorePlan`; the score flow and its tasks take the plan and check nothing again.

Without manifests named, the plan takes every catalog manifest under the home that has images
the model has not scored yet (and says which), so `fashion score --home HOME` scores whatever
the last ingest brought and a second run does nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from fashion_model.colors.measure import METHOD_VERSION
from fashion_model.config import ScoreConfig
from fashion_model.home import Home
from fashion_model.ingest.manifest import catalog_manifests, manifest_kind, resolve_manifest
from fashion_model.labels import load_label_map
from fashion_model.model.registry import resolve_version
from fashion_model.model.variants import choose_runtime
from fashion_model.sqlfiles import read_sql
from fashion_model.warehouse.catalog import check_catalog_manifest
from fashion_model.warehouse.db import check_writable, connect


class ScorePlan(BaseModel):
    """What a scoring run does, decided once: the warehouse, the manifests (resolved), which of
    them are catalogs to load, the model version (resolved), the run's date and options."""

    model_config = ConfigDict(frozen=True)

    root: Path
    db: Path
    images: Path
    models: Path
    manifests: tuple[Path, ...]
    catalogs: tuple[Path, ...]
    model_version: str
    as_of: date
    config: ScoreConfig
    chosen: bool = False  # the manifests were picked (no --manifest), not named

    @property
    def empty(self) -> bool:
        return not self.manifests

    def describe(self) -> str:
        model = f"model {self.model_version}"
        if self.empty:
            return f"nothing to score: every catalog manifest's images are scored by {model}" + (
                " and their colours measured" if self.config.colors else ""
            )
        how = "with images not yet scored (or measured)" if self.chosen else "named"
        names = ", ".join(m.name for m in self.manifests)
        return f"scoring {len(self.manifests)} manifest(s) {how} by {model}: {names}"


def plan_score(
    home: Path | str | None,
    manifests: list[str] | tuple[str, ...] | None = None,
    config: ScoreConfig | None = None,
    db: Path | str | None = None,
) -> ScorePlan:
    """Check everything a scoring run needs before any work (the one-line BadInput names what
    is wrong): the model version, each manifest, each catalog's retailer, a free warehouse
    that takes the model's labels."""
    config = config or ScoreConfig()
    paths = Home.resolve(home, db=db)
    version = resolve_version(paths.models, config.model)
    if config.runtime != "auto":  # a variant asked for by name must be registered
        choose_runtime(paths.models, version, config.runtime)
    label_map = load_label_map(paths.models / version / "label_map.csv")
    existed = paths.db.is_file()
    if existed:  # a free warehouse, migrated before what is left to do is read from it
        check_writable(paths.db, label_map)
    if manifests:
        resolved = tuple(dict.fromkeys(resolve_manifest(m, paths.manifests) for m in manifests))
        catalogs = tuple(m for m in resolved if manifest_kind(m) == "catalog")
    else:
        resolved = catalogs = tuple(unscored_catalogs(paths, version, config.colors))
    for catalog in catalogs:
        check_catalog_manifest(catalog, config.retailer)
    if not existed:  # created only once the input is known to be good
        check_writable(paths.db, label_map)
    return ScorePlan(
        root=paths.root,
        db=paths.db,
        images=paths.images,
        models=paths.models,
        manifests=resolved,
        catalogs=catalogs,
        model_version=version,
        as_of=config.as_of or date.today(),
        config=config,
        chosen=not manifests,
    )


def unscored_catalogs(paths: Home, version: str, colors: bool) -> list[Path]:
    """The catalog manifests with downloaded images that `version` has not scored yet, or
    (`colors`) whose colours are not measured yet (all of them before the warehouse exists)."""
    if not paths.db.is_file():
        return catalog_manifests(paths.manifests)
    query = read_sql("score/unscored_in_manifest.sql")
    with connect(paths.db, read_only=True) as con:
        return [
            manifest
            for manifest in catalog_manifests(paths.manifests)
            if con.execute(
                query,
                {
                    "parts": str(manifest / "part-*.parquet"),
                    "model_version": version,
                    "colors": colors,
                    "method_version": METHOD_VERSION,
                },
            ).fetchone()[0]
        ]
