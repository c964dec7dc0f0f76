"""Benchmark: scoring on a CPU against the machine's limit: torch fp32 eager, torch bf16
autocast, onnxruntime fp32 and onnxruntime int8 (`fashion model optimize --int8`).

One run, on a scored demo home (`make demo`): the same stored catalog images (1,000+ in the
demo) and the same trained weights, at 224 px (the demo's production weights registered again
at 224 px in a scratch home: ResNet34 is fully convolutional, so the cost is a 224 px model's).
For each runtime: forward-only and end-to-end (stored JPEG -> DuckDB rows, `score_images`)
images/s, as a ratio to torch fp32 eager and as a share of the machine's limit, measured in the
same run by an fp32 and an int8 GEMM (ResNet34 at 224 px is about 3.6 GMAC an image); where
the milliseconds of an int8 image go; and the micro-F1 deltas of the variants of the demo's own
64 px model on its validation images.

    .venv/bin/python benchmarks/score_cpu.py --home DEMO_HOME [--images 1024] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fashion_model.config import OptimizeConfig
from fashion_model.home import Home
from fashion_model.ingest.manifest import catalog_manifests
from fashion_model.model.optimize import calibration_paths, image_batches, optimize, plan_optimize
from fashion_model.model.registry import load_card, load_model, production_version, save_version
from fashion_model.model.variants import cpu_has_int8_dot, onnx_threads
from fashion_model.score.images import score_images
from fashion_model.warehouse.db import connect

GMAC_PER_IMAGE = 3.6  # ResNet34, 224 px, one image
SIZE = 224


def scratch_home(demo: Home, folder: Path, version: str, size: int) -> Home:
    """A home beside the demo's: its images and manifests (linked), and the demo's production
    weights registered as `version` at `size` px."""
    root = folder / version
    (root / "models").mkdir(parents=True)
    (root / "images").symlink_to(demo.images)
    shutil.copytree(demo.manifests, root / "manifests")
    source = production_version(demo.models)
    net, card, label_map = load_model(demo.models, source)
    save_version(
        root / "models", net, replace(card, model_version=version, image_size=size), label_map
    )
    (root / "models" / "production").write_text(version + "\n")
    return Home.resolve(root)


def gemm_limits() -> dict[str, float]:
    """GMAC/s of a large fp32 and bf16 GEMM (torch) and a large int8 one (onnxruntime
    MatMulInteger, uint8 x int8 -> int32, the kernel a quantised convolution runs), on this
    process's cores: the best of three tries each."""
    import onnx
    from onnx import TensorProto, helper

    from fashion_model.model.onnx_net import runtime

    n = 2048
    limits = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(5):
                torch.mm(a, b)
            best = max(best, 5 * n**3 / (time.perf_counter() - started) / 1e9)
        limits[name] = best
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])],
        [
            helper.make_tensor(
                "b",
                TensorProto.INT8,
                [n, n],
                np.random.default_rng(0).integers(-127, 127, n * n).tolist(),
            )
        ],
    )
    # IR version 8 (opset 13): onnxruntime releases older than this onnx read it too
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    ort = runtime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = onnx_threads()
    session = ort.InferenceSession(
        onnx.shape_inference.infer_shapes(model).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    left = np.random.default_rng(1).integers(0, 255, (n, n)).astype(np.uint8)
    session.run(None, {"a": left})
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(8):
            session.run(None, {"a": left})
        best = max(best, 8 * n**3 / (time.perf_counter() - started) / 1e9)
    limits["int8"] = best
    return limits


def forward_rates(home: Home, version: str, batch: torch.Tensor, seconds: float = 3.0) -> dict:
    """Images/s of the model alone on one real batch, per runtime: three rounds of `seconds`
    each, the runtimes taking turns (a shared machine's noise hits them all), the best kept."""
    rates: dict[str, float] = {}
    nets = {
        "torch fp32": load_model(home.models, version)[0],
        "onnx fp32": load_model(home.models, version, "onnx")[0],
        "onnx int8": load_model(home.models, version, "onnx-int8")[0],
    }
    nets["torch bf16"] = nets["torch fp32"]
    for _ in range(3):
        for name, net in nets.items():
            autocast = torch.autocast("cpu", torch.bfloat16, enabled=name == "torch bf16")
            with torch.inference_mode(), autocast:
                net.logits_and_embeddings(batch)
                done, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds:
                    net.logits_and_embeddings(batch)
                    done += len(batch)
            rates[name] = max(rates.get(name, 0.0), done / (time.perf_counter() - started))
    return rates


def end_to_end(home: Home, folder: Path, runtime: str, batch_size: int, colors: bool) -> float:
    """Images/s from stored JPEG to DuckDB rows (score_images), on a fresh warehouse."""
    db = folder / f"e2e-{runtime}-{colors}.duckdb"
    with connect(db) as con:
        summary = score_images(
            con,
            catalog_manifests(home.manifests),
            home.images,
            home.models,
            batch_size=batch_size,
            runtime=runtime,
            colors=colors,
        )
    db.unlink()
    return summary.scored / summary.seconds


def decode_ms(home: Home, version: str, count: int) -> float:
    """Milliseconds an image spends being read, decoded and made a tensor (no model)."""
    from fashion_model.model.datasets import ImageFiles
    from fashion_model.model.presets import eval_preset

    card = load_card(home.models, version)
    paths = calibration_paths(catalog_manifests(home.manifests)[0], home.images, count)
    files = ImageFiles(paths, eval_preset(card.preprocessing), card.image_size, colors=False)
    started = time.perf_counter()
    for index in range(len(files)):
        files[index]
    return 1000 * (time.perf_counter() - started) / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a scored demo home (make demo)")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    demo = Home.resolve(args.home)
    with tempfile.TemporaryDirectory(prefix="bench-score-cpu-") as scratch:
        folder = Path(scratch)
        small = scratch_home(
            demo,
            folder,
            "bench-64",
            load_card(demo.models, production_version(demo.models)).image_size,
        )
        print("optimising the demo's own model (its validation images) ...", flush=True)
        checked = optimize(
            plan_optimize(small.root, "bench-64", OptimizeConfig(int8=True)),
            log=lambda line: None,
            refused_ok=True,
        )
        deltas = checked["variants"]
        print("".join(f"{why}\n" for why in checked["refused"]), end="", flush=True)
        home = scratch_home(demo, folder, "bench-224", SIZE)
        print("optimising its weights at 224 px ...", flush=True)
        optimize(
            plan_optimize(home.root, "bench-224", OptimizeConfig(int8=True, max_f1_drop=100)),
            log=lambda line: None,
        )
        images = sum(
            len(calibration_paths(m, home.images, 10**9)) for m in catalog_manifests(home.manifests)
        )
        print(
            f"{images} stored catalog images, {SIZE} px, batch {args.batch_size}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
            f"{onnx_threads()} threads, int8 dot products: {cpu_has_int8_dot()}",
            flush=True,
        )
        limits = gemm_limits()

        card = load_card(home.models, "bench-224")
        paths = calibration_paths(catalog_manifests(home.manifests)[0], home.images, 64)
        batch = torch.from_numpy(next(image_batches(card, paths[: args.batch_size])))
        forward = forward_rates(home, "bench-224", batch)
        whole = {
            name: end_to_end(home, folder, runtime, args.batch_size, False)
            for name, runtime in (
                ("torch fp32", "torch"),
                ("onnx fp32", "onnx"),
                ("onnx int8", "onnx-int8"),
            )
        }
        with_colours = end_to_end(home, folder, "onnx-int8", args.batch_size, True)
        decoding = decode_ms(home, "bench-224", 200)
    print(
        "machine limit: "
        + "; ".join(
            f"{kind} GEMM {gmac:.0f} GMAC/s = {gmac / GMAC_PER_IMAGE:.0f} img/s"
            for kind, gmac in limits.items()
        )
    )
    base_forward, base_whole = forward["torch fp32"], whole["torch fp32"]
    print(
        f"{'runtime':<12}{'forward img/s':>15}{'x fp32':>8}{'% limit':>9}"
        f"{'end-to-end img/s':>18}{'x fp32':>8}"
    )
    for name, rate in forward.items():
        limit = limits[name.split()[-1]]
        e2e = whole.get(name)
        tail = f"{e2e:>18.1f}{e2e / base_whole:>8.2f}" if e2e else f"{'(not a scoring path)':>26}"
        print(
            f"{name:<12}{rate:>15.1f}{rate / base_forward:>8.2f}"
            f"{100 * rate / (limit / GMAC_PER_IMAGE):>8.1f}%{tail}"
        )
    int8_ms = 1000 / whole["onnx int8"]
    model_ms = 1000 / forward["onnx int8"]
    print(
        f"an int8 image end to end: {int8_ms:.1f} ms = model {model_ms:.1f} ms + read, decode "
        f"and tensor {decoding:.1f} ms + the rest (batching, sigmoid, DuckDB writes) "
        f"{int8_ms - model_ms - decoding:.1f} ms; with measured colours "
        f"{1000 / with_colours:.1f} ms"
    )
    for name, card in deltas.items():
        drop = 100 * (card["source_micro_f1"] - card["variant_micro_f1"])
        print(
            f"{name} on the demo's {card['validation_images']} validation images: micro-F1 "
            f"{card['variant_micro_f1']:.4f} vs {card['source_micro_f1']:.4f} ({-drop:+.2f} "
            f"points), embedding cosine {card['embedding_cosine_mean']:.4f}, top-10 overlap "
            f"{card['top10_overlap']:.3f}"
        )
    print(f"int8 forward speed-up vs torch fp32: {forward['onnx int8'] / base_forward:.2f}x")
    print(f"int8 end-to-end speed-up vs torch fp32: {whole['onnx int8'] / base_whole:.2f}x")


if __name__ == "__main__":
    main()
