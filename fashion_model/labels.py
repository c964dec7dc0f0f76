"""The iMaterialist Fashion 2018 label map (228 labels, 8 tasks), loaded once, used everywhere."""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fashion_model.errors import BadInput

DEFAULT_LABEL_MAP = Path(__file__).parent / "data" / "iMat_fashion_2018_label_map_228.csv"
REQUIRED_COLUMNS = ("labelId", "taskId", "labelName", "taskName")


@dataclass(frozen=True)
class Label:
    label_id: int
    task_id: int
    name: str
    task: str


@dataclass(frozen=True)
class LabelMap:
    """Labels ordered by id; a label's index in that order is its `position` in model outputs."""

    labels: tuple[Label, ...]
    source: str = ""

    @functools.cached_property
    def position(self) -> dict[int, int]:
        return {label.label_id: i for i, label in enumerate(self.labels)}

    @functools.cached_property
    def by_id(self) -> dict[int, Label]:
        return {label.label_id: label for label in self.labels}

    @property
    def ids(self) -> list[int]:
        return [label.label_id for label in self.labels]

    @property
    def tasks(self) -> list[str]:
        return sorted({label.task for label in self.labels})

    def __len__(self) -> int:
        return len(self.labels)

    def task_labels(self, task: str) -> list[Label]:
        found = [label for label in self.labels if label.task == task]
        if not found:
            raise BadInput(f"unknown task {task!r}; valid tasks: {', '.join(self.tasks)}")
        return found

    def label_id(self, task: str, name: str) -> int:
        """The id of a label named in code (e.g. ("pattern", "Stripes")); fails loudly on typos."""
        for label in self.task_labels(task):
            if label.name == name:
                return label.label_id
        raise BadInput(f"label {name!r} is not in task {task!r} of the label map")

    def split_known(self, raw_ids: Iterable[str | int]) -> tuple[list[int], list[str]]:
        """Sorted, deduplicated known ids, and the distinct raw ids that are not in the map."""
        known: set[int] = set()
        unknown: list[str] = []
        for raw in raw_ids:
            text = str(raw).strip()
            if text.isdigit() and int(text) in self.by_id:
                known.add(int(text))
            elif text not in unknown:
                unknown.append(text)
        return sorted(known), unknown

    def fingerprint(self) -> str:
        """A stable text key for 'same label map' checks (ids, tasks and names in order)."""
        return "|".join(f"{lb.label_id}:{lb.task}:{lb.name}" for lb in self.labels)


def load_label_map(path: Path | str | None = None) -> LabelMap:
    """Parse a label map CSV (columns labelId,taskId,labelName,taskName) with a real CSV reader."""
    path = Path(path) if path else DEFAULT_LABEL_MAP
    if not path.is_file():
        raise BadInput(f"{path}: label map file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{path}: label map lacks column(s) {', '.join(missing)}")
        labels = []
        seen: set[int] = set()
        for line_no, row in enumerate(reader, start=2):
            try:
                label = Label(
                    label_id=int(row["labelId"]),
                    task_id=int(row["taskId"]),
                    name=row["labelName"].strip(),
                    task=row["taskName"].strip(),
                )
            except (TypeError, ValueError):
                raise BadInput(f"{path}:{line_no}: labelId and taskId must be integers") from None
            if label.label_id in seen:
                raise BadInput(f"{path}:{line_no}: duplicate labelId {label.label_id}")
            seen.add(label.label_id)
            labels.append(label)
    if not labels:
        raise BadInput(f"{path}: label map is empty")
    return LabelMap(labels=tuple(sorted(labels, key=lambda lb: lb.label_id)), source=str(path))


@functools.cache
def default_label_map() -> LabelMap:
    return load_label_map(DEFAULT_LABEL_MAP)
