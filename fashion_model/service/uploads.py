"""Uploaded photos: at most MAX_UPLOAD bytes, checked by the ingest path's guarded decoder
(decompression-bomb limit, verify, decode) before anything else sees them, and saved under a
name of the server's choosing (never the client's file name)."""

from __future__ import annotations

from pathlib import Path

from fastapi import UploadFile

from fashion_model.config import DownloadConfig
from fashion_model.errors import BadInput
from fashion_model.ingest.imaging import InvalidImage, process_image

MAX_UPLOAD = DownloadConfig().max_bytes  # bytes per photo: the downloader's image limit
MAX_BODY = MAX_UPLOAD * 2 + 1024 * 1024  # a request: two photos' worth, plus the form


class TooLarge(BadInput):
    """An upload over the limit (HTTP 413)."""


async def save_upload(upload: UploadFile, folder: Path, index: int) -> Path:
    name = (upload.filename or f"upload {index + 1}")[:120]
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise TooLarge(f"{name!r}: over {MAX_UPLOAD // (1024 * 1024)} MB; send a smaller photo")
    if not data:
        raise BadInput(f"{name!r}: the upload is empty")
    try:
        process_image(data, 64)  # the same guard as ingest: refuses bombs and broken files
    except InvalidImage as error:
        raise BadInput(f"{name!r}: not a readable image ({error})") from None
    path = Path(folder) / f"upload-{index}.img"
    path.write_bytes(data)
    return path
