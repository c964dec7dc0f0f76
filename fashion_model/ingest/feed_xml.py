"""Google Merchant XML feeds (RSS 2.0 and Atom, the g: namespace), streamed with defusedxml:
no entity expansion, no DTDs. Each item becomes a FeedItem through the same field rules as the
Merchant TSV (feed_text.merchant_item)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

from fashion_model.errors import BadInput
from fashion_model.ingest.feed_items import GOOGLE_NS, FeedItem, ItemReader, normal_name
from fashion_model.ingest.feed_text import merchant_item


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def merchant_xml_items(reader: ItemReader) -> Iterator[FeedItem]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    path = reader.path
    stack: list = []
    seq = 0
    google_seen = False
    try:
        with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb") as f:
            for event, element in iterparse(f, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    if not stack:
                        root = _local(element.tag)[1]
                        if root not in ("rss", "feed"):
                            raise BadInput(
                                f"{path}: not a product feed: the root element is <{root}> "
                                "(a Merchant feed is RSS 2.0 <rss> or Atom <feed>)"
                            )
                    stack.append(element)
                    continue
                stack.pop()
                if _local(element.tag)[1] not in ("item", "entry") or len(stack) > 2:
                    continue
                google: dict[str, list[str]] = {}
                plain: dict[str, list[str]] = {}
                for child in element:
                    namespace, name = _local(child.tag)
                    if len(child):  # nested (g:shipping, g:tax): kept out of the record
                        continue
                    text = (child.text or "").strip()
                    if name == "link" and not text:
                        text = child.get("href", "")
                    target = google if namespace == GOOGLE_NS else plain
                    target.setdefault(normal_name(name), []).append(text)
                google_seen = google_seen or bool(google)
                if not google_seen:
                    break  # not a Merchant feed: said below
                fields = {**plain, **google}  # g:id wins over Atom's own <id>
                seq += 1
                yield merchant_item(reader, f"item {seq}", fields, seq - 1)
                if stack:
                    stack[-1].remove(element)
    except (ParseError, DefusedXmlException) as error:
        raise BadInput(f"{path}: not a readable XML feed ({error})") from None
    except (OSError, EOFError) as error:
        raise BadInput(f"{path}: not a readable XML feed ({error})") from None
    if not seq or not google_seen:
        raise BadInput(
            f"{path}: not a product feed: no <item>/<entry> with attributes in the "
            f"{GOOGLE_NS} namespace"
        )
