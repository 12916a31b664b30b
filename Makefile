# Every target installs what it needs into .venv first (make install).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
WORKER_FLAGS := --without-gossip --without-mingle --without-heartbeat -l info

.PHONY: install run test lint migrate worker beat api bench bench-http

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install alertworker with its dev tools

run: install  ## everything in one process on the embedded default; prints the URL, a token and BROKER_URL
	$(VENV)/bin/alertworker run $(RUN_ARGS)

test: install  ## the whole test suite (needs Postgres and Redis on 127.0.0.1)
	$(VENV)/bin/pytest

lint: install  ## ruff check, ruff format --check, mypy (settings in pyproject.toml); fails on any
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy alertworker api tasks

migrate: install  ## alembic upgrade head on DATABASE_URL
	$(VENV)/bin/alertworker migrate

worker: install  ## a Celery worker on every queue
	$(VENV)/bin/celery -A tasks worker $(WORKER_FLAGS)

beat: install  ## Celery beat (run exactly one)
	$(VENV)/bin/celery -A tasks beat -l info

api: install  ## the REST API under gunicorn (gevent workers, gunicorn.conf.py) on :8000
	$(VENV)/bin/gunicorn --config gunicorn.conf.py 'api:create_app()'

bench: install  ## throughput and latency vs a no-op task (local Postgres, Redis); JSON in bench-results/
	$(VENV)/bin/alertworker bench $(BENCH_ARGS)

bench-http: install  ## the compose stack over HTTP (RabbitMQ), medians of 3; `make bench BENCH_ARGS=--http` for one run
	$(VENV)/bin/alertworker bench --http --runs 3 $(BENCH_ARGS)
