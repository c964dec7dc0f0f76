"""`fashion review export` / `fashion review import`: the loop through Label Studio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import REVIEW_MARGIN as MAX_MARGIN
from fashion_model.flows.cli.common import HomeOption, RetailerOption, console, print_summary
from fashion_model.home import Home

TaskOption = Annotated[
    list[str] | None,
    typer.Option("--task", help="Label task to review (repeatable) [default all]."),
]
MarginOption = Annotated[
    float,
    typer.Option("--margin", help=f"Largest |score - threshold| sent (at most {MAX_MARGIN})."),
]
LimitOption = Annotated[int, typer.Option("--limit", help="Most images (tasks) sent.")]


def review_export(
    home: HomeOption = None,
    task: TaskOption = None,
    retailer: RetailerOption = None,
    margin: MarginOption = MAX_MARGIN,
    limit: LimitOption = 200,
    out: Annotated[
        Path, typer.Option("--out", help="Label Studio tasks file (JSON) to write.")
    ] = Path("tasks.json"),
    config_out: Annotated[
        Path | None,
        typer.Option("--config-out", help="Also write the labelling configuration (XML)."),
    ] = None,
    again: Annotated[
        bool,
        typer.Option("--again", help="Also images already exported for this model version."),
    ] = False,
    image_source: Annotated[
        str,
        typer.Option(
            "--image-source",
            help="url (the catalog image URL) or local (/data/local-files/ URLs into "
            "HOME/images, for Label Studio's local storage).",
        ),
    ] = "url",
) -> None:
    """The production model's least certain images as Label Studio tasks with pre-annotations,
    least certain first; each image once per model version unless --again."""
    from fashion_model.review.loop import check_export_options, export_review

    check_export_options(task or [], margin, limit, image_source)
    result = export_review(
        Home.resolve(home),
        task or [],
        out,
        config_out,
        retailer,
        margin,
        limit,
        again,
        image_source,
    )
    print_summary("review export", result.as_dict())


TrainingFileOption = Annotated[
    Path, typer.Option("--out", help="iMaterialist training file to write.")
]
AgreementOption = Annotated[
    bool,
    typer.Option(
        "--agreement",
        help="Import only tasks whose annotators agree [default: the most recent wins].",
    ),
]


def _report(command: str, report, **written: str) -> None:
    for line in report.problems[:20] + report.conflicts[:20]:
        console.print(f"[yellow]{line}[/yellow]", highlight=False)
    print_summary(command, {**report.as_dict(), **written})


def review_import(
    export: Annotated[Path, typer.Argument(help="Label Studio export: JSON or JSON-MIN.")],
    home: HomeOption = None,
    out: TrainingFileOption = Path("reviewed.json"),
    agreement: AgreementOption = False,
) -> None:
    """Reviewed labels back: an iMaterialist training file (for `fashion retrain --extra`) and
    the table reviewed_labels (confirmed, added, removed, by whom, against which model)."""
    from fashion_model.review.loop import import_review

    report, written = import_review(Home.resolve(home), export, out, agreement)
    _report("review import", report, training_file=str(written))


UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Label Studio's address [env LABEL_STUDIO_URL].", show_default=False
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="A personal access token (or a legacy token) [env LABEL_STUDIO_API_KEY].",
        show_default=False,
    ),
]
ProjectOption = Annotated[str, typer.Option("--project", help="The project's title.")]


def review_push(
    image_base: Annotated[
        str,
        typer.Option(
            "--image-base",
            help="Where reviewers' browsers reach `fashion serve` (http(s)://host:port): task "
            "images are signed links to it.",
        ),
    ],
    home: HomeOption = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    project: ProjectOption = "fashion review",
    task: TaskOption = None,
    retailer: RetailerOption = None,
    margin: MarginOption = MAX_MARGIN,
    limit: LimitOption = 200,
) -> None:
    """The least certain images as tasks with pre-annotations in a Label Studio project
    (created with the labelling config when missing); an image already there is not sent
    again."""
    from fashion_model.review.remote import push_review

    result = push_review(
        Home.resolve(home), url, api_key, image_base, project, task or [], retailer, margin, limit
    )
    print_summary("review push", result.as_dict())


def review_pull(
    home: HomeOption = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    project: ProjectOption = "fashion review",
    out: TrainingFileOption = Path("reviewed.json"),
    agreement: AgreementOption = False,
) -> None:
    """The project's annotations back, as `review import` reads an export: the training file
    and reviewed_labels (a second pull replaces each image's verdicts)."""
    from fashion_model.review.remote import pull_review

    report, written, kept = pull_review(Home.resolve(home), url, api_key, out, project, agreement)
    _report("review pull", report, training_file=str(written), export=str(kept))
