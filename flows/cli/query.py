"""The analysts' commands: `fashion sql`, `fashion trends` and `fashion report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import ReportConfig
from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import (
    DbOption,
    HomeOption,
    RetailerOption,
    TaskOption,
    check_choice,
    console,
    open_warehouse,
    print_summary,
    say,
)
from fashion_model.home import Home

REPORT = ReportConfig()


def report_command(
    home: HomeOption = None,
    db: DbOption = None,
    task: TaskOption = REPORT.task,
    retailer: RetailerOption = None,
) -> None:
    """Write the attribute-share report (CSV) and trend chart (PNG) to HOME/reports."""
    config = ReportConfig.parse(where="--", task=task, retailer=retailer)
    paths = Home.resolve(home, db=db)
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; run `fashion score` first")
    from fashion_model.analytics.trend import write_trend_report

    paths.ensure()
    report = write_trend_report(paths.db, paths.reports, config.task, config.retailer)
    if report.note:
        say(f"empty {config.task} report: {report.note}", style="yellow")
    result = report.as_dict()
    print(result.pop("table"))
    print_summary("report", result)


def sql_command(
    query: Annotated[
        str | None, typer.Argument(help="A shipped query name (see --list) or a .sql file.")
    ] = None,
    list_queries: Annotated[
        bool, typer.Option("--list", help="List the shipped queries and their parameters.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE (repeatable).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet.")
    ] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Run a shipped SQL query (or your own .sql file) read-only against the warehouse."""
    from fashion_model.analytics.reports import (
        describe_report,
        is_shipped,
        list_reports,
        prepare_report,
        report_path,
        run_report,
        write_frame,
    )

    if list_queries:
        for name, declared in list_reports().items():
            print(f"{name}: {describe_report(report_path(name))}")
            for key, (default, help_text) in declared.items():
                print(f"    --param {key}=...  [default: {default or 'NULL'}]  {help_text}")
        return
    if query is None:
        raise BadInput("name a query (see `fashion sql --list`) or a .sql file")
    check_choice("--format", output_format, ("table", "csv", "json", "parquet"))
    if output_format == "parquet" and out is None:
        raise BadInput("--format parquet needs --out FILE")
    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"--param {item!r} is not NAME=VALUE")
        params[key.strip()] = None if value == "NULL" else value
    prepare_report(query, params)  # unknown names and bad values fail before the database opens
    with open_warehouse(home, db, need_products=is_shipped(query)) as con:
        frame = run_report(con, query, params)
    if out is not None:
        write_frame(frame, out, output_format)
        console.print(f"{len(frame)} row(s) written to {out}")
    elif output_format == "table":
        print(frame.to_string(index=False) if len(frame) else "(no rows)")
    elif output_format == "csv":
        print(frame.to_csv(index=False), end="")
    else:
        print(frame.to_json(orient="records", date_format="iso", indent=1))


def trends_command(
    task: TaskOption = REPORT.task,
    retailer: RetailerOption = None,
    brand: Annotated[str | None, typer.Option("--brand", help="One brand [default all].")] = None,
    by: Annotated[str, typer.Option("--by", help="Period: month or week.")] = "month",
    basis: Annotated[
        str,
        typer.Option(
            "--basis", help="first_seen (new arrivals) or observed_on (what was on offer)."
        ),
    ] = "first_seen",
    home: HomeOption = None,
    db: DbOption = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the trend chart to this PNG file.")
    ] = None,
) -> None:
    """Share of each attribute of a task over time, as a table and (--plot) a line chart."""
    from fashion_model.analytics.reports import plot_shares, prepare_report, run_report, share_table

    params = {"task": task, "by": by, "basis": basis, "retailer": retailer, "brand": brand}
    prepare_report("attribute_share", params)
    with open_warehouse(home, db, need_products=True) as con:
        shares = run_report(con, "attribute_share", params)
    if shares.empty:
        raise BadInput(f"no scored products match task={task} retailer={retailer} brand={brand}")
    print(share_table(shares, by).to_string())
    if plot is not None:
        scope = " / ".join(filter(None, (retailer, brand))) or "all retailers"
        basis_text = "new products" if basis == "first_seen" else "products on offer"
        title = f"{task.title()} share of {basis_text} by {by}: {scope}"
        console.print(f"chart written to {plot_shares(shares, title, plot)}")
