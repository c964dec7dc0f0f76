#!/usr/bin/env bash
# GPU checks on a lent CUDA machine (its own Python with torch and Lightning; no network), from
# the source tree, in about 5 minutes: gpu_check.py (training and scoring rates at 224 px on
# synthetic tensors, nvJPEG, JPEG to rows), then gpu_product.py (the product's ingest, training
# and scoring on the GPU, compared with the same model scored on the CPU). Carry the wheels the
# machine lacks (duckdb, pydantic, simplejpeg, ijson, defusedxml, iterative-stratification) and
# put them on PYTHONPATH first. Usage: bash benchmarks/gpu_check.sh [gpu_check.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 200 python3 benchmarks/gpu_check.py "$@"
timeout 330 python3 benchmarks/gpu_product.py
