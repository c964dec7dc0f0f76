"""`fashion review export` / `fashion review import`: the loop through Label Studio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fashion_model.config import REVIEW_MARGIN as MAX_MARGIN
from fashion_model.flows.cli.common import HomeOption, RetailerOption, console, print_summary
from fashion_model.home import Home


def review_export(
    home: HomeOption = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", help="Label task to review (repeatable) [default all]."),
    ] = None,
    retailer: RetailerOption = None,
    margin: Annotated[
        float,
        typer.Option(
            "--margin", help=f"Largest |score - threshold| exported (at most {MAX_MARGIN})."
        ),
    ] = MAX_MARGIN,
    limit: Annotated[int, typer.Option("--limit", help="Most tasks (images) exported.")] = 200,
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
        Home.resolve(home), task or [], out, config_out, retailer, margin, limit, again,
        image_source,
    )  # fmt: skip
    print_summary("review export", result.as_dict())


def review_import(
    export: Annotated[Path, typer.Argument(help="Label Studio export: JSON or JSON-MIN.")],
    home: HomeOption = None,
    out: Annotated[Path, typer.Option("--out", help="iMaterialist training file to write.")] = Path(
        "reviewed.json"
    ),
    agreement: Annotated[
        bool,
        typer.Option(
            "--agreement",
            help="Import only tasks whose annotators agree [default: the most recent wins].",
        ),
    ] = False,
) -> None:
    """Reviewed labels back: an iMaterialist training file (for `fashion retrain --extra`) and
    the table reviewed_labels (confirmed, added, removed, by whom, against which model)."""
    from fashion_model.review.loop import import_review

    report, written = import_review(Home.resolve(home), export, out, agreement)
    for line in report.problems[:20] + report.conflicts[:20]:
        console.print(f"[yellow]{line}[/yellow]", highlight=False)
    print_summary("review import", {**report.as_dict(), "training_file": str(written)})
