"""Alerting: failures and missed deadlines are logged at ERROR and appended to alerts.jsonl."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest


def _alerts(home: Path) -> list[dict[str, Any]]:
    path = home / "alerts" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_notify_appends_one_json_line_and_logs_at_error(
    cems_home: Path, dags_on_path: Path
) -> None:
    from cems_common import notify

    # Airflow routes logging through its own handlers, so listen on the logger itself.
    captured = _Records()
    logger = logging.getLogger("cems.alerts")
    logger.addHandler(captured)
    try:
        notify("task_failed", "first", dag_id="cems_nightly")
        notify("deadline_missed", "second", dag_id="cems_streaming")
    finally:
        logger.removeHandler(captured)
    alerts = _alerts(cems_home)
    assert [a["event"] for a in alerts] == ["task_failed", "deadline_missed"]
    assert alerts[0]["dag_id"] == "cems_nightly" and alerts[0]["message"] == "first"
    assert all(a["raised_at"] for a in alerts)
    errors = [r for r in captured.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "CEMS alert [task_failed] first",
        "CEMS alert [deadline_missed] second",
    ]


def test_task_failure_callback_names_the_task_and_the_error(
    cems_home: Path, dags_on_path: Path
) -> None:
    from cems_common import on_task_failure

    ti = SimpleNamespace(
        dag_id="cems_nightly", task_id="quality_gate", run_id="scheduled__2026-01-01", try_number=1
    )
    dag_run = SimpleNamespace(
        run_id="scheduled__2026-01-01",
        data_interval_start=datetime(2026, 1, 1, tzinfo=UTC),
        data_interval_end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    on_task_failure({"ti": ti, "dag_run": dag_run, "exception": ValueError("suite failed")})
    (alert,) = _alerts(cems_home)
    assert alert["event"] == "task_failed"
    assert (alert["dag_id"], alert["task_id"]) == ("cems_nightly", "quality_gate")
    assert alert["error_type"] == "ValueError"
    assert "cems_nightly.quality_gate failed" in alert["message"]
    assert "suite failed" in alert["message"]
    assert alert["data_interval_start"].startswith("2026-01-01")


@pytest.mark.parametrize("dag_id", ["cems_nightly", "cems_streaming"])
def test_deadline_callback_runs_the_way_the_executor_runs_it(
    cems_home: Path, dags_on_path: Path, dagbag: Any, dag_id: str
) -> None:
    """Import the callback by the path the DAG serialized and call it with the context the
    scheduler builds for a missed deadline (Airflow's own callback runner)."""
    import structlog
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    (alert_definition,) = dagbag.dags[dag_id].deadline
    callback = alert_definition.callback.serialize()
    assert callback["path"] == "cems_common.on_deadline_missed"
    context = {
        "dag_run": {
            "dag_id": dag_id,
            "dag_run_id": "scheduled__2026-01-01T00:00:00+00:00",
            "state": "running",
            "queued_at": "2026-01-01T00:00:05+00:00",
        },
        "deadline": {"id": "0192", "deadline_time": datetime(2026, 1, 1, 3, tzinfo=UTC)},
    }
    ok, error = execute_callback(
        callback["path"],
        {**callback["kwargs"], "context": context},
        dag_rel_path=Path(f"{dag_id}.py"),
        bundle_path=dags_on_path,
        log=structlog.get_logger("test"),
    )
    assert ok, error
    (alert,) = _alerts(cems_home)
    assert alert["event"] == "deadline_missed"
    assert alert["dag_id"] == dag_id
    assert alert["run_id"] == "scheduled__2026-01-01T00:00:00+00:00"
    assert alert["expectation"] == callback["kwargs"]["expectation"]
    assert "missed its deadline 2026-01-01 03:00:00+00:00" in alert["message"]


@pytest.mark.slow
def test_a_bad_batch_fails_at_once_and_alerts(
    cems_home: Path,
    dags_on_path: Path,
    airflow_db: Path,
    dagbag: Any,
    monkeypatch: pytest.MonkeyPatch,
    run_dag: Callable[..., Any],
) -> None:
    """A real run: a batch over its error budget fails without retrying, and alerts."""
    import spark_jobs.pipeline
    from spark_jobs.batches import ErrorBudgetError

    def over_budget(sources: list[str], *args: Any, **kwargs: Any) -> list[Any]:
        raise ErrorBudgetError(f"{sources[0]}: 40% of rows broke their contract (budget 5%)")

    monkeypatch.setattr(spark_jobs.pipeline, "land", over_budget)
    run = run_dag(dagbag.dags["cems_nightly"], datetime(2026, 1, 2, tzinfo=UTC))
    assert run.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["land_crm"] == ("failed", 1)  # no retry: the same batch would fail again
    assert {states[t][0] for t in ("land_billing", "dbt_build", "publish")} == {"upstream_failed"}
    (alert,) = _alerts(cems_home)
    assert (alert["event"], alert["dag_id"], alert["task_id"]) == (
        "task_failed",
        "cems_nightly",
        "land_crm",
    )
    assert "budget 5%" in alert["message"]
    assert alert["data_interval_start"].startswith("2026-01-01")
    assert not (cems_home / "runs").exists()
