"""`make test` runs the suite on two workers with `--dist loadgroup`: the tests that share an
expensive fixture (a landed lakehouse, a trained model, a running Superset) carry one
`xdist_group` and must all run on one worker, or the fixture is built on both. Checked here on
a small suite of the same two shapes as ours: a module-level `pytestmark`, and a group that a
conftest adds to every test using a fixture (tests/api/conftest.py, tests/dbt/conftest.py).

Both shapes have failed silently. pytest 9.2 ignores the node id rewrite by which
pytest-xdist 3.8 groups (pytest-xdist#1386; pyproject.toml keeps pytest below 9.2), and a
conftest's `pytest_collection_modifyitems` runs after pytest-xdist's unless it is `tryfirst`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

RECORD = """
import os
from pathlib import Path


def record(group: str) -> None:
    with (Path(__file__).parent / "ran.txt").open("a") as out:
        out.write(f"{group} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def shared() -> str:
    return "built"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if "shared" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("dynamic"))
"""

STATIC = """
import pytest
from record import record

pytestmark = pytest.mark.xdist_group("static")


@pytest.mark.parametrize("i", range(6))
def test_static(i):
    record("static")
"""

DYNAMIC = """
import pytest
from record import record


@pytest.mark.parametrize("i", range(6))
def test_dynamic(i, shared):
    record("dynamic")
"""

UNGROUPED = """
import time

import pytest
from record import record


@pytest.mark.parametrize("i", range(12))
def test_ungrouped(i):
    time.sleep(0.05)
    record("ungrouped")
"""


def test_every_xdist_group_runs_on_one_worker(tmp_path: Path) -> None:
    for name, text in {
        "record.py": RECORD,
        "conftest.py": CONFTEST,
        "test_static.py": STATIC,
        "test_dynamic.py": DYNAMIC,
        "test_ungrouped.py": UNGROUPED,
        "pytest.ini": "[pytest]\n",
    }.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"),
         "--import-mode=prepend"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    workers: dict[str, set[str]] = defaultdict(set)
    runs: dict[str, int] = defaultdict(int)
    for line in (tmp_path / "ran.txt").read_text().splitlines():
        group, worker = line.split()
        workers[group].add(worker)
        runs[group] += 1
    assert runs == {"static": 6, "dynamic": 6, "ungrouped": 12}
    # the suite did run on both workers, and each group on exactly one of them
    assert set().union(*workers.values()) == {"gw0", "gw1"}
    assert len(workers["static"]) == 1, workers
    assert len(workers["dynamic"]) == 1, workers
