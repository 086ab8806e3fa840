# yts_pipeline: `make run` starts the UI on the embedded defaults, `make serve` the web page and API,
# `make test` runs the tests. They create the virtualenv on first use (torch 2.13.0 CPU first, then
# the project); `make test` also installs Debian's chromium for the browser tests when it is missing.

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install run serve sync replay check-defs lint test test-all reliability bench doctor clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	$(PY) -m compileall -q yts_pipeline  # an editable install is not compiled; with PYTHONDONTWRITEBYTECODE nothing is
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the Dagster UI and daemon (dg dev) on http://127.0.0.1:3000 (embedded Postgres)
	$(VENV)/bin/yts-pipeline ui

serve: $(STAMP)  ## the web page and the JSON API on http://$(HOST):$(PORT) (docs at /docs); make serve PORT=8080
	$(VENV)/bin/yts-pipeline serve --host $(HOST) --port $(PORT)

sync: $(STAMP)  ## the whole pipeline headless, against YTS_API_URL
	$(VENV)/bin/yts-pipeline sync

replay: $(STAMP)  ## an offline imitation of the API on 127.0.0.1:8000 (5,000 movies)
	$(VENV)/bin/yts-pipeline replay-api --port 8000 --movies 5000

doctor: $(STAMP)
	$(VENV)/bin/yts-pipeline doctor

DG := VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/dg

check-defs: $(STAMP)  ## load and validate every Dagster definition, as dg does
	$(DG) check defs

$(CHROMIUM):  ## the browser the page tests drive through Playwright (Playwright's own download needs the internet)
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

lint: $(STAMP)  ## ruff: the lint rules and the formatting ([tool.ruff] in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint check-defs $(CHROMIUM)  ## the linter, the definitions check, then every test but the long reliability scenarios
	$(VENV)/bin/pytest -m "not slow"

test-all: lint check-defs $(CHROMIUM)
	$(VENV)/bin/pytest

RELIABILITY_JSON := build/reliability/results.json

reliability: $(STAMP)  ## every reliability scenario (slow ones too), then RELIABILITY.md from their results
	rm -f $(RELIABILITY_JSON)
	$(PY) -m pytest -p yts_pipeline_tests.reliability.recording --reliability-json $(RELIABILITY_JSON) \
		yts_pipeline_tests/reliability yts_pipeline_tests/unit/test_hostile_input.py; status=$$?; \
		$(PY) -m yts_pipeline_tests.reliability.report $(RELIABILITY_JSON) RELIABILITY.md && exit $$status

bench: $(STAMP)  ## the figures in docs/performance.md
	$(PY) benchmarks/bench_save.py
	$(PY) benchmarks/bench_client.py
	$(PY) benchmarks/bench_sync.py
	$(PY) benchmarks/bench_ui.py
	$(PY) benchmarks/bench_embed.py
	$(PY) benchmarks/bench_query.py
	$(PY) benchmarks/bench_serve.py
	$(PY) benchmarks/bench_recommend.py

clean:
	rm -rf $(VENV) .pytest_cache
