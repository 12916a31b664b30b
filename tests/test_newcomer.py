"""The newcomer's path (SPEC §10): from a fresh clone, the README's run command starts the
service on the embedded default, with no Postgres, Redis or broker, and the printed token works
against the printed URL: a config created over HTTP receives a test alert in-app."""

import os
import re
import shutil
import subprocess

import pytest
import requests

from tests.processes import ROOT, Proc, wait_for
from tests.receivers import free_port

pytestmark = pytest.mark.slow


def test_make_run_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "alertworker"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "VIRTUAL_ENV")
    }
    env["RUN_ARGS"] = f"--port {free_port()}"
    proc = Proc([shutil.which("make"), "run"], env, tmp_path / "run.log", None, cwd=clone)
    try:
        found = wait_for(
            lambda: re.search(r"running at (http://\S+) .*\n.*API token.*:\n(\S+)", proc.output()),
            600,
            proc.output,
        )
        url, token = found.group(1), found.group(2)
        auth = {"Authorization": f"Bearer {token}"}
        created = requests.post(
            f"{url}/api/v1/admin/alerts/configs",
            headers=auth,
            timeout=10,
            json={
                "name": "provider down",
                "alert_type": "provider_unhealthy",
                "channels": ["in_app"],
            },
        )
        assert created.status_code == 201, created.text
        sent = requests.post(
            f"{url}/api/v1/admin/alerts/test",
            headers=auth,
            timeout=10,
            params={"config_id": created.json()["id"]},
        )
        assert sent.status_code == 202, sent.text

        def in_app():
            items = requests.get(
                f"{url}/api/v1/admin/alerts/notifications", headers=auth, timeout=10
            ).json()["items"]
            return items and items[0]

        notification = wait_for(in_app, 30, proc.output)
        assert notification["is_test"] and notification["alert_type"] == "provider_unhealthy"
        assert (clone / "var" / "alertworker.db").exists()  # SQLite, not the local Postgres
        assert proc.alive()
    finally:
        proc.stop()
