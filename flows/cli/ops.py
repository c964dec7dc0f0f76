"""Operations: `fashion gc`."""

from __future__ import annotations

from typing import Annotated

import typer

from fashion_model.errors import BadInput
from fashion_model.flows.cli.common import HomeOption, console
from fashion_model.home import Home


def gc_command(
    home: HomeOption = None,
    keep_models: Annotated[
        int,
        typer.Option(
            "--keep-models",
            help="Keep the results of the N newest registered versions (production always).",
        ),
    ] = 2,
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove what the dry run lists (default: only list).")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="List up to N paths of each kind.")] = 10,
    keep_feeds: Annotated[
        int,
        typer.Option("--keep-feeds", help="Keep the N newest fetched copies of each feed URL."),
    ] = 7,
) -> None:
    """List (dry run) or remove garbage: images no manifest or product refers to, results of
    model versions that are neither production nor among the newest N, the journals and shard
    folders that interrupted runs left, the half-written image files of killed downloads, and
    fetched feeds beyond the newest --keep-feeds of each.
    Never anything the production model's results need."""
    from fashion_model.ops import gc
    from fashion_model.warehouse.db import connect
    from fashion_model.warehouse.lock import warehouse_lock

    if keep_models < 0:
        raise BadInput(f"--keep-models {keep_models}: must be 0 or more")
    if keep_feeds < 0:
        raise BadInput(f"--keep-feeds {keep_feeds}: must be 0 or more")
    paths = Home.resolve(home)
    if not paths.db.is_file():
        raise BadInput(f"{paths.db}: database not found; nothing to collect")
    with warehouse_lock(paths.db, "fashion gc"), connect(paths.db) as con:
        planned = gc.plan(con, paths, keep_models, keep_feeds)
        for row in planned.rows():
            console.print(
                f"  {row['what']}: {row['count']}"
                + (f" ({row['MiB']} MiB)" if row["MiB"] is not None else ""),
                highlight=False,
                soft_wrap=True,
            )
        for kind in (planned.images, planned.folders, planned.temps, planned.feeds):
            for relative in kind[:show]:
                console.print(f"    {relative}", highlight=False, soft_wrap=True)
        console.print(f"  kept model versions: {', '.join(planned.kept_models) or 'none'}")
        if apply:
            gc.apply(con, paths, planned)
            console.print("removed.")
        else:
            console.print("dry run: nothing removed (add --apply to remove)")
