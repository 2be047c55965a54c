"""Build the small operator the dashboard tests read, in its own process.

``python tests/dashboards/build_operator.py HOME``: generate (300 customers, 45 days, one
day of per-minute KPIs, no deliberately broken rows), land with Spark, write churn-model
outputs to the gold tables ml/ writes, and ``dbt build`` the marts on DuckDB.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_contracts.gold import TABLES, table_path
from data_contracts.settings import Settings
from data_contracts.synthetic.config import DEFAULT_START_DATE, BadRecordRates, GeneratorConfig

CUSTOMERS, DAYS = 300, 45
ACTIONS = ["network_fix", "priority_callback", "payment_plan", "onboarding_call", "monitor"]
REASONS = ["no fixed-term commitment", "rural area", "open ticket over 48 hours", "new customer"]


def write_churn_model_outputs(settings: Settings, customer_ids: list[str], end: date) -> None:
    """Two scoring runs, their next best actions, two model evaluations and drift."""
    from deltalake import write_deltalake

    rng = np.random.default_rng(8)
    scores, actions = [], []
    for version, as_of in ((1, end - timedelta(days=7)), (2, end)):
        probability = np.sort(rng.beta(1.2, 12, len(customer_ids)))[::-1]
        for rank, (customer_id, p) in enumerate(zip(customer_ids, probability, strict=True)):
            band = "high" if rank < len(customer_ids) // 10 else "medium" if rank < 90 else "low"
            scores.append(
                {
                    "customer_id": customer_id,
                    "as_of_date": as_of,
                    "churn_probability": float(p),
                    "risk_band": band,
                    "reason_1": REASONS[rank % len(REASONS)],
                    "reason_1_code": f"reason_{rank % len(REASONS)}",
                    "reason_2": None,
                    "reason_2_code": None,
                    "reason_3": None,
                    "reason_3_code": None,
                    "model_name": "churn",
                    "model_version": str(version),
                    "scored_at": datetime.combine(as_of, datetime.min.time(), UTC),
                }
            )
            if band != "low":
                code = ACTIONS[rank % len(ACTIONS)]
                actions.append(
                    {
                        "customer_id": customer_id,
                        "as_of_date": as_of,
                        "action_code": code,
                        "action": f"{code} action",
                        "reasoning": "planted for the dashboard tests",
                        "churn_probability": float(p),
                        "risk_band": band,
                        "annual_value": 480.0,
                        "expected_value": round(float(p) * 480 * 0.3 - 5, 2),
                        "model_version": str(version),
                    }
                )
    evaluations = [
        {
            "evaluated_at": datetime.combine(
                end - timedelta(days=7 * (2 - v)), datetime.min.time(), UTC
            ),
            "model_version": str(v),
            "validation_as_of_date": end - timedelta(days=35),
            "validation_rows": 250,
            "validation_positives": 12,
            "roc_auc": 0.6 + 0.02 * v,
            "pr_auc": 0.1,
            "brier": 0.03,
            "top_decile_lift": 2.0,
            "top_decile_recall": 0.2,
            "champion_version_before": None if v == 1 else "1",
            "champion_roc_auc_before": None if v == 1 else 0.62,
            "is_promoted": True,
            "decision": "promoted",
        }
        for v in (1, 2)
    ]
    drift = [
        {
            "as_of_date": end,
            "baseline_as_of_date": end - timedelta(days=7),
            "kind": kind,
            "name": name,
            "psi": psi,
            "threshold": 0.2,
            "is_drifted": psi > 0.2,
            "model_version": "2",
        }
        for kind, name, psi in (
            ("feature", "tenure_days", 0.01),
            ("feature", "home_cell_outage_minutes", 0.31),
            ("score", "churn_probability", 0.05),
        )
    ]
    rows = {
        "churn_scores": scores,
        "retention_actions": actions,
        "churn_model_evaluations": evaluations,
        "churn_drift": drift,
    }
    for name, records in rows.items():
        table = pa.Table.from_pylist(records, schema=TABLES[name])
        write_deltalake(table_path(settings, name), table, mode="overwrite")


def build_marts(home: Path) -> Settings:
    """Generate, land and dbt-build the small operator, with churn-model outputs in gold."""
    from deltalake import DeltaTable

    from data_contracts.synthetic.generate import generate
    from spark_jobs.marts import build
    from spark_jobs.pipeline import land
    from spark_jobs.session import get_spark

    settings = Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    # No deliberately broken rows: on 300 customers a few can exceed a batch's error budget,
    # and quarantine is tested elsewhere.
    clean = BadRecordRates().scaled(0)
    config = GeneratorConfig(customers=CUSTOMERS, days=DAYS, seed=17, kpi_days=1, bad_records=clean)
    generate(config, settings)
    land(
        ["crm", "billing", "telemetry", "interactions"],
        settings,
        get_spark("cems-dashboards-tests", settings),
    )
    customers = DeltaTable(f"{settings.lakehouse_root}/silver/crm/customers").to_pyarrow_table(
        columns=["customer_id"]
    )
    ids = sorted(set(customers.column("customer_id").to_pylist()))
    write_churn_model_outputs(settings, ids, DEFAULT_START_DATE + timedelta(days=DAYS - 1))
    build("duckdb", settings)
    return settings


if __name__ == "__main__":
    build_marts(Path(sys.argv[1]))
