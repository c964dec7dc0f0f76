"""Run shipped SQL files with bound parameters (never string formatting of values)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb

from fashion_model.errors import FashionError

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_DECLARED = re.compile(r"^--\s*@param\s+(\w+)\s+(\S+)\s*(.*)$", re.MULTILINE)
REQUIRED = "REQUIRED"
# Declared help text may constrain a value: "one of: month, week", or a date "YYYY-MM-DD".
_CHOICES = re.compile(r"one of: ([\w, ]+)")
DATE_HINT = "YYYY-MM-DD"
_COMMENT = re.compile(r"--[^\n]*")


def statements(text: str) -> list[str]:
    """Split a script on the semicolons that end a line (our SQL files keep that rule)."""
    body = _COMMENT.sub("", text)
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def parameters(sql: str) -> set[str]:
    return set(_PARAM.findall(_COMMENT.sub("", sql)))


def declared_parameters(text: str) -> dict[str, tuple[str | None, str]]:
    """`-- @param NAME DEFAULT help` header lines: name -> (default, help). The default is
    REQUIRED (no default), NULL (None) or a literal that the query casts itself."""
    declared = {}
    for name, default, help_text in _DECLARED.findall(text):
        declared[name] = (None if default == "NULL" else default, help_text.strip())
    return declared


def bind_parameters(text: str, given: dict, where: str) -> dict:
    """The declared defaults overlaid with `given`; unknown or missing names fail clearly."""
    declared = declared_parameters(text)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(declared) or "none"
        raise FashionError(f"{where}: unknown parameter(s) {', '.join(unknown)} (valid: {valid})")
    values = {name: default for name, (default, _) in declared.items()}
    values.update(given)
    missing = sorted(name for name, value in values.items() if value == REQUIRED)
    if missing:
        raise FashionError(
            f"{where}: parameter(s) {', '.join(missing)} required (--param NAME=VALUE)"
        )
    for name, (_, help_text) in declared.items():
        _check_value(name, values[name], help_text, where)
    return values


def _check_value(name: str, value, help_text: str, where: str) -> None:
    """Values are checked against what the header declares, so a typo fails by name."""
    if value is None:
        return
    choices = _CHOICES.search(help_text)
    if choices:
        allowed = [c.strip() for c in choices.group(1).split(",") if c.strip()]
        if str(value) not in allowed:
            raise FashionError(
                f"{where}: parameter {name}={value!r} is not one of {', '.join(allowed)}"
            )
    if DATE_HINT in help_text:
        try:
            datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            raise FashionError(
                f"{where}: parameter {name}={value!r} is not a date like 2026-11-27"
            ) from None


def run_statement(con: duckdb.DuckDBPyConnection, sql: str, params: dict, where: str = "query"):
    wanted = parameters(sql)
    missing = sorted(wanted - set(params))
    if missing:
        raise FashionError(f"{where}: missing parameter(s) {', '.join(missing)}")
    try:
        return con.execute(sql, {k: v for k, v in params.items() if k in wanted})
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FashionError(f"{where}: {first}") from None


def relation(con: duckdb.DuckDBPyConnection, sql: str, params: dict, where: str = "query"):
    """A read-only query as a relation, for streaming its result as Arrow batches without the
    extra copy a DB-API result makes."""
    wanted = parameters(sql)
    try:
        return con.sql(sql, params={k: v for k, v in params.items() if k in wanted})
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FashionError(f"{where}: {first}") from None


def run_script(con: duckdb.DuckDBPyConnection, path: Path, params: dict) -> None:
    """Run every statement of a SQL file, in order, inside the caller's transaction."""
    for sql in statements(Path(path).read_text(encoding="utf-8")):
        run_statement(con, sql, params, where=str(path))
