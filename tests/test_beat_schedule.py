"""Beat's schedule (celeryconfig.py): a run that waits behind a busy worker still runs.

A beat run whose ``expires`` is as short as its interval is dropped whenever the worker takes
longer than one interval to reach it; with escalation every second under load, every run
expired and no step was paged. Runs are idempotent and cheap when nothing is due, so a
backlog of up to a minute of them costs little.
"""

import importlib

import celeryconfig


def test_escalation_runs_live_a_minute_even_when_they_come_every_second(monkeypatch):
    monkeypatch.setenv("ESCALATION_INTERVAL_SECONDS", "1")
    config = importlib.reload(celeryconfig)
    try:
        entry = config.beat_schedule["run-escalations"]
        assert entry["schedule"] == 1
        assert entry["options"]["expires"] >= 60
    finally:
        monkeypatch.delenv("ESCALATION_INTERVAL_SECONDS")
        importlib.reload(celeryconfig)


def test_every_scheduled_run_lives_at_least_its_interval():
    for name, entry in celeryconfig.beat_schedule.items():
        assert entry["options"]["expires"] >= entry["schedule"], name
