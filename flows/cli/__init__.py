"""The `fashion` command line: each group of commands is a short module of this package; every
command checks its input (building the stage's typed config) before it runs a flow.

Only what a command needs is imported when it runs: `fashion --help` and the read-only
commands never import Prefect.
"""

from __future__ import annotations

import os
import sys

import typer

from fashion_model.errors import FashionError, StageFailed
from fashion_model.flows.cli import colors, match, models, ops, pipeline, query, review, serve
from fashion_model.flows.cli.common import console

app = typer.Typer(
    help="Predict fashion attributes from product images and answer trend questions in SQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts say "[default all]": square brackets are not markup
)
catalog_app = typer.Typer(
    help="Synthetic catalogs: the embedded default data.", no_args_is_help=True
)
model_app = typer.Typer(
    help="The model registry: list and show versions, import trained weights, tune thresholds, "
    "promote one, export one as ONNX, optimise one for the CPU (int8).",
    no_args_is_help=True,
)
review_app = typer.Typer(
    help="The review loop with Label Studio: uncertain predictions out (a file, or push to a "
    "server), answers back (import a file, or pull).",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(review_app, name="review")
review_app.command("export")(review.review_export)
review_app.command("import")(review.review_import)
review_app.command("push")(review.review_push)
review_app.command("pull")(review.review_pull)
app.add_typer(model_app, name="model")

catalog_app.command("synth")(pipeline.catalog_synth)
model_app.command("list")(models.model_list)
model_app.command("show")(models.model_show)
model_app.command("import")(models.model_import)
model_app.command("tune")(models.model_tune)
model_app.command("optimize")(models.model_optimize)
model_app.command("promote")(models.model_promote)
model_app.command("export-onnx")(models.model_export_onnx)
for name, command in {
    "serve-images": pipeline.serve_images_command,
    "serve": serve.serve_command,
    "ingest": pipeline.ingest_command,
    "train": models.train_command,
    "score": pipeline.score_command,
    "predict": pipeline.predict_command,
    "colors": colors.colors_command,
    "report": query.report_command,
    "sql": query.sql_command,
    "trends": query.trends_command,
    "similar": match.similar_command,
    "equivalents": match.equivalents_command,
    "gc": ops.gc_command,
    "index": match.index_command,
    "retrain": models.retrain_command,
    "nightly": pipeline.nightly_command,
    "demo": pipeline.demo_command,
}.items():
    app.command(name)(command)


def main() -> None:
    """Errors by kind: bad input exits 2, a runtime failure 1, each as one line; an unexpected
    exception (a bug) is one line too, with its traceback when FASHION_TRACEBACK=1."""
    try:
        app()
    except FashionError as error:
        from fashion_model.flows.cli import common

        failed_run = isinstance(error, StageFailed) or error.exit_code != 2
        where = f" (details: {common.LOG_FILE})" if common.LOG_FILE and failed_run else ""
        console.print(f"[red]error:[/red] {error}{where}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: finished work is kept; run again to resume")
        sys.exit(130)
    except Exception as error:
        if os.environ.get("FASHION_TRACEBACK") == "1":
            raise
        cause = " ".join(str(error).split()) or "no message"
        console.print(
            f"[red]error:[/red] {type(error).__name__}: {cause[:500]} "
            "(set FASHION_TRACEBACK=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
