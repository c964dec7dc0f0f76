"""fashion_model: the plain library behind the pipeline (no Prefect imports here)."""

__version__ = "0.1.0"
