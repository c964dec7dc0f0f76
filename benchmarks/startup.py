"""Benchmark: how long each `fashion` command takes from process start to exit on a small home,
and the single-stage commands (the library, no Prefect) against the same stages run as their
Prefect flows on a temporary server, in one run.

    .venv/bin/python benchmarks/startup.py [--repeat 3]

A 40-product synthetic catalog is served from loopback, ingested and scored with an untrained
registered model (benchmarks/common.py), so that the read-only commands have a warehouse to
read. Prints the median wall time of each command, whether it imported torch or Prefect, and
for the stage commands the ratio command / Prefect flow run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE = (
    "import atexit, sys, runpy\n"
    "atexit.register(lambda: print('IMPORTED', 'torch' in sys.modules, 'prefect' in sys.modules,"
    " file=sys.stderr))\n"
    "sys.argv = ['fashion'] + sys.argv[1:]\n"
    "from fashion_model.flows.cli import main\n"
    "main()\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The same stages as Prefect flow runs (what a deployment runs), for the ratio.
FLOW_RUNS = {
    "ingest (40 images, rerun)": "from fashion_model.flows.ingest import ingest\n"
    "ingest(source=sys.argv[1], name='catalog', download={'allow_private': True})",
    "score (nothing new)": "from fashion_model.flows.score import score\n"
    "from fashion_model.score.plan import plan_score\nscore(plan=plan_score(None, ['catalog']))",
    "report": "from fashion_model.flows.report import report\nreport()",
}


def timed(args: list[str], env: dict, code: str = PROBE) -> tuple[float, str]:
    """Wall seconds of one command (process start to exit) and what it imported."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"fashion {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    line = next(x for x in result.stderr.splitlines()[::-1] if x.startswith("IMPORTED"))
    _, torch, prefect = line.split()
    imported = [name for name, flag in (("torch", torch), ("prefect", prefect)) if flag == "True"]
    return seconds, ", ".join(imported) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (median)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    from benchmarks.common import make_model, sample_paths

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        port = _free_port()
        env = {**os.environ, "FASHION_HOME": str(home), "PREFECT_HOME": str(tmp / "prefect")}
        env.pop("PREFECT_API_URL", None)
        fashion = [sys.executable, "-m", "fashion_model.flows.cli"]
        base = f"http://127.0.0.1:{port}"
        subprocess.run(
            [
                *fashion,
                "catalog",
                "synth",
                "--out",
                str(tmp / "cat"),
                "--products",
                "40",
                "--train-images",
                "10",
                "--validation-images",
                "10",
                "--base-url",
                base,
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        server = subprocess.Popen(
            [*fashion, "serve-images", str(tmp / "cat"), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            time.sleep(2)
            catalog = str(tmp / "cat" / "catalog.csv")
            timed(["ingest", catalog, "--name", "catalog", "--allow-private"], env)
            make_model(home, 64, sample_paths(home, home / "manifests" / "catalog", 16))
            card = home / "models" / "bench" / "model.json"  # every label passes: full reports
            card.write_text(json.dumps({**json.loads(card.read_text()), "threshold": 0.0}))
            timed(["score"], env)
            product = (tmp / "cat" / "catalog.csv").read_text().splitlines()[1].split(",")[0]
            commands = {
                "--help": ["--help"],
                "model list": ["model", "list"],
                "sql --list": ["sql", "--list"],
                "sql trending_attributes": ["sql", "trending_attributes", "--param", "task=color"],
                "trends --task category": ["trends", "--task", "category"],
                "similar --product-id": ["similar", "--product-id", product, "-k", "5"],
                "ingest (40 images, rerun)": [
                    "ingest",
                    catalog,
                    "--name",
                    "catalog",
                    "--allow-private",
                ],
                "score (nothing new)": ["score", "--manifest", "catalog"],
                "report": ["report"],
            }
            rows = []
            for name, command in commands.items():
                runs = [timed(command, env) for _ in range(args.repeat)]
                direct = statistics.median(r[0] for r in runs)
                row = [name, direct, runs[0][1], None, None]
                if name in FLOW_RUNS:
                    code = PROBE.split("sys.argv =")[0] + FLOW_RUNS[name]
                    tracked = [timed([catalog], env, code) for _ in range(args.repeat)]
                    row[3] = statistics.median(r[0] for r in tracked)
                    row[4] = tracked[0][1]
                rows.append(row)
        finally:
            server.terminate()
            server.wait()

    print(f"median of {args.repeat} run(s), process start to exit, {os.cpu_count()} cores")
    print(f"{'command':<28} {'seconds':>8} {'imports':<15} {'as a Prefect run':>17} {'ratio':>6}")
    for name, direct, imports, tracked, tracked_imports in rows:
        line = f"{name:<28} {direct:>8.2f} {imports:<15}"
        if tracked is not None:
            line += f" {tracked:>10.2f} ({tracked_imports}) {direct / tracked:>5.2f}"
        print(line)


if __name__ == "__main__":
    main()
