"""Benchmark: scoring speed of imported models against the built-in ResNet34, same run, same
stored images (JPEG -> DuckDB rows through `score_images`).

Configurations: ResNet34 at 224 px (the baseline), ResNet50 at 224 px, ResNet50 at 512 px (the
reference project's checkpoint shape) in PyTorch, and the same ResNet50 at 512 px exported to
ONNX and scored through onnxruntime. Weights are random (speed does not depend on them);
each model is registered through `fashion model import`'s code. Prints images/s and the ratio
to the baseline.

    .venv/bin/python benchmarks/imported.py [--images 48] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from score import make_store  # benchmarks/score.py
from torchvision.models import resnet34, resnet50

from fashion_model.labels import default_label_map
from fashion_model.model.import_options import ImportOptions
from fashion_model.model.imports import import_model
from fashion_model.score.images import score_images
from fashion_model.warehouse.db import connect


def weights(root: Path, build, size: int, onnx: bool) -> Path:
    net = build(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, len(default_label_map()))
    net.eval()
    if not onnx:
        path = root / f"{build.__name__}.pth"
        torch.save(net.state_dict(), path)
        return path
    path = root / f"{build.__name__}-{size}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.randn(1, 3, size, size),),
            str(path),
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True,
            verbose=False,
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    configs = [
        ("resnet34 224px torch (baseline)", resnet34, 224, False),
        ("resnet50 224px torch", resnet50, 224, False),
        ("resnet50 512px torch (reference)", resnet50, 512, False),
        ("resnet50 512px onnxruntime", resnet50, 512, True),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-imported-") as folder:
        root = Path(folder)
        print(f"preparing {args.images} stored images (256 px) ...", flush=True)
        manifest = make_store(root, args.images)
        rates = []
        for index, (name, build, size, onnx) in enumerate(configs):
            path = weights(root, build, size, onnx)
            kind = "onnx" if onnx else "torchvision"
            import_model(
                root / "models", path, ImportOptions(kind=kind, name=f"m{index}", image_size=size)
            )
            with connect(root / "bench.duckdb") as con:
                summary = score_images(
                    con,
                    [manifest],
                    root / "images",
                    root / "models",
                    f"m{index}",
                    batch_size=args.batch_size,
                )
            rates.append(summary.scored / summary.seconds)
            print(
                f"{name:34s}: {rates[-1]:7.2f} images/s  ratio {rates[-1] / rates[0]:5.2f}",
                flush=True,
            )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images, "
        f"batch {args.batch_size}"
    )


if __name__ == "__main__":
    main()
