"""The review loop: export to Label Studio's task format, a simulated annotation, import back
into a training file and `reviewed_labels`; bad exports as one line."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ElementTree
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from fashion_model.errors import FashionError
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.review.labelstudio import labelling_config
from fashion_model.review.loop import export_review, import_review
from fashion_model.score.images import score_images
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect, refresh_analytics

from .conftest import serving  # noqa: E402

LABELS = default_label_map()


@pytest.fixture()
def home(trained_home, tmp_path):
    """A scored warehouse of the tiny synthetic catalog; images and models shared read-only."""
    root = tmp_path / "home"
    root.mkdir()
    for name in ("images", "models", "manifests"):
        (root / name).symlink_to(trained_home / name)
    paths = Home.resolve(root)
    with connect(paths.db) as con:
        load_catalog(con, paths.manifests / "catalog", date(2026, 11, 1))
        score_images(con, [paths.manifests / "catalog"], paths.images, paths.models, num_workers=0)
        refresh_analytics(con)
    return paths


@pytest.fixture(scope="module")
def truth(catalog_server):
    folder, _ = catalog_server
    by_product: dict[str, list[int]] = {}
    with (folder / "truth.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_product.setdefault(row["product_id"], []).append(int(row["label_id"]))
    return by_product


def _annotate(tasks: list[dict], truth: dict, **extra) -> list[dict]:
    """What Label Studio exports after a reviewer answered every task with the truth."""
    names = {label.label_id: label for label in LABELS.labels}
    exported = []
    for number, task in enumerate(tasks, start=1):
        by_task: dict[str, list[str]] = {}
        for label_id in truth[task["data"]["product_id"]]:
            by_task.setdefault(names[label_id].task, []).append(names[label_id].name)
        result = [
            {
                "id": f"a{number}-{t}",
                "from_name": t,
                "to_name": "image",
                "type": "choices",
                "value": {"choices": chosen},
                "origin": "manual",
            }
            for t, chosen in by_task.items()
        ]
        annotation = {
            "id": number,
            "completed_by": {"id": 1, "email": "ana@example.com"},
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "created_at": "2026-12-01T10:00:00.000000Z",
            "updated_at": "2026-12-01T10:00:00.000000Z",
            "lead_time": 4.2,
        }
        exported.append({"id": number, **task, "annotations": [annotation], **extra})
    return exported


def test_export_writes_label_studio_tasks_least_certain_first(home, tmp_path):
    out, config = tmp_path / "tasks.json", tmp_path / "config.xml"
    result = export_review(home, [], out, config, limit=10)
    tasks = json.loads(out.read_text())
    assert result.tasks == len(tasks) == 10
    for task in tasks:  # Label Studio's import format: data + predictions[].result[]
        assert set(task) == {"data", "predictions"}
        assert {"image", "retailer", "product_id", "sha256", "model_version"} <= set(task["data"])
        assert task["data"]["image"].startswith("http://127.0.0.1")
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == result.model_version
        assert 0 <= prediction["score"] <= 0.1
        for item in prediction["result"]:
            assert item["type"] == "choices" and item["to_name"] == "image"
            assert item["from_name"] in LABELS.tasks and item["value"]["choices"]
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)  # the least certain first
    ids = [item["id"] for t in tasks for item in t["predictions"][0]["result"]]
    assert len(ids) == len(set(ids))
    view = ElementTree.fromstring(config.read_text())
    controls = {c.get("name"): c for c in view.iter("Choices")}
    assert set(controls) == set(LABELS.tasks)
    assert controls["gender"].get("choice") == "single"
    assert controls["pattern"].get("choice") == "multiple"
    assert {c.get("value") for c in controls["pattern"]} == {
        label.name for label in LABELS.labels if label.task == "pattern"
    }
    for task in tasks:  # every pre-annotated choice exists in the config
        for item in task["predictions"][0]["result"]:
            allowed = {c.get("value") for c in controls[item["from_name"]]}
            assert set(item["value"]["choices"]) <= allowed
    # once per image and model version, unless --again
    export_review(home, [], tmp_path / "rest.json", limit=10_000)
    rest = {t["data"]["sha256"] for t in json.loads((tmp_path / "rest.json").read_text())}
    assert not rest & {t["data"]["sha256"] for t in tasks}
    with pytest.raises(FashionError, match="not exported before"):
        export_review(home, [], tmp_path / "none.json", limit=10_000)
    assert not (tmp_path / "none.json").exists()
    assert export_review(home, [], tmp_path / "again.json", limit=10, again=True).tasks == 10


def test_export_annotate_import_gives_the_answers_back(home, tmp_path, truth):
    out = tmp_path / "tasks.json"
    export_review(home, ["pattern", "color"], out, limit=8)
    tasks = json.loads(out.read_text())
    assert {i["from_name"] for t in tasks for i in t["predictions"][0]["result"]} <= {
        "pattern",
        "color",
    }
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(_annotate(tasks, truth)))
    report, written = import_review(home, exported, tmp_path / "reviewed.json")
    assert report.imported == len(tasks) and not report.conflicts and not report.problems
    training = json.loads(written.read_text())
    by_image = {a["imageId"]: sorted(int(i) for i in a["labelId"]) for a in training["annotations"]}
    for task in tasks:
        assert by_image[task["data"]["sha256"]] == sorted(truth[task["data"]["product_id"]])
    assert {i["imageId"]: i["url"] for i in training["images"]} == {
        t["data"]["sha256"]: t["data"]["image_url"] for t in tasks
    }
    with connect(home.db, read_only=True) as con:
        rows = con.execute(
            "SELECT image_sha256, label_id, verdict, reviewer, model_version FROM reviewed_labels"
        ).fetchall()
    given = {(sha, label) for sha, label, verdict, _, _ in rows if verdict != "removed"}
    assert given == {(sha, int(i)) for sha, ids in by_image.items() for i in ids}
    assert {r[3] for r in rows} == {"ana@example.com"}
    assert {r[4] for r in rows} == {tasks[0]["predictions"][0]["model_version"]}
    for sha, label, verdict, _, _ in rows:  # removed = predicted, and the reviewer took it out
        task = next(t for t in tasks if t["data"]["sha256"] == sha)
        predicted = {
            name for i in task["predictions"][0]["result"] for name in i["value"]["choices"]
        }
        name = next(lb.name for lb in LABELS.labels if lb.label_id == label)
        assert (verdict in ("confirmed", "removed")) == (name in predicted)


def test_conflicts_and_cancellations_are_reported(home, tmp_path, truth):
    out = tmp_path / "tasks.json"
    export_review(home, [], out, limit=3)
    tasks = _annotate(json.loads(out.read_text()), truth)
    later = json.loads(json.dumps(tasks[0]["annotations"][0]))
    later.update(
        id=99,
        completed_by=2,
        updated_at="2026-12-02T09:00:00Z",
        result=[
            {
                "from_name": "pattern",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [" stripes "]},
            },
            {
                "from_name": "note",
                "to_name": "image",
                "type": "textarea",
                "value": {"text": ["blurry"]},
            },
        ],
    )
    tasks[0]["annotations"].append(later)
    tasks[1]["annotations"][0]["was_cancelled"] = True
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(tasks))
    report, written = import_review(home, exported, tmp_path / "reviewed.json")
    assert report.tasks == 3 and report.imported == 2 and report.skipped == 1
    assert report.cancelled == 1 and report.other_results == {"textarea": 1}
    assert len(report.conflicts) == 1
    first = json.loads(written.read_text())["annotations"][0]
    striped = next(lb.label_id for lb in LABELS.labels if lb.name == "Stripes")
    assert first["labelId"] == [str(striped)]  # the most recent annotation wins; case, spaces
    report, written = import_review(home, exported, tmp_path / "agreed.json", agreement=True)
    assert report.imported == 1 and report.dropped_for_disagreement == 1


def test_a_bad_task_fails_the_import_naming_it_and_writes_nothing(home, tmp_path, truth):
    out = tmp_path / "tasks.json"
    export_review(home, [], out, limit=2)
    tasks = _annotate(json.loads(out.read_text()), truth)
    unknown = json.loads(json.dumps(tasks))
    unknown[1]["annotations"][0]["result"] = [
        {"from_name": "pattern", "type": "choices", "value": {"choices": ["Polka Dots of Doom"]}}
    ]
    ghost = [*tasks, {"id": 77, "data": {"sha256": "0" * 64}, "annotations": []}]
    for bad, message in (
        (
            unknown,
            "task 2, annotation 2: pattern choice 'Polka Dots of Doom' is not in the label map",
        ),
        (ghost, "task 77: image 000000000000 is not in this home's image store"),
    ):
        exported = tmp_path / "export.json"
        exported.write_text(json.dumps(bad))
        with pytest.raises(FashionError, match=message):
            import_review(home, exported, tmp_path / "reviewed.json")
        assert not (tmp_path / "reviewed.json").exists()
    with connect(home.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM reviewed_labels").fetchall() == [(0,)]


@pytest.mark.parametrize(
    "content, message",
    [
        ("[]", "the export holds no tasks"),
        ('{"tasks": []}', "not a Label Studio JSON export"),
        ('[{"image": "x.jpg", "choice": "a"}]', "not a Label Studio export of `fashion review`"),
        ('[{"data": {"image": "x"}}]', "task 1: no data.sha256"),
        ('[{"data": [], "annotations": []}]', "'data' must be an object"),
        ("[{", "not valid JSON"),
    ],
)
def test_bad_exports_are_one_line(home, tmp_path, content, message):
    path = tmp_path / "export.json"
    path.write_text(content)
    with pytest.raises(FashionError, match=message):
        import_review(home, path, tmp_path / "reviewed.json")
    assert not (tmp_path / "reviewed.json").exists()


def test_reviewed_images_are_trained_on_and_never_held_out():
    from fashion_model.model.train import _split

    targets = np.eye(4, dtype=np.float32)[np.arange(40) % 4]
    rows = {
        "train": ([f"t{i}" for i in range(40)], targets),
        "reviewed": ([f"r{i}" for i in range(8)], targets[:8]),
    }
    (train, _), (validation, _), _ = _split(rows, 0.25, seed=0)
    _, (alone, _), _ = _split({"train": rows["train"]}, 0.25, seed=0)
    assert {f"r{i}" for i in range(8)} <= set(train) and len(train) + len(validation) == 48
    assert validation == alone  # the same hold-out as without the reviewed images
    (train, _), (validation, _), _ = _split(rows, 0.25, seed=0, reviewed_in_validation=True)
    assert len(train) + len(validation) == 48 and len(validation) > len(alone)


def test_label_studio_sdk_accepts_the_config_and_the_tasks(home, tmp_path):
    """Against Label Studio's own parsing, where label-studio-sdk installs (it is not a
    dependency: it pulls OpenCV, NLTK and more). Checked by hand here with 2.1.2."""
    import label_studio_sdk.label_interface as sdk  # the dev extra installs it: never skipped

    out, config = tmp_path / "tasks.json", tmp_path / "config.xml"
    export_review(home, [], out, config, limit=10)
    interface = sdk.LabelInterface(config.read_text())
    interface.validate()
    for task in json.loads(out.read_text()):
        assert interface.validate_task({"data": task["data"]})
        assert all(interface.validate_prediction(p) for p in task["predictions"])


FIXTURES = Path(__file__).parent / "fixtures" / "labelstudio"


def _verdicts(path: Path) -> tuple[dict, object]:
    """{(task sha256 letter, label name): verdict} of a real export, every image present."""
    from fashion_model.review.labelstudio import read_export, resolve_answers, reviewed_rows

    answers, report = resolve_answers(read_export(path, LABELS), LABELS, lambda sha: True)
    names = {lb.label_id: lb.name for lb in LABELS.labels}
    rows = reviewed_rows(answers, LABELS, path.name)
    return {(row[0][0], names[row[1]]): row[3] for row in rows}, report


def test_a_real_json_export_gives_each_label_its_verdict():
    """What the reviewer saw is the pre-annotation inside each annotation (`prediction`), not
    `predictions` (ids in a real export): kept = confirmed, replaced = removed + added, a
    cleared task = removed; skipped and unannotated tasks give no verdict."""
    verdicts, report = _verdicts(FIXTURES / "export-1.23.2.json")
    assert verdicts == {
        ("a", "Stripes"): "confirmed",
        ("a", "Red"): "removed",
        ("a", "Blue"): "added",
        ("b", "Floral"): "removed",
        ("c", "Plaid"): "confirmed",
        ("c", "Stripes"): "added",
    }
    assert report.skipped == 2 and report.cancelled == 1 and len(report.conflicts) == 1


def test_a_real_json_min_export_reads_like_the_json_one_where_it_can():
    """JSON-MIN keeps no prediction: the pre-annotation comes from `data.predicted`, which
    `fashion review export` writes (task c); tasks without it can only say what was given."""
    verdicts, report = _verdicts(FIXTURES / "export-1.23.2-min.json")
    assert verdicts == {
        ("a", "Stripes"): "added",
        ("a", "Blue"): "added",
        ("c", "Plaid"): "confirmed",
        ("c", "Stripes"): "added",
    }
    assert report.tasks == 4 and report.skipped == 1  # e; JSON-MIN leaves skipped d out


def test_label_names_match_without_case_or_spaces_and_quotes_survive(tmp_path):
    from fashion_model.labels import LabelMap, load_label_map

    rows = 'labelId,taskId,labelName,taskName\n1,1,Men\'s Café "Tee",category\n2,1,Other,category\n'
    (tmp_path / "map.csv").write_text(rows, encoding="utf-8")
    labels: LabelMap = load_label_map(tmp_path / "map.csv")
    task = {
        "id": 9,
        "data": {"sha256": "f" * 64, "predicted": {"category": ["Other"]}},
        "annotations": [
            {
                "id": 1,
                "result": [
                    {
                        "type": "choices",
                        "from_name": "category",
                        "value": {"choices": ['  men\'s CAFÉ "tee" ']},
                    }
                ],
            }
        ],
    }
    from fashion_model.review.labelstudio import resolve_answers

    (answer,), _ = resolve_answers([task], labels, lambda sha: True)
    assert answer.labels == [1] and answer.predicted == [2]


LABEL_STUDIO = Path(__file__).resolve().parents[1] / ".venv-label-studio" / "bin" / "label-studio"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A real Label Studio 1.23 server on loopback with its own data dir (`make label-studio`
    installs it in a venv of its own), and a personal access token made the way a user makes
    one (logged in, Account & Settings > Personal Access Token)."""
    import os
    import subprocess
    import time

    import httpx

    from fashion_model.demo.server import free_port

    if not LABEL_STUDIO.is_file():
        pytest.skip("no Label Studio server: run `make label-studio` (make test does)")
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
    }
    server = subprocess.Popen(
        [
            str(LABEL_STUDIO),
            "start",
            "--no-browser",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--username",
            "ana@example.com",
            "--password",
            "secret123",
        ],
        env=env,
        stdout=(data / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    log = data / "server.log"

    def last_log_line() -> str:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
        return next((line for line in reversed(lines) if line), "(its log is empty)")

    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                pytest.fail(
                    f"Label Studio exited with {server.returncode} at start: "
                    f"{last_log_line()} (log: {log})",
                    pytrace=False,
                )
            time.sleep(1)
        else:
            pytest.fail(
                f"Label Studio did not start in 240 s: {last_log_line()} (log: {log})",
                pytrace=False,
            )
        with httpx.Client(base_url=base) as web:
            web.get("/user/login/")
            web.post(
                "/user/login/",
                data={
                    "csrfmiddlewaretoken": web.cookies["csrftoken"],
                    "email": "ana@example.com",
                    "password": "secret123",
                },
                headers={"Referer": f"{base}/user/login/"},
            )
            made = web.post(
                "/api/token/",
                json={},
                headers={"X-CSRFToken": web.cookies["csrftoken"], "Referer": f"{base}/"},
            )
            token = made.json()["token"]
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_push_review_pull_against_a_real_label_studio(home, tmp_path, label_studio):
    """The whole loop over Label Studio's API with a personal access token: push (twice: no
    duplicate task), a reviewer's answers (keep a task, replace a label, clear a task), pull
    (twice: no duplicate verdict); every verdict measured against what the reviewer saw."""
    from label_studio_sdk import LabelStudio

    from fashion_model.review.remote import pull_review, push_review

    base, token = label_studio
    pushed = push_review(
        home, base, token, "http://127.0.0.1:8000", "shop review", ["pattern", "color"], limit=3
    )
    assert pushed.created_project and pushed.added_tasks == 3
    again = push_review(
        home, base, token, "http://127.0.0.1:8000", "shop review", ["pattern", "color"], limit=3
    )
    assert not again.created_project and again.added_tasks == 0
    assert again.already_in_project == 3 and again.new_predictions == 0

    studio = LabelStudio(base_url=base, api_key=token)
    tasks = [t.model_dump() for t in studio.tasks.list(project=pushed.project, fields="all")]
    assert len(tasks) == 3
    names = {lb.label_id: lb for lb in LABELS.labels}
    expected: dict[tuple[str, int], str] = {}
    replacement = {"pattern": "Argyle", "color": "Teal"}
    for number, task in enumerate(tasks):
        (prediction,) = studio.predictions.list(task=task["id"])
        assert prediction.model_version == pushed.model_version
        shown = {r["from_name"]: r["value"]["choices"] for r in prediction.result}
        if number == 0:  # kept as it was shown
            answer = shown
        elif number == 1:  # one label replaced by another of its task
            task_name = sorted(shown)[0]
            answer = {**shown, task_name: [*shown[task_name][1:], replacement[task_name]]}
        else:  # cleared: none of these labels
            answer = {}
        result = [
            {"from_name": t, "to_name": "image", "type": "choices", "value": {"choices": c}}
            for t, c in answer.items()
            if c
        ]
        studio.annotations.create(id=task["id"], result=result, parent_prediction=prediction.id)
        ids = {lb.label_id for lb in LABELS.labels}
        seen = {i for i in ids if names[i].name in shown.get(names[i].task, [])}
        given = {i for i in ids if names[i].name in answer.get(names[i].task, [])}
        for label_id in seen | given:
            expected[(task["data"]["sha256"], label_id)] = (
                "confirmed"
                if label_id in seen and label_id in given
                else "removed"
                if label_id in seen
                else "added"
            )
    assert "removed" in expected.values() and "added" in expected.values()

    for _ in range(2):
        report, written, kept = pull_review(
            home, base, token, tmp_path / "reviewed.json", "shop review"
        )
        assert report.imported == 3 and kept.is_file()
        with connect(home.db, read_only=True) as con:
            rows = con.execute(
                "SELECT image_sha256, label_id, verdict, reviewer FROM reviewed_labels"
            ).fetchall()
        assert {(sha, label): verdict for sha, label, verdict, _ in rows} == expected
        assert len(rows) == len(expected)  # the second pull replaced, never duplicated
    training = json.loads(written.read_text())
    assert len(training["images"]) == 3


@pytest.mark.slow
def test_label_studio_shows_predictions_from_fashion_serve_as_its_ml_backend(
    home, tmp_path, label_studio
):
    """`fashion serve` connected as a project's model (with the token as Basic auth, as a
    server off loopback needs): a new task gets the production model's pre-annotation."""
    from label_studio_sdk import LabelStudio

    from fashion_model.model.registry import production_version

    base, token = label_studio
    serve_token = "serve-token-for-the-test"
    with serving(home.root, serve_token) as served:
        studio = LabelStudio(base_url=base, api_key=token)
        config = labelling_config(LABELS, ["color", "gender"])
        project = studio.projects.create(title="live predictions", label_config=config)
        with connect(home.db, read_only=True) as con:
            sha = con.execute("SELECT image_sha256 FROM images LIMIT 1").fetchone()[0]
        studio.projects.import_tasks(
            id=project.id, request=[{"data": {"image": "http://unused/x.jpg", "sha256": sha}}]
        )
        studio.ml.create(
            project=project.id,
            url=f"{served}/label-studio",
            title="fashion serve",
            auth_method="BASIC_AUTH",
            basic_auth_user="labelstudio",
            basic_auth_pass=serve_token,
        )
        studio.actions.create(
            id="retrieve_tasks_predictions",
            project=project.id,
            selected_items={"all": True, "excluded": []},
        )
        (task,) = studio.tasks.list(project=project.id, fields="all")
        predictions = studio.predictions.list(task=task.id)
        assert [p.model_version for p in predictions] == [production_version(home.models)]
        assert {r["from_name"] for r in predictions[0].result} <= {"color", "gender"}
