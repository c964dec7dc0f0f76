"""Benchmark: does reviewing the least certain products help more than reviewing random ones?

On the synthetic catalog (served from loopback): train a base model, score the catalog, then
play the reviewer from truth.csv for N products two ways, the N least certain
(`fashion review export`, then an annotation of the truth and `fashion review import`) and N
chosen at random, re-train once with each set as `--extra` (the reviewed split: trained on,
never held out), and score the catalog with all three models. Prints the catalog micro-F1
against the truth and the pattern share error (mean points per retailer and month), over the
catalog products that neither arm reviewed, for the base model and both arms, with each arm's
gain over the base measured in the same run.

    .venv/bin/python benchmarks/review.py [--products 1200] [--reviewed 150] [--epochs 6]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from fashion_model.analytics.reports import share_error_vs_truth, truth_micro_f1
from fashion_model.config import DownloadConfig, TrainConfig
from fashion_model.demo.server import free_port, running_image_server
from fashion_model.demo.synth import synthesize_catalog
from fashion_model.home import Home
from fashion_model.ingest.pipeline import ingest_source
from fashion_model.labels import default_label_map
from fashion_model.model.train import train_model
from fashion_model.review.loop import export_review, import_review
from fashion_model.score.images import score_images
from fashion_model.warehouse.catalog import load_catalog
from fashion_model.warehouse.db import connect, refresh_analytics

LOCAL = DownloadConfig(allow_private=True, per_host_rate=0)
LABELS = default_label_map()


def _truth(folder: Path) -> dict[str, list[int]]:
    by_product: dict[str, list[int]] = {}
    with (folder / "truth.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_product.setdefault(row["product_id"], []).append(int(row["label_id"]))
    return by_product


def _annotated(tasks: list[dict], truth: dict) -> list[dict]:
    """The Label Studio export a reviewer who knows the truth would produce."""
    names = {label.label_id: label for label in LABELS.labels}
    out = []
    for number, task in enumerate(tasks, start=1):
        by_task: dict[str, list[str]] = {}
        for label_id in truth[task["data"]["product_id"]]:
            by_task.setdefault(names[label_id].task, []).append(names[label_id].name)
        result = [
            {"from_name": t, "to_name": "image", "type": "choices", "value": {"choices": chosen}}
            for t, chosen in by_task.items()
        ]
        annotation = {
            "id": number,
            "completed_by": 1,
            "result": result,
            "was_cancelled": False,
            "created_at": "2026-12-01T10:00:00Z",
        }
        out.append({"id": number, **task, "annotations": [annotation]})
    return out


def _evaluate(con, version: str, truth_frame: pd.DataFrame, excluded: set[str]) -> dict:
    predicted = con.execute(
        "SELECT pi.product_id, p.label_id FROM product_images pi JOIN predictions p "
        "ON p.image_sha256 = pi.image_sha256 AND p.model_version = ? WHERE pi.position = 0",
        [version],
    ).df()
    scored = con.execute(
        "SELECT DISTINCT pr.retailer, pr.product_id, pr.first_seen FROM products pr "
        "JOIN product_images pi USING (retailer, product_id) JOIN scores s "
        "ON s.image_sha256 = pi.image_sha256 AND s.model_version = ? WHERE pi.position = 0",
        [version],
    ).df()
    keep = lambda frame: frame[~frame["product_id"].isin(excluded)]  # noqa: E731
    predicted, scored = keep(predicted), keep(scored)
    truth = keep(truth_frame[truth_frame["product_id"].isin(set(scored["product_id"]))])
    tasks = {label.label_id: label.task for label in LABELS.labels}
    errors = share_error_vs_truth(predicted, scored, truth, tasks)["mean"]
    return {
        "micro_f1": round(truth_micro_f1(predicted, truth), 4),
        "pattern_share_error": float(errors.get("pattern", float("nan"))),
        "mean_share_error": round(float(errors.mean()), 2),
        "products": len(scored),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1200)
    parser.add_argument("--train-images", type=int, default=1200)
    parser.add_argument("--validation-images", type=int, default=300)
    parser.add_argument("--reviewed", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = TrainConfig(epochs=args.epochs, image_size=args.image_size, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder, port = root / "catalog", free_port()
        synthesize_catalog(
            folder,
            args.products,
            args.seed,
            f"http://127.0.0.1:{port}",
            args.train_images,
            args.validation_images,
        )
        truth = _truth(folder)
        truth_frame = pd.read_csv(folder / "truth.csv", dtype={"product_id": str})
        paths = Home.resolve(root / "home").ensure()
        started = time.perf_counter()
        with running_image_server(folder, port=port):
            for name in ("train", "validation", "catalog"):
                source = folder / (f"{name}.json" if name != "catalog" else "catalog.csv")
                ingest_source(source, paths.manifests / name, paths.images, LOCAL)
            base = train_model(
                [paths.manifests / "train", paths.manifests / "validation"],
                paths.images,
                paths.models,
                config,
                log=lambda m: None,
            )
            with connect(paths.db) as con:
                load_catalog(con, paths.manifests / "catalog", date(2026, 12, 1))
                score_images(con, [paths.manifests / "catalog"], paths.images, paths.models)
                refresh_analytics(con)
            # active: the least certain, through the real export and import
            export_review(paths, [], root / "tasks.json", limit=args.reviewed)
            tasks = json.loads((root / "tasks.json").read_text())
            (root / "export.json").write_text(json.dumps(_annotated(tasks, truth)))
            import_review(paths, root / "export.json", root / "reviewed_active.json")
            active = {t["data"]["product_id"] for t in tasks}
            # random: the same number of scored products, the same import path
            with connect(paths.db, read_only=True) as con:
                rows = con.execute(
                    "SELECT pi.retailer, pi.product_id, pi.image_url, pi.image_sha256 "
                    "FROM product_images pi JOIN scores s USING (image_sha256) "
                    "WHERE pi.position = 0 ORDER BY pi.product_id"
                ).fetchall()
            picked = [
                {
                    "data": {
                        "image": url,
                        "image_url": url,
                        "retailer": retailer,
                        "product_id": product_id,
                        "sha256": sha,
                    },
                    "predictions": [],
                }
                for retailer, product_id, url, sha in random.Random(args.seed).sample(
                    rows, len(tasks)
                )
            ]
            (root / "export_random.json").write_text(json.dumps(_annotated(picked, truth)))
            import_review(paths, root / "export_random.json", root / "reviewed_random.json")
            chosen = {t["data"]["product_id"] for t in picked}
            versions = {"base": base.model_version}
            for arm in ("active", "random"):
                reviewed = root / f"reviewed_{arm}.json"
                ingest_source(
                    reviewed,
                    paths.manifests / f"reviewed_{arm}",
                    paths.images,
                    LOCAL,
                    split="reviewed",
                )
                card = train_model(
                    [
                        paths.manifests / "train",
                        paths.manifests / "validation",
                        paths.manifests / f"reviewed_{arm}",
                    ],
                    paths.images,
                    paths.models,
                    config,
                    log=lambda m: None,
                )
                versions[arm] = card.model_version
        with connect(paths.db) as con:
            for version in versions.values():
                score_images(
                    con,
                    [paths.manifests / "catalog"],
                    paths.images,
                    paths.models,
                    model_version=version,
                )
            excluded = active | chosen
            results = {arm: _evaluate(con, v, truth_frame, excluded) for arm, v in versions.items()}
            full = {arm: _evaluate(con, v, truth_frame, set()) for arm, v in versions.items()}
        overlap = len(active & chosen)
        seconds = time.perf_counter() - started
        print(
            f"{args.products} products, {len(tasks)} reviewed per arm ({overlap} in both), "
            f"{args.epochs} epochs at {args.image_size} px, {seconds:.0f} s"
        )
        print(
            f"evaluated on the {results['base']['products']} scored products neither arm reviewed"
        )
        base_result = results["base"]
        for arm, result in results.items():
            gain = result["micro_f1"] - base_result["micro_f1"]
            drop = base_result["pattern_share_error"] - result["pattern_share_error"]
            print(
                f"{arm:7s} catalog micro-F1 {result['micro_f1']:.4f} ({gain:+.4f} vs base)  "
                f"pattern share error {result['pattern_share_error']:.2f} pts "
                f"({-drop:+.2f})  mean share error {result['mean_share_error']:.2f}  "
                f"[whole catalog: micro-F1 {full[arm]['micro_f1']:.4f}, pattern "
                f"{full[arm]['pattern_share_error']:.2f}]"
            )


if __name__ == "__main__":
    main()
