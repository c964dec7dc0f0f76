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
from urllib.parse import parse_qs, unquote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from fashion_model.errors import BadInput
from fashion_model.review.labelstudio import SINGLE_CHOICE_TASKS
from fashion_model.review.signing import ROUTE
from fashion_model.service import queries

router = APIRouter(prefix="/label-studio", tags=["Label Studio ML backend"])
MAX_TASKS = 64


def _version(request: Request) -> str:
    from fashion_model.model.registry import resolve_version

    return resolve_version(request.app.state.source.home.models, None)


@router.get("/health")
def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "UP", "model_class": "fashion-attributes",
                         "model_version": _version(request)})  # fmt: skip


@router.post("/setup")
async def setup(request: Request) -> JSONResponse:
    return JSONResponse({"model_version": _version(request)})


@router.post("/webhook")
async def webhook(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _controls(label_config: str) -> dict[str, tuple[str, str, str]]:
    """<Choices> name -> (the image it annotates, that image's data field, single/multiple)."""
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError as error:
        raise BadInput(f"label_config is not XML ({error})") from None
    images = {i.get("name"): (i.get("value") or "").lstrip("$") for i in root.iter("Image")}
    return {
        c.get("name"): (c.get("toName"), images.get(c.get("toName"), ""), c.get("choice") or "")
        for c in root.iter("Choices")
    }


def _image(source, cur, data: dict, field: str) -> str:
    """A stored file for the task's image where there is one, else its URL."""
    link = str(data.get(field) or "")
    sha = data.get("sha256")
    path = urlsplit(link).path
    if not sha and path.startswith(ROUTE):
        sha = path.removeprefix(ROUTE)
    if sha:
        return str(queries.image_file(cur, source.home.images, str(sha)))
    if path.startswith("/data/local-files/"):
        relative = unquote((parse_qs(urlsplit(link).query).get("d") or [""])[0])
        root = Path(source.home.images).resolve()
        stored = (root / relative).resolve()
        if root in stored.parents and stored.is_file():
            return str(stored)
        raise BadInput(f"{link}: not an image of this home's store")
    return link


@router.post("/predict")
async def predict(request: Request) -> JSONResponse:
    body = await request.json()
    tasks = body.get("tasks") if isinstance(body, dict) else None
    if not isinstance(tasks, list) or not 1 <= len(tasks) <= MAX_TASKS:
        raise BadInput(f"send 'tasks': a list of 1 to {MAX_TASKS} Label Studio tasks")
    controls = _controls(str(body.get("label_config") or ""))
    source = request.app.state.source

    def build() -> JSONResponse:
        version = _version(request)
        cur, _ = source.cursor()
        try:
            field = next((f for _, f, _ in controls.values() if f), "image")
            images = [_image(source, cur, t.get("data") or {}, field) for t in tasks]
        finally:
            cur.close()
        found = queries.predictions(source, version, images)
        return JSONResponse({"results": [_result(f, controls, version) for f in found]})

    return await run_in_threadpool(build)


def _result(found: dict, controls: dict, version: str) -> dict:
    result, scores = [], []
    for name, (to_name, _, choice) in controls.items():
        labels = found["labels"].get(name) or []
        if choice in ("single", "single-radio") or name in SINGLE_CHOICE_TASKS:
            labels = labels[:1]
        if labels:
            result.append({"from_name": name, "to_name": to_name, "type": "choices",
                           "value": {"choices": [lb["label"] for lb in labels]}})  # fmt: skip
            scores += [lb["score"] for lb in labels]
    return {"model_version": version, "score": min(scores, default=0.0), "result": result}
