# yts_pipeline: `make run` starts the UI on the embedded defaults, `make test` runs the tests.
# Both create the virtualenv on first use (torch 2.13.0 CPU first, then the project).

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run sync demo replay test test-all reliability bench doctor clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the Dagster UI and daemon on http://127.0.0.1:3000 (embedded Postgres)
	$(VENV)/bin/yts-pipeline ui

sync: $(STAMP)  ## the whole pipeline headless, against YTS_API_URL
	$(VENV)/bin/yts-pipeline sync

replay: $(STAMP)  ## an offline imitation of the API on 127.0.0.1:8000 (5,000 movies)
	$(VENV)/bin/yts-pipeline replay-api --port 8000 --movies 5000

doctor: $(STAMP)
	$(VENV)/bin/yts-pipeline doctor

test: $(STAMP)  ## every test but the long reliability scenarios
	$(VENV)/bin/pytest -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/pytest

RELIABILITY_JSON := build/reliability/results.json

reliability: $(STAMP)  ## every reliability scenario (slow ones too), then RELIABILITY.md from their results
	rm -f $(RELIABILITY_JSON)
	$(PY) -m pytest -p yts_pipeline_tests.reliability.recording --reliability-json $(RELIABILITY_JSON) \
		yts_pipeline_tests/reliability yts_pipeline_tests/unit/test_hostile_input.py; status=$$?; \
		$(PY) -m yts_pipeline_tests.reliability.report $(RELIABILITY_JSON) RELIABILITY.md && exit $$status

bench: $(STAMP)  ## the figures in the README's performance section
	$(PY) benchmarks/bench_save.py
	$(PY) benchmarks/bench_client.py
	$(PY) benchmarks/bench_sync.py
	$(PY) benchmarks/bench_embed.py
	$(PY) benchmarks/bench_query.py
	$(PY) benchmarks/bench_recommend.py

clean:
	rm -rf $(VENV) .pytest_cache
