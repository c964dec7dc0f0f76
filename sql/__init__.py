"""The SQL the project runs or ships (package data, read with importlib.resources): migrations,
loads, scoring, similarity, reports and operations queries."""
