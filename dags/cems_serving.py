"""# cems_serving

Whenever `cems_nightly` publishes the gold marts (the `cems_gold_marts` Asset), load them
into the API's serving tables and switch the new version in.

```
publish_serving      (scheduled on the cems_gold_marts Asset; emits cems_serving)
```

**publish_serving** calls `api.serving.publish.publish` (what `cems serving publish` runs):
the customer 360 with churn scores, billing accounts, recent bills and payments, recent
daily usage and usage patterns are loaded as a new version beside the one being served,
then one short transaction makes it current. Readers never see half a publication; if the
load fails the new rows are discarded and the previous version keeps serving, so a retry
simply publishes again. The version before the previous one is pruned.

Final failures and a run unfinished 1 hour after it was queued (Deadline Alert) append to
`$CEMS_HOME/alerts/alerts.jsonl` and log at ERROR.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, dag, task
from cems_common import GOLD_MARTS, deadline, default_args

SERVING = Asset(name="cems_serving", uri="cems://serving", group="serving")


@task(outlets=[SERVING], execution_timeout=timedelta(minutes=45))
def publish_serving(outlet_events: Any = None) -> dict[str, Any]:
    """Load the gold marts into the serving tables as a new version and switch it in."""
    from api.serving.publish import publish
    from data_contracts.settings import get_settings

    result = publish(get_settings()).to_dict()
    outlet_events[SERVING].extra = {
        "version": result["version"],
        "as_of_date": result["as_of_date"],
        "row_counts": result["row_counts"],
    }
    return result


@dag(
    dag_id="cems_serving",
    schedule=[GOLD_MARTS],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(retry_delay=timedelta(minutes=2)),
    deadline=deadline(timedelta(hours=1), "serving tables published within 1 hour"),
    tags=["cems", "serving", "api"],
    doc_md=__doc__,
)
def cems_serving() -> None:
    publish_serving()


cems_serving()
