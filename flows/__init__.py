"""Prefect flows: they only orchestrate tasks, reading top to bottom like the DAG they are."""
