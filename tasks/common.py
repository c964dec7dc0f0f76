"""What every task module shares: the retry rule and the summary artifact."""

from __future__ import annotations

from prefect.artifacts import create_table_artifact

from fashion_model.errors import FashionError


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry transient failures; bad input fails the same way every time, so never retry it."""
    try:
        state.result()
    except FashionError:
        return False
    except Exception:
        return True
    return False


def publish_summary(key: str, summary: dict, description: str) -> None:
    """A Prefect table artifact with one row per figure of a stage's summary."""
    rows = [{"figure": name, "value": str(value)} for name, value in summary.items()]
    create_table_artifact(key=key, table=rows, description=description)
