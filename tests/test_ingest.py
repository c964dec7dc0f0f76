import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fashion_model.errors import FashionError
from fashion_model.ingest import store
from fashion_model.ingest.manifest import MANIFEST_SCHEMA, manifest_lock, read_manifest
from fashion_model.ingest.pipeline import ingest_source
from fashion_model.ingest.sources import iter_records, open_source
from fashion_model.labels import default_label_map

from .conftest import LOCAL
from .faults import EXPECTED
from .faults import LOCAL as FAULTS


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
    assert second.requested == first.records - first.statuses["ok"]
    table = read_manifest(tmp_path / "m")
    assert table.num_rows == first.records
    assert len(set(table["source_id"].to_pylist())) == first.records
    leftovers = [p.name for p in tmp_path.glob(".m.*") if not p.name.endswith(".lock")]
    assert leftovers == []  # no journal or old copy left


def test_labels_are_read_and_unknown_ids_counted(catalog_server, tmp_path):
    folder, base_url = catalog_server
    payload = json.loads((folder / "train.json").read_text())
    payload["annotations"][0]["labelId"] += ["9999", payload["annotations"][0]["labelId"][0]]
    source = tmp_path / "train_extra.json"
    source.write_text(json.dumps(payload))
    summary = ingest_source(source, tmp_path / "m", tmp_path / "images", LOCAL)
    assert summary.unknown_labels == 1
    table = read_manifest(tmp_path / "m")
    first_id = str(payload["annotations"][0]["imageId"])
    first = next(r for r in table.to_pylist() if r["source_id"] == first_id)
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
        (tmp_path / "x.xlsx").write_text("")
        open_source(tmp_path / "x.xlsx", label_map)


def test_ids_stay_data_never_paths(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "product_id,image_url,retailer\n../../etc/passwd,http://127.0.0.1:9/y.jpg,R\n"
    )
    ingest_source(catalog, tmp_path / "m", tmp_path / "images", LOCAL)
    row = read_manifest(tmp_path / "m").to_pylist()[0]
    assert row["source_id"] == "../../etc/passwd" and row["status"] == "connection_error"
    assert row["path"] is None
    assert (
        pq.read_schema(next((tmp_path / "m").glob("*.parquet"))).metadata[b"fashion_source_kind"]
        == b"catalog"
    )


def test_parquet_catalogs_read_like_csv(tmp_path):
    import pyarrow as pa

    path = tmp_path / "catalog.parquet"
    pq.write_table(
        pa.table(
            {
                "product_id": ["a", "b"],
                "image_url": ["https://x/1", "https://x/2"],
                "price": [1.5, 2.0],
            }
        ),
        path,
    )
    source = open_source(path, default_label_map())
    records = list(iter_records(source, default_label_map()))
    assert [r.source_id for r in records] == ["a", "b"]
    assert records[0].metadata["price"] == Decimal("1.5")
    assert records[0].metadata["source_columns"] == "{}"


def _catalog(path, urls, ids=None):
    lines = ["product_id,image_url,retailer"]
    lines += [f"{ids[i] if ids else f'p{i}'},{url},R" for i, url in enumerate(urls)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _journals(manifest_dir):
    return [p for p in manifest_dir.parent.glob(f".{manifest_dir.name}.*") if p.suffix != ".lock"]


def test_every_fault_is_one_manifest_row_with_its_status(faulty_server, tmp_path):
    base = faulty_server[0]
    urls = [f"{base}/{name}" for name in EXPECTED]
    catalog = _catalog(tmp_path / "faults.csv", [*urls, "ftp://example.com/x.jpg", "nope", ""])
    summary = ingest_source(catalog, tmp_path / "m", tmp_path / "images", FAULTS)
    rows = read_manifest(tmp_path / "m").to_pylist()
    assert len(rows) == summary.records == len(urls)
    by_url = {row["url"]: row for row in rows}
    assert len(by_url) == len(urls)
    for name, status in EXPECTED.items():
        assert by_url[f"{base}/{name}"]["status"] == status, name
    # an item without a usable image URL is no record but a feed problem, counted once, under
    # its first reason
    problems = summary.feed["unparsed_values"]
    assert problems["image_url (not http/https)"]["count"] == 2  # ftp://..., nope
    assert problems["image_url (missing)"]["count"] == 1  # the empty one
    assert summary.statuses["ok"] == list(EXPECTED.values()).count("ok") == summary.downloaded
    assert sum(summary.statuses.values()) == len(urls) == summary.requested
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")]
    assert not _journals(tmp_path / "m")


def test_retry_failed_tries_only_the_retryable_failures(faulty_server, tmp_path):
    base, hits = faulty_server[:2]
    names = ["ok.jpg", "once-500-retry.jpg", "missing-retry.jpg", "noai.jpg"]
    catalog = _catalog(tmp_path / "c.csv", [f"{base}/{n}" for n in names])
    once = FAULTS.replace(retries=0)  # the recovering server stays failed in the first run
    first = ingest_source(catalog, tmp_path / "m", tmp_path / "images", once)
    assert first.statuses == {"disallowed": 1, "http_error": 2, "ok": 1}
    before = Counter(hits)
    plain = ingest_source(catalog, tmp_path / "m", tmp_path / "images", once)
    assert plain.requested == 0 and plain.skipped_done == 1 and plain.kept_failed == 3
    assert Counter(hits) == before, "a plain rerun requests nothing that was recorded"
    again = ingest_source(catalog, tmp_path / "m", tmp_path / "images", once, retry_failed=True)
    assert again.retried_failed == again.requested == again.downloaded == 1  # only the 500
    assert hits["once-500-retry.jpg"] == 2 and hits["missing-retry.jpg"] == 1
    assert again.statuses == {"disallowed": 1, "http_error": 1, "ok": 2}
    # a new record is picked up; the manifest is updated, never duplicated
    _catalog(tmp_path / "c.csv", [f"{base}/{n}" for n in [*names, "cmyk.jpg"]])
    grown = ingest_source(catalog, tmp_path / "m", tmp_path / "images", once)
    assert grown.requested == 1 and grown.records == 5
    table = read_manifest(tmp_path / "m")
    assert table.num_rows == 5 == len(set(table["url"].to_pylist()))


def test_a_second_writer_of_the_same_manifest_is_refused(tmp_path):
    catalog = _catalog(tmp_path / "c.csv", ["http://127.0.0.1:9/y.jpg"])
    held = pytest.raises(FashionError, match=r"manifest 'm' is being written by PID \d+")
    with manifest_lock(tmp_path / "m"), held:
        ingest_source(catalog, tmp_path / "m", tmp_path / "images", FAULTS)
    ingest_source(catalog, tmp_path / "m", tmp_path / "images", FAULTS)  # free again


KILL_SCRIPT = """
import sys
from pathlib import Path
from fashion_model.ingest.pipeline import ingest_source
from tests.faults import LOCAL
catalog, manifest, images = map(Path, sys.argv[1:4])
config = LOCAL.replace(concurrency=4, per_host=4)
ingest_source(catalog, manifest, images, config, part_rows=25)
"""


def _start_until_parts(catalog, tmp_path, name: str, script: str, wanted: int):
    """Run an ingest of `catalog` in a subprocess until its journal holds `wanted` parts (or it
    ends, or 60 s pass): (manifest, the process, the parts)."""
    manifest = tmp_path / "manifests" / name
    process = subprocess.Popen(
        [sys.executable, "-c", script, catalog, manifest, tmp_path / "images"],
        cwd=Path(__file__).parent.parent,
    )
    deadline = time.monotonic() + 60
    parts = []
    while time.monotonic() < deadline and process.poll() is None and len(parts) < wanted:
        parts = sorted(manifest.parent.glob(f".{name}.journal-*/part-*.parquet"))
        time.sleep(0.02)
    return manifest, process, parts


@pytest.mark.slow
def test_a_killed_download_resumes_with_no_duplicate_and_no_lost_row(faulty_server, tmp_path):
    base, hits = faulty_server[:2]
    count = 400
    urls = [f"{base}/item-{n}.jpg" for n in range(count)]
    catalog = _catalog(tmp_path / "items.csv", urls, ids=[f"id-{n}" for n in range(count)])
    manifest, process, _ = _start_until_parts(catalog, tmp_path, "items", KILL_SCRIPT, 3)
    assert process.poll() is None, "the downloader finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not manifest.exists(), "nothing is committed until the run completes"
    requested = sum(hits[f"item-{n}.jpg"] for n in range(count))
    assert 75 <= requested < count
    # SIGKILL may land while an image is half-written; plant one such file to be sure.
    planted = tmp_path / "images" / "00" / f".tmp-{process.pid}-{store.HOST}-abcd_123.jpg"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"\xff\xd8 half")
    running = planted.with_name(f".tmp-{os.getpid()}-{store.HOST}-efgh_456.jpg")
    running.write_bytes(b"\xff\xd8 being written")

    summary = ingest_source(catalog, manifest, tmp_path / "images", LOCAL)
    table = read_manifest(manifest)
    assert table.num_rows == count
    assert sorted(table["source_id"].to_pylist()) == sorted(f"id-{n}" for n in range(count))
    assert set(table["status"].to_pylist()) == {"ok"}
    assert summary.resumed_rows >= 75
    assert summary.skipped_done == summary.resumed_rows
    assert summary.requested == count - summary.resumed_rows
    assert not _journals(manifest)
    # What the killed writer left is stale (for `fashion gc`); the resumed run left none.
    leftovers = [p for p in tmp_path.rglob(".tmp*") if p != running]
    assert planted in leftovers
    assert all(store.is_stale_temp(p) and f"-{process.pid}-" in p.name for p in leftovers)
    assert not store.is_stale_temp(running), "a live writer's temp file is not garbage"
    assert store.is_stale_temp(running, now=time.time() + store.STALE_AFTER_S + 1)


def test_json_annotations_join_in_any_order(tmp_path):
    label_map = default_label_map()
    payload = {
        "images": [{"url": f"http://x/{i}.jpg", "imageId": str(i)} for i in (1, 2, 3)],
        "annotations": [
            {"imageId": "3", "labelId": ["62"]},
            {"imageId": "1", "labelId": ["17", "17", "66"]},
        ],
    }
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(payload))
    records = list(iter_records(open_source(path, label_map), label_map))
    assert [(r.source_id, r.labels) for r in records] == [("1", [17, 66]), ("2", []), ("3", [62])]
    payload.pop("annotations")
    path.write_text(json.dumps(payload))
    source = open_source(path, label_map)
    assert source.split == "validation" and not source.labelled
    assert [r.labels for r in iter_records(source, label_map)] == [None, None, None]


SLOW_SCRIPT = """
import sys
from pathlib import Path
from fashion_model.ingest.pipeline import ingest_source
from tests.faults import LOCAL
catalog, manifest, images = map(Path, sys.argv[1:4])
config = LOCAL.replace(allow_networks=("127.0.0.2/32",), per_host=1, retries=0,
                       read_timeout=0.3, total_timeout=0.3, circuit_failures=1000)
ingest_source(catalog, manifest, images, config)
"""


@pytest.mark.slow
def test_a_run_whose_outcomes_come_slowly_keeps_them_when_killed(tmp_path):
    """Outcomes a few a second (a host that never answers, one URL at a time): the journal
    gets a part every few seconds, not only every CHUNK rows, so SIGKILL loses only the last
    seconds; the next run keeps those rows and records the rest, none twice."""
    import socket

    hole = socket.socket()
    hole.bind(("127.0.0.2", 0))
    hole.listen(1024)
    count = 200
    urls = [f"http://127.0.0.2:{hole.getsockname()[1]}/{n}.jpg" for n in range(count)]
    manifest, process, parts = _start_until_parts(
        _catalog(tmp_path / "slow.csv", urls, ids=[f"id-{n}" for n in range(count)]),
        tmp_path,
        "slow",
        SLOW_SCRIPT,
        2,
    )
    catalog = tmp_path / "slow.csv"
    assert process.poll() is None and len(parts) >= 2, "no time-flushed parts while running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    assert 0 < kept < count
    config = FAULTS.replace(
        allow_networks=("127.0.0.2/32",), read_timeout=0.3, total_timeout=0.3, retries=0
    )
    summary = ingest_source(catalog, manifest, tmp_path / "images", config)
    table = read_manifest(manifest)
    assert sorted(table["source_id"].to_pylist()) == sorted(f"id-{n}" for n in range(count))
    assert summary.resumed_rows >= kept and summary.kept_failed >= kept
    assert set(table["status"].to_pylist()) <= {"timeout", "host_unreachable"}
    hole.close()
