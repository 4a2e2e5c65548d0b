# The two commands of the README: `make demo` (the main job) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Exact versions of everything `make test` and `make demo` install (extras train, study, ray,
# tensorboard, wandb, test), on Python 3.11: `make lock` regenerates it (LOCK_FLAGS=--upgrade to move to the newest).
LOCK   := requirements/lock-py311.txt
# The venvs are keyed by the dependencies and the lock: a change rebuilds them, a rerun does not.
DEPS_KEY := $(shell cat $(LOCK) | $(PYTHON) -c "import hashlib, json, sys, tomllib; \
  p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
  deps = json.dumps([p['requires-python'], p['dependencies'], p['optional-dependencies']]); \
  print(hashlib.sha256((deps + sys.stdin.read()).encode()).hexdigest()[:12])")
$(if $(DEPS_KEY),,$(error $(PYTHON) could not hash pyproject.toml and $(LOCK)))
STAMP  := $(VENV)/.installed-$(DEPS_KEY)
# The library alone (`pip install .`, no extras) is tested on these Pythons too (pyenv's, else
# pythonX.Y on PATH), each in its own venv .venv-pyXY with the lock's versions.
LIB_PYTHONS ?= 3.12 3.13
# The newest of them runs every library test; the others leave out the three parametric numeric
# sweeps (every loss x axis/where, the transition objectives, the bit pins), which exercise
# jaxlib's compiled code, the same wheel on every Python (~2/3 of the library tests' CPU time).
LIB_FULL   ?= $(lastword $(LIB_PYTHONS))
LIB_TOOLS  := pytest pytest-xdist
LIB_KEY    := $(subst $(eval) ,+,$(LIB_TOOLS))
LIB_SKIP   := --ignore=tests/losses/test_conventions.py --ignore=tests/transition/test_objectives.py \
              --ignore=tests/losses/test_default_path.py
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
find_python = $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)))),python$(1))
lib_venv = .venv-py$(subst .,,$(1))
LIB_STAMPS = $(foreach v,$(LIB_PYTHONS),$(call lib_venv,$(v))/.installed-$(DEPS_KEY)-$(LIB_KEY))
WORKDIR ?= /tmp/robustloss_demo
FMNIST_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-lib $(foreach v,$(LIB_PYTHONS),test-lib-$(v)) lint bench data mlbench venv lib-venvs lock browser mutants clean

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed*
	touch $@

venv: $(STAMP)

# One venv per Python of LIB_PYTHONS: the package without extras, plus pytest (lock versions),
# and the library's tests (tests/conftest.py LIBRARY_TESTS) on it: PYTHONSAFEPATH and importlib
# mode keep the checkout off sys.path, so the tests import the installed package.
define lib_venv_rule
$(call lib_venv,$(1))/.installed-$(DEPS_KEY)-$(LIB_KEY):
	rm -rf $(call lib_venv,$(1))
	$(call find_python,$(1)) -m venv $(call lib_venv,$(1))
	$(call lib_venv,$(1))/bin/python -m pip install -q --upgrade pip
	$(call lib_venv,$(1))/bin/python -m pip install -q -c $(LOCK) . $(LIB_TOOLS)
	touch $$@

test-lib-$(1): $(call lib_venv,$(1))/.installed-$(DEPS_KEY)-$(LIB_KEY)
	@cd / && echo "library tier alone, Python $(1): robustloss from" \
	  "$$$$($(CURDIR)/$(call lib_venv,$(1))/bin/python -c 'import robustloss; print(robustloss.__file__)')"
	PYTHONSAFEPATH=1 $(call lib_venv,$(1))/bin/python -m pytest -n 2 -q -p no:cacheprovider \
	  --import-mode=importlib --tier=library $(if $(filter $(1),$(LIB_FULL)),,$(LIB_SKIP)) \
	  $(LIB_PYTEST_FLAGS) tests
endef
$(foreach v,$(LIB_PYTHONS),$(eval $(call lib_venv_rule,$(v))))

lib-venvs: $(LIB_STAMPS)

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

# Headless Chromium for the report page's test (Debian's `chromium`), when we are root with apt.
browser:
	@if command -v chromium >/dev/null; then \
	  echo "Chromium: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Chromium: installing Debian package chromium"; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || \
	  echo "Chromium: apt install failed; the report's browser test is skipped"; \
	else \
	  echo "Chromium: not root or no apt-get; the report's browser test is skipped"; \
	fi

demo: $(STAMP) data
	$(PY) -m experiments.demo --workdir $(WORKDIR)

# The whole suite on 3.11 (the lock), then the library tier's tests on each of LIB_PYTHONS in
# turn, each on both cores (LIB_FULL runs them all, the others less LIB_SKIP).
test: $(STAMP) $(LIB_STAMPS) data browser
	$(PY) -m pytest -n 2 -q --durations=15 tests
	$(MAKE) --no-print-directory test-lib

test-lib: $(foreach v,$(LIB_PYTHONS),test-lib-$(v))

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
# The scripts import configs/ from the repository root (not installed): PYTHONPATH.
bench: export PYTHONPATH := $(CURDIR)
bench: $(STAMP) data
	$(PY) -m pip install -q -c $(LOCK) 'torch==2.13.0'
	$(PY) bench/train_speed.py --json $(BENCH_JSON) $(BENCH_FLAGS)
	$(PY) bench/end_to_end.py --json $(BENCH_JSON)
	$(PY) bench/losses.py --json $(BENCH_JSON) --rounds 4
	$(PY) bench/data_load.py --json $(BENCH_JSON)

# Re-resolves the lock from pyproject.toml, keeping its pins where they still fit (uv).
LOCK_FLAGS ?=
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv>=0.13.8'
	$(PY) -m uv pip compile -q pyproject.toml --extra train --extra study --extra ray --extra tensorboard --extra wandb --extra test \
	  --python-version 3.11 --no-emit-index-url --custom-compile-command 'make lock' \
	  -o $(LOCK) $(LOCK_FLAGS)

clean:
	rm -rf $(VENV) $(foreach v,$(LIB_PYTHONS),$(call lib_venv,$(v))) .pytest_cache
