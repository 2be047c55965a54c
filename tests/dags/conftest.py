"""Airflow for the DAG tests: its own AIRFLOW_HOME and SQLite metadata DB per test process.

Airflow reads its configuration once, when ``airflow`` is first imported, so the environment
is set here, at collection, before any test module imports it. The settings come from the
same ``airflow_env`` that ``cems airflow`` uses, and the database is created by running
``cems airflow migrate`` once per session (only for the tests that need it).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from api.cli.airflow import DAGS_FOLDER, airflow_env
from data_contracts.settings import Settings

if "airflow.configuration" in sys.modules:
    raise RuntimeError(
        "Airflow was configured before tests/dags/conftest.py could point it at a temporary "
        "AIRFLOW_HOME; some module imported airflow at collection time."
    )

_AIRFLOW_ROOT = Path(tempfile.mkdtemp(prefix="cems-airflow-tests-"))
atexit.register(shutil.rmtree, _AIRFLOW_ROOT, ignore_errors=True)
_SETTINGS = Settings(home=_AIRFLOW_ROOT / "home", airflow_home="", airflow_database_url="")
AIRFLOW_ENV = {k: v for k, v in airflow_env(_SETTINGS).items() if k != "CEMS_HOME"}
os.environ.update(AIRFLOW_ENV)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The migrated metadata database (created with ``cems airflow migrate``)."""
    result = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "airflow", "migrate"],
        env={**os.environ, **AIRFLOW_ENV, "CEMS_HOME": str(_SETTINGS.home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"cems airflow migrate failed:\n{result.stdout}\n{result.stderr}")
    database = Path(_SETTINGS.airflow_home) / "airflow.db"
    assert database.exists(), f"no metadata database at {database}"
    return database


@pytest.fixture(scope="session")
def dagbag() -> Any:
    """The DAGs folder parsed the way the DAG processor parses it (a dags-folder bundle)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


@pytest.fixture
def dags_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The DAGs folder on sys.path, as Airflow puts it, so ``cems_common`` imports."""
    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    yield DAGS_FOLDER


@pytest.fixture(scope="session")
def run_dag() -> Iterator[Callable[[Any, datetime], Any]]:
    """``dag.test()`` for one logical date, without the DAG's Deadline Alert.

    Airflow 3.3.2's ``dag.test()`` crashes after a *successful* run of any DAG with a deadline
    (``'dict' object has no attribute 'hex'`` while pruning deadlines: apache/airflow#73428,
    fixed by apache/airflow#73430). ``dag.test()`` never creates deadlines anyway (its runs
    are not queued); the alerts' wiring is tested in test_alerts.py and test_dag_integrity.py.
    """

    def run(dag: Any, logical_date: datetime) -> Any:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dag, "deadline", None)
            return dag.test(logical_date=logical_date)

    yield run
    # Airflow's logging config leaves py4j at INFO; its connection finalizers would log to a
    # closed stream at interpreter exit.
    logging.getLogger("py4j").setLevel(logging.WARNING)
