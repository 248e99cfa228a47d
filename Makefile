# The Focal Modulation Book: build, test and regenerate the notebooks.
#
#   make book                    build the HTML book into _build/html (warnings are errors), serving
#                                its own widget JavaScript and MathJax (npm ci, scripts/vendor_js.sh)
#   make test                    every check CI runs (package tests on TensorFlow and JAX, nbval over
#                                the chapters, the Colab job, the book build from the chapters' stored
#                                outputs, the browser tests, the workflow lint), printing the time of
#                                each step
#   make test-colab              the Colab job: every chapter top to bottom in Colab's runtime (Python
#                                3.13 venv pinned to ../shared/colab/pip-freeze.txt, package installed
#                                by the install cell from a wheel of this clone), then the live explorer
#                                in classic Notebook with ipywidgets 7.7.1 in headless Chromium
#   make test-browser            after `make book`: headless Chromium checks that chapter 8's widget
#                                explorer, the math and chapter 1's progress bar work offline
#   make lint-workflows          actionlint over .github/workflows (the Pages deployment)
#   make notebooks               regenerate every chapter's .ipynb from its .py and execute it in place
#   make notebook NB=book/chapters/03_hierarchical_context.py    the same for one chapter
#
# Caches outside the clone, reused between CI runs (~/.cache/focal-book): CIFAR-10 built from ../shared
# (scripts/cifar10_dir.sh) and the Colab venv, keyed on the freeze (scripts/colab_env.sh). `make book`
# keeps Jupyter Book's cache of executed chapters in _build/.jupyter_cache.
#
# Every target creates .venv (python3 -m venv) and installs requirements.txt (which installs this
# package, editable) when .venv is missing or requirements.txt/pyproject.toml changed, and gives the
# venv's Jupyter kernels scripts/ipython_kernel_config.py.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
SETUP := $(STAMP) $(KERNEL_CONFIG)
TIMED := scripts/timed.sh

CHAPTERS_PY := $(sort $(wildcard book/chapters/[0-9][0-9]_*.py))
CHAPTERS_NB := $(sort $(wildcard book/chapters/[0-9][0-9]_*.ipynb))
# Chapters whose outputs come from a long run elsewhere: `make notebooks` skips them (regenerate one on
# purpose with `make notebook NB=...`) and the book build does not execute them (see _config.yml).
LONG_CHAPTERS := book/chapters/07_training.py
# nbval runs every chapter but the long one: chapter 7 (its CI budget, FOCAL_QUICK=1) runs top to bottom in
# the Colab job, and training it a second time here would add minutes and check nothing new.
NBVAL_NB := $(filter-out $(LONG_CHAPTERS:.py=.ipynb),$(CHAPTERS_NB))

# Quiet TensorFlow; keep the debugger's frozen-modules note out of kernel logs.
export TF_CPP_MIN_LOG_LEVEL := 3
export PYDEVD_DISABLE_FILE_VALIDATION := 1

JB_BUILD := $(BIN)/jupyter-book build . --all -W -n --keep-going
# The pages load their JavaScript from _build/html/vendor, not a CDN: npm packages copied by this script.
VENDOR_JS := scripts/vendor_js.sh
NODE ?= node
BROWSER_TEST := $(NODE) tests/browser/check_pages.js _build/html
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# Two notebooks at a time (pytest-xdist, one notebook per worker): a chapter's kernel mostly waits on one
# core (imports, plotting), so two of them fill the machine's two.
NBVAL := $(PYTEST) --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -n 2 --dist loadfile
# The JAX run repeats only the tests whose outcome can depend on the backend: these read files, draw
# widgets or diagrams, filter logs, run the tf.data pipeline or numpy, count parameters (the same on any
# backend), time with an injected clock, keep snapshot files (the maps they store are test_maps' on JAX),
# or kill TensorFlow training runs (the fault and EMA suites train on TensorFlow). Two test files at a time.
BACKEND_FREE_TESTS := tests/test_book_structure.py tests/test_native_logs.py tests/test_run_chapters.py \
	tests/test_widgets.py tests/test_prose_numbers.py tests/test_reader_markup.py tests/test_data.py \
	tests/test_faults_data.py tests/test_faults_training.py tests/test_evaluation.py tests/test_registry.py \
	tests/test_report.py tests/test_diagrams.py tests/test_throughput.py tests/test_benchmarks.py \
	tests/test_snapshots.py tests/test_train_mixers.py tests/test_speed.py tests/test_ema.py \
	tests/test_ship.py
JAX_PYTEST := $(PYTEST) -n 2 --dist loadfile $(addprefix --ignore=,$(BACKEND_FREE_TESTS)) tests
# JAX on a CPU runs faster with glibc's malloc on huge pages (focal_utils.speed.HUGEPAGES_TUNABLE says why;
# a test checks that the two agree).
JAX_ENV := KERAS_BACKEND=jax GLIBC_TUNABLES=glibc.malloc.hugetlb=1

# The Colab job: Colab's package list (../shared/colab), a wheel of this clone, the executed chapters.
COLAB_FREEZE ?= ../shared/colab/pip-freeze.txt
COLAB_OUT := _build/colab
WHEEL_DIR := _build/wheel
SHOTS_DIR ?= _build/shots13
LINT_WORKFLOWS := $(NODE) tests/ci/lint_workflows.js

.PHONY: help venv book book-stored test test-package test-notebooks test-book test-browser test-colab \
	wheel colab-chapters colab-browser lint-workflows notebooks notebook clean

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

venv: $(SETUP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

# Keeps TensorFlow's C++ log lines out of the notebooks' cells (see the file).
$(KERNEL_CONFIG): scripts/ipython_kernel_config.py $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

# Chapter 8 reads CIFAR-10's test images: FOCAL_CIFAR10_DIR (or the cache built from ../shared), else
# Keras downloads them.
book: $(SETUP)
	$(VENDOR_JS)
	cifar=$$(scripts/cifar10_dir.sh $(BIN)/python); \
	env $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(JB_BUILD)
	@echo "The book is in _build/html/index.html"

test: $(SETUP)
	@rm -f _build/timings.txt; mkdir -p _build
	@export TIMINGS_FILE=$(CURDIR)/_build/timings.txt; \
	if cifar=$$(scripts/cifar10_dir.sh $(BIN)/python) && \
	   $(TIMED) "numbers in the prose come from the runs" $(BIN)/python scripts/check_prose_numbers.py && \
	   $(TIMED) "package tests (KERAS_BACKEND=tensorflow)" env KERAS_BACKEND=tensorflow $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(PYTEST) tests && \
	   $(TIMED) "package tests (KERAS_BACKEND=jax, backend-dependent files)" env $(JAX_ENV) $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(JAX_PYTEST) && \
	   $(TIMED) "nbval over every chapter but 7 (FOCAL_QUICK=1)" env FOCAL_QUICK=1 $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(NBVAL) $(NBVAL_NB) && \
	   $(TIMED) "vendored JavaScript (npm ci when stale)" $(VENDOR_JS) && \
	   $(TIMED) "workflow lint (actionlint)" $(LINT_WORKFLOWS) && \
	   $(TIMED) "Colab: wheel of focal_utils" $(MAKE) --no-print-directory wheel && \
	   $(TIMED) "Colab: runtime venv (cached by the freeze)" scripts/colab_env.sh $(COLAB_FREEZE) >/dev/null && \
	   $(TIMED) "Colab: every chapter top to bottom" $(MAKE) --no-print-directory colab-chapters CIFAR=$$cifar && \
	   $(TIMED) "book build (warnings as errors; stored outputs)" $(MAKE) --no-print-directory book-stored CIFAR=$$cifar && \
	   $(TIMED) "Chromium for the browser tests" scripts/ensure_chromium.sh && \
	   $(TIMED) "browser test (widgets, MathJax, offline)" $(BROWSER_TEST) && \
	   $(TIMED) "Colab: live explorer, classic Notebook + ipywidgets 7.7.1" $(MAKE) --no-print-directory colab-browser CIFAR=$$cifar; \
	then status=0; else status=$$?; fi; \
	echo "Timings:"; cat $$TIMINGS_FILE; exit $$status

# The book build of `make test`: the chapters' stored outputs, not executed again (nbval has just re-run
# every chapter against them and the Colab job runs them top to bottom), with warnings as errors. The
# config is _config.yml with execution off; its local extension's folder is made absolute, since Jupyter
# Book resolves it from the config file's folder.
STORED_CONFIG := _build/config-stored-outputs.yml
book-stored: $(SETUP)
	@mkdir -p _build
	sed -e 's/^  execute_notebooks: cache$$/  execute_notebooks: "off"/' \
	    -e 's#^    keras_signatures: scripts/$$#    keras_signatures: $(CURDIR)/scripts/#' _config.yml > $(STORED_CONFIG)
	@grep -q 'execute_notebooks: "off"' $(STORED_CONFIG) && grep -q '$(CURDIR)/scripts/' $(STORED_CONFIG) || \
	    { echo "_config.yml changed: update the book-stored target"; exit 1; }
	$(VENDOR_JS)
	env $${CIFAR:+FOCAL_CIFAR10_DIR=$$CIFAR} $(JB_BUILD) --config $(STORED_CONFIG)

# A wheel of this clone, built from a copy of the files it packs (no build/ folder in the clone).
wheel: $(SETUP)
	@rm -rf $(WHEEL_DIR) _build/wheel-src && mkdir -p $(WHEEL_DIR) _build/wheel-src
	cp -r pyproject.toml README.md focal_utils _build/wheel-src/
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEEL_DIR) _build/wheel-src
	@rm -rf _build/wheel-src; ls $(WHEEL_DIR)/*.whl

colab-chapters:
	colab=$$(scripts/colab_env.sh $(COLAB_FREEZE)); \
	env FOCAL_QUICK=1 PYDEVD_DISABLE_FILE_VALIDATION=1 $${CIFAR:+FOCAL_CIFAR10_DIR=$$CIFAR} \
	    $$colab/bin/python scripts/run_chapters.py --colab $$colab --wheel $$(ls $(WHEEL_DIR)/*.whl) \
	    --out $(COLAB_OUT) --jobs 2 $(LONG_CHAPTERS:.py=.ipynb) $(NBVAL_NB)

colab-browser:
	colab=$$(scripts/colab_env.sh $(COLAB_FREEZE)); \
	env SHOTS_DIR=$(SHOTS_DIR) $${CIFAR:+FOCAL_CIFAR10_DIR=$$CIFAR} \
	    scripts/colab_browser_test.sh $$colab $$(ls $(WHEEL_DIR)/*.whl)

test-colab: wheel
	@cifar=$$(scripts/cifar10_dir.sh $(BIN)/python); \
	$(VENDOR_JS) >/dev/null && scripts/ensure_chromium.sh && \
	$(MAKE) --no-print-directory colab-chapters CIFAR=$$cifar && \
	$(MAKE) --no-print-directory colab-browser CIFAR=$$cifar

lint-workflows:
	$(VENDOR_JS) >/dev/null
	$(LINT_WORKFLOWS)

test-package: $(SETUP)
	cifar=$$(scripts/cifar10_dir.sh $(BIN)/python); \
	env KERAS_BACKEND=tensorflow $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(PYTEST) tests && \
	env $(JAX_ENV) $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(JAX_PYTEST)

test-notebooks: $(SETUP)
	cifar=$$(scripts/cifar10_dir.sh $(BIN)/python); \
	env FOCAL_QUICK=1 $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(NBVAL) $(CHAPTERS_NB)

test-book: book

# Needs a built book (`make book`, which also installs playwright-core) and Chromium (/usr/bin/chromium,
# or CHROMIUM=...).
test-browser:
	scripts/ensure_chromium.sh
	$(BROWSER_TEST)

notebooks: $(SETUP)
	@for py in $(filter-out $(LONG_CHAPTERS),$(CHAPTERS_PY)); do \
	    $(MAKE) --no-print-directory notebook NB=$$py; \
	done
	@echo "Skipped (long-running, regenerate on purpose): $(LONG_CHAPTERS)"

notebook: $(SETUP)
	@test -n "$(NB)" || { echo "usage: make notebook NB=book/chapters/NN_slug.py"; exit 2; }
	$(TIMED) "$(basename $(NB)).ipynb" bash -c '$(BIN)/jupytext --to ipynb "$(basename $(NB)).py" && \
	    $(BIN)/jupyter execute --inplace --timeout=600 --kernel_name=python3 "$(basename $(NB)).ipynb"'

clean:
	rm -rf _build _vendor
