"""The feeds of one nightly run: one catalog, or several listed in a small YAML file (or inline
in the nightly config), each with its retailer, format, mapping and defaults.

    # feeds.yaml
    feeds:
      - source: exports/our_catalog.csv      # a path (relative to this file) or an http(s) URL
        retailer: Ours
      - source: https://competitor.example/google_feed.xml
        retailer: Competitor A
        currency: EUR
      - source: competitor_b_products.csv    # a Shopify export
        retailer: Competitor B
        map: {first_seen: "First seen (product.metafields.custom.first_seen)"}

Each feed is ingested under its own manifest name (`name`, default NIGHTLY-NAME-retailer).
"""

from __future__ import annotations

import re
from pathlib import Path

from fashion_model.config import FeedSpec, NightlyConfig
from fashion_model.errors import BadInput
from fashion_model.ingest.remote import check_feed_url
from fashion_model.urls import is_url

FEED_LIST_SUFFIXES = (".yaml", ".yml")


def is_feed_list(catalog: str | None) -> bool:
    return bool(catalog) and str(catalog).lower().endswith(FEED_LIST_SUFFIXES)


def load_feed_list(path: Path) -> list[FeedSpec]:
    """The feeds a YAML file lists; a bad file or entry is one line naming it."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: feeds file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise BadInput(f"{path}: not a readable YAML file ({reason})") from None
    entries = data.get("feeds") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{path}: expected a list of feeds under 'feeds:'")
    feeds = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise BadInput(f"{path}: feed {index} is not a mapping (source: ..., retailer: ...)")
        entry = dict(entry)
        if "map" in entry:
            entry["mapping"] = entry.pop("map")
        spec = FeedSpec.parse(entry, where=f"{path}: feed {index}")
        if not is_url(spec.source) and not Path(spec.source).is_absolute():
            spec = spec.replace(source=str((path.parent / spec.source).absolute()))
        feeds.append(spec)
    return feeds


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "feed"


def plan_feeds(catalog: str | None, config: NightlyConfig) -> list[FeedSpec]:
    """Every feed of the run with its manifest name: the one catalog (named config.name, as
    always), or the listed feeds (config.name-retailer unless named)."""
    if is_feed_list(catalog):
        listed = load_feed_list(Path(catalog))
    elif catalog:
        spec = FeedSpec.parse(
            {
                **config.feed.model_dump(),
                "source": str(catalog),
                "name": config.name,
                "retailer": config.feed.retailer or config.retailer,
            },
            where="parameter config.feed",
        )
        return [spec]
    else:
        listed = list(config.feeds)
    if not listed:
        raise BadInput("nightly needs a catalog: a feed file or URL, a feeds YAML file, or feeds")
    feeds, seen = [], set()
    for spec in listed:
        label = spec.retailer or Path(spec.source.split("?", 1)[0]).stem
        name = spec.name or f"{config.name}-{_slug(label)}"
        if name in seen:
            raise BadInput(f"two feeds would share the manifest name {name!r}; give each a name")
        seen.add(name)
        feeds.append(spec.replace(name=name))
    return feeds


def check_feed_location(spec: FeedSpec) -> None:
    """Before any work: the feed is a file that exists, or an http(s) URL."""
    if is_url(spec.source):
        check_feed_url(spec.source)
    elif not Path(spec.source).is_file():
        raise BadInput(f"{spec.source}: feed file not found")
