# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# The offline demo: a slice of real arXiv papers, one real daily listing, and the two saved HF pages.
DEMO_DIR ?= demo-data
DEMO_PAPERS ?= 5000
HOST ?= 127.0.0.1
PORT ?= 8000

# constraints.txt pins every dependency to the versions the suite last passed
# with (refresh: `make constraints`), so a new upstream release cannot break
# CI or the demo overnight; pyproject.toml keeps the ranges that should work.
.PHONY: constraints demo install install-test test lint typecheck bench vendor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[search]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'

demo: install
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed ingest jsonl $(SHARED)/data/arxiv-cs-2025.jsonl.gz --limit $(DEMO_PAPERS)
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed ingest jsonl $(SHARED)/fixtures/daily_arxiv_listing/2026-07-01.jsonl
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed ingest hf-page $(SHARED)/fixtures/hf_papers_pages/*.txt --year 2025
	@# No PAPERFEED_BASE_URL or SMTP server needed: serve mails links to http://$(HOST):$(PORT)
	@# and writes mail to $(DEMO_DIR)/outbox/ (docs/first-run.md).
	PAPERFEED_DATA_DIR=$(DEMO_DIR) $(BIN)/paperfeed serve --host $(HOST) --port $(PORT)

# tests/machine.py installs (as root) or names what pytest cannot bring itself:
# Chromium, and redis-server where no wheel ships one. Two pytest-xdist workers:
# each starts its own PostgreSQL, Redis and browser (no shared port or file), and
# much of a test's time is spent waiting on them, so two halve the run on two cores.
TEST_WORKERS ?= 2
test: install-test
	$(BIN)/python -m tests.machine
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install-test
	$(BIN)/python bench/ingest.py

# KaTeX (the paper pages' math) and Swagger UI (the API docs at /docs), vendored
# from npm and committed: pages load them from /static, never from a CDN.
# `make vendor` refreshes them (needs npm).
KATEX_VERSION ?= 0.19.1
KATEX_DIR := src/paperfeed/web/static/vendor/katex
SWAGGER_UI_VERSION ?= 5.35.0
SWAGGER_DIR := src/paperfeed/web/static/vendor/swagger-ui
vendor:
	rm -rf .vendor-tmp && mkdir -p .vendor-tmp
	cd .vendor-tmp && npm pack --silent katex@$(KATEX_VERSION) >/dev/null && tar xzf katex-$(KATEX_VERSION).tgz
	rm -rf $(KATEX_DIR) && mkdir -p $(KATEX_DIR)/contrib
	cp .vendor-tmp/package/dist/katex.min.js .vendor-tmp/package/dist/katex.min.css $(KATEX_DIR)/
	cp .vendor-tmp/package/dist/contrib/auto-render.min.js $(KATEX_DIR)/contrib/
	cp -r .vendor-tmp/package/dist/fonts $(KATEX_DIR)/fonts
	cp .vendor-tmp/package/LICENSE $(KATEX_DIR)/LICENSE
	echo "katex $(KATEX_VERSION) from npm (make vendor)" > $(KATEX_DIR)/VERSION
	rm -rf .vendor-tmp/package
	cd .vendor-tmp && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) >/dev/null && tar xzf swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz
	rm -rf $(SWAGGER_DIR) && mkdir -p $(SWAGGER_DIR)
	cp .vendor-tmp/package/swagger-ui-bundle.js .vendor-tmp/package/swagger-ui.css .vendor-tmp/package/favicon-32x32.png .vendor-tmp/package/LICENSE $(SWAGGER_DIR)/
	echo "swagger-ui-dist $(SWAGGER_UI_VERSION) from npm (make vendor)" > $(SWAGGER_DIR)/VERSION
	rm -rf .vendor-tmp

constraints: install-test
	{ echo '# Versions the test suite last passed with; see `make constraints`.'; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt
