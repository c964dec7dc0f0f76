"""Stage ingest: source files -> async download -> content-addressed image store -> Parquet
manifest.
"""
