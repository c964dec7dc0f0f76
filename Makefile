# `make demo` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser label-studio demo test test-fast wheel-check lint format benchmark benchmark-cpu benchmark-download benchmark-scaleout clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision first, pinned to the wheels this project is tested with.
	$(BIN)/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Cache the code beartype rewrites at import time (see fashion_model/precompile.py).
	$(BIN)/python -m fashion_model.precompile
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fashion demo

# The web app's browser tests drive Debian's Chromium (never a downloaded one): installed here
# when missing and apt-get can (root); otherwise those tests are skipped, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get install -y -q chromium >/dev/null; } || echo "no chromium: the browser tests will be skipped"

# A real Label Studio server for the review loop's slow test, in a venv of its own: it pins
# versions (Django, pyarrow, ...) that the project's own venv must not take.
LABEL_STUDIO := .venv-label-studio/.installed
label-studio: $(LABEL_STUDIO)
$(LABEL_STUDIO):
	test -x .venv-label-studio/bin/python || $(PYTHON) -m venv .venv-label-studio
	.venv-label-studio/bin/python -m pip install --quiet "label-studio==1.23.2"
	touch $(LABEL_STUDIO)

# Everything: the whole suite (slow tests included), then the installed wheel outside the checkout.
test: $(STAMP) browser $(LABEL_STUDIO)
	$(BIN)/python -m pytest
	PYTHON=$(BIN)/python .ci/wheel-check

# The suite without the tests marked slow (a real Prefect server, a Dask cluster, kills, DDP,
# the demo): a few minutes, for the edit-test loop.
test-fast: $(STAMP) browser
	$(BIN)/python -m pytest -m "not slow"

# Build the wheel, install it into a fresh venv, run the CLI from another folder (.ci/wheel-check).
wheel-check: $(STAMP)
	PYTHON=$(BIN)/python .ci/wheel-check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

benchmark: $(STAMP)
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/score_memory.py
	$(BIN)/python benchmarks/warehouse.py
	$(BIN)/python benchmarks/similar.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/colors.py

# Scoring on this CPU: torch fp32/bf16 against onnxruntime fp32/int8, on the demo's home
# (`make demo` first: its catalog images and trained model).
benchmark-cpu: $(STAMP)
	$(BIN)/python benchmarks/score_cpu.py --home $${FASHION_HOME:-fashion-home}

# The downloader against img2dataset (installed once into benchmarks/.venv-img2dataset) on a
# local nginx when installed (apt-get install nginx-light), the JPEG decoders (their own venv,
# benchmarks/.venv-decoders), and memory from 10k to 100k URLs.
benchmark-download: $(STAMP)
	$(BIN)/python benchmarks/download.py
	$(BIN)/python benchmarks/decoders.py
	$(BIN)/python benchmarks/download_memory.py

# Download and scoring on --task-runner dask (a local Dask cluster) against the default runner.
benchmark-scaleout: $(STAMP)
	$(BIN)/python benchmarks/scaleout.py

clean:
	rm -rf $(VENV) .venv-label-studio fashion-home .pytest_cache
