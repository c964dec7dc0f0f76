"""Benchmark: the ingest image work (decode 800 x 800 JPEG, shrink to a shorter side of 256,
encode at quality 90) with each decoder the downloader could use, at equal output quality.

    .venv/bin/python benchmarks/decoders.py [--images 400]

Runs in a virtual environment of its own (benchmarks/.venv-decoders, made on first use from
locks/decoders.txt: pyvips + pyvips-binary, simplejpeg, PyTurboJPEG, opencv-python-headless),
because none of them is a dependency of the project. Each candidate processes the same files of the
download benchmark's corpus on all cores (a process pool, so the GIL is not what is measured);
the baseline is this project's `process_image` (Pillow with JPEG draft mode). Quality is the
PSNR of each output against a reference (full decode, float Lanczos resize), so a faster path
that is blurrier or blockier shows it. Prints images/s, the ratio to the baseline and the PSNR.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "benchmarks" / ".venv-decoders"
SIDE, QUALITY = 256, 90


def _target(width: int, height: int) -> tuple[int, int]:
    scale = SIDE / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def pillow_draft(raw: bytes) -> bytes:
    from fashion_model.ingest.imaging import process_image

    return process_image(raw, SIDE, QUALITY).data


def pyvips_shrink_on_load(raw: bytes) -> bytes:
    os.environ.setdefault("VIPS_CONCURRENCY", "1")  # one image per core, as the others
    import pyvips

    image = pyvips.Image.new_from_buffer(raw, "", access="sequential")
    width, height = _target(image.width, image.height)
    thumb = pyvips.Image.thumbnail_buffer(raw, width, height=height, size="down")
    return thumb.jpegsave_buffer(Q=QUALITY, strip=True)


def simplejpeg_scaled(raw: bytes) -> bytes:
    import simplejpeg
    from PIL import Image

    width, height, _, _ = simplejpeg.decode_jpeg_header(raw)
    target = _target(width, height)
    pixels = simplejpeg.decode_jpeg(
        raw, colorspace="RGB", min_width=target[0], min_height=target[1]
    )
    image = Image.fromarray(pixels)
    if image.size != target:
        image = image.resize(target, Image.BILINEAR, reducing_gap=2.0)
    import numpy as np

    return simplejpeg.encode_jpeg(np.asarray(image), quality=QUALITY, colorspace="RGB")


def turbojpeg_scaled(raw: bytes) -> bytes:
    import cv2
    from turbojpeg import TJPF_RGB, TurboJPEG

    jpeg = _turbo(TurboJPEG)
    width, height, _, _ = jpeg.decode_header(raw)
    target = _target(width, height)
    factors = sorted(jpeg.scaling_factors, key=lambda f: f[0] / f[1])
    factor = next(
        f for f in factors if width * f[0] / f[1] >= target[0] and height * f[0] / f[1] >= target[1]
    )
    pixels = jpeg.decode(raw, pixel_format=TJPF_RGB, scaling_factor=factor)
    if (pixels.shape[1], pixels.shape[0]) != target:
        pixels = cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)
    return jpeg.encode(pixels, quality=QUALITY, pixel_format=TJPF_RGB)


_TURBO = {}


def _turbo(cls):
    if "jpeg" not in _TURBO:
        _TURBO["jpeg"] = cls()
    return _TURBO["jpeg"]


def opencv_reduced(raw: bytes) -> bytes:
    import cv2
    import numpy as np

    buffer = np.frombuffer(raw, np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_COLOR_2)
    height, width = pixels.shape[:2]
    target = _target(width * 2, height * 2)
    if min(width, height) < SIDE:  # 1/2 went below the target: decode at full size instead
        pixels = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    pixels = cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    return encoded.tobytes()


CANDIDATES = {
    "pillow draft (ours)": pillow_draft,
    "pyvips shrink-on-load": pyvips_shrink_on_load,
    "simplejpeg scaled": simplejpeg_scaled,
    "PyTurboJPEG scaled": turbojpeg_scaled,
    "OpenCV REDUCED_2": opencv_reduced,
}


def _run_one(job: tuple[str, str]) -> int:
    name, path = job
    return len(CANDIDATES[name](Path(path).read_bytes()))


def _psnr(name: str, files: list[str]) -> float:
    import numpy as np
    from PIL import Image

    scores = []
    for path in files:
        raw = Path(path).read_bytes()
        full = Image.open(io.BytesIO(raw)).convert("RGB")
        reference = np.asarray(full.resize(_target(*full.size), Image.LANCZOS), dtype=float)
        output = np.asarray(Image.open(io.BytesIO(CANDIDATES[name](raw))).convert("RGB"), float)
        if output.shape != reference.shape:
            return float("nan")
        mse = float(np.mean((output - reference) ** 2))
        scores.append(10 * np.log10(255**2 / max(mse, 1e-9)))
    return float(np.mean(scores))


def measure(files: list[str]) -> None:
    cores = os.cpu_count() or 1
    rates, notes = {}, {}
    with ProcessPoolExecutor(cores) as pool:
        for name in CANDIDATES:
            try:
                list(pool.map(_run_one, [(name, files[0])] * cores))  # import and warm up
            except Exception as error:  # noqa: BLE001 - a candidate missing here is reported
                notes[name] = f"unavailable: {type(error).__name__}: {error}"[:120]
                continue
            started = time.perf_counter()
            list(pool.map(_run_one, [(name, f) for f in files], chunksize=8))
            rates[name] = len(files) / (time.perf_counter() - started)
    base = rates["pillow draft (ours)"]
    print(f"{len(files)} JPEGs 800x800 -> shorter side {SIDE}, quality {QUALITY}, {cores} cores")
    print(f"{'decoder':<24} {'images/s':>9} {'vs ours':>8} {'PSNR dB':>8}")
    for name in CANDIDATES:
        if name in notes:
            print(f"{name:<24} {notes[name]}")
            continue
        psnr = _psnr(name, files[:40])
        print(f"{name:<24} {rates[name]:>9.1f} {rates[name] / base:>7.2f}x {psnr:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        folder = ROOT / "benchmarks" / ".data" / "download-800-2000"
        measure(sorted(str(p) for p in folder.glob("*.jpg"))[: args.images])
        return
    sys.path.insert(0, str(ROOT))
    from benchmarks.download import ensure_venv, make_corpus

    make_corpus(2000)
    python = ensure_venv(VENV)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [str(python), __file__, "--inside", "--images", str(args.images)]
    raise SystemExit(subprocess.run(command, env=env).returncode)


if __name__ == "__main__":
    main()
