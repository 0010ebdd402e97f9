# Task runner. Both entry points create the virtual environment they need (.venv) on a fresh machine.

# The Python that creates .venv: PYTHON=... if given (command line or environment), else the newest
# supported one on PATH that runs. Each candidate is run, not only looked up: version managers (pyenv,
# asdf) leave shims on PATH for versions that are installed but not selected, and those exit with an
# error. Supported: pyproject.toml's requires-python (tests/test_makefile.py keeps the two in step).
SUPPORTED_PYTHONS := 3.13 3.12 3.11
PYTHON_CANDIDATES := $(SUPPORTED_PYTHONS:%=python%) python3
PYTHON_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do "$$p" -c '$(PYTHON_OK)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
endif
NO_PYTHON := No supported Python found. This project needs Python 3.11, 3.12 or 3.13; looked on PATH for \
  $(PYTHON_CANDIDATES) and ran each (a name that fails to run, such as a pyenv shim of a version not \
  selected, does not count). Install one of them, or name one, as in: make test PYTHON=/path/to/python3.12
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CHAPTERS := $(wildcard book/chapters/*.md)
ONESHOT_PLANS ?= reproduction improved

.PHONY: book test install data records missing notebooks html pytest nbval clean-book browser
.DEFAULT_GOAL := install

$(VENV)/.installed: pyproject.toml
	$(if $(PYTHON),,$(error $(NO_PYTHON)))
	@$(PYTHON) -c '$(PYTHON_OK)' || { echo "PYTHON=$(PYTHON) does not run or is not Python 3.11, 3.12 or 3.13." >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON) (Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[book,test,distributed,jax,landmarks]"
	touch $@

# JupyterLab settings for this environment: open Markdown (.md, the chapters' MyST sources) with
# jupytext's notebook view by default. A defaults override in the environment's overrides.d, so the
# user's own overrides.json and settings are left alone (and still win).
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/lfwsiamese.json
$(LAB_OVERRIDES): book/jupyterlab-overrides.json $(VENV)/.installed
	mkdir -p $(@D)
	cp $< $@

install: $(VENV)/.installed $(LAB_OVERRIDES)

# The data: found by the rule --data / $$LFWSIAMESE_DATA / data/lfwa, else downloaded into data/lfwa.
data: install
	$(BIN)/lfwsiamese data check --quiet || $(BIN)/lfwsiamese data fetch

# Every record the book reads, trained on purpose (hours on a 2-core CPU; `make missing` lists what is left and
# the book's "Reproducing" chapter how long each plan took): the one-shot tables of ONESHOT_PLANS first, then every
# plan registered in lfwsiamese/runs/plans.py (`lfwsiamese sweep all`, so plans added later are included), then the
# hand-crafted LBP + Joint Bayesian channels (at fixed points, then at each face's dlib landmarks) and their fusion
# with the N-pair model on View 2 and on DevTest's three seeds (`lfwsiamese channels`).
# Finished records are skipped, an interrupted one resumes. `make book` never runs this.
records: data
	for plan in $(ONESHOT_PLANS); do $(BIN)/lfwsiamese sweep $$plan --oneshot || exit 1; done
	$(BIN)/lfwsiamese sweep all
	$(BIN)/lfwsiamese channels --protocol view2
	for s in 1 2 3; do $(BIN)/lfwsiamese channels --protocol view1 --base npair --seed $$s --name fused-npair-lbp-jb || exit 1; done
	$(BIN)/lfwsiamese channels --protocol view2 --channels lbp-lm-jb
	for s in 1 2 3; do $(BIN)/lfwsiamese channels --protocol view1 --base npair --seed $$s --channels lbp-lm-jb --name fused-npair-lbp-lm-jb || exit 1; done

# The records that plans need and results/ does not hold (nothing is trained).
missing: install
	$(BIN)/lfwsiamese sweep all --dry-run

# Execute each chapter from its MyST source (the reviewed file) into the paired .ipynb, outputs stored.
# Chapters only read records, never train: one that is missing stops the chapter with the command that trains it.
# MPLBACKEND is unset for the kernel: a non-interactive backend (Agg) there would drop every figure.
notebooks: install
	for md in $(CHAPTERS); do env -u MPLBACKEND $(BIN)/jupytext --to ipynb --execute $$md || exit 1; done

html: install
	$(BIN)/jupyter-book build -W -n --keep-going book/

# The main job: data, executed chapters, HTML in book/_build/html. It trains nothing (tests/test_book_sources.py
# checks `make -n book`): with every record committed it takes minutes; `make records` trains what is missing.
book: data notebooks html

# Debian's chromium and chromium-driver for tests/test_book_browser.py (installed as root; otherwise it says what to install)
browser:
	bash scripts/install_browser.sh

pytest: install browser
	$(BIN)/python -m pytest -q

# --nbval-lax: every cell must run without error; stored outputs are not compared, so timings, paths and
# figures (which vary by machine) need no sanitizers.
nbval: install
	$(BIN)/python -m pytest -q --nbval-lax book/chapters/

# The test command: package tests (the built book opened in headless Chromium among them), every chapter notebook
# re-executed by nbval, the book built with warnings as errors.
test: pytest nbval html

clean-book:
	rm -rf book/_build
