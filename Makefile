# One install command for the README, CI and everyone: `make install` (a venv in .venv).
# Offline machines: set COURSE_DATA_MIRROR to a folder holding MNIST/raw/*-ubyte first.

# python3.11 when the machine has it (CI: its torch wheels are on local disk), else python3 (3.11 to 3.14).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test build data benchmarks lectures docs clean

$(BIN)/coursekit: pyproject.toml
	@echo "[make] creating $(VENV) with $(PYTHON) and installing the course (pip install -e '.[dev]')"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(BIN)/coursekit

demo: install
	$(BIN)/python -m coursekit demo

test: install
	$(BIN)/python -m pytest

build: install
	$(BIN)/python -m coursekit build

data: install
	$(BIN)/python -m coursekit setup-data

benchmarks: install
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/experiment_robustness.py
	$(BIN)/python benchmarks/grade_one.py
	$(BIN)/python benchmarks/similarity.py

# The lecture notebooks in notebooks/, executed at the cpu profile, as HTML in build/lectures/.
lectures: install
	$(BIN)/python -m coursekit.authoring.lectures html --profile cpu --out build/lectures

# The documentation site (docs/, mkdocs.yml), built offline into build/docs/; any warning fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/docs

clean:
	rm -rf submitted autograded feedback gradebook.db .exchange
