"""What every command group shares: the console, the shared options, progress and summaries.

Option defaults come from the stage configs (fashion_model/config.py), where they are declared
once; the commands build those configs with `parse(where="--")`, so a bad value is the
config's own one-line error, named as the option ("--concurrency 0: must be at least 1").
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from fashion_model.config import (
    FeedConfig,
    StageConfig,
)
from fashion_model.errors import BadInput
from fashion_model.home import Home

# Prefect is imported lazily, by the commands that run flows. Its ephemeral API needs ~20 s to
# start on 2 busy cores, which is Prefect's default limit: allow more.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network beyond loopback

console = Console(stderr=True)

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
    typer.Option(
        "--same",
        help="Only products sharing a predicted label of this task with the "
        "query (repeatable, e.g. --same category --same color).",
    ),
]


TaskWeightOption = Annotated[
    list[str] | None,
    typer.Option(
        "--task-weight",
        help="TASK=W (repeatable): weigh that task's labels W times in the loss, e.g. "
        "pattern=3 for a task learnt late; others weigh 1.",
    ),
]


def knob(config: type[StageConfig], field: str, *flags: str) -> Any:
    """A typer option whose default and help come from a stage config's field: the one
    declaration of that knob, so that --help, the config and prefect.yaml cannot drift
    (tests/test_cli.py checks every option made here against its field)."""
    info = config.model_fields[field]
    text = info.description or ""
    first = text.split(" ", 1)[0].strip(",:")
    if first not in map(str, get_args(info.annotation)):  # "dmy or mdy" stays as written
        text = text[:1].upper() + text[1:]
    default = ... if info.is_required() else info.get_default(call_default_factory=True)
    flag = f"--{field.replace('_', '-')}"
    if default is True:  # a switch that is on unless turned off
        flag = f"{flag}/--no-{flag[2:]}"
    option = typer.Option(
        default,
        *(flags or (flag,)),
        help=text if text.endswith((".", "]")) else text + ".",
    )
    option.knob = (config, field)  # read by the test that walks the command tree
    return option


def configured(
    config: type[StageConfig],
    *fields: str,
    into: str,
    parse: bool = True,
    flags: dict[str, str] | None = None,
):
    """A command decorator: `fields` of `config` (all of them when none are named) become the
    command's options, each made by `knob`, and the command receives them as one argument
    `into`: the config parsed from them (a bad value is its one-line error, named as the
    option), or with parse=False their values as a dict, for a command that adds fields of its
    own before parsing. `flags` renames an option (field -> "--flag")."""

    def decorate(function):
        chosen = fields or tuple(config.model_fields)
        names = {field: f"{into}__{field}" for field in chosen}
        signature = inspect.signature(function, eval_str=True)
        renamed = flags or {}
        added = [
            inspect.Parameter(
                names[field],
                inspect.Parameter.KEYWORD_ONLY,
                default=knob(config, field, *filter(None, [renamed.get(field)])),
                annotation=_option_type(config.model_fields[field].annotation),
            )
            for field in chosen
        ]

        @functools.wraps(function)
        def command(**values):
            given = {field: values.pop(names[field]) for field in chosen}
            values[into] = config.parse(where="--", **given) if parse else given
            return function(**values)

        own = [p for p in signature.parameters.values() if p.name != into]
        command.__signature__ = signature.replace(parameters=[*own, *added])
        return command

    return decorate


def _option_type(annotation: Any) -> Any:
    """How the command line reads a field: ints, floats, bools and text as they are (None
    allowed where the field allows it); dates, choices and tuples as text, parsed by the config."""
    plain = (int, float, bool, str)
    if annotation in plain:
        return annotation
    rest = [a for a in get_args(annotation) if a is not type(None)]
    if len(rest) == len(get_args(annotation)):  # None is not allowed
        return str
    return rest[0] | None if len(rest) == 1 and rest[0] in plain else str | None


MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="FIELD=COLUMN: read a catalog field from another column (repeatable), e.g. "
        "--map product_id=sku --map image_url=picture.",
    ),
]


def feed_config(options: dict, maps: list[str] | None) -> FeedConfig:
    """The feed options as a FeedConfig; `--map` is FIELD=COLUMN."""
    mapping = {}
    for item in maps or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise BadInput(f"--map {item!r}: write FIELD=COLUMN, e.g. --map product_id=sku")
        mapping[field.strip()] = column.strip()
    return FeedConfig.parse(where="--", **options, mapping=mapping)


def print_feed(result: dict) -> None:
    """How the feed was read, before the summary (what did not parse: the stage's warnings)."""
    feed = result.pop("feed", None)
    if not feed:
        return
    console.print(
        f"read a {feed['format']} feed: {feed['items']} rows/items -> {feed['products']} "
        f"products, {feed['records']} images"
        + (f", {feed['merged_variants']} variants folded" if feed["merged_variants"] else "")
        + (f", {feed['duplicates']} duplicates dropped" if feed["duplicates"] else ""),
        highlight=False,
    )


class _WithoutTraceback(logging.Formatter):
    """Wraps a console handler's formatter: the record's first line, never its traceback
    (the log file and the Prefect API still get the whole record)."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            text = self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        return text.split("\nTraceback (most recent call last)", 1)[0]


def flow_logging(home: Path | None) -> Path:
    """Before a command runs a flow: Prefect's console lines without tracebacks, and every
    record in full in HOME/logs/fashion.log (named in the one-line error of a failed run)."""
    from prefect.logging.configuration import setup_logging

    setup_logging()
    log_file = Home.resolve(home).root / "logs" / "fashion.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    prefect_logger = logging.getLogger("prefect")
    loggers = [logging.getLogger(), prefect_logger] + [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith("prefect") and isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and not isinstance(handler.formatter, _WithoutTraceback)
            ):
                handler.setFormatter(_WithoutTraceback(handler.formatter))
    if not any(getattr(h, "baseFilename", None) == str(log_file) for h in prefect_logger.handlers):
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        prefect_logger.addHandler(file_handler)
    global LOG_FILE
    LOG_FILE = log_file
    return log_file


LOG_FILE: Path | None = None  # where flow_logging sends the full records


def task_weights(items: list[str] | None) -> dict[str, float]:
    """--task-weight TASK=W items as a mapping (the task names are checked against the label
    map by the training stage)."""
    weights = {}
    for item in items or []:
        task, sep, text = item.partition("=")
        try:
            weight = float(text)
        except ValueError:
            weight = float("nan")
        if not sep or not task.strip() or not 0 < weight < float("inf"):
            raise BadInput(
                f"--task-weight {item!r} is not TASK=WEIGHT with a positive weight (e.g. pattern=3)"
            )
        weights[task.strip()] = weight
    return weights


def home_text(home: Path | None) -> str | None:
    return str(home) if home else None


def check_choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInput(f"{option} {value!r} is not one of {', '.join(allowed)}")


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


def say(line: str, style: str | None = None) -> None:
    """A line of a single-stage command's own output (stderr; the results go to stdout), as
    written: file names and feed values are never read as markup."""
    console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_callback(what: str) -> Iterator[Callable[[int, int | None], None]]:
    """A `progress(done, total)` callback for a library stage, drawn as a live bar from its
    first call (a stage that refuses its input before any work draws none)."""
    bar, task = None, None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar, task
        if bar is None:
            bar = progress_bar()
            bar.start()
            task = bar.add_task(what, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.stop()


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
