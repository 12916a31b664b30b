"""The HTTP mode of the benchmark (alertworker.bench.http), smoke-sized, and its accounting.

The smoke run starts the compose file's commands (migrate, gunicorn, two workers, beat) on a
private database, key prefix and RabbitMQ vhost, and asserts correctness only: every workload is
accounted for, every figure is there, and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from alertworker.bench.http import TARGETS, HttpOptions, run_http
from alertworker.bench.procs import cpu_seconds, tree_cpu_seconds
from alertworker.bench.report import http_table, medians
from alertworker.cli import main
from tests.conftest import ADMIN_PG_URL, REDIS_URL, bench_leftovers

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_a_trees_cpu_keeps_the_time_of_children_that_exited():
    # The parent starts a child that burns 0.3 s of CPU and is reaped, then waits for stdin.
    with subprocess.Popen(
        [sys.executable, "-c",
         f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}]); "
         "print('done', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as parent:  # fmt: skip
        try:
            assert parent.stdout.readline().strip() == "done"
            assert cpu_seconds([parent.pid]) < 0.25  # the parent alone did little
            assert tree_cpu_seconds(parent.pid) >= 0.28  # the reaped child's time is in the tree
        finally:
            parent.kill()


def test_medians_take_each_number_over_the_runs_and_the_first_runs_texts():
    runs = [
        {"a": 1, "b": {"c": 10.0, "d": "x"}, "ok": True, "e": None},
        {"a": 5, "b": {"c": 30.0, "d": "y"}, "ok": False, "e": 2},
        {"a": 2, "b": {"c": 20.0, "d": "z"}, "ok": False, "e": 3},
    ]
    assert medians(runs) == {"a": 2, "b": {"c": 20.0, "d": "x"}, "ok": True, "e": None}


def test_each_modes_options_are_refused_in_the_other():
    runner = CliRunner()
    refused = runner.invoke(main, ["bench", "--runs", "2"])
    assert refused.exit_code == 2 and "need --http" in refused.output
    refused = runner.invoke(main, ["bench", "--http", "--workers", "2", "--batch", "9"])
    assert refused.exit_code == 2 and "--batch, --workers: not with --http" in refused.output


@pytest.mark.slow
def test_a_smoke_run_over_http_accounts_for_everything_and_leaves_nothing_behind(tmp_path):
    results = run_http(
        HttpOptions.smoke(admin_url=ADMIN_PG_URL, redis_url=REDIS_URL, output=tmp_path,
                          progress=False)
    )  # fmt: skip

    storm, distinct, latency, post = (results[k] for k in ("storm", "distinct", "latency", "post"))
    assert storm["checks"]["notifications"] == storm["checks"]["webhook_deliveries"] == 10
    assert distinct["checks"]["notifications"] == distinct["checks"]["webhook_deliveries"] == 100
    assert latency["checks"]["notifications"] == 2 * (latency["events"] + 10)  # HTTP + client
    assert post["checks"]["events"] == 60 and post["checks"]["notifications"] == 10
    figures = {
        "start": results["start_seconds"],
        "storm accepted": storm["accepted_per_second"],
        "storm ours": storm["cpu_us_per_event"]["ours"],
        "storm workers": storm["cpu_us_per_event"]["workers"],
        "distinct delivered": distinct["delivered_per_second"],
        "distinct ours": distinct["cpu_us_per_notification"]["ours"],  # the API's: < one tick
        "latency http": latency["http"]["p50_ms"],
        "latency client": latency["client"]["p99_ms"],
        "post p50": post["one_client"]["p50_ms"],
        "post requests": post["requests_per_second"],
    }
    assert all(figure > 0 for figure in figures.values()), figures
    assert set(results["targets"]) == set(TARGETS)
    assert set(results["commands"]) == {  # two processes of each worker service, as compose
        "api", "worker1", "worker2", "delivery1", "delivery2", "beat",
    }  # fmt: skip
    written = json.loads((tmp_path / os.path.basename(results["json"])).read_text())
    assert written["storm"]["cpu_seconds"]["postgres"] >= 0
    assert "accepted/s" in http_table(results, TARGETS)

    left, keys = bench_leftovers(results)
    vhosts = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True,
                            text=True, check=True, timeout=60).stdout.split()  # fmt: skip
    assert left == 0 and keys == [] and results["vhost"] not in vhosts
