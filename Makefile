# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# The offline demo: a slice of real arXiv papers plus the two saved HF pages.
DEMO_DIR ?= demo-data
DEMO_PAPERS ?= 5000
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo install install-test test lint typecheck bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[search]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed ingest jsonl $(SHARED)/data/arxiv-cs-2025.jsonl.gz --limit $(DEMO_PAPERS)
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed ingest hf-page $(SHARED)/fixtures/hf_papers_pages/*.txt --year 2025
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/ingest.py
