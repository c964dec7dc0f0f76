"""The review loop with Label Studio: uncertain predictions out as tasks with pre-annotations,
people's answers back as an iMaterialist training file and as `reviewed_labels`.

Export: one task per catalog image (the first product that shows it), least certain first:
`data` holds the image (its catalog URL, or a Label Studio local-files URL into HOME/images),
retailer, product id, sha256 and the model version; `predictions` holds one prediction with the
model version, a `score` (the smallest |probability - threshold| over the exported tasks: 0 is
a coin toss, so sorting by prediction score ascending puts the least certain first) and one
`choices` result per attribute task with the labels the model predicts. The labelling config
has an `<Image>` and one `<Choices>` per task (single choice for gender).

Import: a Label Studio JSON or JSON-MIN export (see the notes above `read_export`). An
annotation is the reviewer's whole answer: Label Studio submits the pre-annotations the reviewer
kept, so a task left without choices means "none of these labels". Cancelled (skipped)
annotations are ignored; when annotators disagree the most recent answer wins, unless
`agreement` is asked for, which imports only the tasks whose annotators agree.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from fashion_model.config import REVIEW_MARGIN
from fashion_model.errors import BadInput
from fashion_model.labels import LabelMap

SINGLE_CHOICE_TASKS = ("gender",)
IMAGE_FIELD = "image"
MAX_MARGIN = REVIEW_MARGIN  # the widest margin a review export takes


# --- export ---------------------------------------------------------------------------------


def labelling_config(label_map: LabelMap, tasks: list[str]) -> str:
    """The Label Studio labelling configuration (XML) for these tasks."""
    lines = [
        "<View>",
        f'  <Image name="{IMAGE_FIELD}" value="${IMAGE_FIELD}" zoom="true"/>',
        '  <Header value="$retailer $product_id"/>',
    ]
    for task in tasks:
        choice = "single" if task in SINGLE_CHOICE_TASKS else "multiple"
        lines.append(f'  <Header value="{task}"/>')
        lines.append(
            f'  <Choices name="{task}" toName="{IMAGE_FIELD}" choice="{choice}" showInLine="true">'
        )
        for label in label_map.labels:
            if label.task == task:
                lines.append(f"    <Choice value={quoteattr(label.name)}/>")
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def image_location(row: dict, image_source: str) -> str:
    """What Label Studio shows: the catalog URL, or its local-files URL of the stored image
    (serve HOME/images with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)."""
    if image_source == "local":
        return f"/data/local-files/?d={quote(row['path'])}"
    return row["image_url"]


def build_task(row: dict, model_version: str, tasks: list[str], image: str) -> dict:
    """One Label Studio task with its pre-annotation, from a candidates.sql row; `image` is
    where the reviewer's browser loads the picture from."""
    by_task: dict[str, list[str]] = {task: [] for task in tasks}
    for label in row["predicted"] or []:
        by_task.setdefault(label["task"], []).append(label["name"])
    result = []
    short = row["image_sha256"][:12]
    for task in tasks:
        names = by_task.get(task, [])
        if task in SINGLE_CHOICE_TASKS:
            names = names[:1]  # the highest-scoring one (candidates.sql sorts by score)
        if names:
            result.append(
                {
                    "id": f"{short}-{task}",
                    "from_name": task,
                    "to_name": IMAGE_FIELD,
                    "type": "choices",
                    "value": {"choices": names},
                }
            )
    return {
        "data": {
            IMAGE_FIELD: image,
            "image_url": row["image_url"],
            "retailer": row["retailer"],
            "product_id": row["product_id"],
            "sha256": row["image_sha256"],
            "model_version": model_version,
            # what the pre-annotation shows, kept in every export format (JSON-MIN too)
            "predicted": {r["from_name"]: r["value"]["choices"] for r in result},
        },
        "predictions": [
            {
                "model_version": model_version,
                "score": round(float(row["certainty"]), 4),
                "result": result,
            }
        ],
    }


# --- import ---------------------------------------------------------------------------------
# What Label Studio 1.x really writes, and what is read from it:
# - JSON (full): a list of tasks {id, data, annotations, predictions, ...}. `predictions` is a
#   list of objects (our own tasks file, older servers) or of ids (1.2x); each annotation holds
#   the pre-annotation its reviewer saw under `prediction` (with its `result`). `completed_by` is
#   a user id or an object.
# - JSON-MIN: one flat object per annotation: the task's data fields, `id` (the task), each
#   control's answer under its name (a choice as a string, several as {"choices": [...]} or a
#   list), `annotator`, `annotation_id`, `created_at`, `updated_at`, `lead_time`.
# What the reviewer saw, in order: the annotation's `prediction`, a task prediction object, and
# `data.predicted` (our export writes the pre-annotation there too, so JSON-MIN and id-only
# exports keep it). A verdict per label compares the answer with that: kept = confirmed, taken
# out = removed, put in = added.

_MIN_META = {
    "id",
    "annotator",
    "annotation_id",
    "created_at",
    "updated_at",
    "lead_time",
    "drafts",
    "predictions",
}


@dataclass
class Answer:
    """One reviewed image: the labels people gave it, and what the model had predicted."""

    sha256: str
    url: str
    retailer: str | None
    product_id: str | None
    model_version: str | None
    labels: list[int]
    predicted: list[int]
    reviewer: str | None
    reviewed_at: datetime | None


@dataclass
class ImportReport:
    tasks: int = 0
    imported: int = 0
    skipped: int = 0  # no annotation, or every annotation cancelled: not reviewed
    cancelled: int = 0  # annotations skipped by their reviewer
    conflicts: list[str] = field(default_factory=list)
    dropped_for_disagreement: int = 0
    other_results: Counter = field(default_factory=Counter)  # results of other control types
    problems: list[str] = field(default_factory=list)  # row problems, one line each

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "imported": self.imported,
            "skipped": self.skipped,
            "cancelled_annotations": self.cancelled,
            "conflicts": len(self.conflicts),
            "dropped_for_disagreement": self.dropped_for_disagreement,
            "other_results": dict(self.other_results),
            "problems": self.problems[:20],
        }


def _when(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _who(annotation: dict) -> str | None:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return None if who is None else str(who)


def _key(name: object) -> str:
    """A choice as the label map is looked up: case and surrounding spaces do not matter."""
    return " ".join(str(name).split()).casefold()


class _Choices:
    """Label ids from `choices` results, checked against the label map."""

    def __init__(self, label_map: LabelMap, report: ImportReport):
        self.tasks = set(label_map.tasks)
        self.ids = {(lb.task, _key(lb.name)): lb.label_id for lb in label_map.labels}
        self.report = report

    def __call__(self, result: object, where: str) -> list[int]:
        ids: set[int] = set()
        for item in result if isinstance(result, list) else []:
            if not isinstance(item, dict):
                raise BadInput(f"{where}: a result entry is not an object")
            if item.get("type") != "choices" or item.get("from_name") not in self.tasks:
                self.report.other_results[str(item.get("type") or item.get("from_name"))] += 1
                continue
            task = item["from_name"]
            chosen = (item.get("value") or {}).get("choices") or []
            for name in [chosen] if isinstance(chosen, str) else chosen:
                label_id = self.ids.get((task, _key(name)))
                if label_id is None:
                    raise BadInput(f"{where}: {task} choice {name!r} is not in the label map")
                ids.add(label_id)
        return sorted(ids)


def _min_tasks(rows: list[dict], controls: set[str]) -> list[dict]:
    """JSON-MIN rows (one per annotation) as full-export tasks."""
    tasks: dict[object, dict] = {}
    for number, row in enumerate(rows, start=1):
        task_id = row.get("id", f"row {number}")
        task = tasks.setdefault(task_id, {"id": task_id, "data": {}, "annotations": []})
        task["data"].update(
            {k: v for k, v in row.items() if k not in _MIN_META and k not in controls}
        )
        if row.get("annotation_id") is None and not controls & set(row):
            continue  # a task nobody annotated
        result = []
        for name in sorted(controls & set(row)):
            value = row[name]
            chosen = value.get("choices") if isinstance(value, dict) else value
            chosen = [chosen] if isinstance(chosen, str) else list(chosen or [])
            result.append({"type": "choices", "from_name": name, "value": {"choices": chosen}})
        task["annotations"].append(
            {
                "id": row.get("annotation_id"),
                "completed_by": row.get("annotator"),
                "created_at": row.get("created_at"),
                "updated_at": row.get("updated_at"),
                "result": result,
            }
        )
    return list(tasks.values())


def read_export(path: Path, label_map: LabelMap) -> list[dict]:
    """The tasks of a Label Studio JSON or JSON-MIN export, as full-export tasks; anything else
    is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: export file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, list):
        raise BadInput(f"{path}: not a Label Studio JSON export (expected a list of tasks)")
    if not data:
        raise BadInput(f"{path}: the export holds no tasks")
    if not all(isinstance(t, dict) for t in data):
        raise BadInput(f"{path}: not a Label Studio JSON export (a task is not an object)")
    if all("data" in t for t in data):
        for task in data:
            if not isinstance(task["data"], dict) or not isinstance(
                task.get("annotations", []), list
            ):
                raise BadInput(
                    f"{path}: task {task.get('id')}: 'data' must be an object and "
                    "'annotations' a list"
                )
        return data
    if all("sha256" in t for t in data):
        return _min_tasks(data, set(label_map.tasks))
    raise BadInput(
        f"{path}: not a Label Studio export of `fashion review` tasks (JSON or JSON-MIN, each "
        "task with its data.sha256)"
    )


def _seen(task: dict, annotation: dict) -> object:
    """The pre-annotation the reviewer saw (a result list), or None when there was none."""
    shown = annotation.get("prediction")
    if isinstance(shown, dict) and isinstance(shown.get("result"), list):
        return shown["result"]
    for prediction in task.get("predictions") or []:
        if isinstance(prediction, dict) and isinstance(prediction.get("result"), list):
            return prediction["result"]
    predicted = (task.get("data") or {}).get("predicted")
    if isinstance(predicted, dict):
        return [
            {"type": "choices", "from_name": t, "value": {"choices": names}}
            for t, names in predicted.items()
        ]
    return None


def _order(annotation: dict) -> tuple:
    moment = _when(annotation.get("updated_at") or annotation.get("created_at"))
    return (moment or datetime.min.replace(tzinfo=UTC), str(annotation.get("id")))


def _model_version(task: dict, annotation: dict) -> str | None:
    for found in (annotation.get("prediction"), *(task.get("predictions") or [])):
        if isinstance(found, dict) and found.get("model_version"):
            return str(found["model_version"])
    return (task.get("data") or {}).get("model_version")


def resolve_answers(
    tasks: list[dict],
    label_map: LabelMap,
    image_exists,
    agreement: bool = False,
) -> tuple[list[Answer], ImportReport]:
    """Each reviewed task's final answer: its latest annotation not cancelled (by update time,
    then id), or with `agreement` only tasks whose annotators agree. A task nobody answered is
    not reviewed (no verdicts). A choice not in the label map, or an image not in the store,
    fails the import naming the task: nothing is written."""
    report = ImportReport(tasks=len(tasks))
    choices = _Choices(label_map, report)
    answers = []
    for index, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        where = f"task {task.get('id', index)}"
        sha256 = data.get("sha256")
        if not isinstance(sha256, str) or not sha256:
            raise BadInput(f"{where}: no data.sha256 (not a task of `fashion review`)")
        if not image_exists(sha256):
            raise BadInput(f"{where}: image {sha256[:12]} is not in this home's image store")
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
        valid = [a for a in annotations if not a.get("was_cancelled")]
        report.cancelled += len(annotations) - len(valid)
        if not valid:
            report.skipped += 1
            continue
        valid.sort(key=_order)
        given = [choices(a.get("result"), f"{where}, annotation {a.get('id')}") for a in valid]
        if len({tuple(g) for g in given}) > 1:
            report.conflicts.append(f"{where}: {len(valid)} annotators disagree")
            if agreement:
                report.dropped_for_disagreement += 1
                continue
        latest = valid[-1]
        seen = _seen(task, latest)
        answers.append(
            Answer(
                sha256=sha256,
                url=data.get("image_url") or data.get(IMAGE_FIELD) or "",
                retailer=data.get("retailer"),
                product_id=data.get("product_id"),
                model_version=_model_version(task, latest),
                labels=given[-1],
                predicted=choices(seen, f"{where} prediction") if seen is not None else [],
                reviewer=_who(latest),
                reviewed_at=_when(latest.get("updated_at") or latest.get("created_at")),
            )
        )
    report.imported = len(answers)
    return answers, report


def training_file(answers: list[Answer]) -> dict:
    """The answers as an iMaterialist-format file (imageId = the image's sha256)."""
    return {
        "images": [{"imageId": a.sha256, "url": a.url} for a in answers],
        "annotations": [
            {"imageId": a.sha256, "labelId": [str(i) for i in a.labels]} for a in answers
        ],
    }


def reviewed_rows(answers: list[Answer], label_map: LabelMap, source: str) -> list[tuple]:
    """`reviewed_labels` rows: confirmed, added or removed, per image and label."""
    task_of = {label.label_id: label.task for label in label_map.labels}
    now = datetime.now(UTC)
    rows = []
    for a in answers:
        given, predicted = set(a.labels), set(a.predicted)
        for label_id in sorted(given | predicted):
            verdict = (
                "confirmed"
                if label_id in given and label_id in predicted
                else "added"
                if label_id in given
                else "removed"
            )
            rows.append(
                (
                    a.sha256,
                    label_id,
                    task_of[label_id],
                    verdict,
                    a.retailer,
                    a.product_id,
                    a.model_version,
                    a.reviewer,
                    a.reviewed_at,
                    now,
                    source,
                )
            )
    return rows
