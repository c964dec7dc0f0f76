"""The command line: --help everywhere, and bad input as one clear line with exit code 2."""

import inspect
import json
import subprocess

import pytest
import typer
from typer.testing import CliRunner

from fashion_model.flows.cli import app

from .commands import FASHION


def _command_tree() -> list[tuple[list[str], object]]:
    """Every command and group of the real `fashion` CLI, found by walking it."""
    found, todo = [], [([], typer.main.get_command(app))]
    while todo:
        path, command = todo.pop()
        found.append((path, command))
        todo += [([*path, name], sub) for name, sub in getattr(command, "commands", {}).items()]
    return sorted(found, key=lambda item: item[0])


COMMAND_TREE = _command_tree()


def test_the_tree_walk_finds_the_commands_a_user_knows():
    names = {" ".join(path) for path, _ in COMMAND_TREE}
    assert {"ingest", "score", "nightly", "review export", "model import", "serve"} <= names
    assert len(names) > 25


@pytest.mark.parametrize(
    "command", [p for p, _ in COMMAND_TREE], ids=lambda c: " ".join(c) or "fashion"
)
def test_every_command_has_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and "--help" in result.output


def test_every_config_knob_on_the_command_line_is_its_configs_default_and_help():
    """Options made by `knob` are checked against the config field they come from: the
    default, and the help text. The knobs are read off the commands' own signatures."""
    checked = set()
    for path, command in COMMAND_TREE:
        function = getattr(command.callback, "__wrapped__", None)
        if function is None:
            continue
        options = {param.name: param for param in command.params}
        for name, parameter in inspect.signature(function).parameters.items():
            config, field = getattr(parameter.default, "knob", (None, None))
            if config is None:
                continue
            info = config.model_fields[field]
            option = options[name]
            if info.is_required():  # no default anywhere: the option must be given
                assert option.required, (path, name)
                default = option.default
            else:
                default = info.get_default(call_default_factory=True)
            if default is True:  # a switch on by default can be turned off: --no-colors
                assert option.secondary_opts, (path, name)
            shown = option.default if option.default is not None else None
            assert shown == default or str(shown) == str(default), (path, name, shown, default)
            expected = " ".join((info.description or "").split()).rstrip(".").lower()
            shown_help = " ".join(option.help.split()).rstrip(".").lower()
            assert expected and shown_help == expected, (path, name, option.help)
            checked.add((config.__name__, field))
    # the stage configs' knobs reach the command line: every field a user sets from the CLI
    assert {
        ("DownloadConfig", "concurrency"),
        ("ScoreConfig", "batch_size"),
        ("TrainConfig", "epochs"),
        ("NightlyConfig", "stage_timeout_minutes"),
        ("FeedConfig", "date_order"),
        ("ScaleOut", "task_runner"),
        ("DemoConfig", "epochs"),
    } <= checked
    assert len(checked) >= 40


def _fashion(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FASHION, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "{tmp}/missing.json"], "missing.json: source file not found"),
        (["ingest", "{tmp}/broken.json"], "broken.json: not valid JSON"),
        (["ingest", "{tmp}/catalog.csv", "--split", "holdout"], "--split 'holdout' is not one of"),
        (
            ["ingest", "{tmp}/catalog.csv", "--jpeg-quality", "0"],
            "--jpeg-quality 0: must be at least 1",
        ),
        (
            ["ingest", "{tmp}/catalog.csv", "--per-host-rate", "-1"],
            "--per-host-rate -1.0: must be 0 or more",
        ),
        (["ingest", "{tmp}/bad_row.csv"], "bad_row.csv:3: empty product_id"),
        (
            ["ingest", "{tmp}/catalog.csv", "--task-runner", "spark"],
            "--task-runner spark: is not one of 'default', 'dask'",
        ),
        (["ingest", "{tmp}/catalog.csv", "--dask-workers", "2"], "needs task runner 'dask'"),
        (
            ["ingest", "{tmp}/catalog.csv", "--task-runner", "dask", "--dask-workers", "0"],
            "--dask-workers 0: must be at least 1",
        ),
        (["score", "--home", "{tmp}"], "no production model in"),
        (["review", "push", "--image-base", "ftp://x"], "--image-base 'ftp://x': give the http(s)"),
        (
            ["review", "pull", "--home", "{tmp}", "--url", "http://127.0.0.1:9"],
            "no Label Studio key: pass --api-key or set LABEL_STUDIO_API_KEY",
        ),
        (["train", "--home", "{tmp}", "--manifest", "nope"], "manifest 'nope' not found"),
        (
            ["report", "--home", "{tmp}", "--task", "fabric"],
            "--task fabric: is not one of category, color",
        ),
        (["catalog", "synth", "--out", "{tmp}/full"], "not empty"),
        (["demo", "--products", "0"], "--products 0: must be at least 1"),
        (["demo", "--home", "{tmp}/full/.."], "is not a demo catalog"),
        (
            ["nightly", "{tmp}/catalog.csv"],
            "no retailer (no retailer column, or empty values); pass --retailer",
        ),
        (
            [
                "nightly",
                "{tmp}/catalog.csv",
                "{tmp}/bad_row.csv",
                "--retailer",
                "A",
                "--retailer",
                "B",
                "--retailer",
                "C",
            ],
            "--retailer given 3 times for 2 feeds",
        ),
        (
            [
                "nightly",
                "{tmp}/catalog.csv",
                "{tmp}/missing.tsv",
                "--retailer",
                "A",
                "--retailer",
                "B",
            ],
            "missing.tsv: feed file not found",
        ),
        (
            [
                "nightly",
                "{tmp}/catalog.csv",
                "{tmp}/catalog.csv",
                "--retailer",
                "A",
                "--retailer",
                "A",
                "--home",
                "{tmp}",
            ],
            "two feeds would share the manifest name 'catalog-a'",
        ),
        (
            [
                "nightly",
                "{tmp}/catalog.csv",
                "{tmp}/bad_row.csv",
                "--retailer",
                "A",
                "--retailer",
                "B",
                "--home",
                "{tmp}",
            ],
            "no production model",
        ),
        (["nightly", "{tmp}/feeds.yaml"], "feeds.yaml: feed 1.retailer=5: "),
        (["model", "import", "{tmp}/w.pt", "--kind", "keras"], "--kind keras: is not one of"),
        (
            ["model", "import", "{tmp}/w.pt", "--kind", "onnx", "--mean", "0.5,0.5"],
            "--mean 0.5,0.5: give three numbers, one per RGB channel",
        ),
        (
            ["model", "import", "{tmp}/w.pt", "--kind", "onnx", "--threshold", "1.5"],
            "--threshold 1.5: must be below 1",
        ),
        (["ingest", "{tmp}/catalog.csv", "--map", "sku"], "--map 'sku': write FIELD=COLUMN"),
        (["ingest", "{tmp}/catalog.csv", "--map", "colour=c"], "'colour' is not a catalog field"),
        (["ingest", "{tmp}/catalog.csv", "--currency", "EURO"], "three-letter currency code"),
        (["ingest", "{tmp}/catalog.csv", "--format", "csv"], "--format csv: is not one of"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(tmp_path, args, message):
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "catalog.csv").write_text("product_id,image_url\na,http://x/a.jpg\n")
    (tmp_path / "bad_row.csv").write_text("product_id,image_url\na,http://x/a.jpg\n,http://x/b\n")
    (tmp_path / "feeds.yaml").write_text("feeds:\n  - source: catalog.csv\n    retailer: 5\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("x")
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "mine.csv").write_text("precious")
    result = _fashion(*[a.format(tmp=tmp_path) for a in args], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert (tmp_path / "full" / "keep").read_text() == "x"
    assert (tmp_path / "catalog" / "mine.csv").read_text() == "precious"


def test_an_unknown_model_version_is_refused_up_front(trained_home):
    result = _fashion("score", "--home", str(trained_home), "--model", "v-nope")
    assert result.returncode == 2
    assert "unknown model version 'v-nope'" in result.stderr


def test_catalog_synth_writes_the_named_files(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "catalog",
            "synth",
            "--out",
            str(tmp_path / "c"),
            "--products",
            "3",
            "--train-images",
            "2",
            "--validation-images",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"train.json", "validation.json", "catalog.csv", "truth.csv", "images"} <= names


def test_score_asks_for_a_retailer_before_any_work(trained_home, tmp_path):
    from fashion_model.config import DownloadConfig
    from fashion_model.ingest.pipeline import ingest_source

    catalog = tmp_path / "ours.csv"
    catalog.write_text("product_id,image_url\np1,http://127.0.0.1:9/y.jpg\n")
    ingest_source(catalog, tmp_path / "manifests" / "ours", tmp_path / "images", DownloadConfig())
    (tmp_path / "models").symlink_to(trained_home / "models")
    result = _fashion("score", "--home", str(tmp_path), "--manifest", "ours")
    assert result.returncode == 2
    assert (
        "no retailer (no retailer column, or empty values); pass --retailer NAME" in result.stderr
    )
    assert not (tmp_path / "fashion.duckdb").exists()


def test_sql_lists_and_runs_queries_read_only(tmp_path):
    from fashion_model.warehouse.db import connect

    with connect(tmp_path / "fashion.duckdb") as con:
        con.execute("INSERT INTO products (retailer, product_id) VALUES ('R', 'p1')")
        con.execute(
            "INSERT INTO product_images VALUES ('R', 'p1', 0, 'u', NULL, 'http_error', 'x')"
        )
    listing = _fashion("sql", "--list")
    assert listing.returncode == 0
    assert "trending_attributes:" in listing.stdout and "--param min_support" in listing.stdout
    out = tmp_path / "outcomes.json"
    result = _fashion(
        "sql", "download_outcomes", "--home", str(tmp_path), "--format", "json", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == [
        {"retailer": "R", "image_status": "http_error", "images": 1, "products": 1}
    ]
    bad = _fashion("sql", "download_outcomes", "--home", str(tmp_path), "--format", "xml")
    assert bad.returncode == 2 and "--format 'xml' is not one of" in bad.stderr
    own = tmp_path / "mine.sql"
    own.write_text("SELECT count(*) AS n FROM products WHERE retailer = $r")
    mine = _fashion("sql", str(own), "--home", str(tmp_path), "--param", "r=R", "--format", "csv")
    assert mine.returncode == 0 and mine.stdout.splitlines() == ["n", "1"]


def _one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in " ".join(result.stderr.split())


def test_sql_bad_input_changes_nothing(tmp_path):
    from fashion_model.warehouse.db import connect

    empty = _fashion("sql", "download_outcomes", "--home", str(tmp_path / "none"))
    _one_line_error(empty, "database not found")
    with connect(tmp_path / "fashion.duckdb"):
        pass
    home = ["--home", str(tmp_path)]
    _one_line_error(_fashion("sql", "download_outcomes", *home), "the warehouse is empty")
    with connect(tmp_path / "fashion.duckdb") as con:
        con.execute("INSERT INTO products (retailer, product_id) VALUES ('R', 'p1')")
    cases = [
        (["sql", "nope", *home], "unknown report 'nope' (shipped: assortment_as_of,"),
        (["sql", "trending_attributes", *home], "parameter(s) task required"),
        (
            ["sql", "trending_attributes", *home, "--param", "task=color", "--param", "tsk=x"],
            "unknown parameter(s) tsk",
        ),
        (
            [
                "sql",
                "delistings",
                *home,
                "--param",
                "from_date=yesterday",
                "--param",
                "to_date=2026-01-01",
            ],
            "parameter from_date='yesterday' is not a date",
        ),
        (
            [
                "sql",
                "attribute_share",
                *home,
                "--param",
                "task=color",
                "--param",
                "retailer=x'; DROP TABLE products; --",
                "--param",
                "by=day",
            ],
            "parameter by='day' is not one of month, week",
        ),
        (["trends", *home, "--task", "colour"], "parameter task='colour' is not one of"),
        (["sql", str(tmp_path / "missing.sql"), *home], "missing.sql: SQL file not found"),
    ]
    for args, message in cases:
        _one_line_error(_fashion(*args), message)
    injected = _fashion(
        "sql",
        "attribute_share",
        *home,
        "--param",
        "task=color",
        "--param",
        "retailer=x'; DROP TABLE products; --",
        "--format",
        "csv",
    )
    assert injected.returncode == 0, injected.stderr
    with connect(tmp_path / "fashion.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM products").fetchone()[0] == 1


def test_score_without_manifest_scores_every_catalog_with_new_images_then_nothing(
    trained_home, catalog_server, tmp_path
):
    """The README's order on a home of per-retailer manifests: `fashion score --home H` alone."""
    import duckdb

    from fashion_model.config import DownloadConfig
    from fashion_model.ingest.pipeline import ingest_source

    folder, _ = catalog_server
    local = DownloadConfig(allow_private=True, per_host_rate=0)
    for name, source in (
        ("catalog-a", "catalog.csv"),
        ("catalog-b", "catalog.csv"),
        ("train", "train.json"),
    ):
        ingest_source(folder / source, tmp_path / "manifests" / name, tmp_path / "images", local)
    (tmp_path / "models").symlink_to(trained_home / "models")

    first = _fashion("score", "--home", str(tmp_path), "--as-of", "2026-11-27")
    assert first.returncode == 0, first.stderr
    assert "with images not yet scored" in first.stderr
    assert (
        "catalog-a, catalog-b" in first.stderr and "train" not in first.stderr.split("by model")[1]
    )
    with duckdb.connect(str(tmp_path / "fashion.duckdb"), read_only=True) as con:
        scored = con.execute("SELECT count(*) FROM scores").fetchone()[0]
        runs = con.execute("SELECT count(*) FROM product_observations").fetchone()[0]
    assert scored > 0 and runs > 0

    again = _fashion("score", "--home", str(tmp_path), "--as-of", "2026-11-27")
    assert again.returncode == 0, again.stderr
    assert "nothing to score" in again.stderr
    with duckdb.connect(str(tmp_path / "fashion.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone()[0] == scored
        assert con.execute("SELECT count(*) FROM product_observations").fetchone()[0] == runs


def test_ingest_prints_feed_values_as_written_and_bad_input_leaves_no_home(
    catalog_server, tmp_path
):
    """A feed value that looks like console markup is printed as it is, the item whose only
    image URL is not http(s) is counted once, and a missing source creates no home folder."""
    import csv

    folder, _ = catalog_server
    rows = list(csv.DictReader((folder / "catalog.csv").open()))[:4]
    rows[0]["price"] = "[/red] n/a"
    rows[1]["image_url"] = "ftp://example.com/x.jpg"
    feed = tmp_path / "mine.csv"
    with feed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    home = tmp_path / "home"
    result = subprocess.run(
        [*FASHION, "ingest", str(feed), "--home", str(home), "--allow-private"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "e.g. '[/red] n/a': no number" in result.stderr
    assert "1 image_url (not http/https) value(s)" in result.stderr
    assert "image_url (missing)" not in result.stderr
    missing = subprocess.run(
        [*FASHION, "ingest", str(tmp_path / "nope.csv"), "--home", str(tmp_path / "h2")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    assert not (tmp_path / "h2").exists()
