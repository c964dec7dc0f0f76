"""The Prefect task class of every stage (imported only where Prefect is wanted): a Prefect
task that, called inside a direct run (`tracking.run_direct`), is its plain function. A module
of its own so that Dask pickles the class by reference, not by value."""

from __future__ import annotations

from prefect import Task

from fashion_model.tasks.direct import DIRECT_RUN


class StageTask(Task):
    def __call__(self, *args, **kwargs):
        if DIRECT_RUN.get():
            return self.fn(*args, **kwargs)
        return super().__call__(*args, **kwargs)
