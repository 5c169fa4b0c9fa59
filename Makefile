# The README's two commands:  `make train` (the main job) and `make test`.
# Each creates the virtual environment in .venv when it is missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The main job: ResNet-20 on CIFAR-10 with the quick CPU recipe (8 minutes on 2 cores with bf16 units: results/main-job).
DATA   ?= ../shared/data/cifar10-jpeg.tar.gz
RUN    ?= runs/resnet20-cifar-quick-$(shell date +%Y%m%d-%H%M%S)

$(BIN)/reslab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: setup train test lint

setup: $(BIN)/reslab

train: $(BIN)/reslab
	$(BIN)/reslab train --model resnet20 --recipe cifar-quick --data $(DATA) --out $(RUN)

lint: $(BIN)/reslab
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One pytest worker per core, at most 4 (CI's 2 cores: 455 s instead of 634 s serially).
test: lint
	$(BIN)/python -m pytest -n auto --maxprocesses 4
