# alertworker: one image for the API, the workers, beat and the migration job.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p alertworker api tasks && touch alertworker/__init__.py api/__init__.py tasks/__init__.py \
    && pip install -e . && rm -rf alertworker api tasks

COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app alertworker \
    && mkdir -p /app/var /tmp/prometheus && chown -R alertworker /app/var /tmp/prometheus

USER alertworker
EXPOSE 8000 9808
CMD ["gunicorn", "--config", "gunicorn.conf.py", "api:create_app()"]
