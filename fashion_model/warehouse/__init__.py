"""The DuckDB warehouse: connection and migrations, shipped SQL, catalog loads, writer lock and
snapshot, gc.
"""
