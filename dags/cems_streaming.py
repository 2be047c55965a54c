"""# cems_streaming

Every 5 minutes: land the telemetry (cell KPIs, alarms) and interactions (events, tickets,
ticket status changes) micro-batch files that arrived since the last run.

```
land_telemetry    land_interactions      (independent; each emits its silver Asset)
```

Each task calls `spark_jobs.pipeline.land([source])`, which runs the source's Spark
Structured Streaming queries with `trigger(availableNow=True)`: everything new, then stop.
The checkpoints decide which files make up each micro-batch and every write is keyed by
(query, micro-batch), so a retry or an overlapping manual run lands nothing twice; that is
why these tasks need no data-interval key. A task with nothing new to land is *skipped*, so
the silver Assets (`cems_silver_telemetry`, `cems_silver_interactions`) only get an event
when rows landed, with the counts attached.

`max_active_runs=1` and no catchup: a slow run delays the next one instead of stacking
them, and one run after a pause catches up on the whole backlog.

Foreign keys (customers, subscriptions, cells) are checked against what `cems_nightly` has
landed, and a check is skipped while the parent table does not exist yet. So on a new
lakehouse a source is skipped until its parents have landed once (the first `cems_nightly`
run, or `cems pipeline land`); otherwise orphans would reach silver unchecked. The nightly
quality gate validates these silver tables before gold is built.

Final task failures and a run unfinished 15 minutes after it was queued (Deadline Alert)
append to `$CEMS_HOME/alerts/alerts.jsonl` and log at ERROR.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task
from cems_common import SILVER, asset_extra, deadline, default_args

STREAMED_SOURCES = ("telemetry", "interactions")


@task(execution_timeout=timedelta(minutes=20))
def land_stream(source: str, outlet_events: Any = None) -> dict[str, Any]:
    """Land the new micro-batch files of one streamed source (availableNow)."""
    from airflow.sdk.exceptions import AirflowSkipException
    from cems_common import land_source

    waiting_for = unlanded_parents(source)
    if waiting_for:
        raise AirflowSkipException(
            f"{source} waits for the first landing of {', '.join(waiting_for)} "
            "(cems_nightly, or `cems pipeline land`): rows landed before their parents "
            "would skip the foreign-key checks."
        )
    summary = land_source(source)
    if not summary["received"]:
        raise AirflowSkipException(f"no new {source} files")
    outlet_events[SILVER[source]].extra = asset_extra(summary)
    return summary


def unlanded_parents(source: str) -> list[str]:
    """Contracts of other sources that this source's rows refer to and that never landed."""
    from data_contracts.loader import get_contract
    from data_contracts.settings import get_settings
    from spark_jobs.batches import parent_contracts
    from spark_jobs.lake import Lake, table_exists
    from spark_jobs.session import get_spark
    from spark_jobs.streaming import STREAMS

    settings = get_settings()
    own = set(STREAMS[source])
    parents = {
        parent.name: parent
        for name in own
        for parent in parent_contracts(get_contract(name)).values()
        if parent.name not in own
    }
    lake = Lake.from_settings(settings)
    spark = get_spark("cems-land", settings)  # the session landing uses next
    return sorted(name for name, p in parents.items() if not table_exists(spark, lake.silver(p)))


@dag(
    dag_id="cems_streaming",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=45),
    default_args=default_args(retry_delay=timedelta(minutes=1)),
    deadline=deadline(timedelta(minutes=15), "micro-batches landed within 15 minutes"),
    tags=["cems", "lakehouse", "streaming"],
    doc_md=__doc__,
)
def cems_streaming() -> None:
    for source in STREAMED_SOURCES:
        land_stream.override(task_id=f"land_{source}", outlets=[SILVER[source]])(source)


cems_streaming()
