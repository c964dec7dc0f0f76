"""The review loop with Label Studio: uncertain predictions out as tasks with pre-annotations,
people's answers back as an iMaterialist training file and as `reviewed_labels`.

Export: one task per catalog image (the first product that shows it), least certain first:
`data` holds the image (its catalog URL, or a Label Studio local-files URL into HOME/images),
retailer, product id, sha256 and the model version; `predictions` holds one prediction with the
model version, a `score` (the smallest |probability - threshold| over the exported tasks: 0 is
a coin toss, so sorting by prediction score ascending puts the least certain first) and one
`choices` result per attribute task with the labels the model predicts. The labelling config
has an `<Image>` and one `<Choices>` per task (single choice for gender).

Import: a Label Studio JSON export (a list of tasks with their `annotations`). An annotation is
the reviewer's whole answer: Label Studio submits the pre-annotations the reviewer kept, so a
task left without choices means "none of these labels". Cancelled (skipped) annotations are
ignored; when annotators disagree the most recent answer wins, unless `agreement` is asked
for, which imports only the tasks whose annotators agree.
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


def build_task(row: dict, model_version: str, tasks: list[str], image_source: str) -> dict:
    """One Label Studio task with its pre-annotation, from a candidates.sql row."""
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
            IMAGE_FIELD: image_location(row, image_source),
            "image_url": row["image_url"],
            "retailer": row["retailer"],
            "product_id": row["product_id"],
            "sha256": row["image_sha256"],
            "model_version": model_version,
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
    skipped: int = 0  # no annotation, or every annotation cancelled
    conflicts: list[str] = field(default_factory=list)
    dropped_for_disagreement: int = 0
    unknown_choices: Counter = field(default_factory=Counter)
    missing_images: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # row problems, one line each

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "imported": self.imported,
            "skipped": self.skipped,
            "conflicts": len(self.conflicts),
            "dropped_for_disagreement": self.dropped_for_disagreement,
            "unknown_choices": dict(self.unknown_choices),
            "missing_images": len(self.missing_images),
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


def _choices(result: list, label_map: LabelMap, where: str, report: ImportReport):
    """{task: [label ids]} of one annotation's (or prediction's) `choices` results."""
    names = {(label.task, label.name): label.label_id for label in label_map.labels}
    answer: dict[str, list[int]] = {}
    for item in result or []:
        if not isinstance(item, dict) or item.get("type") != "choices":
            continue
        task = item.get("from_name")
        chosen = (item.get("value") or {}).get("choices") or []
        if task not in label_map.tasks:
            report.problems.append(f"{where}: {task!r} is not a label task; ignored")
            continue
        ids = answer.setdefault(task, [])
        for name in chosen:
            label_id = names.get((task, name))
            if label_id is None:
                report.unknown_choices[f"{task}: {name}"] += 1
                continue
            if label_id not in ids:
                ids.append(label_id)
    return answer


def _flat(answer: dict[str, list[int]]) -> list[int]:
    return sorted({i for ids in answer.values() for i in ids})


def read_export(path: Path) -> list[dict]:
    """The tasks of a Label Studio JSON export; anything else is one line naming the file."""
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
    if not all(isinstance(t, dict) and "data" in t for t in data):
        raise BadInput(f"{path}: not a Label Studio JSON export (tasks need 'data')")
    if not any("annotations" in t for t in data):
        raise BadInput(
            f"{path}: no task has 'annotations': export with Label Studio's JSON format "
            "(not JSON-MIN or CSV)"
        )
    return data


def resolve_answers(
    tasks: list[dict],
    label_map: LabelMap,
    image_exists,
    agreement: bool = False,
) -> tuple[list[Answer], ImportReport]:
    """Each task's final answer: most recent annotation, or only agreed ones."""
    report = ImportReport(tasks=len(tasks))
    answers = []
    for index, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        where = f"task {task.get('id', index)}"
        if data.get("product_id"):
            where += f" ({data.get('retailer')}/{data['product_id']})"
        sha256 = data.get("sha256")
        if not sha256:
            report.problems.append(f"{where}: no data.sha256 (not exported by fashion review)")
            continue
        if not image_exists(sha256):
            report.missing_images.append(sha256)
            report.problems.append(f"{where}: image {sha256[:12]} is not in the store")
            continue
        valid = [a for a in task.get("annotations") or []
                 if isinstance(a, dict) and not a.get("was_cancelled")]  # fmt: skip
        if not valid:
            report.skipped += 1
            continue
        valid.sort(key=lambda a: _when(a.get("updated_at") or a.get("created_at"))
                   or datetime.min.replace(tzinfo=UTC))  # fmt: skip
        given = [_flat(_choices(a.get("result"), label_map, where, report)) for a in valid]
        if len({tuple(g) for g in given}) > 1:
            report.conflicts.append(f"{where}: {len(valid)} annotators disagree")
            if agreement:
                report.dropped_for_disagreement += 1
                continue
        latest = valid[-1]
        predictions = task.get("predictions") or []
        prediction = predictions[0] if predictions and isinstance(predictions[0], dict) else {}
        predicted = _choices(prediction.get("result"), label_map, where, report)
        answers.append(
            Answer(
                sha256=sha256,
                url=data.get("image_url") or data.get(IMAGE_FIELD) or "",
                retailer=data.get("retailer"),
                product_id=data.get("product_id"),
                model_version=prediction.get("model_version") or data.get("model_version"),
                labels=given[-1],
                predicted=_flat(predicted),
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
                "confirmed" if label_id in given and label_id in predicted
                else "added" if label_id in given else "removed"
            )  # fmt: skip
            rows.append((a.sha256, label_id, task_of[label_id], verdict, a.retailer,
                         a.product_id, a.model_version, a.reviewer, a.reviewed_at, now,
                         source))  # fmt: skip
    return rows
