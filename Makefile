# Task runner. Both entry points create the virtual environment they need (.venv) on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CHAPTERS := $(wildcard book/chapters/*.md)
ONESHOT_PLANS ?= reproduction improved
BOOK_PLANS ?= precision init lr batch epochs ablation view2

.PHONY: book test install data records notebooks html pytest nbval clean-book

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[book,test]"
	touch $@

install: $(VENV)/.installed

# The data: found by the rule --data / $$LFWSIAMESE_DATA / data/lfwa, else downloaded into data/lfwa.
data: install
	$(BIN)/lfwsiamese data check --quiet || $(BIN)/lfwsiamese data fetch

# Every record the book reads; finished records are skipped, an interrupted one resumes.
records: data
	for plan in $(ONESHOT_PLANS); do $(BIN)/lfwsiamese sweep $$plan --oneshot || exit 1; done
	for plan in $(BOOK_PLANS); do $(BIN)/lfwsiamese sweep $$plan || exit 1; done

# Execute each chapter from its MyST source (the reviewed file) into the paired .ipynb, outputs stored.
# MPLBACKEND is unset for the kernel: a non-interactive backend (Agg) there would drop every figure.
notebooks: install
	for md in $(CHAPTERS); do env -u MPLBACKEND LFWSIAMESE_TRAIN_MISSING=1 $(BIN)/jupytext --to ipynb --execute $$md || exit 1; done

html: install
	$(BIN)/jupyter-book build -W -n --keep-going book/

# The main job: data, records, executed chapters, HTML in book/_build/html.
book: records notebooks html

pytest: install
	$(BIN)/python -m pytest -q

# --nbval-lax: every cell must run without error; stored outputs are not compared, so timings, paths and
# figures (which vary by machine) need no sanitizers.
nbval: install
	$(BIN)/python -m pytest -q --nbval-lax book/chapters/

# The test command: package tests, every chapter notebook re-executed by nbval, the book built with warnings as errors.
test: pytest nbval html

clean-book:
	rm -rf book/_build
