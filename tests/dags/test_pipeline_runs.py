"""Real runs (``dag.test()``) of both DAGs on a small generated operator.

The day is replayed in the order it happens: the lakehouse holds CRM and the cell inventory
from an earlier run, the streaming DAG lands the telemetry and interactions backlog, then
the day's billing files arrive and the nightly DAG lands them, gates silver on quality,
builds the gold marts with dbt and publishes the run summary. Spark runs in this process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from data_contracts.settings import Settings, get_settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import generate

pytestmark = pytest.mark.slow

NIGHTLY_DATE = datetime(2026, 1, 2, tzinfo=UTC)  # its data interval is 2026-01-01
STREAMING_DATE = datetime(2026, 1, 1, 23, 50, tzinfo=UTC)
BILLING_DELIVERIES = ("invoices", "usage_daily", "payments")  # daily files; cells stay


@pytest.fixture(scope="module")
def operator_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CEMS_HOME with a small generated operator (300 customers, 10 days) for this module.

    Like the ``cems_home`` fixture, but shared by this module's tests (generating and
    landing are the expensive part). The daily billing files are held back in
    ``held-back/`` until the nightly test delivers them.
    """
    home = tmp_path_factory.mktemp("dag-runs") / "cems-home"
    with pytest.MonkeyPatch.context() as patch:
        for var in [v for v in os.environ if v.startswith("CEMS_")]:
            patch.delenv(var)
        patch.setenv("CEMS_HOME", str(home))
        patch.setenv("CEMS_SPARK_MASTER", "local[2]")
        patch.setenv("CEMS_SPARK_SHUFFLE_PARTITIONS", "2")
        get_settings.cache_clear()
        generate(GeneratorConfig(customers=300, days=10, seed=5, kpi_days=1), Settings(home=home))
        (home / "held-back").mkdir()
        for entity in BILLING_DELIVERIES:
            shutil.move(home / "landing" / "billing" / entity, home / "held-back" / entity)
        yield home
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def streamed(
    operator_home: Path, airflow_db: Path, dagbag: Any, run_dag: Callable[..., Any]
) -> dict[str, Any]:
    """cems_streaming before and after the parents landed, and once more with nothing new."""
    from spark_jobs.pipeline import land

    dag = dagbag.dags["cems_streaming"]
    runs = {"before_parents": run_dag(dag, STREAMING_DATE - timedelta(minutes=10))}
    # What an earlier nightly run left: CRM and the cell inventory (billing files held back).
    runs["bootstrap"] = land(["crm", "billing"])
    runs["backlog"] = run_dag(dag, STREAMING_DATE - timedelta(minutes=5))
    runs["nothing_new"] = run_dag(dag, STREAMING_DATE)
    return runs


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _asset_extras(name: str) -> list[dict[str, Any]]:
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = (
            sa.select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == name)
            .order_by(AssetEvent.id)
        )
        return [dict(extra) for extra in session.scalars(query)]


def _alerts(home: Path) -> list[str]:
    path = home / "alerts" / "alerts.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def test_streaming_waits_for_parents_lands_the_backlog_then_skips(
    operator_home: Path, streamed: dict[str, Any]
) -> None:
    skipped = {"land_telemetry": "skipped", "land_interactions": "skipped"}
    # Nothing to check foreign keys against yet: skipped rather than landing orphans.
    assert streamed["before_parents"].state == "success"
    assert _states(streamed["before_parents"]) == skipped
    assert {r.contract for r in streamed["bootstrap"] if r.received} >= {"network.cells"}

    backlog = streamed["backlog"]
    assert backlog.state == "success", _states(backlog)
    assert _states(backlog) == {"land_telemetry": "success", "land_interactions": "success"}
    for source in ("telemetry", "interactions"):
        (extra,) = _asset_extras(f"cems_silver_{source}")
        assert extra["received"] > 0
        assert extra["received"] == (
            extra["silver"] + extra["quarantined"] + extra["duplicates"]
        ), source
    # Planted orphan cell ids were checked against the landed cells and quarantined.
    assert _asset_extras("cems_silver_telemetry")[0]["quarantined"] > 0

    # Nothing new five minutes later: skipped, and no second Asset event.
    assert streamed["nothing_new"].state == "success"
    assert _states(streamed["nothing_new"]) == skipped
    assert len(_asset_extras("cems_silver_interactions")) == 1
    assert _alerts(operator_home) == []


def test_nightly_lands_gates_builds_and_publishes(
    operator_home: Path,
    streamed: dict[str, Any],
    dagbag: Any,
    run_dag: Callable[..., Any],
    churn_features: Callable[..., Any],
    publish_features: Callable[..., str],
) -> None:
    from ml.jobs import train

    assert streamed["backlog"].state == "success"
    for entity in BILLING_DELIVERIES:  # the day's billing files arrive
        shutil.move(operator_home / "held-back" / entity, operator_home / "landing" / "billing")
    # A champion from an earlier week (ten days of data cannot train one; the features
    # are a synthetic stand-in that tonight's dbt build replaces with the real mart).
    settings = Settings(home=operator_home)
    publish_features(settings, churn_features(customers=2500, as_of_count=6, seed=3, strength=2.0))
    assert train(settings).promoted

    run = run_dag(dagbag.dags["cems_nightly"], NIGHTLY_DATE)
    assert run.state == "success", _states(run)
    states = _states(run)
    # 2026-01-02 is a Friday: no retraining (weekly, on Sundays); the champion scores.
    assert states.pop("train") == "skipped"
    assert set(states.values()) == {"success"}, states

    summary_path = operator_home / "runs" / "2026-01-01.json"
    summary = json.loads(summary_path.read_text())
    assert summary["run_id"] == run.run_id
    assert summary["data_interval"]["start"].startswith("2026-01-01")
    assert summary["data_interval"]["end"].startswith("2026-01-02")

    landing = summary["landing"]
    assert set(landing) == {"crm", "billing"}
    assert landing["crm"]["received"] == 0  # landed before; nothing changed since
    assert landing["billing"]["received"] > 0
    # The generator plants bad usage rows; landing quarantined them and the summary counts them.
    quarantine = summary["quarantine"]
    assert quarantine["by_contract"]["billing.usage_daily"]
    assert quarantine["total"] == sum(s["quarantined"] for s in landing.values()) > 0

    quality = summary["quality"]
    assert quality["failed"] == 0 and quality["passed"] == len(quality["contracts"])
    assert {"crm.customers", "billing.invoices", "network.cell_kpis"} <= set(quality["contracts"])

    assert summary["dbt"]["tests_failed"] == 0 and summary["dbt"]["tests_passed"] > 0
    gold = summary["gold"]
    assert gold, "no gold marts published"
    for name, table in gold.items():
        assert Path(table["path"], "_delta_log").is_dir(), name
        assert table["rows"] == summary["dbt"]["models"][name], name
        assert table["rows"] > 0, f"{name} is empty"

    # Tonight's scores are in gold, and the customer 360 was rebuilt with them.
    from deltalake import DeltaTable

    scored = summary["ml"]["scored"]
    assert summary["ml"]["trained"] is None
    assert scored["model_version"] == "1" and scored["customers"] > 0
    assert sum(scored["bands"].values()) == scored["customers"]
    assert summary["dbt_rescored"]["tests_failed"] == 0
    assert set(summary["dbt_rescored"]["models"]) == {"dim_customers", "agg_retention_segments"}
    customers = DeltaTable(gold["dim_customers"]["path"]).to_pandas()
    assert customers["churn_probability"].notna().sum() == scored["customers"]
    assert customers["churn_reason_1"].notna().any()

    (gold_event,) = _asset_extras("cems_gold_marts")
    assert gold_event["churn_scores_as_of"] == scored["as_of"]
    assert gold_event["run_summary"] == str(summary_path)
    assert gold_event["marts"] == {name: table["rows"] for name, table in gold.items()}
    assert [e["received"] for e in _asset_extras("cems_silver_crm")] == [0]
    assert [e["received"] > 0 for e in _asset_extras("cems_silver_billing")] == [True]
    # Ten days of data: the previous as_of's feature windows held three days and tonight's
    # ten, so the drift monitor rightly flags usage and the score. Nothing else alerted.
    alerts = [json.loads(line) for line in _alerts(operator_home)]
    assert [a["event"] for a in alerts] == ["churn_drift"]
    assert {"voice_minutes_in_window", "score"} <= set(alerts[0]["drift"])
    assert set(alerts[0]["drift"]) == set(scored["drifted"])
    assert not list(summary_path.parent.glob(".*.tmp"))
