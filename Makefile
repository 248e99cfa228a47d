# The Focal Modulation Book: build, test and regenerate the notebooks.
#
#   make book                    build the HTML book into _build/html (warnings are errors), serving
#                                its own widget JavaScript and MathJax (npm ci, scripts/vendor_js.sh)
#   make test                    every check CI runs (package tests on TensorFlow and JAX, nbval over
#                                every notebook, the book build, the browser test)
#   make test-browser            after `make book`: headless Chromium checks that chapter 8's widget
#                                explorer, the math and chapter 1's progress bar work offline
#   make notebooks               regenerate every chapter's .ipynb from its .py and execute it in place
#   make notebook NB=book/chapters/03_hierarchical_context.py    the same for one chapter
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

# Quiet TensorFlow; keep the debugger's frozen-modules note out of kernel logs.
export TF_CPP_MIN_LOG_LEVEL := 3
export PYDEVD_DISABLE_FILE_VALIDATION := 1

JB_BUILD := $(BIN)/jupyter-book build . --all -W -n --keep-going
# The pages load their JavaScript from _build/html/vendor, not a CDN: npm packages copied by this script.
VENDOR_JS := scripts/vendor_js.sh
NODE ?= node
BROWSER_TEST := $(NODE) tests/browser/check_pages.js _build/html
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
NBVAL := $(PYTEST) --nbval-lax --nbval-current-env --nbval-cell-timeout=600

.PHONY: help venv book test test-package test-notebooks test-book test-browser notebooks notebook clean

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
	   $(TIMED) "package tests (KERAS_BACKEND=jax)" env KERAS_BACKEND=jax $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(PYTEST) tests && \
	   $(TIMED) "nbval over every notebook (FOCAL_QUICK=1)" env FOCAL_QUICK=1 $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(NBVAL) $(CHAPTERS_NB) && \
	   $(TIMED) "vendored JavaScript (npm ci when stale)" $(VENDOR_JS) && \
	   $(TIMED) "book build (warnings as errors)" env $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(JB_BUILD) && \
	   $(TIMED) "Chromium for the browser test" scripts/ensure_chromium.sh && \
	   $(TIMED) "browser test (widgets, MathJax, offline)" $(BROWSER_TEST); \
	then status=0; else status=$$?; fi; \
	echo "Timings:"; cat $$TIMINGS_FILE; exit $$status

test-package: $(SETUP)
	cifar=$$(scripts/cifar10_dir.sh $(BIN)/python); \
	env KERAS_BACKEND=tensorflow $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(PYTEST) tests && \
	env KERAS_BACKEND=jax $${cifar:+FOCAL_CIFAR10_DIR=$$cifar} $(PYTEST) tests

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
