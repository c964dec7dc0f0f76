"""Report stage: shipped SQL reports run against DuckDB, written as CSV, and a trend chart PNG."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path

import duckdb
import pandas as pd

from fashion_model.errors import BadInput
from fashion_model.files import replacing
from fashion_model.sqlfiles import (
    bind_parameters,
    declared_parameters,
    read_sql,
    run_statement,
    shipped_folder,
    statements,
)


def list_reports() -> dict[str, dict[str, tuple[str | None, str]]]:
    """Shipped report names and their declared parameters (name -> (default, help))."""
    return {
        path.name.removesuffix(".sql"): declared_parameters(path.read_text(encoding="utf-8"))
        for path in shipped_folder("reports")
    }


def describe_report(path: Traversable) -> str:
    """The report's purpose: its opening comment, up to the parameters."""
    purpose = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.removeprefix("--").strip()
        if not line.startswith("--") or text.startswith(("@param", "Output", "Parameters")):
            break
        purpose.append(text)
    return " ".join(purpose).split(":", 1)[-1].strip()


def is_shipped(name_or_file: str) -> bool:
    """A shipped report's name, as opposed to the user's own .sql file."""
    return Path(name_or_file).suffix != ".sql"


def report_path(name_or_file: str) -> Traversable:
    """The user's .sql file, or the shipped report of that name."""
    if not is_shipped(name_or_file):
        candidate = Path(name_or_file)
        if not candidate.is_file():
            raise BadInput(f"{candidate}: SQL file not found")
        return candidate
    for path in shipped_folder("reports"):
        if path.name == f"{name_or_file}.sql":
            return path
    raise BadInput(
        f"unknown report {name_or_file!r} (shipped: {', '.join(list_reports())}, or a .sql file)"
    )


def prepare_report(name_or_file: str, params: dict) -> tuple[Traversable, str, dict]:
    """The report's file, its one statement and its bound parameter values (declared defaults
    filled in, every value checked): all checks that need no database."""
    path = report_path(name_or_file)
    text = path.read_text(encoding="utf-8")
    found = statements(text)
    if len(found) != 1:
        raise BadInput(f"{path}: a report holds exactly one statement, found {len(found)}")
    values = bind_parameters(text, params, str(path)) if declared_parameters(text) else params
    return path, found[0], values


def run_report(con: duckdb.DuckDBPyConnection, name_or_file: str, params: dict) -> pd.DataFrame:
    """Run a one-statement SQL report with bound parameters (declared defaults filled in)."""
    path, sql, values = prepare_report(name_or_file, params)
    return run_statement(con, sql, values, where=str(path)).df()


def share_table(shares: pd.DataFrame, by: str = "month") -> pd.DataFrame:
    """attribute_share rows (one segment) pivoted to one row per period, one column per
    attribute (%), after a `products` column."""
    if shares.empty:
        return shares
    table = shares.pivot_table(index="period", columns="attribute", values="share", aggfunc="sum")
    table = (table * 100).round(1)
    table.insert(0, "products", shares.groupby("period")["period_products"].first())
    table.index = pd.to_datetime(table.index).strftime("%Y-%m" if by == "month" else "%Y-%m-%d")
    table.index.name, table.columns.name = ("month" if by == "month" else "week of"), None
    return table


# Lines of a colour chart are drawn in the colour they name.
LINE_COLORS = {
    "Beige": "#d8c3a0",
    "Black": "#222222",
    "Blue": "#2455c3",
    "Bronze": "#a0652a",
    "Brown": "#7b4a25",
    "Gold": "#d4a52a",
    "Gray": "#8c8c8c",
    "Green": "#2f8f46",
    "Maroon": "#7a1f2b",
    "Orange": "#f08a24",
    "Peach": "#f4b183",
    "Pink": "#f08cb4",
    "Purple": "#7d3fa6",
    "Red": "#d2232a",
    "Silver": "#b8bcc4",
    "Tan": "#c9a878",
    "Teal": "#1d8a8a",
    "White": "#c8c8c8",
    "Yellow": "#e6c21f",
}


@dataclass
class Mover:
    attribute: str
    first: float  # mean share of the first `periods` periods, %
    last: float  # of the last `periods`
    periods: int = 1

    @property
    def change(self) -> float:
        return self.last - self.first

    def sentence(self) -> str:
        direction = "rose" if self.change >= 0 else "fell"
        span = "period" if self.periods == 1 else f"{self.periods} periods"
        return (
            f"{self.attribute} {direction} the most: {self.first:.1f}% in the first {span}, "
            f"{self.last:.1f}% in the last ({self.change:+.1f} points)"
        )


def attribute_movers(shares: pd.DataFrame) -> list[Mover]:
    """The attributes of attribute_share rows (period, attribute, share), most moved first, by
    the one definition in sql/ops/attribute_movers.sql (the report's chart, the web app and the
    API all ask here); empty below two periods."""
    if shares.empty:
        return []
    with duckdb.connect() as con:
        con.register("shares", shares[["period", "attribute", "share"]])
        rows = con.execute(read_sql("ops/attribute_movers.sql")).fetchall()
    return [
        Mover(str(name), float(first), float(last), int(periods))
        for name, first, last, _, periods in rows
    ]


def plot_shares(
    shares: pd.DataFrame, title: str, out: Path, highlight: int = 1, top: int = 10
) -> Path:
    """One labelled line per attribute over the periods; the `highlight` attributes that moved
    most (`attribute_movers`) are drawn bold, the rest faint, and every
    line carries its name at its right end. At most `top` attributes (the most common, plus the
    movers) are drawn, so that the chart stays readable. Written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if shares.empty:
        raise BadInput("no scored products to plot; run `fashion score` first")
    wide = shares.pivot_table(index="period", columns="attribute", values="share", aggfunc="sum")
    wide = wide.fillna(0.0) * 100
    wide.index = pd.to_datetime(wide.index)
    bold = {mover.attribute for mover in attribute_movers(shares)[:highlight]}
    common = wide.mean().sort_values(ascending=False).index[:top]
    shown = [a for a in wide.columns if a in bold or a in common]
    if len(shown) < len(wide.columns):
        title = f"{title} (the {len(shown)} most common of {len(wide.columns)} attributes)"
    wide = wide[shown]
    figure, axis = plt.subplots(figsize=(10, 5.5), dpi=110)
    label_at = _spread(wide.iloc[-1].to_dict(), gap=max(wide.values.max(), 1) * 0.035)
    for attribute in wide.columns:
        series = wide[attribute]
        strong = attribute in bold
        (line,) = axis.plot(
            series.index,
            series.values,
            marker="o",
            markersize=5 if strong else 3,
            linewidth=3 if strong else 1.2,
            alpha=1.0 if strong else 0.45,
            color=LINE_COLORS.get(attribute),
            label=attribute,
        )
        # every line is named at its right end (names nudged apart so that none overlap); the
        # biggest movers with their first and last values
        text = f"{attribute} {series.values[0]:.0f}% \u2192 {series.values[-1]:.0f}%"
        axis.annotate(
            text if strong else attribute,
            (series.index[-1], label_at[attribute]),
            xytext=(8 if strong else 6, 0),
            textcoords="offset points",
            va="center",
            color=line.get_color(),
            fontsize=10 if strong else 8,
            fontweight="bold" if strong else "normal",
            alpha=1.0 if strong else 0.8,
        )
    axis.set_title(title)
    axis.set_ylabel("share of products (%)")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.margins(x=0.02)
    figure.autofmt_xdate()
    figure.tight_layout()
    return _save_png(figure, out)


def _save_png(figure, out: Path) -> Path:
    """Write a chart atomically (a reader never sees half a PNG) and free the figure."""
    import matplotlib.pyplot as plt

    try:
        with replacing(out) as tmp:
            figure.savefig(tmp, bbox_inches="tight", format="png")
    finally:
        plt.close(figure)
    return Path(out)


def plot_nothing(title: str, note: str, out: Path) -> Path:
    """The chart of an empty report: its title and why there is nothing to draw, so that a
    night without predictions for a task still leaves a picture that says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 3), dpi=110)
    axis.set_axis_off()
    axis.set_title(title, fontsize=13, loc="left")
    axis.text(0.5, 0.5, note, ha="center", va="center", fontsize=12, color="#555555", wrap=True)
    return _save_png(figure, out)


def _spread(ends: dict[str, float], gap: float) -> dict[str, float]:
    """Label heights near each line's end value, at least `gap` apart (bottom to top)."""
    placed: dict[str, float] = {}
    floor = float("-inf")
    for name, value in sorted(ends.items(), key=lambda item: item[1]):
        placed[name] = max(value, floor + gap)
        floor = placed[name]
    return placed


def share_error_vs_truth(
    predicted: pd.DataFrame, scored: pd.DataFrame, truth: pd.DataFrame, label_tasks: dict
) -> pd.DataFrame:
    """Mean absolute difference, in points, between predicted and true attribute shares per
    retailer and month of first_seen, per task: predicted (product_id, label_id), scored
    (retailer, product_id, first_seen) and truth (product_id, label_id) frames. An attribute
    counts in a (task, retailer, month) cell when either side has it there."""
    cells = scored.assign(month=pd.to_datetime(scored["first_seen"]).dt.strftime("%Y-%m"))
    cells = cells[["retailer", "product_id", "month"]]
    sizes = cells.groupby(["retailer", "month"]).size().rename("products")

    def shares(pairs: pd.DataFrame) -> pd.Series:
        tagged = pairs[["product_id", "label_id"]].merge(cells, on="product_id")
        counts = tagged.groupby(["retailer", "month", "label_id"]).size().rename("hits")
        return (
            counts.reset_index()
            .join(sizes, on=["retailer", "month"])
            .assign(share=lambda f: 100 * f["hits"] / f["products"])
            .set_index(["retailer", "month", "label_id"])["share"]
        )

    both = pd.concat({"predicted": shares(predicted), "truth": shares(truth)}, axis=1)
    both = both.fillna(0.0).reset_index()
    both["task"] = both["label_id"].map(label_tasks)
    both["error_points"] = (both["predicted"] - both["truth"]).abs()
    return both.groupby("task")["error_points"].agg(["mean", "max", "count"]).round(2)


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


def write_csv(frame: pd.DataFrame, out: Path) -> Path:
    """Write a report CSV atomically (temp file + rename): never a half-written file."""
    return write_frame(frame, out, "csv")


def write_frame(frame: pd.DataFrame, out: Path, output_format: str) -> Path:
    """Write query results as csv, json or parquet (table: csv), atomically."""
    with replacing(out) as tmp:
        if output_format == "parquet":
            frame.to_parquet(tmp, index=False)
        elif output_format == "json":
            frame.to_json(tmp, orient="records", date_format="iso", indent=1)
        else:
            frame.to_csv(tmp, index=False)
    return Path(out)
