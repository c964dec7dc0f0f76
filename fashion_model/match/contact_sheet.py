"""Contact sheets: the query image and its matches on one PNG, captioned, for people to look at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from fashion_model.files import replacing

TILE = (200, 250)  # image box of one tile
CAPTION_LINES = 3
LINE = 17
PAD = 10
COLUMNS = 6
QUERY_FRAME = (200, 40, 40)


@dataclass
class Tile:
    path: str | None  # None or unreadable: a grey "no image" box
    lines: list[str]  # caption, at most CAPTION_LINES


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _fit(text: str, draw: ImageDraw.ImageDraw, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _thumbnail(path: str | None) -> Image.Image | None:
    if not path:
        return None
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail(TILE)
            return image
    except (OSError, ValueError):
        return None


def write_contact_sheet(title: str, query: Tile, matches: list[Tile], out: Path) -> Path:
    """The query (framed in red) then the matches, row by row, each captioned; written
    atomically to `out` (PNG)."""
    tiles = [query, *matches]
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = TILE[0] + 2 * PAD, TILE[1] + CAPTION_LINES * LINE + 2 * PAD
    header = 40
    sheet = Image.new("RGB", (columns * cell_w, header + rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    title_font, caption_font = _font(18), _font(13)
    draw.text(
        (PAD, 10),
        _fit(title, draw, title_font, sheet.width - 2 * PAD),
        fill="black",
        font=title_font,
    )
    for position, tile in enumerate(tiles):
        x = (position % columns) * cell_w + PAD
        y = header + (position // columns) * cell_h + PAD
        thumb = _thumbnail(tile.path)
        if thumb is None:
            draw.rectangle([x, y, x + TILE[0], y + TILE[1]], fill=(225, 225, 225))
            draw.text((x + 50, y + TILE[1] // 2), "no image", fill="grey", font=caption_font)
        else:
            sheet.paste(
                thumb, (x + (TILE[0] - thumb.width) // 2, y + (TILE[1] - thumb.height) // 2)
            )
        if position == 0:
            draw.rectangle(
                [x - 4, y - 4, x + TILE[0] + 4, y + TILE[1] + 4], outline=QUERY_FRAME, width=3
            )
        colour = QUERY_FRAME if position == 0 else "black"
        for line_no, text in enumerate(tile.lines[:CAPTION_LINES]):
            text = _fit(text, draw, caption_font, TILE[0])
            draw.text((x, y + TILE[1] + 4 + line_no * LINE), text, fill=colour, font=caption_font)
    with replacing(out) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(out)


def similar_sheet(query, result, images_root: Path, out: Path) -> Path:
    """The contact sheet of a `search_similar` result (a `Query` and a `SimilarResult`):
    retailer and product id, brand, similarity under each match."""
    root = Path(images_root)
    query_path = query.image_path
    if query_path and not Path(query_path).is_absolute():
        query_path = str(root / query_path)
    labels = f"{len(result.frame)} matches, {result.method} search"
    tiles = [
        Tile(
            str(root / row.path) if isinstance(row.path, str) else None,
            [
                f"{row.retailer} · {row.product_id}",
                str(row.brand or ""),
                f"#{row.rank}  similarity {row.similarity:.3f}"
                if hasattr(row, "similarity")
                else f"#{row.rank}  distance {row.distance:.2f}",
            ],
        )
        for row in result.frame.itertuples()
    ]
    title = f"Most similar to {query.description} (model {result.model_version})"
    return write_contact_sheet(
        title, Tile(query_path, ["query", query.description, labels]), tiles, out
    )
