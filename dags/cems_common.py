"""What every CEMS DAG shares: default arguments, the Assets they exchange, and alerting.

Not a DAG file (listed in ``.airflowignore``); DAG files import it by name because Airflow
puts the DAGs folder on ``sys.path``. Like the DAG files it imports only light modules at the
top; CEMS packages are imported inside the functions that need them.

Alerting: :func:`notify` logs at ERROR and appends one JSON line to
``<CEMS_HOME>/alerts/alerts.jsonl``. Task failures (after the last retry) reach it through
:func:`on_task_failure`; runs that miss their deadline through :func:`on_deadline_missed`
(Airflow 3 Deadline Alerts, which replaced SLAs).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, DeadlineAlert, DeadlineReference, SyncCallback

log = logging.getLogger("cems.alerts")

OWNER = "cems-data-engineering"


def default_args(retry_delay: timedelta) -> dict[str, Any]:
    """Task defaults: owner, two retries for infrastructure hiccups, alert when retries run out.

    Tasks raise ``AirflowFailException`` for failures a retry cannot fix (bad data), so those
    alert at once.
    """
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay,
        "on_failure_callback": on_task_failure,
    }


# Assets name what a DAG writes, per source system (silver) and for the marts (gold). The
# URIs are logical: where the lakehouse lives is a setting (local path or object storage).
SILVER = {
    source: Asset(
        name=f"cems_silver_{source}", uri=f"cems://lakehouse/silver/{source}", group="silver"
    )
    for source in ("crm", "billing", "telemetry", "interactions")
}
GOLD_MARTS = Asset(name="cems_gold_marts", uri="cems://lakehouse/gold", group="gold")


def deadline(interval: timedelta, what: str) -> DeadlineAlert:
    """Alert when a run has not finished ``interval`` after it was queued."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=SyncCallback(on_deadline_missed, kwargs={"expectation": what}),
    )


def alerts_path() -> Path:
    """Where alerts are appended: ``<CEMS_HOME>/alerts/alerts.jsonl``."""
    from data_contracts.settings import get_settings

    return get_settings().home / "alerts" / "alerts.jsonl"


def notify(event: str, message: str, **details: Any) -> dict[str, Any]:
    """Raise an alert: log it at ERROR and append it to the alerts file as one JSON line."""
    record = {
        "event": event,
        "message": message,
        **details,
        # When the alert was raised; metadata, never used in pipeline logic.
        "raised_at": datetime.now(UTC).isoformat(),
    }
    log.error("CEMS alert [%s] %s", event, message)
    path = alerts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write of one line in append mode, so concurrent writers do not interleave.
    with path.open("a", encoding="utf-8") as alerts:
        alerts.write(json.dumps(record, default=str, sort_keys=True) + "\n")
    return record


def on_task_failure(context: Any) -> None:
    """Task ``on_failure_callback``: the task failed for good (retries used up or not allowed)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    error = context.get("exception")
    notify(
        "task_failed",
        f"{dag_id}.{task_id} failed in run {run_id}: {error or 'no exception recorded'}",
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=getattr(ti, "try_number", None),
        data_interval_start=getattr(dag_run, "data_interval_start", None),
        data_interval_end=getattr(dag_run, "data_interval_end", None),
        error_type=type(error).__name__ if error else None,
    )


def on_deadline_missed(context: dict[str, Any], expectation: str = "") -> None:
    """Deadline Alert callback (run by the executor): a run is late."""
    dag_run = context.get("dag_run") or {}
    missed = context.get("deadline") or {}
    dag_id = dag_run.get("dag_id")
    run_id = dag_run.get("dag_run_id")
    notify(
        "deadline_missed",
        f"{dag_id} run {run_id} missed its deadline {missed.get('deadline_time')}"
        + (f" ({expectation})" if expectation else "")
        + f"; state {dag_run.get('state')}",
        dag_id=dag_id,
        run_id=run_id,
        deadline_time=missed.get("deadline_time"),
        queued_at=dag_run.get("queued_at"),
        state=dag_run.get("state"),
        expectation=expectation,
    )


# --- Task bodies both DAGs share (called inside @task functions) --------------------------


def land_source(source: str) -> dict[str, Any]:
    """Land what is new from one source system; a small summary of its reconciliations.

    A batch over its error budget fails at once: a retry would replay the same inputs.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from spark_jobs.batches import ErrorBudgetError
    from spark_jobs.pipeline import land

    try:
        reports = land([source])
    except ErrorBudgetError as exc:
        raise AirflowFailException(f"{source}: {exc}") from exc
    unbalanced = [r.contract for r in reports if not r.balanced]
    if unbalanced:
        raise AirflowFailException(
            f"{source}: received rows are not all accounted for in {', '.join(unbalanced)}"
        )
    contracts = [r.to_dict() for r in reports]
    return {
        "source": source,
        "contracts": contracts,
        "received": sum(r.received for r in reports),
        "silver": sum(r.silver for r in reports),
        "duplicates": sum(r.duplicates for r in reports),
        "quarantined": sum(r.quarantined_total for r in reports),
    }


def asset_extra(summary: dict[str, Any]) -> dict[str, Any]:
    """The counts a landing run attaches to its silver Asset event."""
    return {k: summary[k] for k in ("received", "silver", "duplicates", "quarantined")}


# --- Run summaries ------------------------------------------------------------------------


def interval_key(start: datetime | None, end: datetime | None, run_id: str) -> str:
    """A file name for a run's data interval: ``2026-01-01`` for one UTC day.

    Runs without a data interval (triggered without a logical date) fall back to the run id,
    which is just as stable across retries.
    """
    if start is None or end is None:
        return "run-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end - start == timedelta(days=1) and start.time() == datetime.min.time():
        return start.date().isoformat()
    return f"{start:%Y%m%dT%H%M%SZ}--{end:%Y%m%dT%H%M%SZ}"


def write_json_atomically(path: Path, document: dict[str, Any]) -> Path:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never half of one; a retry overwrites.
    """
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
