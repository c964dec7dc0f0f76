"""Benchmark: `fashion ingest` against img2dataset end to end, and the CPU limit, in one run.

N product-like JPEGs of 800 x 800 are served from loopback by a separate process (nginx
when installed). Each tool fetches all of them and stores them resized to a shorter side of
256 (aspect kept, JPEG quality 90). Ours is the `fashion ingest` command at its defaults
(concurrency 64, 16 per host, the adaptive per-host pace, no Prefect API configured); img2dataset
(in a virtual environment of its own: its pins conflict with ours, created on first use) runs
with its defaults except what gives the same output, and one process per core. Each is timed
from process start to exit (the "whole" time), and by its own download phase. The CPU limit is
what decode + resize + encode of the same files achieves on all cores with no network.

    .venv/bin/python benchmarks/download.py [--images 2000]

Prints, for each tool, images per second of the whole command and of its download phase, the
end-to-end ratio ours / img2dataset (goal >= 3x) and ours / CPU limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.http_server import serve  # noqa: E402
from fashion_model.ingest.imaging import process_image  # noqa: E402

DATA = ROOT / "benchmarks" / ".data"
IMG2DATASET_VENV = ROOT / "benchmarks" / ".venv-img2dataset"

THEIRS = """
import json, sys, time
started = time.perf_counter()
from img2dataset import download
imported = time.perf_counter()
urls, out, processes, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
download(url_list=urls, input_format="txt", output_folder=out, output_format="files",
         image_size=256, resize_mode="keep_ratio", resize_only_if_bigger=True,
         encode_quality=90, processes_count=processes, thread_count=threads, timeout=10,
         retries=0, number_sample_per_shard=1000, distributor="multiprocessing",
         enable_wandb=False)
run = time.perf_counter() - imported
ok = 0
for stats in __import__("pathlib").Path(out).glob("*_stats.json"):
    ok += json.loads(stats.read_text()).get("successes", 0)
print(json.dumps({"import_s": imported - started, "run_s": run, "ok": ok}))
"""


def _draw(job: tuple[int, str]) -> None:
    """A packshot: the synthetic garment centred on its backdrop, 800 x 800, light grain."""
    from PIL import Image

    from fashion_model.demo.synth import draw_photo, sample_garment

    index, path = job
    rng = np.random.default_rng([2026, index])
    photo = draw_photo(sample_garment(rng), rng)
    side = max(photo.size)
    square = Image.new("RGB", (side, side), photo.getpixel((0, 0)))
    square.paste(photo, ((side - photo.width) // 2, (side - photo.height) // 2))
    square = square.resize((800, 800), Image.LANCZOS)
    grain = rng.normal(0, 1.5, size=(800, 800, 1))  # sensor-like texture
    pixels = np.clip(np.asarray(square, dtype=float) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)


def make_corpus(count: int) -> Path:
    """N packshots of 800 x 800 (cached under benchmarks/.data between runs)."""
    folder = DATA / f"download-800-{count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(i, str(folder / f"{i:06d}.jpg")) for i in range(count)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_draw, jobs, chunksize=32))
    done.touch()
    return folder


def _process_file(path: str) -> int:
    return process_image(Path(path).read_bytes(), 256, 90).width


def cpu_limit(folder: Path) -> float:
    """Images per second for decode + resize + encode of the corpus on all cores, no network."""
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_process_file, files[:64]))  # warm the workers
        started = time.perf_counter()
        list(pool.map(_process_file, files, chunksize=16))
    return len(files) / (time.perf_counter() - started)


def ensure_venv(venv: Path) -> Path:
    """The python of a benchmark venv; the default ones are made from their lock (locks/) by the
    Makefile's target for them when missing (once; a few minutes)."""
    python = venv / "bin" / "python"
    if venv.parent == ROOT / "benchmarks" and not (venv / ".installed").exists():
        print(f"creating {venv.relative_to(ROOT)} from its lock (once)", file=sys.stderr)
        target = str((venv / ".installed").relative_to(ROOT))
        subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), target], check=True)
    if not python.exists():
        raise SystemExit(f"{venv}: no venv there (bin/python is missing)")
    return python


def _run(command: list[str], env: dict | None = None) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _summary_figures(text: str) -> dict:
    """The `name: value` lines of a command's summary."""
    figures = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition(": ")
        if sep and name.replace("_", "").isalnum():
            figures[name] = value
    return figures


def run_ours(catalog: Path, home: Path) -> dict:
    """`fashion ingest` as a user runs it, timed from process start to exit."""
    fashion = Path(sys.executable).parent / "fashion"
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect")}
    env.pop("PREFECT_API_URL", None)
    command = [str(fashion), "ingest", str(catalog), "--home", str(home), "--name", "bench"]
    started = time.perf_counter()
    result = subprocess.run([*command, "--allow-private"], capture_output=True, text=True, env=env)
    whole = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"fashion ingest failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    figures = _summary_figures(result.stdout + result.stderr)  # the console is stderr
    statuses = {}  # the manifest's outcome counts, from the summary's dict line
    for part in figures.get("statuses", "").strip("{}").split(","):
        key, _, value = part.partition(":")
        if value.strip().isdigit():
            statuses[key.strip().strip("'")] = int(value)
    return {"whole_s": whole, "run_s": float(figures["seconds"]), "ok": statuses.get("ok", 0)}


def run_theirs(python: Path, urls: Path, out: Path, cores: int) -> dict:
    theirs_env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    started = time.perf_counter()
    result = _run([str(python), "-c", THEIRS, str(urls), str(out), str(cores), "32"], theirs_env)
    return {**result, "whole_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--server", choices=("auto", "nginx", "aiohttp"), default="auto")
    parser.add_argument("--img2dataset-venv", type=Path, default=IMG2DATASET_VENV)
    parser.add_argument("--skip-img2dataset", action="store_true")
    args = parser.parse_args()
    if args.images < 100:
        parser.error("--images must be at least 100")

    folder = make_corpus(args.images)
    cores = os.cpu_count() or 1
    names = sorted(p.name for p in folder.glob("*.jpg"))
    sizes = [p.stat().st_size for p in folder.glob("*.jpg")]
    theirs_python = None if args.skip_img2dataset else ensure_venv(args.img2dataset_venv)
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-download-") as tmp,
        serve(folder, kind=args.server) as (base, server),
    ):
        tmp = Path(tmp)
        catalog = tmp / "catalog.csv"
        catalog.write_text(
            "product_id,image_url\n" + "".join(f"p{i},{base}/{n}\n" for i, n in enumerate(names))
        )
        (tmp / "urls.txt").write_text("".join(f"{base}/{n}\n" for n in names))
        results["fashion ingest"] = run_ours(catalog, tmp / "home")
        if theirs_python:
            results["img2dataset"] = run_theirs(theirs_python, tmp / "urls.txt", tmp / "i2d", cores)
    limit = cpu_limit(folder)

    print(
        f"corpus: {len(names)} JPEGs 800x800 ({np.mean(sizes) / 1024:.0f} KiB on average) "
        f"from {folder}; server: {server}; {cores} cores"
    )
    print(
        f"{'tool':<15} {'ok':>6} {'whole s':>8} {'images/s':>9} {'download s':>11} {'images/s':>9}"
    )
    whole = {}
    for name, result in results.items():
        whole[name] = result["ok"] / result["whole_s"]
        phase = result["ok"] / result["run_s"]
        print(
            f"{name:<15} {result['ok']:>6} {result['whole_s']:>8.1f} {whole[name]:>9.1f} "
            f"{result['run_s']:>11.1f} {phase:>9.1f}"
        )
    print(f"{'CPU limit':<15} {'':>6} {'':>8} {limit:>9.1f}  (decode+resize+encode, no network)")
    if "img2dataset" in whole:
        ratio = whole["fashion ingest"] / whole["img2dataset"]
        print(f"end to end, ours / img2dataset: {ratio:.2f}x (goal >= 3)")
    print(f"end to end, ours / CPU limit: {whole['fashion ingest'] / limit:.0%}")


if __name__ == "__main__":
    main()
