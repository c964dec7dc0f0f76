"""Prefect tasks: thin, typed wrappers around fashion_model calls."""
