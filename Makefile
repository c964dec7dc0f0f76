# `make demo` and `make test` set up .venv themselves on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock lock-check browser label-studio demo test test-fast wheel-check lint format benchmark benchmark-cpu benchmark-download benchmark-scaleout clean

install: $(STAMP)

# Every venv installs from its lock (locks/NAME.txt: every package pinned, transitive ones too,
# each with its sha256): pip installs exactly that set without resolving (--no-deps), then
# locks/check.py removes what the lock does not list and fails naming a version that differs.
# $(1): the venv folder, $(2): its lock.
define install_lock
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(2) 2>&1 \
		| { grep -v "^WARNING: Location '.*' is ignored" || true; }
	$(1)/bin/python locks/check.py --sync $(2)
endef

$(STAMP): pyproject.toml locks/venv.in locks/venv.txt Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(call install_lock,$(VENV),locks/venv.txt)
	# pyproject.toml asks for nothing the lock lacks (a dependency added without `make lock`).
	$(BIN)/python locks/check.py
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# Cache the code beartype rewrites at import time (see fashion_model/precompile.py).
	$(BIN)/python -m fashion_model.precompile
	touch $(STAMP)

# Re-resolve every lock to the newest releases its sources allow (pyproject.toml with the dev
# extra, locks/*.in), with pip-tools from a venv of its own; then `make test`. On purpose only:
# the locks are the tested set. The project's references to its own extras resolve to the
# checkout itself, which no lock may hold.
LOCK_TOOLS := .venv-lock/.installed
COMPILE := .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host
$(LOCK_TOOLS): locks/tools.txt
	$(call install_lock,.venv-lock,locks/tools.txt)
	touch $@
lock: $(LOCK_TOOLS)
	$(COMPILE) --upgrade --extra dev -o locks/venv.txt pyproject.toml locks/venv.in
	.venv-lock/bin/python locks/check.py --drop-project locks/venv.txt
	for env in label-studio img2dataset decoders tools; do \
		$(COMPILE) --upgrade -o locks/$$env.txt locks/$$env.in || exit 1; done
	.venv-lock/bin/python locks/check.py

lock-check: $(STAMP)
	$(BIN)/python locks/check.py

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
$(LABEL_STUDIO): locks/label-studio.txt
	$(call install_lock,.venv-label-studio,locks/label-studio.txt)
	touch $(LABEL_STUDIO)

# Everything: the whole suite (slow tests included), then the installed wheel outside the checkout.
test: lock-check browser $(LABEL_STUDIO)
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

# The downloader against img2dataset (its own venv, benchmarks/.venv-img2dataset) on a local
# nginx when installed (apt-get install nginx-light), the JPEG decoders (their own venv,
# benchmarks/.venv-decoders), and memory from 10k to 100k URLs. The two benchmarks make their
# venv through these targets when it is missing.
IMG2DATASET := benchmarks/.venv-img2dataset/.installed
DECODERS := benchmarks/.venv-decoders/.installed
$(IMG2DATASET): locks/img2dataset.txt
	$(call install_lock,benchmarks/.venv-img2dataset,locks/img2dataset.txt)
	touch $@
$(DECODERS): locks/decoders.txt
	$(call install_lock,benchmarks/.venv-decoders,locks/decoders.txt)
	touch $@
benchmark-download: $(STAMP) $(IMG2DATASET) $(DECODERS)
	$(BIN)/python benchmarks/download.py
	$(BIN)/python benchmarks/decoders.py
	$(BIN)/python benchmarks/download_memory.py

# Download and scoring on --task-runner dask (a local Dask cluster) against the default runner.
benchmark-scaleout: $(STAMP)
	$(BIN)/python benchmarks/scaleout.py

clean:
	rm -rf $(VENV) .venv-label-studio .venv-lock fashion-home .pytest_cache
