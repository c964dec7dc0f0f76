"""The embedded default data: a synthetic catalog and a loopback image server."""
