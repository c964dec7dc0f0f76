"""Report stage: shipped SQL reports run against DuckDB, written as CSV, and a trend chart PNG."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from fashion_model.errors import FashionError
from fashion_model.home import SQL_DIR
from fashion_model.sqlrun import parameters, run_statement, statements

REPORTS_DIR = SQL_DIR / "reports"


def list_reports() -> dict[str, list[str]]:
    """Shipped report names and the parameters each takes."""
    return {
        path.stem: sorted(parameters(path.read_text(encoding="utf-8")))
        for path in sorted(REPORTS_DIR.glob("*.sql"))
    }


def report_path(name_or_file: str) -> Path:
    candidate = Path(name_or_file)
    if candidate.suffix == ".sql" and candidate.is_file():
        return candidate
    shipped = REPORTS_DIR / f"{name_or_file}.sql"
    if shipped.is_file():
        return shipped
    raise FashionError(
        f"unknown report {name_or_file!r} (shipped: {', '.join(list_reports())}, or a .sql file)"
    )


def run_report(con: duckdb.DuckDBPyConnection, name_or_file: str, params: dict) -> pd.DataFrame:
    """Run a one-statement SQL report with bound parameters; returns its rows."""
    path = report_path(name_or_file)
    found = statements(path.read_text(encoding="utf-8"))
    if len(found) != 1:
        raise FashionError(f"{path}: a report holds exactly one statement, found {len(found)}")
    return run_statement(con, found[0], params, where=str(path)).df()


def share_table(shares: pd.DataFrame) -> pd.DataFrame:
    """attribute_share_by_month rows pivoted to one row per month, one column per attribute (%)."""
    if shares.empty:
        return shares
    table = shares.pivot_table(index="month", columns="attribute", values="share", aggfunc="sum")
    table = (table * 100).round(1)
    table.insert(0, "products", shares.groupby("month")["month_products"].first())
    table.index = pd.to_datetime(table.index).strftime("%Y-%m")
    table.index.name, table.columns.name = "month", None
    return table


def plot_shares(shares: pd.DataFrame, title: str, out: Path) -> Path:
    """One labelled line per attribute over the months; written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if shares.empty:
        raise FashionError("no scored products to plot; run `fashion score` first")
    wide = shares.pivot_table(index="month", columns="attribute", values="share", aggfunc="sum")
    wide.index = pd.to_datetime(wide.index)
    figure, axis = plt.subplots(figsize=(10, 5.5), dpi=110)
    for attribute in wide.columns:
        series = wide[attribute] * 100
        (line,) = axis.plot(series.index, series.values, marker="o", linewidth=2, label=attribute)
        axis.annotate(
            attribute,
            (series.index[-1], series.values[-1]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            color=line.get_color(),
            fontsize=9,
        )
    axis.set_title(title)
    axis.set_ylabel("share of products (%)")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", fontsize=9, frameon=False)
    figure.autofmt_xdate()
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    figure.savefig(tmp)
    plt.close(figure)
    tmp.replace(out)
    return out


def truth_micro_f1(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Micro-F1 of predicted (product_id, label_id) pairs against ground truth, over the products
    that have predictions (a product whose image never downloaded cannot be judged)."""
    judged = set(predicted["product_id"])
    truth_pairs = {
        (p, int(label))
        for p, label in zip(truth["product_id"], truth["label_id"], strict=True)
        if p in judged
    }
    predicted_pairs = {
        (p, int(label))
        for p, label in zip(predicted["product_id"], predicted["label_id"], strict=True)
    }
    hits = len(truth_pairs & predicted_pairs)
    denominator = len(truth_pairs) + len(predicted_pairs)
    return 2 * hits / denominator if denominator else 0.0
