# The README's two commands:  `make train` (the main job) and `make test`.
# Each creates the virtual environment in .venv when it is missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

$(BIN)/reslab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: setup train test lint

setup: $(BIN)/reslab

train: $(BIN)/reslab
	$(BIN)/reslab models

lint: $(BIN)/reslab
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest
