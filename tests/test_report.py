from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from PIL import Image

from fashion_model.analytics.reports import (
    list_reports,
    plot_shares,
    run_report,
    share_error_vs_truth,
    share_table,
    truth_micro_f1,
)
from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map
from fashion_model.sqlfiles import parameters, read_sql, statements
from fashion_model.warehouse.db import connect, migrations, refresh_analytics
from fashion_model.warehouse.reader import check_warehouse

LABELS = default_label_map()
STRIPES = LABELS.label_id("pattern", "Stripes")
FLORAL = LABELS.label_id("pattern", "Floral")
RED = LABELS.label_id("color", "Red")
BLUE = LABELS.label_id("color", "Blue")
BLACK = LABELS.label_id("color", "Black")
POSITION = {label.label_id: i for i, label in enumerate(LABELS.labels)}


@pytest.fixture()
def warehouse(tmp_path):
    """A hand-built warehouse with known answers.

    Retailer R (EUR): a (Jan 5), b (Jan 9), c (Feb 1), e (Feb 10, image failed: never scored);
    retailer S (USD): d (Feb 3). Production model m1 predicts a: Stripes+Red, b: Black,
    c: Stripes+Blue, d: Floral+Red; the old model m0 predicted Floral for b (must not count).
    b's Stripes probability is 0.47, close below the 0.5 threshold. R ran nightly on Jan 31
    (a 10 EUR, b 20 EUR) and Feb 28 (a 12, c 30, e 5); S on Feb 28 (d 40 USD).
    """
    con = connect(tmp_path / "w.duckdb")
    con.executemany(
        "INSERT INTO labels VALUES (?, ?, ?, ?)",
        [(lb.label_id, lb.task, lb.name, i) for i, lb in enumerate(LABELS.labels)],
    )
    thresholds = [0.5] * len(LABELS.labels)
    for version, production in (("m1", True), ("m0", False)):
        con.execute(
            "INSERT INTO models VALUES (?, now(), 'resnet34', 64, 0.9, ?, ?, 'x', '{}')",
            [version, thresholds, production],
        )
    products = [
        ("R", "a", date(2026, 1, 5), "EUR"),
        ("R", "b", date(2026, 1, 9), "EUR"),
        ("R", "c", date(2026, 2, 1), "EUR"),
        ("S", "d", date(2026, 2, 3), "USD"),
        ("R", "e", date(2026, 2, 10), "EUR"),
    ]
    for retailer, product, first_seen, currency in products:
        con.execute(
            "INSERT INTO products (retailer, product_id, brand, title, first_seen, currency) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                retailer,
                product,
                f"Brand {product in 'ab'}",
                f"Title {product}",
                first_seen,
                currency,
            ],
        )
        scored = product != "e"
        con.execute(
            "INSERT INTO product_images VALUES (?, ?, 0, 'u', ?, ?, NULL)",
            [
                retailer,
                product,
                f"sha-{product}" if scored else None,
                "ok" if scored else "http_404",
            ],
        )
        if scored:
            probs = [0.0] * len(LABELS.labels)
            probs[POSITION[STRIPES]] = 0.47 if product == "b" else 0.0
            con.execute(
                "INSERT INTO scores (image_sha256, model_version, probs) VALUES (?, 'm1', ?)",
                [f"sha-{product}", probs],
            )
    predictions = [
        ("a", STRIPES),
        ("a", RED),
        ("b", BLACK),
        ("c", STRIPES),
        ("c", BLUE),
        ("d", FLORAL),
        ("d", RED),
    ]
    for product, label in predictions:
        con.execute("INSERT INTO predictions VALUES (?, 'm1', ?, 0.9)", [f"sha-{product}", label])
    con.execute("INSERT INTO predictions VALUES ('sha-b', 'm0', ?, 0.9)", [FLORAL])
    observations = [
        ("R", "a", date(2026, 1, 31), 10.0, "EUR"),
        ("R", "b", date(2026, 1, 31), 20.0, "EUR"),
        ("R", "a", date(2026, 2, 28), 12.0, "EUR"),
        ("R", "c", date(2026, 2, 28), 30.0, "EUR"),
        ("R", "e", date(2026, 2, 28), 5.0, "EUR"),
        ("S", "d", date(2026, 2, 28), 40.0, "USD"),
    ]
    con.executemany(
        "INSERT INTO product_observations (retailer, product_id, observed_on, price, currency,"
        " image_sha256) VALUES (?, ?, ?, ?, ?, NULL)",
        observations,
    )
    con.execute("INSERT INTO equivalents VALUES ('m1', 'R', 'a', 'S', 'd', 0.9, 1)")
    colours = {  # measured on each product's photo: (hex, L*, a*, b*, share, name, family)
        "a": [
            ("#7a1f2b", 27.5, 38.9, 14.6, 0.7, "burgundy", "Maroon"),
            ("#1d2744", 16.4, 3.7, -20.2, 0.3, "navy", "Blue"),
        ],
        "b": [("#141414", 6.3, 0.0, 0.0, 1.0, "black", "Black")],
        "c": [("#1d2744", 16.4, 3.7, -20.2, 0.9, "navy", "Blue")],
        "d": [("#7a1f2b", 27.5, 38.9, 14.6, 0.6, "burgundy", "Maroon")],
    }
    for product, found in colours.items():
        for rank, colour in enumerate(found, 1):
            con.execute(
                "INSERT INTO image_colors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'colors-1')",
                [f"sha-{product}", rank, *colour],
            )
    refresh_analytics(con)
    yield con
    con.close()


def _rows(frame, *keys):
    return {
        tuple(getattr(r, k) for k in keys) if len(keys) > 1 else getattr(r, keys[0]): r
        for r in frame.itertuples()
    }


def _month(value) -> str:
    return str(value)[:7]


def test_shares_are_per_month_and_only_from_the_production_model(warehouse):
    shares = run_report(warehouse, "attribute_share", {"task": "pattern", "retailer": "R"})
    got = {
        (_month(r.period), r.attribute): (r.products, r.period_products, r.share)
        for r in shares.itertuples()
    }
    assert got == {("2026-01", "Stripes"): (1, 2, 0.5), ("2026-02", "Stripes"): (1, 1, 1.0)}
    everyone = run_report(warehouse, "attribute_share", {"task": "pattern"})
    february = everyone[everyone.period.astype(str).str.startswith("2026-02")]
    assert set(february.attribute) == {"Stripes", "Floral"}  # b's Floral came from m0 only
    assert set(february.period_products) == {2}  # e was never scored
    assert set(everyone.segment) == {"all"}


def test_shares_split_by_retailer_and_brand(warehouse):
    split = run_report(warehouse, "attribute_share", {"task": "pattern", "split": "retailer"})
    february = split[split.period.astype(str).str.startswith("2026-02")]
    got = {(r.segment, r.attribute): (r.products, r.period_products) for r in february.itertuples()}
    assert got == {
        ("R", "Floral"): (0, 1),
        ("R", "Stripes"): (1, 1),
        ("S", "Floral"): (1, 1),
        ("S", "Stripes"): (0, 1),
    }
    brands = run_report(
        warehouse, "attribute_share", {"task": "color", "split": "brand", "until": "2026-01-31"}
    )
    assert set(brands.segment) == {"Brand True"}  # a and b, the January arrivals
    one = run_report(warehouse, "attribute_share", {"task": "color", "brand": "Brand False"})
    assert set(one.attribute) == {"Red", "Blue"}  # c and d


def test_shares_by_observation_count_what_was_on_offer(warehouse):
    shares = run_report(warehouse, "attribute_share", {"task": "pattern", "basis": "observed_on"})
    got = {
        (_month(r.period), r.attribute): (r.products, r.period_products)
        for r in shares.itertuples()
    }
    # January: a and b on offer; February: a, c and d (e is on offer but not scored)
    assert got[("2026-01", "Stripes")] == (1, 2)
    assert got[("2026-02", "Stripes")] == (2, 3)
    assert got[("2026-02", "Floral")] == (1, 3)
    weekly = run_report(warehouse, "attribute_share", {"task": "pattern", "by": "week"})
    assert str(weekly.period.iloc[0])[:10] == "2026-01-05"  # a Monday: a and b arrived that week
    assert weekly.period_products.iloc[0] == 2


def test_parameters_are_bound_and_checked(warehouse):
    before = warehouse.execute("SELECT count(*) FROM products").fetchone()
    injected = run_report(
        warehouse, "attribute_share", {"task": "pattern", "retailer": "x'; DROP TABLE products; --"}
    )
    assert injected.empty
    assert warehouse.execute("SELECT count(*) FROM products").fetchone() == before
    with pytest.raises(FashionError, match=r"parameter\(s\) task required"):
        run_report(warehouse, "attribute_share", {"retailer": "R"})
    with pytest.raises(FashionError, match=r"unknown parameter\(s\) tsk \(valid: task, by,"):
        run_report(warehouse, "attribute_share", {"tsk": "pattern"})
    with pytest.raises(FashionError, match="unknown report 'nope'"):
        run_report(warehouse, "nope", {})
    with pytest.raises(FashionError, match="parameter by='fortnight' is not one of month, week"):
        run_report(warehouse, "attribute_share", {"task": "pattern", "by": "fortnight"})
    with pytest.raises(FashionError, match="parameter task='fabric' is not one of category,"):
        run_report(warehouse, "attribute_share", {"task": "fabric"})
    with pytest.raises(FashionError, match="parameter since='2026-13-01' is not a date"):
        run_report(warehouse, "attribute_share", {"task": "pattern", "since": "2026-13-01"})
    with pytest.raises(FashionError, match="margin must be between 0 and 0.1"):
        run_report(warehouse, "low_confidence_products", {"margin": "0.5"})


def test_every_shipped_report_documents_itself_and_runs(warehouse):
    reports = list_reports()
    assert {
        "assortment_as_of",
        "attribute_cooccurrence",
        "attribute_share",
        "competitor_comparison",
        "delistings",
        "download_outcomes",
        "low_confidence_products",
        "new_arrivals_mix",
        "predicted_labels",
        "price_by_attribute",
        "trending_attributes",
        "equivalent_price_gaps",
    } <= set(reports)
    asked = {
        "task": "pattern",
        "task_a": "pattern",
        "retailer_a": "R",
        "retailer_b": "S",
        "hex": "#7a1f2b",
        "from_date": "2026-01-31",
        "to_date": "2026-02-28",
        "window": "1",
        "min_support": "1",
        "from_retailer": "R",
        "to_retailer": "S",
    }
    for name, declared in reports.items():
        text = read_sql(f"reports/{name}.sql")
        assert text.startswith(f"-- {name}:"), name
        assert "Output columns:" in text, name
        assert len(statements(text)) == 1
        assert parameters(text) <= set(declared), name  # every $param is declared
        given = {k: v for k, v in asked.items() if k in declared}
        assert not run_report(warehouse, name, given).empty, name


def test_shade_queries_on_known_colours(warehouse):
    near = run_report(warehouse, "products_near_color", {"hex": "#7b202c", "max_delta_e": "2"})
    assert list(near["product_id"]) == ["a", "d"] and near["delta_e"].max() < 2
    assert list(near["name"]) == ["burgundy", "burgundy"]
    only_r = run_report(warehouse, "products_near_color", {"hex": "#7b202c", "retailer": "S"})
    assert list(only_r["product_id"]) == ["d"]
    striped = run_report(warehouse, "products_near_color", {"hex": "#1d2744", "label": "Stripes"})
    assert sorted(striped["product_id"]) == ["a", "c"]
    # January: a (burgundy 70%, navy 30%) and b (black); February: c (navy) and d (burgundy)
    trend = _rows(
        run_report(warehouse, "shade_trend", {"window": "1", "min_support": "1"}), "shade"
    )
    assert trend["navy"].recent_products == 1 and trend["navy"].prior_products == 1
    assert trend["burgundy"].recent_share_pct == 50.0 and trend["burgundy"].hex == "#7a1f2b"
    assert "black" not in trend  # none in the recent window
    families = run_report(warehouse, "shade_share", {"level": "family", "min_share": "0.5"})
    jan = _rows(families[families["period"].astype(str).str.startswith("2026-01")], "shade")
    assert set(jan) == {"Maroon", "Black"} and jan["Maroon"].share == 0.5  # navy at 30%: out
    prices = _rows(run_report(warehouse, "price_by_shade", {"currency": "EUR"}), "period", "shade")
    assert {(str(p)[:7], s) for p, s in prices} == {
        ("2026-01", "burgundy"),
        ("2026-01", "black"),
        ("2026-02", "burgundy"),
        ("2026-02", "navy"),
    }


def test_trending_ranks_by_significance_with_both_counts(warehouse):
    asked = {"task": "pattern", "window": "1", "min_support": "1", "as_of": "2026-02-28"}
    trend = run_report(warehouse, "trending_attributes", asked)
    rows = _rows(trend, "attribute")
    # February (recent) against January (prior): Stripes 1 of 2 vs 1 of 2, Floral 1 of 2 vs 0
    assert (rows["Floral"].recent_products, rows["Floral"].recent_total) == (1, 2)
    assert (rows["Floral"].prior_products, rows["Floral"].prior_total) == (0, 2)
    assert rows["Floral"].change_points == 50.0
    assert rows["Floral"].z_score == pytest.approx(0.5 / (0.25 * 0.75) ** 0.5, abs=0.01)
    assert rows["Stripes"].change_points == 0.0 and rows["Stripes"].z_score == 0.0
    assert list(trend.attribute) == ["Floral", "Stripes"]  # the significant riser first
    assert str(rows["Floral"].recent_from)[:10] == "2026-02-01"
    assert run_report(warehouse, "trending_attributes", {**asked, "min_support": "2"}).empty
    on_offer = run_report(warehouse, "trending_attributes", {**asked, "basis": "observed_on"})
    rows = _rows(on_offer, "attribute")
    # on offer: January a, b; February a, c, d (a counts in both windows)
    assert (rows["Stripes"].recent_products, rows["Stripes"].recent_total) == (2, 3)
    assert (rows["Stripes"].prior_products, rows["Stripes"].prior_total) == (1, 2)


def test_competitor_comparison_puts_two_retailers_side_by_side(warehouse):
    asked = {"task": "color", "retailer_a": "R", "retailer_b": "S"}
    rows = _rows(run_report(warehouse, "competitor_comparison", asked), "attribute")
    assert (rows["Red"].a_products, rows["Red"].a_total, rows["Red"].b_products) == (1, 3, 1)
    assert rows["Red"].difference_points == pytest.approx(33.33 - 100, abs=0.01)
    assert rows["Blue"].b_products == 0
    on_offer = run_report(warehouse, "competitor_comparison", {**asked, "as_of": "2026-02-28"})
    rows = _rows(on_offer, "attribute")
    assert (rows["Red"].a_products, rows["Red"].a_total) == (1, 2)  # a and c (e: unscored)
    assert "Black" not in rows  # b was delisted by then


def test_assortment_as_of_a_date_uses_each_retailers_last_run(warehouse):
    mid = run_report(warehouse, "assortment_as_of", {"task": "color", "as_of": "2026-02-15"})
    assert set(mid.retailer) == {"R"}  # S had no run yet
    rows = _rows(mid, "attribute")
    assert str(rows["Red"].observed_on)[:10] == "2026-01-31"
    assert (rows["Red"].on_offer, rows["Red"].scored, rows["Red"].share_pct) == (2, 2, 50.0)
    latest = run_report(warehouse, "assortment_as_of", {"task": "color"})
    rows = _rows(latest, "retailer", "attribute")
    assert (rows[("R", "Blue")].on_offer, rows[("R", "Blue")].scored) == (3, 2)
    assert rows[("S", "Red")].share_pct == 100.0


def test_delistings_between_two_runs(warehouse):
    gone = run_report(warehouse, "delistings", {"from_date": "2026-01-31", "to_date": "2026-02-28"})
    assert list(gone.product_id) == ["b"]
    row = gone.iloc[0]
    assert (row.retailer, row.last_price, row.currency, row.color) == ("R", 20.0, "EUR", "Black")
    assert str(row.last_observed_on)[:10] == "2026-01-31"
    same_run = run_report(
        warehouse, "delistings", {"from_date": "2026-02-28", "to_date": "2026-03-31"}
    )
    assert same_run.empty


def test_new_arrivals_mix_with_change_against_the_previous_period(warehouse):
    mix = run_report(warehouse, "new_arrivals_mix", {"task": "pattern", "retailer": "R"})
    rows = {(_month(r.period), r.attribute): r for r in mix.itertuples()}
    jan, feb = rows[("2026-01", "Stripes")], rows[("2026-02", "Stripes")]
    assert (jan.new_products, jan.products, jan.share_pct) == (2, 1, 50.0)
    assert pd.isna(jan.change_points)
    assert (feb.new_products, feb.share_pct, feb.change_points) == (1, 100.0, 50.0)


def test_cooccurrence_counts_pairs_and_lift(warehouse):
    pairs = run_report(
        warehouse, "attribute_cooccurrence", {"task_a": "pattern", "task_b": "color"}
    )
    rows = _rows(pairs, "a_attribute", "b_attribute")
    assert set(rows) == {("Stripes", "Red"), ("Stripes", "Blue"), ("Floral", "Red")}
    stripes_red = rows[("Stripes", "Red")]
    assert (stripes_red.products, stripes_red.a_products, stripes_red.b_products) == (1, 2, 2)
    assert stripes_red.b_share_of_a_pct == 50.0 and stripes_red.lift == 1.0
    assert rows[("Floral", "Red")].lift == 2.0  # 1 * 4 scored / (1 * 2)


def test_price_by_attribute_never_mixes_currencies(warehouse):
    prices = run_report(warehouse, "price_by_attribute", {"task": "color"})
    rows = {(_month(r.period), r.currency, r.attribute): r for r in prices.itertuples()}
    assert rows[("2026-01", "EUR", "Red")].avg_price == 10.0
    assert rows[("2026-02", "EUR", "Red")].avg_price == 12.0
    assert rows[("2026-02", "EUR", "Red")].avg_change_pct == 20.0
    assert rows[("2026-02", "USD", "Red")].avg_price == 40.0  # d, in its own currency
    assert pd.isna(rows[("2026-02", "USD", "Red")].avg_change_pct)
    assert ("2026-02", "EUR", "Black") not in rows  # b was gone, e (5 EUR) never scored


def test_low_confidence_lists_scores_near_the_threshold(warehouse):
    near = run_report(warehouse, "low_confidence_products", {})
    assert [(r.product_id, r.attribute, r.predicted) for r in near.itertuples()] == [
        ("b", "Stripes", False)
    ]
    assert near.distance.iloc[0] == pytest.approx(0.03, abs=1e-4)
    assert run_report(warehouse, "low_confidence_products", {"margin": "0.02"}).empty
    assert run_report(warehouse, "low_confidence_products", {"task": "color"}).empty


def test_the_chart_and_table_show_each_attribute(warehouse, tmp_path):
    shares = run_report(warehouse, "attribute_share", {"task": "pattern"})
    table = share_table(shares)
    assert list(table.index) == ["2026-01", "2026-02"]
    assert table.loc["2026-02", "Stripes"] == 50.0
    out = plot_shares(shares, "Pattern share", tmp_path / "reports" / "chart.png")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 600
    with pytest.raises(FashionError, match="no scored products"):
        plot_shares(shares.iloc[0:0], "empty", tmp_path / "empty.png")


def test_an_empty_or_foreign_database_is_refused(tmp_path):
    with connect(tmp_path / "empty.duckdb") as con:
        with pytest.raises(FashionError, match="the warehouse is empty; run `fashion nightly`"):
            check_warehouse(con, "empty.duckdb", need_products=True)
        assert check_warehouse(con, "empty.duckdb", need_products=False)["products"] == 0
    foreign = duckdb.connect(str(tmp_path / "foreign.duckdb"))
    with pytest.raises(FashionError, match="not a fashion warehouse"):
        check_warehouse(foreign, "foreign.duckdb", need_products=True)
    foreign.close()


def test_an_old_warehouse_upgrades_in_place(tmp_path):
    """A database made before migration 002 gains the analytics tables, filled, on first write."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR "
        "NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    old.execute(read_sql("migrations/001_initial.sql"))
    old.execute("INSERT INTO schema_migrations VALUES (1, '001_initial.sql', now())")
    old.execute("INSERT INTO labels VALUES (?, 'pattern', 'Stripes', 0)", [STRIPES])
    old.execute("INSERT INTO models VALUES ('m1', now(), 'r', 64, 0.9, [0.5], true, 'x', '{}')")
    old.execute("INSERT INTO products (retailer, product_id, price) VALUES ('R', 'a', 12.99)")
    old.execute("INSERT INTO product_images VALUES ('R', 'a', 0, 'u', 'sha-a', 'ok', NULL)")
    old.execute(
        "INSERT INTO scores (image_sha256, model_version, probs) VALUES ('sha-a', 'm1', [0.9])"
    )
    old.execute("INSERT INTO predictions VALUES ('sha-a', 'm1', ?, 0.9)", [STRIPES])
    old.close()
    with connect(path) as con:
        latest = migrations()[-1][0]
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == latest
        assert con.execute(
            "SELECT retailer, product_id, name FROM product_attributes"
        ).fetchall() == [("R", "a", "Stripes")]
        # migration 010: the DOUBLE price became the exact DECIMAL(18,4) it stood for
        assert con.execute("SELECT price, typeof(price) FROM products").fetchall() == [
            (Decimal("12.99"), "DECIMAL(18,4)")
        ]


def test_predicted_shares_are_compared_with_the_truth_per_cell():
    scored = pd.DataFrame(
        {
            "retailer": ["R", "R", "S"],
            "product_id": ["a", "b", "c"],
            "first_seen": ["2026-01-02", "2026-01-20", "2026-01-03"],
        }
    )
    predicted = pd.DataFrame({"product_id": ["a", "b", "c"], "label_id": [RED, RED, FLORAL]})
    truth = pd.DataFrame({"product_id": ["a", "b", "c"], "label_id": [RED, BLUE, FLORAL]})
    errors = share_error_vs_truth(
        predicted, scored, truth, {RED: "color", BLUE: "color", FLORAL: "pattern"}
    )
    # R January: Red 100% predicted vs 50% true, Blue 0% vs 50%; S: Floral exact
    assert errors.loc["color", "mean"] == 50.0 and errors.loc["color", "count"] == 2
    assert errors.loc["pattern", "mean"] == 0.0


def test_truth_micro_f1_only_judges_products_with_predictions():
    predicted = pd.DataFrame({"product_id": ["a", "a", "b"], "label_id": [1, 2, 3]})
    truth = pd.DataFrame({"product_id": ["a", "a", "b", "z"], "label_id": [1, 5, 3, 9]})
    # tp = 2 (a/1, b/3); predicted 3, true 3 among judged products
    assert truth_micro_f1(predicted, truth) == pytest.approx(2 * 2 / 6)


def test_the_biggest_mover_has_one_definition_for_the_report_and_the_web_app():
    """sql/ops/attribute_movers.sql: first third of the periods against the last third, a
    missing period counting as 0%, most moved first; fewer than two periods: no mover."""
    import pandas as pd

    from fashion_model.analytics.reports import attribute_movers

    months = [f"2026-{m:02d}-01" for m in range(1, 7)]
    rows = [(m, "Stripe", 0.0 if i < 4 else 0.6) for i, m in enumerate(months)]
    rows += [(m, "Plain", 0.5) for m in months]
    rows += [(m, "Floral", 0.3) for m in months[:2]]  # gone after February: -30 points
    movers = attribute_movers(pd.DataFrame(rows, columns=["period", "attribute", "share"]))
    assert [m.attribute for m in movers] == ["Stripe", "Floral", "Plain"]
    assert (movers[0].first, movers[0].last, movers[0].periods) == (0.0, 60.0, 2)
    assert movers[1].change == -30.0 and movers[2].change == 0.0
    single = pd.DataFrame([(months[0], "Plain", 1.0)], columns=["period", "attribute", "share"])
    assert attribute_movers(single) == []
