# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
WORKDIR ?= /tmp/robustloss_demo
FMNIST_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint bench data mlbench venv clean mutants

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,ray]'
	touch $(STAMP)

venv: $(STAMP)

# Real Fashion-MNIST from Debian's `dataset-fashion-mnist`, when we are root with apt.
data: mlbench
	@if [ -d $(FMNIST_DIR) ]; then \
	  echo "Fashion-MNIST: found in $(FMNIST_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Fashion-MNIST: installing Debian package dataset-fashion-mnist"; \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) || \
	  echo "Fashion-MNIST: apt install failed; tests needing it are skipped"; \
	else \
	  echo "Fashion-MNIST: not root or no apt-get; skipping the Debian package (tests that need it are skipped)"; \
	fi

# UCI Letter and Vowel from Debian's `r-cran-mlbench` (R data files; no R is installed):
# `apt-get download` + `dpkg-deb -x`, then the two .rda files go to $(MLBENCH_DIR).
MLBENCH_DIR ?= $(or $(ROBUSTLOSS_CACHE),$(HOME)/.cache/robustloss)/mlbench
MLBENCH_RDA := LetterRecognition.rda Vowel.rda

mlbench:
	@if [ -f $(MLBENCH_DIR)/LetterRecognition.rda ] && [ -f $(MLBENCH_DIR)/Vowel.rda ]; then \
	  echo "Letter/Vowel: found in $(MLBENCH_DIR)"; \
	elif command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then \
	  echo "Letter/Vowel: fetching Debian package r-cran-mlbench into $(MLBENCH_DIR)"; \
	  tmp=$$(mktemp -d) && cd $$tmp && \
	  (apt-get download -qq r-cran-mlbench >/dev/null 2>&1 || \
	   ( [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -qq r-cran-mlbench >/dev/null 2>&1)) && \
	  dpkg-deb -x r-cran-mlbench_*.deb x && mkdir -p $(MLBENCH_DIR) && \
	  for f in $(MLBENCH_RDA); do cp x/usr/lib/R/site-library/mlbench/data/$$f $(MLBENCH_DIR)/; done && \
	  cd / && rm -rf $$tmp || \
	  echo "Letter/Vowel: could not fetch r-cran-mlbench; tests needing it are skipped"; \
	else \
	  echo "Letter/Vowel: no apt-get/dpkg-deb; tests needing them are skipped"; \
	fi

demo: $(STAMP) data
	$(PY) -m experiments.demo --workdir $(WORKDIR)

test: $(STAMP) data
	$(PY) -m pytest -n 2 -q --durations=15 tests

# The mutation pass (tools/mutate.py, docs/testing.md): one planted bug at a time, each against
# the tests that must catch it; CPU-heavy, so not in `make test`. MUTATE_FLAGS='-f transition/'
# runs one module's mutations; tests/test_mutation_table.py keeps the table from going stale.
MUTATE_FLAGS ?=
mutants: $(STAMP) data
	PYTHONPATH=$(CURDIR) $(PY) tools/mutate.py $(MUTATE_FLAGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Writes results/bench.json (one section per script). BENCH_FLAGS=--quick: LeNet on 12k images,
# ResNet-18 at batch 8 (the full run takes tens of minutes on 2 loaded cores).
BENCH_JSON ?= results/bench.json
BENCH_FLAGS ?=
bench: $(STAMP) data
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/train_speed.py --json $(BENCH_JSON) $(BENCH_FLAGS)
	$(PY) bench/end_to_end.py --json $(BENCH_JSON)
	$(PY) bench/losses.py --json $(BENCH_JSON) --rounds 4
	$(PY) bench/data_load.py --json $(BENCH_JSON)

clean:
	rm -rf $(VENV) .pytest_cache
