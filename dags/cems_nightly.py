"""# cems_nightly

Once a day, for the day that just ended (UTC): land the batch sources, gate silver on its
quality suites, build the gold marts with dbt, and publish.

```
land_crm >> land_billing >> quality_gate >> dbt_build >> train >> score >> dbt_rescored >> publish
```

* **land_crm**, **land_billing** call `spark_jobs.pipeline.land` (what `cems pipeline land`
  runs). CRM lands first because billing's foreign keys are checked against landed CRM
  rows. Landing takes whatever is new and is idempotent (batch plans, Delta transaction
  ids, MERGE), so a retry or a re-run repeats nothing. Each emits its silver Asset.
* **quality_gate** validates every landed silver table (batch and streamed) with its Great
  Expectations suite; gold is never built on silver that failed.
* **dbt_build** runs `spark_jobs.marts.build` (target from `CEMS_DBT_TARGET`): models,
  tests and the gold marts as Delta tables.
* **publish** confirms each gold mart the build returned is a readable Delta table with the
  row count dbt reported, writes the run summary (tables and row counts, quality results,
  quarantine counts) to `$CEMS_HOME/runs/<data interval>.json` (temporary file + rename,
  so a retry overwrites it) and emits the `cems_gold_marts` Asset, which downstream DAGs
  (scoring, serving) schedule on.

* **train** (weekly, on `CEMS_ML_TRAIN_WEEKDAY`, default Sunday, or whenever there is no
  champion) runs `ml.jobs.train`: fit on `fct_churn_features`, log to MLflow, register
  `@challenger`, promote to `@champion` only if it beats the champion on the same
  validation window. Skipped on other nights, or with the reason when the features do not
  yet hold enough labelled history.
* **score** (daily) runs `ml.jobs.score` with `models:/churn@champion`: churn scores with
  reasons, next best actions and drift for the latest `as_of`, replacing that date's rows.
  Drift over the threshold alerts. Skipped when no model is champion yet.
* **dbt_rescored** rebuilds the marts that show scores (dbt tag `uses_churn_scores`:
  `dim_customers`, `agg_retention_segments`), so tonight's gold carries tonight's scores.

ML tasks that skip never block publishing (`none_failed`), so a run's summary and the gold
Asset event cover the scores when there are any.

Failures a retry cannot fix (a batch over its error budget, a failed quality suite, failed
dbt tests) fail at once; other failures retry twice. Every final failure and a run still
unfinished 3 hours after it was queued (Deadline Alert) append to
`$CEMS_HOME/alerts/alerts.jsonl` and log at ERROR.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from cems_common import GOLD_MARTS, SILVER, asset_extra, deadline, default_args


@task(execution_timeout=timedelta(hours=2))
def land(source: str, outlet_events: Any = None) -> dict[str, Any]:
    """Land what is new from one batch source into bronze and silver."""
    from cems_common import land_source

    summary = land_source(source)
    outlet_events[SILVER[source]].extra = asset_extra(summary)
    return summary


@task(execution_timeout=timedelta(hours=1))
def quality_gate() -> dict[str, Any]:
    """Validate every landed silver table; fail (no retry) if any suite fails."""
    from airflow.sdk.exceptions import AirflowFailException

    from spark_jobs.pipeline import QualityGateError
    from spark_jobs.pipeline import quality_gate as run_quality_gate

    try:
        results = run_quality_gate()
    except QualityGateError as exc:
        raise AirflowFailException(str(exc)) from exc
    return {
        "passed": sum(r.success for r in results),
        "failed": sum(not r.success for r in results),
        "data_docs": str(results[0].data_docs) if results else None,
        "contracts": {
            r.contract: {
                "success": r.success,
                "rows": r.rows,
                "evaluated_expectations": r.evaluated,
                "unsuccessful_expectations": r.unsuccessful,
                "silver_version": r.silver_version,
            }
            for r in results
        },
    }


@task(inlets=list(SILVER.values()), execution_timeout=timedelta(hours=2))
def dbt_build() -> dict[str, Any]:
    """Build and test the gold marts with dbt and publish them as Delta tables."""
    from airflow.sdk.exceptions import AirflowFailException

    from data_contracts.settings import get_settings
    from spark_jobs.marts import MartsBuildError, build

    settings = get_settings()
    try:
        result = build(target=settings.dbt_target, settings=settings)
    except MartsBuildError as exc:
        # Failed models or tests are in the data: fail at once. dbt that could not run at
        # all (it carries the underlying error, e.g. a locked warehouse) may pass on retry.
        if exc.__cause__ is None:
            raise AirflowFailException(str(exc)) from exc
        raise
    return {
        "target": result.target,
        "models": dict(result.models),
        "tests_passed": result.tests_passed,
        "tests_failed": result.tests_failed,
        "unit_tests_passed": result.unit_tests_passed,
        "elapsed_seconds": round(result.elapsed_seconds, 1),
        "gold_paths": dict(result.gold_paths),
    }


@task(execution_timeout=timedelta(hours=2))
def train(data_interval_end: datetime | None = None) -> dict[str, Any]:
    """Weekly (or with no champion yet): train, register @challenger, gate @champion."""
    from airflow.sdk.exceptions import AirflowSkipException

    from data_contracts.settings import get_settings
    from ml.jobs import train as run_training
    from ml.jobs import training_due
    from ml.train import NotEnoughDataError

    settings = get_settings()
    day = (data_interval_end or datetime.now(UTC)).date()
    due, why = training_due(settings, day)
    if not due:
        raise AirflowSkipException(f"no training tonight: {why}")
    try:
        return run_training(settings).to_dict()
    except NotEnoughDataError as exc:
        raise AirflowSkipException(f"no training tonight: {exc}") from exc


@task(trigger_rule="none_failed", execution_timeout=timedelta(hours=1))
def score() -> dict[str, Any]:
    """Score every active customer with models:/churn@champion (skipped without one)."""
    from airflow.sdk.exceptions import AirflowSkipException
    from cems_common import notify

    from ml.jobs import NoChampionError
    from ml.jobs import score as run_scoring

    try:
        result = run_scoring()
    except NoChampionError as exc:
        raise AirflowSkipException(str(exc)) from exc
    if result.drifted:
        notify(
            "churn_drift",
            f"churn drift over the threshold at {result.as_of}: {', '.join(result.drifted)}",
            drift={name: result.drift[name] for name in result.drifted},
        )
    return result.to_dict()


@task(trigger_rule="none_failed", execution_timeout=timedelta(hours=1))
def dbt_rescored(scored: dict[str, Any] | None) -> dict[str, Any]:
    """Rebuild the marts that show churn scores (dbt tag ``uses_churn_scores``)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from data_contracts.settings import get_settings
    from spark_jobs.marts import build
    from spark_jobs.pipeline import SCORED_TAG

    if not scored:
        raise AirflowSkipException("nothing was scored tonight; the marts keep their scores")
    settings = get_settings()
    result = build(target=settings.dbt_target, settings=settings, select=f"tag:{SCORED_TAG}")
    return {
        "models": dict(result.models),
        "tests_passed": result.tests_passed,
        "tests_failed": result.tests_failed,
        "gold_paths": dict(result.gold_paths),
    }


@task(outlets=[GOLD_MARTS], trigger_rule="none_failed", execution_timeout=timedelta(minutes=30))
def publish(
    landed: list[dict[str, Any]],
    quality: dict[str, Any],
    built: dict[str, Any],
    trained: dict[str, Any] | None = None,
    scored: dict[str, Any] | None = None,
    rescored: dict[str, Any] | None = None,
    dag_run: Any = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    outlet_events: Any = None,
) -> dict[str, Any]:
    """Confirm the gold marts are Delta tables and write the run summary."""
    from airflow.sdk.exceptions import AirflowFailException
    from cems_common import interval_key, write_json_atomically

    from data_contracts.settings import get_settings

    gold: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    models = {**built["models"], **(rescored or {}).get("models", {})}
    for name, path in sorted(built["gold_paths"].items()):
        table = delta_table_facts(path)
        expected = models.get(name)
        if table is None:
            problems.append(f"{name}: no Delta table at {path}")
        elif expected is not None and table["rows"] is not None and table["rows"] != expected:
            problems.append(f"{name}: {table['rows']:,} rows in Delta, dbt built {expected:,}")
        gold[name] = table or {"path": path}
    if not gold:
        problems.append("the dbt build returned no gold marts")
    if problems:
        raise AirflowFailException("gold marts not published: " + "; ".join(problems))

    quarantine: dict[str, dict[str, int]] = {}
    for summary in landed:
        for contract in summary["contracts"]:
            if contract["quarantined"]:
                counts = quarantine.setdefault(contract["contract"], {})
                for reason, count in contract["quarantined"].items():
                    counts[reason] = counts.get(reason, 0) + count
    run_id = dag_run.run_id if dag_run is not None else "unknown"
    document = {
        "dag_id": "cems_nightly",
        "run_id": run_id,
        "data_interval": {
            "start": data_interval_start.isoformat() if data_interval_start else None,
            "end": data_interval_end.isoformat() if data_interval_end else None,
        },
        "landing": {s["source"]: s for s in landed},
        "quarantine": {
            "total": sum(sum(c.values()) for c in quarantine.values()),
            "by_contract": quarantine,
        },
        "quality": quality,
        "dbt": {k: v for k, v in built.items() if k != "gold_paths"},
        "dbt_rescored": {k: v for k, v in (rescored or {}).items() if k != "gold_paths"},
        "ml": {"trained": trained, "scored": scored},
        "gold": gold,
    }
    key = interval_key(data_interval_start, data_interval_end, run_id)
    path = write_json_atomically(get_settings().home / "runs" / f"{key}.json", document)
    outlet_events[GOLD_MARTS].extra = {
        "run_summary": str(path),
        "marts": {name: facts.get("rows") for name, facts in gold.items()},
        "churn_scores_as_of": (scored or {}).get("as_of"),
    }
    return {"run_summary": str(path), "marts": len(gold)}


def delta_table_facts(path: str) -> dict[str, Any] | None:
    """Version and row count (from the Delta log's file statistics) of a Delta table, if any."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return None
    actions = table.get_add_actions(flatten=True)
    rows: int | None = None
    if "num_records" in actions.schema.names:
        counts = actions.column("num_records").to_pylist()
        rows = None if any(c is None for c in counts) else sum(counts)
    return {"path": path, "delta_version": table.version(), "rows": rows}


@dag(
    dag_id="cems_nightly",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(retry_delay=timedelta(minutes=5)),
    deadline=deadline(timedelta(hours=3), "gold marts published within 3 hours"),
    tags=["cems", "lakehouse", "nightly"],
    doc_md=__doc__,
)
def cems_nightly() -> None:
    crm = land.override(task_id="land_crm", outlets=[SILVER["crm"]])("crm")
    billing = land.override(task_id="land_billing", outlets=[SILVER["billing"]])("billing")
    crm >> billing  # billing's foreign keys are checked against landed CRM rows
    quality = quality_gate()
    billing >> quality
    built = dbt_build()
    quality >> built
    trained = train()
    built >> trained
    scored = score()
    trained >> scored
    rescored = dbt_rescored(scored)
    publish([crm, billing], quality, built, trained, scored, rescored)


cems_nightly()
