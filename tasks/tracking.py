"""Prefect tracking, or a direct run: the `task` and `flow` decorators every stage uses, the run
logger and the artifacts.

A flow run needs a Prefect API. With none configured, Prefect starts a temporary server for
each command (about 10 s on 2 cores, plus 2 s to stop it), which is most of the wall time of a
small `fashion ingest`. So a single-stage command run without a configured API (see
`api_configured`) runs its flow *directly*: the same flow body and task bodies, called as plain
functions, with their log lines on the console and in HOME/logs/fashion.log and their
artifacts written to that log. Set `FASHION_PREFECT=always` for every command to be a Prefect
flow run anyway. Deployments, workers, `fashion nightly`, `fashion retrain` and `fashion demo`
always run under Prefect, with retries, states and artifacts.

The decorators return real Prefect tasks and flows (which a deployment's entrypoint needs),
except in a `fashion` process that chose a direct run before importing the flow modules
(`direct_process`), where they are plain wrappers and Prefect is never imported: that is what
brings a command's start-up from about 3 s to about 1 s.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fashion_model.tasks.direct import DIRECT_RUN as _direct

MODE_ENV = "FASHION_PREFECT"  # auto (default) | always
RUN_LOGGER = "fashion_model.run"  # the direct run's log lines (console and log file)
ARTIFACT_LOGGER = "fashion_model.artifacts"  # the direct run's artifacts (log file only)

# "owned": this process is the `fashion` command (its `main`), not a test or a worker;
# "direct": it runs its one command directly, so flow modules imported from now on need no Prefect.
_PROCESS = {"owned": False, "direct": False}


def _process_is_direct() -> bool:
    return _PROCESS["direct"]


def own_process() -> None:
    """Called by the `fashion` command's entry point: this process runs one command."""
    _PROCESS["owned"] = True


def direct_process() -> None:
    """A direct run in the `fashion` command's own process: the flow modules imported from now
    on are plain functions (no Prefect import). Elsewhere (tests, a worker) nothing changes."""
    _PROCESS["direct"] = _PROCESS["owned"]


def running_direct() -> bool:
    """True inside a direct run (no Prefect run context to report to)."""
    return _direct.get() or _process_is_direct()


def api_configured() -> bool:
    """Whether Prefect has an API to report to without starting a temporary server: the
    PREFECT_API_URL environment variable, the active profile (`prefect config set`,
    `prefect cloud login`) or `prefect.toml` in the working folder. Read without importing
    Prefect (which alone takes about 2 s)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        profiles = {}
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    if (profiles.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL"):
        return True
    try:
        local = tomllib.loads(Path("prefect.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool((local.get("api") or {}).get("url"))


def choose_direct(single_stage: bool) -> bool:
    """The CLI's rule: a single-stage command runs directly when no API is configured, unless
    FASHION_PREFECT=always."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower()
    return single_stage and mode != "always" and not api_configured()


class DirectStage:
    """A task or flow of a direct-mode process: the function itself (`.fn` as on Prefect's)."""

    def __init__(self, fn: Callable, name: str):
        self.fn = fn
        self.name = name
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _stage_task_class() -> type:
    from fashion_model.tasks.stage_task import StageTask

    return StageTask


def _prefect_options(options: dict) -> dict:
    if options.pop("cache", True) is False:
        from prefect.cache_policies import NO_CACHE

        options["cache_policy"] = NO_CACHE
    return options


def task(**options: Any) -> Callable[[Callable], Any]:
    """`prefect.task(**options)`; `cache=False` is `cache_policy=NO_CACHE`."""

    def decorate(fn: Callable):
        if _process_is_direct():
            return DirectStage(fn, options.get("name") or fn.__name__)
        return _stage_task_class()(fn, **_prefect_options(dict(options)))

    return decorate


def flow(**options: Any) -> Callable[[Callable], Any]:
    """`prefect.flow(**options)`, or the plain function in a direct-mode process."""

    def decorate(fn: Callable):
        if _process_is_direct():
            return DirectStage(fn, options.get("name") or fn.__name__)
        from prefect import flow as prefect_flow

        return prefect_flow(**options)(fn)

    return decorate


def run_direct(stage: Any, **parameters: Any) -> Any:
    """Run a flow's body (and its tasks) as plain calls: no Prefect API, no run states."""
    token = _direct.set(True)
    try:
        return stage.fn(**parameters)
    finally:
        _direct.reset(token)


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger in a flow or task run; the direct run's logger otherwise."""
    if running_direct():
        return logging.getLogger(RUN_LOGGER)
    from prefect import get_run_logger

    return get_run_logger()


def run_holder() -> str:
    """Who is writing, for the warehouse lock: 'flow run nightly/amber-fox (id)', or the PID."""
    if not running_direct():
        from prefect.runtime import flow_run

        if flow_run.id:
            return f"flow run {flow_run.flow_name}/{flow_run.name} ({flow_run.id})"
    return f"a fashion command (pid {os.getpid()})"


def _log_artifact(key: str, description: str, **content: Any) -> None:
    """A direct run's artifact: one line of JSON in the log file."""
    record = {"artifact": key, "description": description, **content}
    logging.getLogger(ARTIFACT_LOGGER).info(json.dumps(record, default=str))


def table_artifact(key: str, table: list[dict], description: str) -> None:
    """A Prefect table artifact; in a direct run, one line of JSON in the log file."""
    if running_direct():
        return _log_artifact(key, description, table=table)
    from prefect.artifacts import create_table_artifact

    create_table_artifact(key=key, table=table, description=description)


def markdown_artifact(key: str, markdown: str, description: str) -> None:
    """A Prefect markdown artifact; in a direct run, one line of JSON in the log file."""
    if running_direct():
        return _log_artifact(key, description, markdown=markdown)
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=key, markdown=markdown, description=description)
