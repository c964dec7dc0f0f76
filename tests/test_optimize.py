"""`fashion model optimize`: real onnxruntime variants (fp32 optimised, int8 quantised) of a
trained version, checked against it and registered beside it; scoring picks one
(`--runtime`), records it on every row, and a variant is no new version."""

import json
import shutil

import duckdb
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from fashion_model.config import OptimizeConfig
from fashion_model.errors import BadInput
from fashion_model.home import Home
from fashion_model.model import optimize as optimizing
from fashion_model.model.optimize import optimize, plan_optimize
from fashion_model.model.registry import production_version
from fashion_model.model.variants import choose_runtime, cpu_has_int8_dot, list_variants
from fashion_model.score.images import score_images
from fashion_model.warehouse.db import connect


@pytest.fixture(scope="module")
def optimized(trained_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("optimized") / "home"
    shutil.copytree(trained_home, root)
    home = Home.resolve(root)
    plan = plan_optimize(
        root, "production", OptimizeConfig(int8=True, images=40, max_f1_drop=5), calibrate="catalog"
    )
    result = optimize(plan, log=lambda line: None)
    return home, result


def test_both_variants_are_registered_with_their_figures(optimized):
    home, result = optimized
    version = production_version(home.models)
    assert result["model_version"] == version
    variants = list_variants(home.models, version)
    assert set(variants) == {"onnx", "onnx-int8"}
    int8 = variants["onnx-int8"]
    assert int8["precision"] == "int8" and int8["source_version"] == version
    assert int8["calibration"]["manifest"] == "catalog"  # its 40 images, or as many as it has
    assert 8 <= int8["calibration"]["images"] <= 40
    assert int8["embedding_cosine_mean"] >= 0.99 and int8["top10_overlap"] >= 0.95
    assert set(int8["variant_f1_by_task"]) == set(int8["source_f1_by_task"])
    assert variants["onnx"]["variant_micro_f1"] == variants["onnx"]["source_micro_f1"]
    graph = onnx.load(str(home.models / version / "variants" / "onnx-int8" / "model.onnx"))
    quantized = [n for n in graph.graph.node if n.op_type == "QuantizeLinear"]
    assert quantized and any(n.op_type == "Conv" for n in graph.graph.node)
    assert version in [p.name for p in home.models.iterdir()]  # no new model version
    assert not [p for p in (home.models / version / "variants").iterdir() if p.name.startswith(".")]


def test_model_list_and_show_name_each_variant_with_its_figures(optimized):
    import subprocess

    from tests.commands import FASHION

    home, _ = optimized
    version = production_version(home.models)
    variants = list_variants(home.models, version)
    listed = subprocess.run(
        [*FASHION, "model", "list", "--home", str(home.root)], capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    (line,) = [x for x in listed.stdout.splitlines() if version in x]
    int8 = variants["onnx-int8"]
    delta = 100 * (int8["variant_micro_f1"] - int8["source_micro_f1"])
    assert line.endswith(f"variants: onnx (F1 +0.00), onnx-int8 (F1 {delta:+.2f})")
    shown = subprocess.run(
        [*FASHION, "model", "show", version, "--home", str(home.root)],
        capture_output=True,
        text=True,
    )
    cards = [x for x in shown.stdout.splitlines() if x.startswith("  variant ")]
    assert [x.split(":", 1)[0] for x in cards] == ["  variant onnx", "  variant onnx-int8"]
    assert json.loads(cards[1].split(": ", 1)[1]) == int8


def test_scoring_records_the_variant_and_a_variant_is_no_new_version(optimized):
    home, _ = optimized
    version = production_version(home.models)
    expected = "onnx-int8" if cpu_has_int8_dot() else "onnx"
    assert choose_runtime(home.models, version, "auto") == expected
    assert choose_runtime(home.models, version, "auto", on_gpu=True) == "torch"
    catalog = [home.manifests / "catalog"]
    with connect(home.db) as con:
        first = score_images(
            con, catalog, home.images, home.models, num_workers=0, runtime="auto", colors=False
        )
        assert first.runtime == expected and first.scored > 0
        again = score_images(
            con, catalog, home.images, home.models, num_workers=0, runtime="torch", colors=False
        )
        assert again.scored == 0  # another runtime does not rescore
    with duckdb.connect(str(home.db), read_only=True) as con:
        variants = con.execute(
            "SELECT DISTINCT variant FROM scores UNION ALL SELECT DISTINCT variant FROM embeddings"
        ).fetchall()
    assert variants == [(expected,), (expected,)]


def test_an_unregistered_variant_or_runtime_is_refused(trained_home):
    version = production_version(trained_home / "models")
    with pytest.raises(BadInput, match="no onnx-int8 variant: `fashion model optimize .* --int8`"):
        choose_runtime(trained_home / "models", version, "onnx-int8")
    with pytest.raises(BadInput, match="is not one of auto, torch, onnx, onnx-int8"):
        choose_runtime(trained_home / "models", version, "tensorrt")


def test_a_variant_that_falls_below_the_bar_is_refused_with_its_figure(
    trained_home, tmp_path, monkeypatch
):
    """A broken quantiser (its graph's weights scrambled) must not reach the registry."""
    shutil.copytree(trained_home, tmp_path / "home")
    real = optimizing._quantised

    def scrambled(graph, folder, card, names, calibration):
        out = real(graph, folder, card, names, calibration)
        model = onnx.load(str(out))
        rng = np.random.default_rng(0)
        for tensor in model.graph.initializer:
            values = numpy_helper.to_array(tensor)
            if values.dtype == np.int8 and values.ndim == 4:
                tensor.CopyFrom(
                    numpy_helper.from_array(
                        rng.permutation(values.ravel()).reshape(values.shape).astype(np.int8),
                        tensor.name,
                    )
                )
        onnx.save(model, str(out))
        return out

    monkeypatch.setattr(optimizing, "_quantised", scrambled)
    plan = plan_optimize(
        tmp_path / "home", "production", OptimizeConfig(int8=True, images=16), calibrate="catalog"
    )
    with pytest.raises(BadInput) as refused:
        optimize(plan, log=lambda line: None)
    message = str(refused.value)
    assert "onnx-int8 refused: " in message and "registered: onnx" in message
    assert "embedding cosine" in message or "micro-F1" in message
    assert set(list_variants(plan.models, plan.version)) == {"onnx"}
    # the demo's night goes on with what passed: the refusal is reported, not raised
    kept = optimize(plan, log=lambda line: None, refused_ok=True)
    assert set(kept["variants"]) == {"onnx"} and kept["refused"][0].startswith("onnx-int8 refused")
    assert set(list_variants(plan.models, plan.version)) == {"onnx"}


def test_without_int8_only_the_fp32_variant_is_made_and_nothing_is_calibrated(
    trained_home, tmp_path
):
    shutil.copytree(trained_home, tmp_path / "home")
    shutil.rmtree(tmp_path / "home" / "manifests" / "catalog")  # no manifest to calibrate on
    shutil.rmtree(tmp_path / "home" / "manifests" / "train")
    plan = plan_optimize(tmp_path / "home", "production")
    assert plan.calibrate is None
    result = optimize(plan, log=lambda line: None)
    assert set(result["variants"]) == {"onnx"} and not result["refused"]
    assert "calibration" not in result["variants"]["onnx"]
    assert set(list_variants(plan.models, plan.version)) == {"onnx"}


def test_bad_input_is_one_line_and_registers_nothing(trained_home, tmp_path):
    shutil.copytree(trained_home, tmp_path / "home")
    root = tmp_path / "home"
    with pytest.raises(BadInput, match="unknown model version 'nope'"):
        plan_optimize(root, "nope")
    empty = root / "manifests" / "empty"
    shutil.copytree(root / "manifests" / "catalog", empty)
    import pyarrow.parquet as pq

    for part in empty.glob("part-*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.filter(np.zeros(table.num_rows, bool)), part)
    with pytest.raises(BadInput, match="manifest empty: no downloaded images to calibrate on"):
        plan_optimize(root, "production", OptimizeConfig(int8=True), calibrate="empty")
    version = production_version(root / "models")
    card_path = root / "models" / version / "model.json"
    card = json.loads(card_path.read_text())
    card["image_size"] = None  # an ONNX import whose input size nobody knows
    card_path.write_text(json.dumps(card))
    with pytest.raises(BadInput, match="its input size is not known"):
        plan_optimize(root, "production")
    assert not (root / "models" / version / "variants").exists()
