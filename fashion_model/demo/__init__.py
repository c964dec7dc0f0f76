"""The embedded default data: a synthetic catalog and a loopback image server."""

DEFAULT_BASE_URL = "http://127.0.0.1:8765"  # where `fashion serve-images` serves a catalog
