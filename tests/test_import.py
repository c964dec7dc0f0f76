"""Imported models: the reference project's checkpoint layout, its ONNX export and torchvision
state dicts, fabricated here with fixed random weights and read by the real loading code."""

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet34, resnet50

from fashion_model.errors import FashionError
from fashion_model.ingest.manifest import read_manifest
from fashion_model.labels import default_label_map
from fashion_model.match.index import update_index
from fashion_model.match.similar import image_query, logits_of, product_query, search_similar
from fashion_model.model.import_options import ImportOptions
from fashion_model.model.import_readers import REFERENCE_MEAN, REFERENCE_STD, reference_checkpoint
from fashion_model.model.imports import import_model
from fashion_model.model.registry import (
    apply_production_rule,
    load_card,
    production_version,
    set_production,
)
from fashion_model.model.tune import tune_version
from fashion_model.score.images import score_images
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect, refresh_analytics

from .commands import FASHION

LABELS = default_label_map()
N = len(LABELS)


def calibrated(build, seed: int) -> torch.nn.Module:
    """A torchvision ResNet with fixed random weights whose outputs are spread (batch-norm
    statistics from noise, a small head), so probabilities are far from 0 and 1."""
    torch.manual_seed(seed)
    net = build(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, N)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a cumulative average over the calibration batches
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(4, 3, 64, 64))
        net.fc.weight.mul_(0.02)  # logits of a few units on the catalog's photos
    return net.eval()


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    """The reference project's two released forms: a Lightning checkpoint and its ONNX export."""
    folder = tmp_path_factory.mktemp("reference")
    net = calibrated(resnet50, seed=3)
    ckpt = folder / "epoch=03-avg_f1_score=0.54.ckpt"
    torch.save(reference_checkpoint(net, N), ckpt)
    onnx_file = folder / "attr_pred.onnx"
    with torch.no_grad():
        torch.onnx.export(
            net,
            (torch.randn(1, 3, 512, 512),),
            str(onnx_file),
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True,
            verbose=False,
        )
    return net, ckpt, onnx_file


@pytest.fixture()
def home(trained_home, tmp_path):
    """A copy of the trained home (images, manifests, its production model) to import into."""
    copy = tmp_path / "home"
    shutil.copytree(trained_home, copy)
    return copy


def reference_probabilities(net, paths: list[str]) -> np.ndarray:
    """The reference project's own inference: PIL, Resize((512, 512)), ToTensor, Normalize."""
    pre = transforms.Compose(
        [
            transforms.Resize((512, 512)),
            transforms.ToTensor(),
            transforms.Normalize(REFERENCE_MEAN, REFERENCE_STD),
        ]
    )
    batch = torch.stack([pre(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        return torch.sigmoid(net(batch)).numpy()


def scored(home: Path, version: str, db: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Score the catalog with `version` into `db`: sha256 -> (probabilities, embedding)."""
    with connect(db) as con:
        load_catalog(con, home / "manifests" / "catalog", date(2026, 11, 1))
        summary = score_images(
            con,
            [home / "manifests" / "catalog"],
            home / "images",
            home / "models",
            version,
            num_workers=0,
        )
        assert summary.scored > 0
        rows = con.execute(
            "SELECT s.image_sha256, s.probs, e.embedding FROM scores s JOIN embeddings e "
            "USING (image_sha256, model_version) WHERE model_version = ?",
            [version],
        ).fetchall()
    return {sha: (np.asarray(p, np.float32), np.asarray(e, np.float32)) for sha, p, e in rows}


def catalog_images(home: Path, limit: int = 6) -> list[tuple[str, str, str]]:
    """(sha256, stored path, product id) of the first downloaded catalog images."""
    table = read_manifest(home / "manifests" / "catalog")
    rows = [r for r in table.to_pylist() if r["status"] == "ok"]
    return [(r["sha256"], str(home / "images" / r["path"]), r["source_id"]) for r in rows][:limit]


@pytest.mark.slow  # tens of seconds: `make test` runs it, test-fast leaves it out
def test_reference_checkpoint_scores_as_the_reference_does(home, reference_files, tmp_path):
    net, ckpt, _ = reference_files
    result = import_model(home / "models", ckpt, ImportOptions(kind="reference-ckpt", name="ref"))
    card = load_card(home / "models", "ref")
    assert (card.arch, card.image_size, card.resize, card.embedding_dim) == (
        "resnet50",
        512,
        "squash",
        2048,
    )
    assert card.mean == list(REFERENCE_MEAN) and card.std == list(REFERENCE_STD)
    assert card.threshold == 0.5  # prediction_threshold 0.0 on logits
    assert card.source["kind"] == "reference-ckpt" and len(card.source["sha256"]) == 64
    assert card.label_ids == LABELS.ids
    assert result["production"] != "ref"  # the trained model stays production

    db = tmp_path / "w.duckdb"
    rows = scored(home, "ref", db)
    images = catalog_images(home)
    want = reference_probabilities(net, [path for _, path, _ in images])
    got = np.stack([rows[sha][0] for sha, _, _ in images])
    assert np.abs(got - want).max() < 1e-4
    saturated = ((want < 1e-3) | (want > 1 - 1e-3)).mean()
    assert saturated < 0.2 and want.std() > 0.1  # the comparison means something
    assert {len(vector) for _, vector in rows.values()} == {2048}

    set_production(home / "models", "ref")
    with connect(db) as con:
        score_images(
            con, [home / "manifests" / "catalog"], home / "images", home / "models", num_workers=0
        )
        refresh_analytics(con)
        update_index(con, db)
        sha, path, product_id = images[1]
        query = image_query(con, home / "models", path, "ref", False, tmp_path / "scratch")
        assert query.vector.shape == (2048,)
        found = search_similar(con, db, query, "ref", k=3)
        assert found.method == "index"
        assert found.frame.iloc[0]["product_id"] == product_id
        assert found.frame.iloc[0]["similarity"] > 0.999
        by_logits = search_similar(con, db, query, "ref", k=3, space="logits")
        assert by_logits.method == "exact"
        assert by_logits.frame.iloc[0]["product_id"] == product_id
        stored = logits_of(rows[sha][0])
        want = float(np.linalg.norm(stored - query.logits))
        assert abs(by_logits.frame.iloc[0]["distance"] - want) < 1e-3
        assert (by_logits.frame["distance"].diff().dropna() >= 0).all()
        other = product_query(con, "ref", images[2][2], None)
        assert other.logits is not None and other.logits.shape == (N,)


@pytest.mark.slow  # tens of seconds: `make test` runs it, test-fast leaves it out
def test_reference_onnx_export_scores_the_same(home, reference_files, tmp_path):
    net, _, onnx_file = reference_files
    options = ImportOptions(kind="onnx", name="ref-onnx", mean=REFERENCE_MEAN, std=REFERENCE_STD)
    import_model(home / "models", onnx_file, options)
    card = load_card(home / "models", "ref-onnx")
    assert card.runtime == "onnx" and card.image_size == 512
    assert card.embedding_source == "pooled" and card.embedding_dim == 2048
    assert card.onnx["input"] == "input" and card.onnx["scores"] == "output"
    rows = scored(home, "ref-onnx", tmp_path / "w.duckdb")
    images = catalog_images(home)
    want = reference_probabilities(net, [path for _, path, _ in images])
    assert np.abs(np.stack([rows[sha][0] for sha, _, _ in images]) - want).max() < 1e-4
    # its embeddings are the pooled features, as the PyTorch path gives them
    pre = transforms.Compose(
        [
            transforms.Resize((512, 512)),
            transforms.ToTensor(),
            transforms.Normalize(REFERENCE_MEAN, REFERENCE_STD),
        ]
    )
    with torch.inference_mode():
        trunk = torch.nn.Sequential(*list(net.children())[:-1])
        features = trunk(pre(Image.open(images[0][1]).convert("RGB"))[None]).flatten(1)
    features = torch.nn.functional.normalize(features, dim=1)[0].numpy()
    assert np.abs(rows[images[0][0]][1] - features).max() < 1e-4
    # the ONNX model's card refuses what only a PyTorch model can do
    with pytest.raises(FashionError, match="ONNX model cannot be fine-tuned"):
        from fashion_model.model.plan import init_card

        init_card(home / "models", "ref-onnx")


def test_torchvision_state_dicts_of_both_architectures(home, tmp_path):
    for build, arch in ((resnet34, "resnet34"), (resnet50, "resnet50")):
        path = tmp_path / f"{arch}.pth"
        torch.save(calibrated(build, seed=1).state_dict(), path)
        import_model(
            home / "models", path, ImportOptions(kind="torchvision", name=arch, image_size=64)
        )
        card = load_card(home / "models", arch)
        assert card.arch == arch and card.image_size == 64
        assert card.embedding_dim == {"resnet34": 512, "resnet50": 2048}[arch]
    rows = scored(home, "resnet34", tmp_path / "w.duckdb")
    assert {len(vector) for _, vector in rows.values()} == {512}


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    """What a user might hand over by mistake: (file, --kind, the error it must give)."""

    def save(content, name: str) -> Path:
        torch.save(content, tmp_path / name)
        return tmp_path / name

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo this must never run",))

    net = calibrated(resnet50, seed=2)
    small = resnet50(weights=None)
    small.fc = torch.nn.Linear(2048, 227)
    missing = reference_checkpoint(net)
    del missing["state_dict"]["predictor.layer4.2.bn3.running_var"]
    evil = reference_checkpoint(net)
    evil["callbacks"] = {"x": Payload()}
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    (tmp_path / "junk.ckpt").write_bytes(b"\x00junk")
    plain = save(net.state_dict(), "r50.pth")
    return {
        "227 outputs": (
            save(reference_checkpoint(small, 227), "227.ckpt"),
            "reference-ckpt",
            "227 outputs, the label map has 228",
        ),
        "missing key": (
            save(missing, "missing.ckpt"),
            "reference-ckpt",
            "1 missing and 0 unexpected key.*layer4.2.bn3.running_var",
        ),
        "pickled object": (
            save(evil, "evil.ckpt"),
            "reference-ckpt",
            "pickled objects other than tensors .*system",
        ),
        "wrong arch": (plain, "torchvision", "takes 2048 features, ResNet34"),
        "junk onnx": (tmp_path / "junk.onnx", "onnx", "not a valid ONNX model"),
        "junk ckpt": (tmp_path / "junk.ckpt", "reference-ckpt", "not a PyTorch"),
        "plain dict": (plain, "reference-ckpt", "not a Lightning checkpoint"),
    }


def test_wrong_files_are_refused_with_one_line_and_nothing_written(home, tmp_path):
    before = sorted(os.listdir(home / "models"))
    for what, (path, kind, message) in bad_files(tmp_path).items():
        options = ImportOptions(kind=kind, arch="resnet34" if what == "wrong arch" else None)
        with pytest.raises(FashionError, match=message) as caught:
            import_model(home / "models", path, options)
        assert "\n" not in str(caught.value), what
    assert sorted(os.listdir(home / "models")) == before
    run = subprocess.run(
        [
            *FASHION,
            "model",
            "import",
            str(tmp_path / "evil.ckpt"),
            "--kind",
            "reference-ckpt",
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "must never run" not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "refused" in run.stderr


def test_tune_changes_thresholds_and_applies_the_production_rule(home, tmp_path):
    models = home / "models"
    trained = production_version(models)
    own = load_card(models, trained)
    # the production model's own weights, imported: same network and input, untuned threshold
    weights = models / trained / "weights.pt"
    options = ImportOptions(
        kind="torchvision", name="copy", image_size=own.image_size, threshold=0.5
    )
    import_model(models, weights, options)
    assert load_card(models, "copy").thresholds == []
    result = tune_version(
        models, home / "images", "copy", [home / "manifests" / "validation"], log=lambda line: None
    )
    card = load_card(models, "copy")
    assert len(card.thresholds) == N and card.metrics["tuned_on"]["manifests"]
    assert card.metrics["val_micro_f1"] == result["val_micro_f1"]
    # tuned as training tuned the same network on the same images: the same figure, so the
    # rule (at least as good on the same images) promotes it
    assert result["production_val_micro_f1"] == own.metrics["val_micro_f1"]
    assert result["val_micro_f1"] == own.metrics["val_micro_f1"]
    assert production_version(models) == "copy" == result["production"]
    lines = []
    assert not apply_production_rule(models, trained, 0.1, "copy", 0.2, False, lines.append)
    assert production_version(models) == "copy" and "production stays copy" in lines[-1]
    assert apply_production_rule(models, trained, 0.1, "copy", 0.2, True, lines.append)
    assert production_version(models) == trained


@pytest.mark.slow
def test_fine_tune_from_an_imported_model(home, tmp_path):
    from fashion_model.config import TrainConfig
    from fashion_model.model.train import train_model

    path = tmp_path / "r34.pth"
    torch.save(calibrated(resnet34, seed=5).state_dict(), path)
    options = ImportOptions(kind="torchvision", name="start", image_size=40, resize="crop")
    import_model(home / "models", path, options)
    card = train_model(
        [home / "manifests" / "train", home / "manifests" / "validation"],
        home / "images",
        home / "models",
        TrainConfig(
            epochs=1, max_steps=2, batch_size=8, num_workers=0, init="start", force_promote=True
        ),
        log=lambda m: None,
    )
    assert (card.arch, card.image_size, card.resize) == ("resnet34", 40, "crop")
    assert card.source == {"kind": "fine-tuned", "from": "start"}
    assert card.metrics["initial_weights"] == "model start"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["reference-ckpt", "onnx", "torchvision"])
def test_each_kind_of_imported_model_runs_the_nightly_from_the_cli(
    kind, home, reference_files, tmp_path, catalog_server, prefect_api_env
):
    """Import (the CLI), promote, run `fashion nightly` on the synthetic catalog, search."""
    _, ckpt, onnx_file = reference_files
    folder, _ = catalog_server
    env = prefect_api_env
    options = {
        "reference-ckpt": [str(ckpt)],
        "onnx": [str(onnx_file), "--mean", "0.6765,0.6347,0.6207", "--std", "0.3284,0.3371,0.3379"],
        "torchvision": [str(tmp_path / "r34.pth"), "--image-size", "64"],
    }[kind]
    torch.save(calibrated(resnet34, seed=4).state_dict(), tmp_path / "r34.pth")
    width = 512 if kind == "torchvision" else 2048
    run = subprocess.run(
        [
            *FASHION,
            "model",
            "import",
            *options,
            "--kind",
            kind,
            "--name",
            "imported",
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert f"{width}-d" in run.stdout + run.stderr
    if kind == "reference-ckpt":
        assert "--image-size 512" in run.stderr  # the stored-size reminder
    subprocess.run(
        [*FASHION, "model", "promote", "imported", "--home", str(home)],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    run = subprocess.run(
        [
            *FASHION,
            "nightly",
            str(folder / "catalog.csv"),
            "--home",
            str(home),
            "--allow-private",
            "--per-host-rate",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    with connect(home / "fashion.duckdb", read_only=True) as con:
        widths = con.execute(
            "SELECT DISTINCT len(embedding) FROM embeddings WHERE model_version = 'imported'"
        ).fetchall()
        served = con.execute("SELECT model_version FROM analytics_refresh").fetchall()
    assert widths == [(width,)] and served == [("imported",)]
    product = catalog_images(home, 1)[0][2]
    for space, column in (("embedding", '"similarity"'), ("logits", '"distance"')):
        run = subprocess.run(
            [
                *FASHION,
                "similar",
                "--product-id",
                product,
                "--home",
                str(home),
                "--format",
                "json",
                "--space",
                space,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert run.returncode == 0, run.stderr
        assert column in run.stdout


def test_a_warehouse_of_512_d_embeddings_upgrades_and_stays_valid(tmp_path, monkeypatch):
    import fashion_model.warehouse.db as db

    shipped = db.migrations()
    monkeypatch.setattr(db, "migrations", lambda: [m for m in shipped if m[0] < 8])
    vector = np.linspace(-1, 1, 512, dtype=np.float32)
    with db.connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT typeof(NULL::FLOAT[512])").fetchone()[0] == "FLOAT[512]"
        con.execute(
            "INSERT INTO embeddings (image_sha256, model_version, embedding) "
            "VALUES ('a', 'old', ?::FLOAT[512])",
            [vector.tolist()],
        )
    monkeypatch.setattr(db, "migrations", lambda: shipped)
    with db.connect(tmp_path / "w.duckdb") as con:
        column = con.execute(
            "SELECT data_type FROM information_schema.columns WHERE "
            "table_name = 'embeddings' AND column_name = 'embedding'"
        ).fetchone()
        stored = con.execute("SELECT embedding FROM embeddings WHERE model_version = 'old'")
        assert column == ("FLOAT[]",)
        assert np.allclose(stored.fetchone()[0], vector)
        wide = np.ones(2048, np.float32)
        con.execute(
            "INSERT INTO embeddings (image_sha256, model_version, embedding) "
            "VALUES ('a', 'new', ?)",
            [wide.tolist()],
        )
        widths = con.execute("SELECT model_version, len(embedding) FROM embeddings ORDER BY 1")
        assert widths.fetchall() == [("new", 2048), ("old", 512)]
