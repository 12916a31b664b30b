"""The package's layout (README "Architecture"): the domain's rooms import neither Flask nor Celery.

The entry points that wire Flask and Celery together (``cli.py``, ``embedded.py``, ``bench/``)
sit at the top of ``alertworker/``; the rooms below them (``core``, ``ingest``, ``delivery``,
``paging``, ``tenants``, ``schemas``) import none of them, nor ``api``, ``tasks``, Flask or
Celery, so each can be read and tested without the frameworks.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alertworker"
ROOMS = ["core", "ingest", "delivery", "paging", "tenants", "schemas"]
FORBIDDEN = (
    "flask",
    "celery",
    "api",
    "tasks",
    "gunicorn",
    "alertworker.cli",
    "alertworker.embedded",
    "alertworker.bench",
)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_rooms_are_all_there_and_nothing_else_sits_at_the_top():
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    entry_points = {"__init__.py", "cli.py", "embedded.py", "local_broker.py", "bench", "client.py"}
    assert top == entry_points | set(ROOMS)


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_no_framework_and_no_entry_point(room):
    offenders = {}
    for path in sorted((PACKAGE / room).rglob("*.py")):
        bad = sorted(
            name
            for name in imported(path)
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
        )
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}
