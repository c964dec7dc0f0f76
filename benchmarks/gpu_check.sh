#!/usr/bin/env bash
# GPU check on a lent CUDA machine (its own Python with torch and Lightning; no network):
# trains at 224x224 on synthetic tensors and scores a batch, from the source tree, in about
# 2 minutes. Usage: bash benchmarks/gpu_check.sh [--steps N] [--batch-size N]
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONPATH=. timeout 170 python benchmarks/gpu_check.py "$@"
