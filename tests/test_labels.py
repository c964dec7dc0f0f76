from pathlib import Path

import pytest

from fashion_model.errors import FashionError
from fashion_model.labels import default_label_map, load_label_map

TASKS = ["category", "color", "gender", "material", "neckline", "pattern", "sleeve", "style"]


def test_the_shipped_label_map_has_228_labels_in_8_tasks():
    label_map = default_label_map()
    assert len(label_map) == 228
    assert label_map.tasks == TASKS
    assert label_map.ids == sorted(label_map.ids)
    assert label_map.position[1] == 0 and label_map.position[228] == 227


def test_a_quoted_comma_stays_inside_the_name():
    label = default_label_map().by_id[89]
    assert label.name == "Hosiery, Stockings, Tights"
    assert label.task == "category"


def test_label_ids_are_found_by_task_and_name():
    label_map = default_label_map()
    assert label_map.label_id("pattern", "Stripes") == 181
    assert label_map.label_id("category", "Dresses") == 62
    with pytest.raises(FashionError, match="not in task"):
        label_map.label_id("color", "Stripes")
    with pytest.raises(FashionError, match="valid tasks"):
        label_map.task_labels("fabric")


def test_unknown_ids_are_returned_not_dropped():
    known, unknown = default_label_map().split_known(["62", "62", "17", "999", "abc"])
    assert known == [17, 62]
    assert unknown == ["999", "abc"]


def test_a_broken_label_map_fails_with_the_file_name(tmp_path: Path):
    path = tmp_path / "labels.csv"
    path.write_text("labelId,labelName\n1,Argyle\n")
    with pytest.raises(FashionError, match="labels.csv: label map lacks column"):
        load_label_map(path)
    path.write_text("labelId,taskId,labelName,taskName\nx,1,A,pattern\n")
    with pytest.raises(FashionError, match=r"labels.csv:2: labelId and taskId must be integers"):
        load_label_map(path)
