"""Whether this code runs inside a direct run (`tracking.run_direct`): the one flag that the
tracking decorators and the Prefect task class (stage_task.py) both read."""

from contextvars import ContextVar

DIRECT_RUN: ContextVar[bool] = ContextVar("fashion_direct_run", default=False)
