"""`fashion serve` as a Label Studio ML backend: the protocol Label Studio calls when a project
adds a model (Settings > Model, URL `http://HOST:PORT/label-studio`), so new tasks get live
pre-annotations from the production model, reported with its `model_version`.

- GET `/health`: up, and which model answers.
- POST `/setup`: Label Studio connecting a project; answers the model version.
- POST `/predict`: `{"tasks": [...], "label_config": "<View>..."}` -> one result per task: the
  production model's labels for each `<Choices>` control named after a label task (one label
  for a single-choice control), scored by the least confident chosen label.
- POST `/webhook`: annotation events; acknowledged (answers come back with `fashion review pull`).

A task's image is read from the store when its data names a stored image (`sha256`, or a signed
review link), from HOME/images for a local-files URL, else fetched through the downloader's
SSRF guard (public hosts only). Off loopback the token guards these routes like any other
(Label Studio sends it with Basic auth: any user name, the token as the password).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fashion_model.errors import BadInput
from fashion_model.review.labelstudio import SINGLE_CHOICE_TASKS
from fashion_model.review.signing import ROUTE
from fashion_model.service import queries
from fashion_model.service.api import ERRORS
from fashion_model.urls import url_refusal

router = APIRouter(prefix="/label-studio", tags=["Label Studio ML backend"], responses=ERRORS)
MAX_TASKS = 64


class PredictRequest(BaseModel):
    """What Label Studio sends: the tasks to pre-annotate and the project's labelling config."""

    tasks: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_TASKS)
    label_config: str = ""


def _version(request: Request) -> str:
    from fashion_model.model.registry import resolve_version

    return resolve_version(request.app.state.source.home.models, None)


@router.get("/health")
def health(request: Request) -> JSONResponse:
    return JSONResponse(
        {"status": "UP", "model_class": "fashion-attributes", "model_version": _version(request)}
    )


@router.post("/setup")
async def setup(request: Request) -> JSONResponse:
    return JSONResponse({"model_version": _version(request)})


@router.post("/webhook")
async def webhook(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _controls(label_config: str) -> dict[str, tuple[str, str, str]]:
    """<Choices> name -> (the image it annotates, that image's data field, single/multiple);
    none for a config that is not XML (the tasks then get empty results)."""
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError:  # not a labelling config: no control to pre-annotate
        return {}
    images = {i.get("name"): (i.get("value") or "").lstrip("$") for i in root.iter("Image")}
    return {
        c.get("name"): (c.get("toName"), images.get(c.get("toName"), ""), c.get("choice") or "")
        for c in root.iter("Choices")
    }


def _image(source, cur, data: object, field: str) -> str | None:
    """A stored file for the task's image where there is one, else its http(s) URL; None when
    the task names no image this server can read."""
    if not isinstance(data, dict):
        return None
    link = str(data.get(field) or "")
    sha = data.get("sha256")
    path = urlsplit(link).path
    if not sha and path.startswith(ROUTE):
        sha = path.removeprefix(ROUTE)
    if sha:
        try:
            return str(queries.image_file(cur, source.home.images, str(sha)))
        except (LookupError, BadInput):
            return None
    if path.startswith("/data/local-files/"):
        relative = unquote((parse_qs(urlsplit(link).query).get("d") or [""])[0])
        root = Path(source.home.images).resolve()
        stored = (root / relative).resolve()
        return str(stored) if root in stored.parents and stored.is_file() else None
    return link if not url_refusal(link) else None


@router.post("/predict")
async def predict(request: Request, body: PredictRequest) -> JSONResponse:
    """One result per task, in order; a task whose image cannot be found or read gets an empty
    one (Label Studio then shows no pre-annotation for it)."""
    controls = _controls(body.label_config) if body.label_config.strip() else {}
    source = request.app.state.source

    def build() -> JSONResponse:
        version = _version(request)
        cur, _ = source.cursor()
        try:
            field = next((f for _, f, _ in controls.values() if f), "image")
            images = [_image(source, cur, t.get("data"), field) for t in body.tasks]
        finally:
            cur.close()
        usable = [image for image in images if image]
        found = iter(queries.predictions(source, version, usable) if usable else [])
        empty = {"labels": {}}
        results = [_result(next(found) if image else empty, controls, version) for image in images]
        return JSONResponse({"results": results})

    return await run_in_threadpool(build)


def _result(found: dict, controls: dict, version: str) -> dict:
    result, scores = [], []
    for name, (to_name, _, choice) in controls.items():
        labels = found["labels"].get(name) or []
        if choice in ("single", "single-radio") or name in SINGLE_CHOICE_TASKS:
            labels = labels[:1]
        if labels:
            result.append(
                {
                    "from_name": name,
                    "to_name": to_name,
                    "type": "choices",
                    "value": {"choices": [lb["label"] for lb in labels]},
                }
            )
            scores += [lb["score"] for lb in labels]
    return {"model_version": version, "score": min(scores, default=0.0), "result": result}
