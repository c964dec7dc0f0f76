"""What every task module shares: the retry rule, progress reporting, the summary artifact."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from fashion_model.errors import FashionError
from fashion_model.tasks.tracking import run_logger, table_artifact


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry runtime failures (a server, the disk, memory); never what fails the same way every
    time: bad input or an incomplete installation (`FashionError.retryable` says which)."""
    try:
        state.result()
    except FashionError as error:
        return error.retryable
    except Exception:
        return True
    return False


def publish_summary(key: str, summary: dict, description: str) -> None:
    """A Prefect table artifact with one row per figure of a stage's summary."""
    rows = [{"figure": name, "value": str(value)} for name, value in summary.items()]
    table_artifact(key=key, table=rows, description=description)


@contextmanager
def progress_reporter(what: str, unit: str = "image") -> Iterator[Callable[[int, int], None]]:
    """A `progress(done, total)` callback: a live bar with the rate on a terminal, and a log
    line every 10% (with the rate) for the Prefect UI and for logs read later."""
    logger = run_logger()
    logged: set[int] = set()
    started = time.perf_counter()
    bar = tqdm(desc=what, unit=unit, disable=not sys.stderr.isatty(), dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        tenth = done * 10 // max(total, 1)
        if tenth not in logged:
            logged.add(tenth)
            rate = done / max(time.perf_counter() - started, 1e-9)
            logger.info("%s: %d/%d (%.0f %s/s)", what, done, total, rate, unit)

    try:
        yield progress
    finally:
        bar.close()
