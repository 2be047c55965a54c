"""The DAGs folder parses cleanly and every DAG and task follows the house policy."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from api.cli.airflow import DAGS_FOLDER

EXPECTED_DAGS = {"cems_nightly", "cems_serving", "cems_streaming"}


def test_dagbag_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == EXPECTED_DAGS
    # The helper module is ignored (.airflowignore), not parsed as a DAG file.
    parsed = {stat.file for stat in dagbag.dagbag_stats}
    assert parsed == {"cems_nightly.py", "cems_serving.py", "cems_streaming.py"}


def test_dags_serialize_the_way_the_scheduler_reads_them(dagbag: Any) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        restored = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        assert set(restored.task_ids) == set(dag.task_ids)
        assert restored.deadline, f"{dag.dag_id} lost its deadline alert"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_policy(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags, f"{dag_id} has no tags"
    assert dag.doc_md and dag.doc_md.startswith(f"# {dag_id}"), "module docstring is the doc_md"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    assert dag.deadline, f"{dag_id} has no Deadline Alert"
    assert dag.dagrun_timeout is not None
    for task in dag.tasks:
        where = f"{dag_id}.{task.task_id}"
        assert task.owner and task.owner != "airflow", f"{where} has no owner"
        assert task.retries >= 2, f"{where} retries {task.retries}"
        assert task.retry_delay >= timedelta(minutes=1), f"{where} retry_delay"
        assert task.execution_timeout is not None, f"{where} has no execution_timeout"
        callbacks = task.on_failure_callback or []
        names = {getattr(c, "__name__", "") for c in callbacks}
        assert "on_task_failure" in names, f"{where} does not alert on failure"


def test_nightly_shape(dagbag: Any) -> None:
    dag = dagbag.dags["cems_nightly"]
    order = ["land_crm", "land_billing", "quality_gate", "dbt_build", "publish"]
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert [a.name for a in dag.get_task("publish").outlets] == ["cems_gold_marts"]
    assert [a.name for a in dag.get_task("land_crm").outlets] == ["cems_silver_crm"]


def test_serving_runs_on_the_gold_asset(dagbag: Any) -> None:
    dag = dagbag.dags["cems_serving"]
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["cems_gold_marts"]
    assert [a.name for a in dag.get_task("publish_serving").outlets] == ["cems_serving"]


def test_streaming_schedule_and_assets(dagbag: Any) -> None:
    dag = dagbag.dags["cems_streaming"]
    assert dag.timetable.expression == "*/5 * * * *"
    outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks}
    assert outlets == {
        "land_telemetry": ["cems_silver_telemetry"],
        "land_interactions": ["cems_silver_interactions"],
    }
    assert not dag.get_task("land_telemetry").upstream_task_ids  # independent streams


def test_dag_files_import_nothing_heavy_at_top_level() -> None:
    """Parsing a DAG file must not start Spark, dbt or Great Expectations."""
    heavy = ["pyspark", "spark_jobs", "deltalake", "dbt", "great_expectations", "duckdb"]
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(DAGS_FOLDER)!r})\n"
        "import cems_nightly, cems_streaming\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
