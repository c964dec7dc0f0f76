import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map
from fashion_model.registry import (
    list_versions,
    load_model,
    production_version,
    resolve_version,
    set_production,
)
from fashion_model.train import TrainConfig, micro_f1, train_model, tune_threshold


def test_training_registers_a_complete_first_production_version(trained_home):
    models = trained_home / "models"
    (version,) = list_versions(models)
    assert production_version(models) == version
    folder = models / version
    assert {p.name for p in folder.iterdir()} == {"weights.pt", "model.json", "label_map.csv"}
    card = json.loads((folder / "model.json").read_text())
    assert card["arch"] == "resnet34" and card["image_size"] == 32
    assert card["label_ids"] == default_label_map().ids
    assert 0 < card["threshold"] < 1
    assert 0 <= card["metrics"]["val_micro_f1"] <= 1
    assert card["metrics"]["val_micro_f1"] >= card["metrics"]["val_micro_f1_at_0.5"]
    net, loaded, label_map = load_model(models, version)
    assert net.head.out_features == len(label_map) == 228
    assert loaded.model_version == version


def test_micro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    targets = (rng.random((50, 20)) < 0.2).astype(np.float32)
    probs = np.clip(targets * 0.6 + rng.random((50, 20)) * 0.5, 0, 1)
    for threshold in (0.3, 0.5, 0.7):
        expected = f1_score(targets, probs >= threshold, average="micro")
        assert micro_f1(probs, targets, threshold) == pytest.approx(expected)


def test_threshold_tuning_finds_the_separating_value():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    probs = np.where(targets > 0, 0.35, 0.2)
    threshold, score = tune_threshold(probs, targets)
    assert 0.2 < threshold <= 0.35 and score == pytest.approx(1.0)


def test_unknown_versions_and_bad_options_fail_clearly(trained_home, tmp_path):
    models = trained_home / "models"
    with pytest.raises(FashionError, match="unknown model version 'nope'"):
        resolve_version(models, "nope")
    with pytest.raises(FashionError, match="unknown model version"):
        set_production(models, "nope")
    with pytest.raises(FashionError, match="no production model"):
        resolve_version(tmp_path, "production")
    with pytest.raises(FashionError, match="--image-size must be at least 32"):
        TrainConfig(image_size=8).validate()


def test_an_empty_training_set_is_refused_before_the_registry_is_touched(tmp_path, trained_home):
    from fashion_model.manifest import ManifestWriter, schema_with_metadata

    writer = ManifestWriter(tmp_path / "empty", schema_with_metadata([], "imaterialist"))
    writer.commit()
    with pytest.raises(FashionError, match="no downloaded, labelled images"):
        train_model([tmp_path / "empty"], trained_home / "images", tmp_path / "models")
    assert not (tmp_path / "models").exists() or not list_versions(tmp_path / "models")
