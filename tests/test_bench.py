"""The benchmark harness (alertworker.bench), smoke-sized: same code, a few hundred events.

Only correctness is asserted (everything published is accounted for, nothing is left behind),
never speed. The run makes its own database and key prefix from the test servers' admin URLs,
so it does not touch the test run's database.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from alertworker.bench import Options, run
from alertworker.bench.checks import problems
from alertworker.bench.procs import ROOT, worker_argv
from alertworker.bench.receiver import Arrival
from alertworker.bench.report import table
from tests.conftest import ADMIN_PG_URL, REDIS_URL, bench_leftovers


def test_the_worker_runs_the_compose_command_with_its_concurrency_changed_on_every_queue():
    """The in-process bench runs one worker service process, which takes the deliveries too."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    argv = worker_argv(ROOT / "docker-compose.yml", 3)
    assert argv[0].endswith("/celery") and argv[-2:] == ["--concurrency", "3"]
    expected = list(compose["command"][1:])
    for option in ("--concurrency", "--queues"):
        i = expected.index(option)
        del expected[i : i + 2]
    assert argv[1:-2] == expected


def _arrival(key, event_id, delivery_id=None):
    return Arrival(0.0, key, int(key) if delivery_id is None else delivery_id, event_id)


def _problems(**changes):
    base = dict(
        events=3,
        notifications_expected=2,
        event_ids={"e1", "e2"},
        notifications=[(1, "e1", 2), (2, "e2", 1)],
        deliveries=[(10, 1, "delivered"), (11, 2, "delivered")],
        arrivals=[_arrival("10", "e1"), _arrival("11", "e2")],
        throttled=(2, 1),
        rejected=0,
    )
    return problems(**(base | changes))


def test_a_complete_phase_has_no_problems_and_a_same_key_duplicate_is_allowed():
    assert _problems() == []
    twice = [_arrival("10", "e1"), _arrival("11", "e2"), _arrival("11", "e2")]
    assert _problems(arrivals=twice) == []


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"arrivals": [_arrival("10", "e1")]}, "never reached the receiver"),
        ({"deliveries": [(10, 1, "delivered"), (11, 2, "sending")]}, "not delivered"),
        ({"deliveries": [(10, 1, "delivered")]}, "webhook deliveries for"),
        ({"notifications": [(1, "e1", 2)]}, "without a notification"),
        ({"events": 4, "throttled": None}, "accounted for"),  # unthrottled: exact
        ({"events": 2}, "accounted for"),  # occurrence counts may fall short, never exceed
        ({"throttled": (2, 0)}, "throttle summary"),
        ({"rejected": 1}, "rejected"),
        (
            {"arrivals": [_arrival("10", "e1"), _arrival("11", "e2"), _arrival("11", "e1")]},
            "does not match",
        ),
    ],
)
def test_a_phase_that_lost_or_mangled_anything_is_refused(changes, complaint):
    found = _problems(**changes)
    assert found and any(complaint in p for p in found), found


@pytest.mark.slow
def test_a_smoke_run_accounts_for_everything_and_leaves_nothing_behind(tmp_path):
    results = run(
        Options.smoke(
            admin_url=ADMIN_PG_URL,
            redis_url=REDIS_URL,
            output=tmp_path,
            progress=False,
            silences=50,
            inhibit_rules=20,
        )
    )

    storm, notify, latency = results["throttled"], results["notify"], results["latency"]
    assert storm["checks"]["notifications"] == storm["fingerprints"]
    assert notify["checks"]["notifications"] == notify["checks"]["webhook_deliveries"] == 200
    assert latency["checks"]["notifications"] == latency["events"] + latency["warmup_events"]
    assert results["floor"]["noop"]["tasks"] == 200
    for figure in (
        results["floor"]["noop"]["per_second"],
        storm["per_second"],
        notify["deliveries_per_second"],
        latency["p99_ms"],
    ):
        assert figure > 0
    assert json.loads((tmp_path / os.path.basename(results["json"])).read_text())["ratios"]
    assert "ratio throttled / no-op" in table(results)
    loaded = results["throttled_silencing"]  # the storm again, 50 silences and 20 rules loaded
    assert loaded["checks"]["notifications"] == loaded["fingerprints"]
    assert loaded["silences"] == 50 and results["ratios"]["silencing_vs_none"] > 0
    assert "the storm with 50 silences, 20 rules" in table(results)

    left, keys = bench_leftovers(results)
    assert left == 0 and keys == []
