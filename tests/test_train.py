import json
from pathlib import Path

import numpy as np
import pytest
from pytorch_lightning.callbacks import Callback
from sklearn.metrics import f1_score

from fashion_model.config import TrainConfig
from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map
from fashion_model.model.metrics import (
    MIN_SUPPORT,
    evaluate,
    micro_f1,
    per_task_f1,
    torchmetrics_micro_f1,
    tune_global,
    tune_per_label,
)
from fashion_model.model.plan import check_train_config
from fashion_model.model.registry import (
    list_versions,
    load_model,
    production_version,
    resolve_version,
    set_production,
)
from fashion_model.model.train import train_model, training_precision


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
    metrics = card["metrics"]
    assert metrics["val_micro_f1"] >= metrics["val_micro_f1_global"] - 1e-4
    assert metrics["val_micro_f1_global"] >= metrics["val_micro_f1_at_0.5"]
    assert set(metrics["val_micro_f1_by_task"]) == set(default_label_map().tasks)
    assert len(card["thresholds"]) == 228 and metrics["global_threshold"] == card["threshold"]
    net, loaded, label_map = load_model(models, version)
    assert net.head.out_features == len(label_map) == 228
    assert loaded.model_version == version
    # the card's figure is what the registered weights score on the validation images
    import torch

    from fashion_model.model.datasets import LabelledImages, labelled_rows
    from fashion_model.model.presets import eval_preset

    manifests = [trained_home / "manifests" / "train", trained_home / "manifests" / "validation"]
    paths, targets = labelled_rows(manifests, trained_home / "images", label_map)["validation"]
    images = LabelledImages(paths, targets, eval_preset(loaded.preprocessing), loaded.image_size)
    net.eval()
    with torch.inference_mode():
        probs = torch.sigmoid(net(torch.stack([image for image, _ in images]))).numpy()
    assert micro_f1(probs, targets, loaded.label_thresholds()) == pytest.approx(
        metrics["val_micro_f1"], abs=1e-3
    )


def test_precision_is_bf16_where_the_hardware_has_it_and_chosen_otherwise(
    trained_home, monkeypatch
):
    from fashion_model.model import train

    card = json.loads(next((trained_home / "models").glob("*/model.json")).read_text())
    assert card["metrics"]["precision"] == training_precision(TrainConfig())  # what auto chose
    assert isinstance(train.native_bf16_cpu(), bool)
    monkeypatch.setattr(train.torch.cuda, "is_available", lambda: False)
    for native, want in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(train, "native_bf16_cpu", lambda native=native: native)
        assert training_precision(TrainConfig()) == want
        assert training_precision(TrainConfig(precision="32")) == "32-true"
        assert training_precision(TrainConfig(precision="bf16")) == "bf16-mixed"
    with pytest.raises(FashionError, match="precision"):
        TrainConfig.parse(where="--", precision="16")


def test_micro_f1_matches_scikit_learn():
    """Ours (numpy, used to tune) and torchmetrics' (reported) equal scikit-learn's, with one
    threshold and with one per label, overall and per task."""
    rng = np.random.default_rng(0)
    targets = (rng.random((50, 20)) < 0.2).astype(np.float32)
    probs = np.clip(targets * 0.6 + rng.random((50, 20)) * 0.5, 0, 1).astype(np.float32)
    per_label = rng.uniform(0.2, 0.8, 20).astype(np.float32)
    for thresholds in (0.3, 0.5, 0.7, per_label):
        expected = f1_score(targets, probs >= thresholds, average="micro")
        assert micro_f1(probs, targets, thresholds) == pytest.approx(expected)
        assert torchmetrics_micro_f1(probs, targets, thresholds) == pytest.approx(expected)
    tasks = ["color"] * 8 + ["pattern"] * 12
    by_task = per_task_f1(probs, targets, per_label, tasks)
    expected = f1_score(targets[:, 8:], probs[:, 8:] >= per_label[8:], average="micro")
    assert by_task["pattern"] == pytest.approx(expected, abs=1e-4)


def test_threshold_tuning_finds_the_separating_value():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    probs = np.where(targets > 0, 0.35, 0.2)
    threshold, score = tune_global(probs, targets)
    assert 0.2 < threshold <= 0.35 and score == pytest.approx(1.0)


def test_per_label_thresholds_separate_what_one_threshold_cannot():
    """Label 0 separates at 0.3, label 1 at 0.7: no single threshold gets both right, one per
    label does; label 2 has too few positives and keeps the global threshold."""
    rng = np.random.default_rng(1)
    targets = (rng.random((200, 3)) < 0.3).astype(np.float32)
    targets[:, 2] = 0
    targets[: MIN_SUPPORT - 1, 2] = 1
    probs = np.empty_like(targets)
    probs[:, 0] = np.where(targets[:, 0] > 0, 0.32, 0.12)
    probs[:, 1] = np.where(targets[:, 1] > 0, 0.92, 0.62)
    probs[:, 2] = np.where(targets[:, 2] > 0, 0.9, 0.1)
    global_threshold, global_f1 = tune_global(probs, targets)
    assert global_f1 < 0.9
    thresholds, tuned = tune_per_label(probs, targets, global_threshold)
    assert list(tuned) == [True, True, False]
    assert 0.12 < thresholds[0] <= 0.32 and 0.62 < thresholds[1] <= 0.92
    assert thresholds[2] == global_threshold
    metrics, _ = evaluate(probs, targets, ["a", "b", "b"])
    assert metrics["val_micro_f1"] > metrics["val_micro_f1_global"]
    assert metrics["val_micro_f1_global"] == pytest.approx(global_f1, abs=1e-4)
    assert metrics["val_micro_f1_by_task"]["a"] == 1.0


def test_unknown_versions_and_bad_options_fail_clearly(trained_home, tmp_path):
    models = trained_home / "models"
    with pytest.raises(FashionError, match="unknown model version 'nope'"):
        resolve_version(models, "nope")
    with pytest.raises(FashionError, match="unknown model version"):
        set_production(models, "nope")
    with pytest.raises(FashionError, match="no production model"):
        resolve_version(tmp_path, "production")
    with pytest.raises(FashionError, match="--image-size 8: must be at least 32"):
        TrainConfig.parse(image_size=8, where="--")


def test_an_empty_training_set_is_refused_before_the_registry_is_touched(tmp_path, trained_home):
    from fashion_model.ingest.manifest import ManifestWriter, schema_with_metadata

    writer = ManifestWriter(tmp_path / "empty", schema_with_metadata([], "imaterialist"))
    writer.commit()
    with pytest.raises(FashionError, match="no downloaded, labelled images"):
        train_model([tmp_path / "empty"], trained_home / "images", tmp_path / "models")
    assert not (tmp_path / "models").exists() or not list_versions(tmp_path / "models")


def test_imagenet_weights_load_from_the_local_cache_never_downloaded(tmp_path, monkeypatch):
    import torch
    from torchvision.models import resnet34

    from fashion_model.model.net import AttributeNet, load_backbone, resolve_weights
    from fashion_model.model.train import AttributeModule

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    path, used = resolve_weights("auto")
    assert path is None and f"no ImageNet weights at {expected}" in used
    with pytest.raises(FashionError, match=f"--weights imagenet: {expected} not found; copy"):
        resolve_weights("imagenet")
    with pytest.raises(FashionError, match="--weights imagenet: "):
        check_train_config(TrainConfig(weights="imagenet"))

    reference = resnet34(weights=None)
    with torch.no_grad():
        reference.conv1.weight.fill_(0.25)
    expected.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), expected)  # torchvision's format, fc included
    path, used = resolve_weights("auto")
    assert path == expected and used.startswith("imagenet")
    module = AttributeModule(228, TrainConfig(), path)
    assert torch.all(module.net.backbone.conv1.weight == 0.25)
    backbone_lr, head_lr = (group["lr"] for group in module.param_groups())
    assert backbone_lr == pytest.approx(head_lr * 0.1)  # pretrained: a gentler backbone
    scratch = AttributeModule(228, TrainConfig(weights="none"), None)
    assert [g["lr"] for g in scratch.param_groups()] == [TrainConfig().learning_rate] * 2

    ours = tmp_path / "ours.pt"
    torch.save(module.net.state_dict(), ours)  # a registry weights.pt works too
    net = AttributeNet(10)
    load_backbone(net, ours)
    assert torch.all(net.backbone.conv1.weight == 0.25)
    (tmp_path / "junk.pt").write_text("not weights")
    with pytest.raises(FashionError, match="junk.pt: not a PyTorch weights file"):
        load_backbone(net, tmp_path / "junk.pt")
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(FashionError, match="other.pt: not ResNet34 weights"):
        load_backbone(net, tmp_path / "other.pt")
    with pytest.raises(FashionError, match="--weights nope.pt: no such file"):
        resolve_weights("nope.pt")


def test_the_hold_out_is_stratified_per_label():
    """With no validation split, 15% of train is held out so that every label with enough
    examples lands on both sides in proportion (a random cut can miss a rare one)."""
    from fashion_model.model.train import _split

    targets = np.zeros((200, 6), dtype=np.float32)
    for label, count in enumerate((100, 40, 20, 14, 7, 7)):
        targets[np.random.default_rng(label).choice(200, count, replace=False), label] = 1
    paths = [f"img{i}.jpg" for i in range(200)]
    (train_paths, train_y), (val_paths, val_y), source = _split(
        {"train": (paths, targets)}, 0.15, 0
    )
    assert source == "stratified 15% of train" and len(val_paths) == 30
    assert not set(train_paths) & set(val_paths)
    held = val_y.sum(axis=0)
    assert list(held[:4]) == [15, 6, 3, 2] and all(held[4:] >= 1)
    assert _split({"train": (paths, targets)}, 0.15, 0)[1][0] == val_paths  # seeded


def test_onnx_export_matches_pytorch_with_a_dynamic_batch(trained_home, tmp_path):
    import onnx
    import onnxruntime
    import torch

    from fashion_model.model.onnx_export import TOLERANCE, export_onnx

    models = trained_home / "models"
    result = export_onnx(models, "production", tmp_path / "exported" / "m.onnx")
    assert result["max_abs_difference"] <= TOLERANCE
    net, card, _ = load_model(models, result["model_version"])
    session = onnxruntime.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    for batch in (1, 7):  # the batch axis is dynamic
        images = torch.randn(batch, 3, card.image_size, card.image_size)
        probs, embeddings = session.run(None, {"images": images.numpy()})
        with torch.inference_mode():
            logits, want = net.logits_and_embeddings(images)
        assert probs.shape == (batch, 228) and embeddings.shape == (batch, 512)
        assert np.abs(probs - torch.sigmoid(logits).numpy()).max() <= TOLERANCE
        assert np.abs(embeddings - want.numpy()).max() <= TOLERANCE
    meta = {p.key: p.value for p in onnx.load(result["path"]).metadata_props}
    assert json.loads(meta["label_ids"]) == card.label_ids
    assert len(json.loads(meta["thresholds"])) == 228
    assert not list((tmp_path / "exported").glob(".*"))  # no temp file left
    with pytest.raises(FashionError, match="unknown model version 'nope'"):
        export_onnx(models, "nope")


def test_production_is_judged_on_the_same_validation_images(trained_home):
    """Re-scoring the production model on this run's validation images with its own
    thresholds reproduces the micro-F1 its card recorded on them."""
    from fashion_model.model.datasets import labelled_rows
    from fashion_model.model.registry import load_card
    from fashion_model.model.train import _split, production_f1

    models = trained_home / "models"
    version = production_version(models)
    card = load_card(models, version)
    label_map = default_label_map()
    rows = labelled_rows(
        [trained_home / "manifests" / n for n in ("train", "validation")],
        trained_home / "images",
        label_map,
    )
    _, (val_paths, val_targets), _ = _split(rows, 0.15, 0)
    f1 = production_f1(models, version, label_map, val_paths, val_targets, 16)
    assert f1 == pytest.approx(card.metrics["val_micro_f1"], abs=1e-4)


def test_a_model_that_validates_worse_stays_out_of_production(trained_home, tmp_path, monkeypatch):
    import shutil

    import fashion_model.model.train as train

    models = tmp_path / "models"
    shutil.copytree(trained_home / "models", models)
    before = production_version(models)
    manifests = [trained_home / "manifests" / n for n in ("train", "validation")]
    config = TrainConfig(epochs=1, image_size=32, batch_size=16, num_workers=0, max_steps=1)
    monkeypatch.setattr(train, "production_f1", lambda *args: 1.01)  # unbeatable production
    messages = []
    card = train_model(manifests, trained_home / "images", models, config, log=messages.append)
    assert production_version(models) == before and card.model_version in list_versions(models)
    assert card.metrics["production_val_micro_f1"] == 1.01
    assert any(m.startswith(f"production stays {before}") for m in messages)
    forced = TrainConfig(
        epochs=1, image_size=32, batch_size=16, num_workers=0, max_steps=1, force_promote=True
    )
    card = train_model(manifests, trained_home / "images", models, forced, log=messages.append)
    assert production_version(models) == card.model_version


def _manifests(home):
    return [home / "manifests" / n for n in ("train", "validation")]


@pytest.mark.slow
def test_a_killed_training_run_resumes_from_its_last_checkpoint(trained_home, tmp_path):
    """A real SIGKILL after the first epoch's checkpoint; `resume` continues from it and the
    run ends registered, with its checkpoints cleaned up."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from fashion_model.model.registry import load_card

    models = tmp_path / "models"
    shutil.copytree(trained_home / "models", models)
    options = "epochs=4, image_size=32, batch_size=16, num_workers=0"
    script = (
        "import sys; from pathlib import Path; from fashion_model.model.train import *\n"
        f"train_model([Path(p) for p in {[str(m) for m in _manifests(trained_home)]}], "
        f"Path({str(trained_home / 'images')!r}), Path({str(models)!r}), TrainConfig({options}))"
    )
    env = {**os.environ, "FASHION_PROGRESS": "0"}
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(models.glob(".runs/*/last.ckpt")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    versions = list_versions(models)
    assert len(versions) == 1  # nothing registered by the killed run
    (run,) = models.glob(".runs/*")
    messages = []
    config = TrainConfig(epochs=4, image_size=32, batch_size=16, num_workers=0, resume=True)
    card = train_model(
        _manifests(trained_home), trained_home / "images", models, config, log=messages.append
    )
    assert any(m.startswith("resuming the interrupted run from") for m in messages)
    assert card.metrics["resumed"] and card.metrics["epochs_run"] == 4
    assert 1 <= card.metrics["best_epoch"] <= 4
    assert load_card(models, card.model_version).metrics["resumed"]
    assert not run.exists() and len(list_versions(models)) == 2


class Fingerprint(Callback):
    """Each rank writes its process-group backend and the sum of its weights (module level:
    spawned ranks unpickle it by reference)."""

    def __init__(self, folder):
        self.folder = str(folder)

    def on_train_end(self, trainer, module):
        total = sum(float(p.detach().double().sum()) for p in module.parameters())
        backend = trainer.strategy.process_group_backend
        Path(self.folder, f"rank{trainer.global_rank}").write_text(f"{backend} {total!r}")


@pytest.mark.slow
def test_two_process_ddp_on_cpu_keeps_both_ranks_in_step(trained_home, tmp_path):
    """DDP with gloo across two CPU processes: after a few steps both ranks hold the same
    weights (gradients were all-reduced), and one version is registered."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(trained_home / "models", models)
    config = TrainConfig(
        epochs=1,
        image_size=32,
        batch_size=8,
        num_workers=0,
        max_steps=3,
        accelerator="cpu",
        devices=2,
    )
    card = train_model(
        _manifests(trained_home),
        trained_home / "images",
        models,
        config,
        log=lambda m: None,
        callbacks=[Fingerprint(tmp_path)],
    )
    ranks = [(tmp_path / f"rank{r}").read_text().split() for r in (0, 1)]
    assert ranks[0][0] == ranks[1][0] == "gloo"
    assert ranks[0][1] == ranks[1][1]
    assert len(list_versions(models)) == 2 and card.model_version in list_versions(models)


def test_a_label_map_that_does_not_cover_the_manifest_labels_is_refused(trained_home, tmp_path):
    from fashion_model.labels import load_label_map

    source = default_label_map().source
    lines = Path(source).read_text().splitlines()
    (tmp_path / "small.csv").write_text("\n".join(lines[:4]) + "\n")  # header + 3 labels
    small = load_label_map(tmp_path / "small.csv")
    config = TrainConfig(epochs=1, image_size=32, batch_size=16, num_workers=0, max_steps=1)
    with pytest.raises(
        FashionError,
        match=r"manifests/train: label id \d+ is not in the label "
        "map small.csv",
    ):
        train_model(
            _manifests(trained_home),
            trained_home / "images",
            tmp_path / "models",
            config,
            label_map=small,
        )
    assert not (tmp_path / "models").exists()  # nothing half-written


def _colour_manifest(folder: Path, images_root: Path) -> tuple[Path, list[int]]:
    """A separable labelled set: every photo is a T-shirt (category) in one of four colours, drawn
    as a noisy solid square; 32 per colour for training, 8 for validation."""
    from PIL import Image

    from fashion_model.ingest.manifest import ManifestWriter, schema_with_metadata

    labels = default_label_map()
    top = labels.label_id("category", "T-Shirts")
    colours = {
        "Red": (200, 30, 30),
        "Green": (30, 170, 60),
        "Blue": (30, 60, 200),
        "Yellow": (230, 210, 40),
    }
    rng = np.random.default_rng(0)
    rows = []
    for name, rgb in colours.items():
        colour = labels.label_id("color", name)
        for index in range(40):
            pixels = np.clip(rng.normal(rgb, 25, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            relative = f"{name.lower()}/{index}.jpg"
            (images_root / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(images_root / relative, quality=90)
            rows.append(
                {
                    "source_id": f"{name}-{index}",
                    "url": f"http://x/{relative}",
                    "status": "ok",
                    "path": relative,
                    "attempts": 1,
                    "labels": [top, colour],
                    "split": "validation" if index >= 32 else "train",
                }
            )
    writer = ManifestWriter(folder / "colours", schema_with_metadata([], "imaterialist"))
    writer.write(rows)
    return writer.commit(), [top, *(labels.label_id("color", n) for n in colours)]


def _best_constant_micro_f1(targets: np.ndarray) -> float:
    """What predicting the label frequencies gives at its best: every image gets the same label
    set, the best such set chosen on the validation images themselves."""
    import itertools

    present = [col for col in range(targets.shape[1]) if targets[:, col].any()]
    best = 0.0
    for size in range(1, len(present) + 1):
        for chosen in itertools.combinations(present, size):
            predicted = np.zeros_like(targets)
            predicted[:, list(chosen)] = 1
            best = max(best, f1_score(targets, predicted, average="micro", zero_division=0))
    return best


def test_training_learns_a_separable_set_well_above_the_label_frequencies(tmp_path):
    from fashion_model.model.datasets import labelled_rows

    manifest, wanted = _colour_manifest(tmp_path, tmp_path / "images")
    config = TrainConfig(epochs=6, image_size=32, batch_size=16, num_workers=0, weights="none")
    card = train_model(
        [manifest], tmp_path / "images", tmp_path / "models", config, log=lambda message: None
    )
    _, targets = labelled_rows([manifest], tmp_path / "images", default_label_map())["validation"]
    baseline = _best_constant_micro_f1(targets)
    assert baseline == pytest.approx(2 / 3, abs=0.01)  # T-Shirts on every photo, no colour
    # at 0.5, untuned: nothing about the validation set leaks into this figure
    assert card.metrics["val_micro_f1_at_0.5"] >= baseline + 0.2, card.metrics
    net, card, _ = load_model(tmp_path / "models", card.model_version)
    assert set(wanted) <= set(card.label_ids)


def test_task_weights_scale_their_tasks_loss_and_name_a_wrong_task():
    """`task_weights` multiplies each of a task's labels' BCE terms; other tasks weigh 1. An
    unknown task or a weight that is not positive fails in one line, before any work."""
    import torch

    from fashion_model.model.train import AttributeModule, label_weights

    labels = default_label_map()
    config = TrainConfig(task_weights={"pattern": 3.0})
    weights = label_weights(config, labels)
    pattern = torch.tensor([label.task == "pattern" for label in labels.labels])
    assert weights[pattern].eq(3).all() and weights[~pattern].eq(1).all()
    assert label_weights(TrainConfig(), labels) is None
    module = AttributeModule(len(labels), config, loss_weights=weights)
    logits, targets = torch.randn(4, len(labels)), (torch.rand(4, len(labels)) < 0.1).float()
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert module.loss(logits, targets).item() == pytest.approx((plain * weights).mean().item())
    with pytest.raises(FashionError, match="task weight 'patern': no such task .*pattern"):
        check_train_config(TrainConfig(task_weights={"patern": 2}))
    for bad in ("0", "-1", "many"):
        with pytest.raises(FashionError, match="task-weights.*(positive|number)"):
            TrainConfig.parse(where="--", task_weights={"pattern": bad})


def test_a_run_of_four_steps_trains_and_registers(trained_home, tmp_path):
    """At 4 steps the one-cycle schedule's warm-up rounds to no step (it divided by zero)."""
    config = TrainConfig(epochs=1, image_size=32, batch_size=4, num_workers=0, max_steps=4)
    card = train_model(
        _manifests(trained_home),
        trained_home / "images",
        tmp_path / "models",
        config,
        log=lambda message: None,
    )
    assert card.model_version in list_versions(tmp_path / "models")


def test_the_cards_default_embedding_width_is_the_built_in_networks():
    """registry.EMBEDDING_DIM stays torch-free; it must say what net.ARCHS builds."""
    from fashion_model.model.net import ARCHS, DEFAULT_ARCH
    from fashion_model.model.registry import EMBEDDING_DIM

    assert ARCHS[DEFAULT_ARCH][1] == EMBEDDING_DIM
