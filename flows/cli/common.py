"""What every command group shares: the console, the shared options, progress and summaries.

Option defaults come from the stage configs (fashion_model/config.py), where they are declared
once; the commands build those configs with `parse(where="--")`, so a bad value is the
config's own one-line error, named as the option ("--concurrency 0: must be at least 1").
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from fashion_model.config import DownloadConfig, ScaleOut, ScoreConfig, TrainConfig
from fashion_model.errors import BadInput
from fashion_model.home import Home

# Prefect is imported lazily, by the commands that run flows. Its ephemeral API needs ~20 s to
# start on 2 busy cores, which is Prefect's default limit: allow more.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network beyond loopback

console = Console(stderr=True)
DOWNLOAD, TRAIN, SCORE, SCALE_OUT = DownloadConfig(), TrainConfig(), ScoreConfig(), ScaleOut()

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Home folder for everything a run makes [env FASHION_HOME; default ./fashion-home].",
    ),
]
DbOption = Annotated[
    Path | None, typer.Option("--db", help="DuckDB file [default HOME/fashion.duckdb].")
]
TaskOption = Annotated[
    str, typer.Option("--task", help="Label task: pattern, color, category, ...")
]
RetailerOption = Annotated[
    str | None, typer.Option("--retailer", help="One retailer [default all].")
]
ModelOption = Annotated[
    str,
    typer.Option("--model", help="Whose embeddings to compare: 'production' or a version."),
]
SameOption = Annotated[
    list[str] | None,
    typer.Option("--same", help="Only products sharing a predicted label of this task with the "
                 "query (repeatable, e.g. --same category --same color)."),
]  # fmt: skip
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="The run's date, YYYY-MM-DD [default today].")
]
AllowPrivateOption = Annotated[
    bool, typer.Option("--allow-private", help="Allow loopback/private hosts (local servers).")
]
WeightsOption = Annotated[
    str,
    typer.Option(
        "--weights",
        help="Initial weights: imagenet (torchvision's file in $TORCH_HOME/hub/checkpoints, "
        "never downloaded), none (from scratch) or a weights file [default auto: imagenet when "
        "the file is there, else none].",
    ),
]
EpochsOption = Annotated[int, typer.Option("--epochs", help="Passes over the training images.")]
TaskRunnerOption = Annotated[
    str,
    typer.Option(
        "--task-runner",
        help="default (this process) or dask: download and score in shards on a Dask cluster.",
    ),
]
DaskAddressOption = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="Dask scheduler, e.g. tcp://scheduler:8786 [env FASHION_DASK_ADDRESS; default a "
        "local cluster].",
    ),
]
DaskWorkersOption = Annotated[
    int | None,
    typer.Option("--dask-workers", help="Worker processes of the local cluster [default cores]."),
]
PerHostRateOption = Annotated[
    float,
    typer.Option("--per-host-rate", help="Requests per second to one host (0: no limit)."),
]


def home_text(home: Path | None) -> str | None:
    return str(home) if home else None


def scale_out(task_runner: str, dask_address: str | None, dask_workers: int | None) -> ScaleOut:
    """The scale-out options, checked here so that a bad one fails before Prefect starts."""
    return ScaleOut.parse(
        where="--", task_runner=task_runner, dask_address=dask_address, dask_workers=dask_workers
    )


def check_choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInput(f"{option} {value!r} is not one of {', '.join(allowed)}")


def check_writable(db: Path, models: Path, version: str) -> None:
    """Before Prefect starts: the warehouse is free for writing and takes the model's labels."""
    from fashion_model.labels import load_label_map
    from fashion_model.warehouse.db import check_writable as check

    check(db, load_label_map(models / version / "label_map.csv"))


@contextmanager
def open_warehouse(home: Path | None, db: Path | None, need_products: bool):
    """The warehouse read-only (the snapshot while a writer holds it), saying what is read."""
    from fashion_model.warehouse.reader import open_reader

    reader = open_reader(Home.resolve(home, db=db).db, need_products)
    if reader.refresh:
        console.print(reader.describe(), highlight=False, soft_wrap=True)
    try:
        yield reader.con
    finally:
        reader.con.close()


def progress_bar() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def print_summary(stage: str, summary: dict) -> None:
    console.print(f"[bold]{stage} summary[/bold]")
    for key, value in summary.items():
        console.print(f"  {key}: {value}")
