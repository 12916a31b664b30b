"""docker-compose.yml is right by construction: it validates, and has what ops rely on."""

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alertworker.core.catalog import (
    EVENTS_QUEUE,
    EXTERNAL_CHANNELS,
    MAINTENANCE_QUEUE,
    all_queues,
    delivery_queue,
)
from alertworker.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
LONG_RUNNING = ["postgres", "rabbitmq", "redis", "api", "worker", "delivery", "beat", "mailpit"]
APP = ["api", "worker", "delivery", "beat"]
SETTINGS = {f.name.upper() for f in dataclasses.fields(Settings)}


def test_docker_compose_config_validates(tmp_path):
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed; .ci/run installs it")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    (tmp_path / "docker-compose.yml").write_text((ROOT / "docker-compose.yml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    for with_env_file in (False, True):  # a fresh clone has no .env yet: still valid
        if with_env_file:
            (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
        for args in ([], ["--profile", "dev"]):
            subprocess.run([tool, *args, "config", "-q"], cwd=tmp_path, check=True, env=env)


def test_every_setting_reaches_the_app_and_images_are_pinned():
    """Each setting of SPEC §12 passes from .env or the shell (empty: alertworker's default);
    every image has a fixed version, none ``latest``."""
    environment = COMPOSE["x-app"]["environment"]
    assert "env_file" not in COMPOSE["x-app"]
    fixed = {"DATABASE_URL", "REDIS_URL", "BROKER_URL", "WORKER_METRICS_PORT"}
    for name in SETTINGS - fixed:
        assert environment.get(name, "").startswith(f"${{{name}:-"), name
    for name, service in SERVICES.items():
        image = service.get("image") or COMPOSE["x-app"]["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else "latest"
        assert tag != "latest" or image == "alertworker:latest", name  # ours is built here


def test_every_long_running_service_has_a_health_check_and_a_restart_policy():
    for name in LONG_RUNNING:
        service = SERVICES[name]
        assert "healthcheck" in service, name
        assert service.get("restart") == "unless-stopped", name


def test_the_app_waits_for_the_one_shot_migration():
    assert SERVICES["migrate"]["restart"] == "no"
    for name in APP:
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_workers_scale_and_the_broker_persists():
    for name in ("worker", "delivery"):
        worker = SERVICES[name]
        assert "container_name" not in worker and "ports" not in worker  # --scale name=N works
    assert COMPOSE["x-app"]["environment"]["BROKER_URL"].startswith("amqp://")  # README
    assert "rabbitdata:/var/lib/rabbitmq" in SERVICES["rabbitmq"]["volumes"]
    for name in APP:
        assert SERVICES[name]["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert "--appendonly" in SERVICES["redis"]["command"]
    assert "noeviction" in SERVICES["redis"]["command"]
    assert SERVICES["mailpit"]["profiles"] == ["dev"]


def test_no_secret_is_baked_in():
    text = (ROOT / "docker-compose.yml").read_text()
    environment = COMPOSE["x-app"]["environment"]
    for secret in ("SMTP_PASSWORD", "TWILIO_AUTH_TOKEN"):  # passed through, never a default
        assert environment[secret] == f"${{{secret}:-}}"
    assert "${POSTGRES_PASSWORD" in text
    assert "${RABBITMQ_PASSWORD" in text
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_image_leaves_out_secrets_and_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "var/", "*.db"):
        assert entry in ignored, entry
    assert "!.env.example" in ignored
    assert not {"README.md", "pyproject.toml", "alembic.ini"} & set(ignored)  # the build needs them


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_every_queue_has_its_workers_and_the_deliveries_run_on_threads():
    """SPEC §7: the worker service takes events and periodic work (a process pool: CPU-bound
    Python); the delivery service takes each channel's queue, in threads (they wait on the
    receivers); together every queue, none twice."""
    worker, delivery = SERVICES["worker"]["command"], SERVICES["delivery"]["command"]
    assert _option(worker, "--queues") == f"{EVENTS_QUEUE},{MAINTENANCE_QUEUE}"
    assert _option(worker, "--pool") in (None, "prefork")
    queues = _option(delivery, "--queues").split(",")
    assert queues == [delivery_queue(c) for c in EXTERNAL_CHANNELS]
    assert _option(delivery, "--pool") == "threads"
    assert sorted([EVENTS_QUEUE, MAINTENANCE_QUEUE, *queues]) == sorted(all_queues())
    for name in ("worker", "delivery"):
        assert SERVICES[name]["command"][:4] == ["celery", "-A", "tasks", "worker"], name
        assert SERVICES[name]["environment"]["WORKER_METRICS_PORT"] == "9808", name
        assert "healthcheck" in SERVICES[name] and SERVICES[name]["stop_grace_period"], name
