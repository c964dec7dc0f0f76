"""Each nightly run against the one before it, and the optional webhook that tells a person.

`compare_and_record` reads the warehouse after a run's scoring: the download failure rate
against the previous run's, the products added and delisted since the previous catalog date,
and the labels whose share of scored products moved by `share_threshold` or more. Any of these
past its threshold flags the run. The row goes to `nightly_runs` (migration 005).
`notify` POSTs a JSON message to a webhook; it never raises: a receiver that is down or slow
must not fail the run it reports on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import partial

import duckdb

from fashion_model.sqlfiles import named, read_sql, relation

_sql = partial(named, "ops/runs.sql")


@dataclass(frozen=True)
class Thresholds:
    share_move: float = 0.10  # a label's share of products moving by 10 points
    failure_rise: float = 0.05  # the download failure rate rising by 5 points
    delisted_share: float = 0.20  # a fifth of the previous run's products gone


@dataclass
class RunComparison:
    as_of: str
    previous_as_of: str | None
    records: int
    download_failure_rate: float
    previous_failure_rate: float | None
    products: int
    previous_products: int | None = None
    added: int | None = None
    delisted: int | None = None
    moved: list[dict] = field(default_factory=list)  # task, label, share_before, share_now, change
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def as_dict(self) -> dict:
        return {**asdict(self), "flagged": self.flagged}

    def markdown(self) -> str:
        before = self.previous_as_of or "none (first run)"
        previous_rate = (
            "-" if self.previous_failure_rate is None else f"{self.previous_failure_rate:.1%}"
        )
        verdict = "**FLAGGED**" if self.flagged else "**not flagged**"
        lines = [
            f"## Nightly run of {self.as_of} against {before}",
            "",
            verdict,
            *(f"- {flag}" for flag in self.flags),
            "",
            "| figure | this run | previous run |",
            "|---|---|---|",
            f"| download failure rate | {self.download_failure_rate:.1%} | {previous_rate} |",
            f"| products observed | {self.products} | {self._or_dash(self.previous_products)} |",
            f"| products added | {self._or_dash(self.added)} | |",
            f"| products delisted | {self._or_dash(self.delisted)} | |",
        ]
        if self.moved:
            lines += ["", "### Attribute shares that moved", ""]
            lines += ["| task | label | before | now | change |", "|---|---|---|---|---|"]
            lines += [
                f"| {m['task']} | {m['label']} | {m['share_before']:.1%} | {m['share_now']:.1%} | "
                f"{m['change']:+.1%} |"
                for m in self.moved
            ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _or_dash(value: int | None) -> str:
        return "-" if value is None else str(value)


def compare_and_record(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    manifest: str,
    records: int,
    failure_rate: float,
    thresholds: Thresholds = Thresholds(),
    problems: list[str] = (),
) -> RunComparison:
    """Compare this run with the previous one, flag what moved (and `problems` the run met
    itself, e.g. a feed that failed), and append to nightly_runs."""
    previous = con.execute(_sql("previous_run_date"), {"as_of": as_of}).fetchall()[0][0]
    last = con.execute(
        _sql("previous_failure_rate"), {"manifest": manifest, "as_of": as_of}
    ).fetchall()
    params = {"as_of": as_of, "previous": previous, "threshold": thresholds.share_move}
    change = relation(con, read_sql("ops/assortment_change.sql"), params).fetchall()[0]
    comparison = RunComparison(
        as_of=as_of.isoformat(),
        previous_as_of=previous.isoformat() if previous else None,
        records=records,
        download_failure_rate=failure_rate,
        previous_failure_rate=last[0][0] if last else None,
        products=change[0],
    )
    if previous is not None:
        comparison.previous_products, comparison.added, comparison.delisted = change[1:]
        moved = relation(con, read_sql("ops/share_moves.sql"), params).to_arrow_table()
        comparison.moved = moved.to_pylist()
    _flag(comparison, thresholds)
    comparison.flags.extend(problems)
    con.execute(
        _sql("record_run"),
        [
            datetime.now(UTC),
            as_of,
            manifest,
            records,
            failure_rate,
            comparison.products,
            comparison.added,
            comparison.delisted,
            len(comparison.moved),
            comparison.flagged,
            comparison.flags,
        ],
    )
    return comparison


def _flag(c: RunComparison, t: Thresholds) -> None:
    if (
        c.previous_failure_rate is not None
        and c.download_failure_rate - c.previous_failure_rate >= t.failure_rise
    ):
        c.flags.append(
            f"download failure rate rose to {c.download_failure_rate:.1%} "
            f"(previous run {c.previous_failure_rate:.1%})"
        )
    if c.previous_products and c.delisted / c.previous_products >= t.delisted_share:
        c.flags.append(
            f"{c.delisted} of the previous run's {c.previous_products} products are delisted "
            f"({c.delisted / c.previous_products:.0%})"
        )
    if c.moved:
        top = c.moved[0]
        c.flags.append(
            f"{len(c.moved)} label share(s) moved by {t.share_move:.0%} or more, most "
            f"{top['task']}={top['label']} {top['share_before']:.0%} -> {top['share_now']:.0%}"
        )


def notify(url: str | None, payload: dict, timeout: float = 10.0) -> str:
    """POST `payload` as JSON to `url`; returns what happened, never raises."""
    if not url:
        return "no webhook configured"
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "fashion-attributes"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"webhook answered HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return f"webhook {url} failed: {' '.join(str(error).split())[:200]} (the run goes on)"
