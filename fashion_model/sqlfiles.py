"""The one loader of shipped SQL (package data `fashion_model.sql`), bound parameters (never
string formatting of values), and the one transaction helper."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import duckdb

from fashion_model.errors import BadInput, PackagingError, WarehouseError

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_DECLARED = re.compile(r"^--\s*@param\s+(\w+)\s+(\S+)\s*(.*)$", re.MULTILINE)
REQUIRED = "REQUIRED"
# Declared help text may constrain a value: "one of: month, week", or a date "YYYY-MM-DD".
_CHOICES = re.compile(r"one of: ([\w, ]+)")
DATE_HINT = "YYYY-MM-DD"
COLOR_HINT = "'#rrggbb'"  # a colour, as sRGB hex
COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
_COMMENT = re.compile(r"--[^\n]*")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_LINE_COMMENT = re.compile(r"^\s*--[^\n]*\n?", re.MULTILINE)  # a whole-line comment


@cache
def _shipped_root() -> Traversable:
    """`fashion_model.sql` as installed (a wheel, or the editable install's top-level `sql/`);
    in a bare source tree (PYTHONPATH=., as on a lent GPU machine) the `sql/` beside the package."""
    try:
        return resources.files("fashion_model.sql")
    except ModuleNotFoundError:
        beside = Path(__file__).resolve().parents[1] / "sql"
        if (beside / "__init__.py").is_file():
            return beside
        raise PackagingError(
            "the shipped SQL (package fashion_model.sql) is not installed; reinstall the package"
        ) from None


def shipped_sql(relative: str) -> Traversable:
    """A shipped SQL file, e.g. shipped_sql('load/upsert_catalog.sql'); missing is a packaging
    error, never an empty result."""
    found = _shipped_root().joinpath(*relative.split("/"))
    if not found.is_file():
        raise PackagingError(f"shipped SQL file {relative} is missing from the installed package")
    return found


def read_sql(relative: str) -> str:
    return shipped_sql(relative).read_text(encoding="utf-8")


@cache
def _named_statements(relative: str) -> dict[str, str]:
    parts = _NAME.split(read_sql(relative))  # [preamble, name, body, name, body, ...]
    return {
        name: _LINE_COMMENT.sub("", body).strip().rstrip(";")
        for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def named(relative: str, name: str) -> str:
    """One statement of a file of small statements, each under a `-- name: NAME` line (e.g.
    named('warehouse/statements.sql', 'schema_version')); a missing one is a packaging error."""
    found = _named_statements(relative).get(name)
    if found is None:
        raise PackagingError(f"shipped SQL file {relative} has no statement named {name!r}")
    return found


def shipped_folder(folder: str) -> list[Traversable]:
    """The shipped `*.sql` files of one folder (migrations, reports, ...), sorted by name; a
    folder with none is a packaging error (a migration run that applies nothing is a bug)."""
    root = _shipped_root().joinpath(folder)
    found = sorted(
        (f for f in root.iterdir() if f.name.endswith(".sql")) if root.is_dir() else [],
        key=lambda f: f.name,
    )
    if not found:
        raise PackagingError(f"no shipped SQL files in {folder}/: the package is incomplete")
    return found


def quote_identifier(name: str) -> str:
    """A column name as SQL text, for the few statements that are templates (never values)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A string as a SQL literal, where DuckDB takes no parameter (a COPY's target)."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction: committed when the block ends, rolled back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def database_error(where: str, error: duckdb.Error) -> Exception:
    """A DuckDB error as a one-line error of its kind: a query the caller got wrong (a bad
    parameter, a missing column of their own .sql file) is bad input; I/O, memory and internal
    errors are runtime failures that a task may retry."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    bad_query = (
        duckdb.BinderException,
        duckdb.ParserException,
        duckdb.ConversionException,
        duckdb.InvalidInputException,
        duckdb.CatalogException,
        duckdb.ConstraintException,
    )
    kind = BadInput if isinstance(error, bad_query) else WarehouseError
    return kind(f"{where}: {first}")


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
        raise BadInput(f"{where}: unknown parameter(s) {', '.join(unknown)} (valid: {valid})")
    values = {name: default for name, (default, _) in declared.items()}
    values.update(given)
    missing = sorted(name for name, value in values.items() if value == REQUIRED)
    if missing:
        raise BadInput(f"{where}: parameter(s) {', '.join(missing)} required (--param NAME=VALUE)")
    for name, (_, help_text) in declared.items():
        _check_value(name, values[name], help_text, where)
    return values


def declared_choices(help_text: str) -> list[str]:
    """The values a `-- @param` help text allows ("one of: a, b"), none when it lists none."""
    found = _CHOICES.search(help_text)
    return [c.strip() for c in found.group(1).split(",") if c.strip()] if found else []


def _check_value(name: str, value, help_text: str, where: str) -> None:
    """Values are checked against what the header declares, so a typo fails by name."""
    if value is None:
        return
    allowed = declared_choices(help_text)
    if allowed and str(value) not in allowed:
        raise BadInput(f"{where}: parameter {name}={value!r} is not one of {', '.join(allowed)}")
    if COLOR_HINT in help_text and not re.fullmatch(COLOR_PATTERN, str(value)):
        raise BadInput(f"{where}: parameter {name}={value!r} is not a colour like #7a1f2b")
    if DATE_HINT in help_text:
        try:
            datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            raise BadInput(
                f"{where}: parameter {name}={value!r} is not a date like 2026-11-27"
            ) from None


def run_statement(con: duckdb.DuckDBPyConnection, sql: str, params: dict, where: str = "query"):
    wanted = parameters(sql)
    missing = sorted(wanted - set(params))
    if missing:
        raise BadInput(f"{where}: missing parameter(s) {', '.join(missing)}")
    try:
        return con.execute(sql, {k: v for k, v in params.items() if k in wanted})
    except duckdb.Error as error:
        raise database_error(where, error) from None


def relation(con: duckdb.DuckDBPyConnection, sql: str, params: dict, where: str = "query"):
    """A read-only query as a relation, for streaming its result as Arrow batches without the
    extra copy a DB-API result makes."""
    wanted = parameters(sql)
    try:
        return con.sql(sql, params={k: v for k, v in params.items() if k in wanted})
    except duckdb.Error as error:
        raise database_error(where, error) from None


def run_script(con: duckdb.DuckDBPyConnection, relative: str, params: dict) -> None:
    """Run every statement of a shipped SQL file, in order, inside the caller's transaction."""
    for sql in statements(read_sql(relative)):
        run_statement(con, sql, params, where=f"sql/{relative}")


def run_over_tables(con, tables: dict, scripts: list[str]) -> None:
    """Run shipped scripts in one transaction over (Arrow) tables registered by name."""
    try:
        with transaction(con):
            for name, table in tables.items():
                con.register(name, table)
            for script in scripts:
                run_script(con, script, {})
    finally:
        for name in tables:
            con.unregister(name)
