"""`fashion review push` and `pull`: the review loop over a running Label Studio's REST API,
through the official client (`label-studio-sdk`, the `labelstudio` extra).

Auth is the SDK's: a personal access token (a JWT refresh token, exchanged for short-lived
access tokens and renewed when one expires: Label Studio 1.23's default) or a legacy token
where the server still enables them. URL and key come from --url/--api-key or
LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY, the names the SDK uses.

push: the project is found by title (or created with the labelling config); the batch of least
certain images (the same choice as `review export`) is imported as tasks with their
pre-annotations and the project's `model_version` set, so Label Studio shows them. An image
already in the project is never added again: with a new model version its task gets that
version's prediction instead. Images load in the reviewer's browser from `fashion serve`
through signed links (review/signing.py).

pull: the project's full JSON export (Label Studio's own), kept under HOME/review/, then the
same import as `fashion review import`: a second pull replaces each image's verdicts, never
duplicates them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fashion_model.config import REVIEW_MARGIN
from fashion_model.errors import BadInput, RuntimeFailure
from fashion_model.files import write_json
from fashion_model.home import Home
from fashion_model.labels import default_label_map
from fashion_model.review.labelstudio import ImportReport, build_task, labelling_config
from fashion_model.review.loop import (
    check_export_options,
    choose_batch,
    import_review,
    open_warehouse,
    record_batch,
)
from fashion_model.review.signing import check_base_url, signed_link
from fashion_model.urls import url_refusal

URL_ENV, KEY_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"
PROJECT = "fashion review"  # the default project title
DESCRIPTION = "Attributes the model is least sure of (fashion review push)"


@dataclass
class PushResult:
    project: int
    project_title: str
    created_project: bool
    model_version: str
    added_tasks: int
    already_in_project: int
    new_predictions: int  # images already in the project, predicted again by a newer model

    def as_dict(self) -> dict:
        return dict(vars(self))


class Studio:
    """One Label Studio server through the SDK; its errors become one line naming the server."""

    def __init__(self, url: str | None, api_key: str | None):
        self.url = (url or os.environ.get(URL_ENV) or "").rstrip("/")
        key = api_key or os.environ.get(KEY_ENV)
        if url_refusal(self.url):
            raise BadInput(f"no Label Studio address: pass --url or set {URL_ENV} (http(s)://...)")
        if not key:
            raise BadInput(
                f"no Label Studio key: pass --api-key or set {KEY_ENV} (Account & "
                "Settings > Personal Access Token)"
            )
        try:
            from label_studio_sdk import LabelStudio
        except ImportError:
            raise BadInput(
                "push and pull talk to Label Studio through label-studio-sdk: "
                "pip install 'fashion-attributes[labelstudio]'"
            ) from None
        self.client = LabelStudio(base_url=self.url, api_key=key, timeout=120)

    def call(self, what: str, action: Callable[[], Any]) -> Any:
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            return action()
        except ApiError as error:
            body = error.body if isinstance(error.body, dict) else {"detail": error.body}
            detail = " ".join(
                str(body.get(k)) for k in ("detail", "validation_errors") if body.get(k)
            )
            message = f"Label Studio at {self.url}: {what}: HTTP {error.status_code} {detail}"
            if error.status_code in (401, 403):
                raise BadInput(f"{message} (check the key)") from None
            if error.status_code and error.status_code < 500:
                raise BadInput(message) from None
            raise RuntimeFailure(message) from None
        except (httpx.HTTPError, ValueError) as error:  # unreachable, or a token it refused
            raise RuntimeFailure(f"Label Studio at {self.url}: {what}: {error}") from None

    def project(self, title: str):
        """The project of this title, or None."""
        found = self.call("list projects", lambda: list(self.client.projects.list(title=title)))
        return next((p for p in found if p.title == title), None)

    def tasks(self, project: int) -> list[dict]:
        listed = self.call(
            "list tasks", lambda: list(self.client.tasks.list(project=project, fields="all"))
        )
        return [t.model_dump() for t in listed]


def push_review(
    paths: Home,
    url: str | None,
    api_key: str | None,
    image_base: str,
    title: str = PROJECT,
    tasks: list[str] | None = None,
    retailer: str | None = None,
    margin: float = REVIEW_MARGIN,
    limit: int = 200,
    holder: str = "fashion review push",
) -> PushResult:
    """The batch of least certain images into the Label Studio project `title`."""
    check_export_options(tasks or [], margin, limit, "url")
    image_base = check_base_url(image_base)
    studio = Studio(url, api_key)
    with open_warehouse(paths, holder) as con:
        batch = choose_batch(con, paths, tasks or [], retailer, margin, limit, again=True)
        config = labelling_config(default_label_map(), batch.tasks)
        project = studio.project(title)
        created = project is None
        if created:
            project = studio.call(
                "create the project",
                lambda: studio.client.projects.create(
                    title=title, label_config=config, description=DESCRIPTION
                ),
            )
        present = {t["data"].get("sha256"): t for t in studio.tasks(project.id)}
        fresh, again = [], 0
        for row in batch.rows:
            link = signed_link(paths.root, image_base, row["image_sha256"])
            task = build_task(row, batch.model_version, batch.tasks, link)
            known = present.get(row["image_sha256"])
            if known is None:
                fresh.append(task)
            elif batch.model_version not in (known.get("predictions_model_versions") or []):
                prediction = task["predictions"][0]
                studio.call(
                    "add a prediction",
                    lambda k=known, p=prediction: studio.client.predictions.create(
                        task=k["id"], **p
                    ),
                )
                again += 1
        if fresh:
            studio.call(
                "import tasks",
                lambda: studio.client.projects.import_tasks(id=project.id, request=fresh),
            )
        # after the import: a project's model_version must be one its predictions carry
        studio.call(
            "show the model's predictions",
            lambda: studio.client.projects.update(
                id=project.id, model_version=batch.model_version, show_collab_predictions=True
            ),
        )
        record_batch(con, batch)
    return PushResult(
        project.id,
        title,
        created,
        batch.model_version,
        len(fresh),
        len(batch.rows) - len(fresh),
        again,
    )


def pull_review(
    paths: Home,
    url: str | None,
    api_key: str | None,
    out: Path,
    title: str = PROJECT,
    agreement: bool = False,
) -> tuple[ImportReport, Path, Path]:
    """The project's annotations (Label Studio's JSON export, kept in HOME/review) imported as
    `fashion review import` does; returns the report, the training file and the export."""
    studio = Studio(url, api_key)
    project = studio.project(title)
    if project is None:
        raise BadInput(f"Label Studio at {studio.url}: no project titled {title!r}; push first")
    exported = studio.call(
        "export annotations", lambda: studio.client.projects.exports.as_json(project.id)
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    kept = paths.root / "review" / f"label-studio-{project.id}-{stamp}.json"
    write_json(kept, exported if isinstance(exported, list) else json.loads(exported))
    report, written = import_review(paths, kept, out, agreement, holder="fashion review pull")
    return report, written, kept
