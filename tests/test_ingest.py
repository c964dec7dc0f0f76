import json

import pyarrow.parquet as pq
import pytest

from fashion_model.errors import FashionError
from fashion_model.ingest import ingest_source
from fashion_model.labels import default_label_map
from fashion_model.manifest import MANIFEST_SCHEMA, read_manifest
from fashion_model.sources import iter_records, open_source

from .conftest import LOCAL


def test_a_catalog_becomes_one_manifest_row_per_record(catalog_server, tmp_path):
    folder, _ = catalog_server
    summary = ingest_source(folder / "catalog.csv", tmp_path / "m", tmp_path / "images", LOCAL)
    table = read_manifest(tmp_path / "m")
    with (folder / "catalog.csv").open() as handle:
        assert table.num_rows == sum(1 for _ in handle) - 1 == summary.records
    assert table.schema.names[: len(MANIFEST_SCHEMA)] == MANIFEST_SCHEMA.names
    assert {"brand", "retailer", "first_seen", "price"} <= set(table.schema.names)
    statuses = table.column("status").to_pylist()
    assert summary.statuses == {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count("ok") > 0
    missing = len(list((folder / "images" / "catalog").glob("*.jpg")))
    assert statuses.count("ok") == missing  # dead links are recorded, not dropped
    assert all(p is None or (tmp_path / "images" / p).is_file() for p in table["path"].to_pylist())


def test_a_rerun_skips_what_is_done_and_never_duplicates(catalog_server, tmp_path):
    folder, _ = catalog_server
    first = ingest_source(folder / "train.json", tmp_path / "m", tmp_path / "images", LOCAL)
    second = ingest_source(folder / "train.json", tmp_path / "m", tmp_path / "images", LOCAL)
    assert second.skipped_done == first.statuses["ok"]
    assert second.downloaded == first.records - first.statuses["ok"]
    table = read_manifest(tmp_path / "m")
    assert table.num_rows == first.records
    assert len(set(table["source_id"].to_pylist())) == first.records
    assert len(list((tmp_path).glob(".m.*"))) == 0  # no staging folders left


def test_labels_are_read_and_unknown_ids_counted(catalog_server, tmp_path):
    folder, base_url = catalog_server
    payload = json.loads((folder / "train.json").read_text())
    payload["annotations"][0]["labelId"] += ["9999", payload["annotations"][0]["labelId"][0]]
    source = tmp_path / "train_extra.json"
    source.write_text(json.dumps(payload))
    summary = ingest_source(source, tmp_path / "m", tmp_path / "images", LOCAL)
    assert summary.unknown_labels == 1
    table = read_manifest(tmp_path / "m")
    first = table.slice(0, 1).to_pylist()[0]
    assert first["unknown_labels"] == ["9999"]
    assert first["labels"] == sorted({int(i) for i in payload["annotations"][0]["labelId"][:-2]})
    assert first["split"] == "train"
    with pytest.raises(FashionError, match="train_extra.json: 1 label id"):
        ingest_source(source, tmp_path / "strict", tmp_path / "images", LOCAL, strict=True)
    assert not (tmp_path / "strict").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"annotations": []}', "expected an object with an 'images' list"),
        ('{"images": [{"url": "http://x/1.jpg"}]}', r"images\[0\] needs 'imageId' and 'url'"),
        (
            '{"images": [], "annotations": [{"imageId": "1", "labelId": "62"}]}',
            r"annotations\[0\].labelId must be a list",
        ),
    ],
)
def test_a_malformed_json_source_names_the_file(tmp_path, content, message):
    source = tmp_path / "broken.json"
    source.write_text(content)
    with pytest.raises(FashionError, match=f"broken.json: {message}"):
        ingest_source(source, tmp_path / "m", tmp_path / "images", LOCAL)
    assert not (tmp_path / "m").exists()


def test_catalog_problems_name_the_file(tmp_path):
    label_map = default_label_map()
    with pytest.raises(FashionError, match="nope.csv: source file not found"):
        open_source(tmp_path / "nope.csv", label_map)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,url\n1,http://x\n")
    with pytest.raises(FashionError, match="bad.csv: catalog lacks column.*product_id, image_url"):
        open_source(bad, label_map)
    with pytest.raises(FashionError, match="unsupported source type"):
        (tmp_path / "x.txt").write_text("")
        open_source(tmp_path / "x.txt", label_map)


def test_ids_stay_data_never_paths(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("product_id,image_url,retailer\n../../etc/passwd,ftp://x/y.jpg,R\n")
    ingest_source(catalog, tmp_path / "m", tmp_path / "images", LOCAL)
    row = read_manifest(tmp_path / "m").to_pylist()[0]
    assert row["source_id"] == "../../etc/passwd" and row["status"] == "bad_url"
    assert row["path"] is None
    assert (
        pq.read_schema(next((tmp_path / "m").glob("*.parquet"))).metadata[b"fashion_source_kind"]
        == b"catalog"
    )


def test_parquet_catalogs_read_like_csv(tmp_path):
    import pyarrow as pa

    path = tmp_path / "catalog.parquet"
    pq.write_table(
        pa.table({"product_id": ["a", "b"], "image_url": ["u1", "u2"], "price": [1.5, 2.0]}), path
    )
    source = open_source(path, default_label_map())
    records = list(iter_records(source, default_label_map()))
    assert [r.source_id for r in records] == ["a", "b"]
    assert records[0].metadata == {"price": "1.5"}
