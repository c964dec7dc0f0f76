from datetime import date

import pandas as pd
import pytest
from PIL import Image

from fashion_model.db import connect
from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map
from fashion_model.report import (
    REPORTS_DIR,
    list_reports,
    plot_shares,
    run_report,
    share_table,
    truth_micro_f1,
)
from fashion_model.sqlrun import parameters, statements

STRIPES = default_label_map().label_id("pattern", "Stripes")
FLORAL = default_label_map().label_id("pattern", "Floral")


@pytest.fixture()
def warehouse(tmp_path):
    """A hand-built warehouse: 2 months, 4 products, known predictions."""
    con = connect(tmp_path / "w.duckdb")
    label_map = default_label_map()
    con.executemany(
        "INSERT INTO labels VALUES (?, ?, ?, ?)",
        [(lb.label_id, lb.task, lb.name, i) for i, lb in enumerate(label_map.labels)],
    )
    con.execute(
        "INSERT INTO models VALUES ('m1', now(), 'resnet34', 64, 0.9, [0.5], true, 'x', '{}')"
    )
    con.execute(
        "INSERT INTO models VALUES ('m0', now(), 'resnet34', 64, 0.9, [0.5], false, 'x', '{}')"
    )
    products = [
        ("R", "a", date(2026, 1, 5)),
        ("R", "b", date(2026, 1, 9)),
        ("R", "c", date(2026, 2, 1)),
        ("S", "d", date(2026, 2, 3)),
    ]
    for retailer, product, first_seen in products:
        con.execute(
            "INSERT INTO products (retailer, product_id, first_seen) VALUES (?, ?, ?)",
            [retailer, product, first_seen],
        )
        con.execute(
            "INSERT INTO product_images VALUES (?, ?, 0, 'u', ?, 'ok', NULL)",
            [retailer, product, f"sha-{product}"],
        )
        con.execute("INSERT INTO scores VALUES (?, 'm1', [0.1])", [f"sha-{product}"])
    predictions = [("sha-a", STRIPES), ("sha-c", STRIPES), ("sha-d", FLORAL)]
    for sha, label in predictions:
        con.execute("INSERT INTO predictions VALUES (?, 'm1', ?, 0.9)", [sha, label])
    con.execute(
        "INSERT INTO predictions VALUES ('sha-b', 'm0', ?, 0.9)", [FLORAL]
    )  # not production
    yield con
    con.close()


def test_shares_are_per_month_and_only_from_the_production_model(warehouse):
    shares = run_report(warehouse, "attribute_share_by_month", {"task": "pattern", "retailer": "R"})
    got = {
        (str(r.month)[:7], r.attribute): (r.products, r.month_products, r.share)
        for r in shares.itertuples()
    }
    assert got[("2026-01", "Stripes")] == (1, 2, 0.5)
    assert got[("2026-02", "Stripes")] == (1, 1, 1.0)
    assert ("2026-01", "Floral") not in got  # only m0 predicted it
    everyone = run_report(
        warehouse, "attribute_share_by_month", {"task": "pattern", "retailer": None}
    )
    february = everyone[everyone.month.astype(str).str.startswith("2026-02")]
    assert set(february.attribute) == {"Stripes", "Floral"}
    assert set(february.month_products) == {2}


def test_parameters_are_bound_not_formatted(warehouse):
    shares = run_report(
        warehouse, "attribute_share_by_month", {"task": "pattern", "retailer": "R' OR '1'='1"}
    )
    assert shares.empty
    with pytest.raises(FashionError, match=r"parameter\(s\) task required"):
        run_report(warehouse, "attribute_share_by_month", {"retailer": "R"})
    with pytest.raises(FashionError, match=r"unknown parameter\(s\) tsk \(valid: task, retailer\)"):
        run_report(warehouse, "attribute_share_by_month", {"tsk": "pattern"})
    with pytest.raises(FashionError, match="unknown report 'nope'"):
        run_report(warehouse, "nope", {})


def test_every_shipped_report_documents_itself_and_runs(warehouse):
    reports = list_reports()
    assert {
        "attribute_share_by_month",
        "competitor_comparison",
        "download_outcomes",
        "predicted_labels",
        "trending_attributes",
    } <= set(reports)
    required = {"task": "pattern", "retailer_a": "R", "retailer_b": "S"}
    for name, declared in reports.items():
        text = (REPORTS_DIR / f"{name}.sql").read_text()
        assert text.startswith(f"-- {name}:"), name
        assert "Output columns:" in text, name
        assert len(statements(text)) == 1
        assert parameters(text) <= set(declared), name  # every $param is declared
        given = {k: v for k, v in required.items() if declared.get(k, (None,))[0] == "REQUIRED"}
        run_report(warehouse, name, given)


def test_trending_ranks_by_significance_with_both_counts(warehouse):
    trend = run_report(
        warehouse, "trending_attributes", {"task": "pattern", "months": "1", "min_support": "1",
                                           "as_of": "2026-02-28"}
    )  # fmt: skip
    rows = {r.attribute: r for r in trend.itertuples()}
    # February (recent) against January (prior): Stripes 1 of 2 vs 1 of 2, Floral 1 of 2 vs 0 of 2
    assert (rows["Floral"].recent_products, rows["Floral"].recent_total) == (1, 2)
    assert (rows["Floral"].prior_products, rows["Floral"].prior_total) == (0, 2)
    assert rows["Floral"].change_points == 50.0
    assert rows["Stripes"].change_points == 0.0 and rows["Stripes"].z_score == 0.0
    assert list(trend.attribute) == ["Floral", "Stripes"]  # the significant riser first
    supported = run_report(
        warehouse, "trending_attributes", {"task": "pattern", "months": "1", "min_support": "2",
                                           "as_of": "2026-02-28"}
    )  # fmt: skip
    assert supported.empty


def test_competitor_comparison_puts_two_retailers_side_by_side(warehouse):
    frame = run_report(
        warehouse, "competitor_comparison",
        {"task": "pattern", "retailer_a": "R", "retailer_b": "S"},
    )  # fmt: skip
    rows = {r.attribute: r for r in frame.itertuples()}
    assert (rows["Stripes"].a_products, rows["Stripes"].a_total) == (2, 3)
    assert (rows["Floral"].b_products, rows["Floral"].b_total) == (1, 1)
    assert rows["Floral"].difference_points == -100.0


def test_the_chart_and_table_show_each_attribute(warehouse, tmp_path):
    shares = run_report(
        warehouse, "attribute_share_by_month", {"task": "pattern", "retailer": None}
    )
    table = share_table(shares)
    assert list(table.index) == ["2026-01", "2026-02"]
    assert table.loc["2026-02", "Stripes"] == 50.0
    out = plot_shares(shares, "Pattern share", tmp_path / "reports" / "chart.png")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 600
    with pytest.raises(FashionError, match="no scored products"):
        plot_shares(shares.iloc[0:0], "empty", tmp_path / "empty.png")


def test_truth_micro_f1_only_judges_products_with_predictions():
    predicted = pd.DataFrame({"product_id": ["a", "a", "b"], "label_id": [1, 2, 3]})
    truth = pd.DataFrame({"product_id": ["a", "a", "b", "z"], "label_id": [1, 5, 3, 9]})
    # tp = 2 (a/1, b/3); predicted 3, true 3 among judged products
    assert truth_micro_f1(predicted, truth) == pytest.approx(2 * 2 / 6)
