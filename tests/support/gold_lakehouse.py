"""A small generated operator landed, built by dbt and scored once per test run.

Built under a file lock in a folder every xdist worker shares, so the API tests of both
workers read one lakehouse instead of landing it twice. The churn scores are planted
(a deterministic probability per customer), not modelled: these tests are about serving
and access control; the model's own tests live in tests/ml.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import deltalake
import pyarrow as pa

from data_contracts.gold import CHURN_SCORES, RETENTION_ACTIONS, table_path
from data_contracts.settings import Settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import generate

CONFIG = GeneratorConfig(customers=300, days=10, seed=5, kpi_days=1)  # lands within budgets
SOURCES = ["crm", "billing", "telemetry", "interactions"]
READY = "READY"


def _probability(customer_id: str) -> float:
    digest = hashlib.sha256(customer_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def plant_scores(settings: Settings) -> int:
    """Write churn_scores and retention_actions for every customer of dim_customers."""
    dim = deltalake.DeltaTable(f"{settings.gold_root}/dim_customers").to_pyarrow_table(
        columns=["customer_id", "as_of_date"]
    )
    ids = dim.column("customer_id").to_pylist()
    as_of = dim.column("as_of_date")[0].as_py()
    probabilities = [_probability(c) for c in ids]
    ranked = sorted(probabilities, reverse=True)
    high = ranked[max(len(ranked) // 10 - 1, 0)]
    medium = ranked[max(len(ranked) * 3 // 10 - 1, 0)]
    bands = ["high" if p >= high else "medium" if p >= medium else "low" for p in probabilities]
    now = datetime.now(UTC)
    scores = pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "as_of_date": as_of,
                "churn_probability": p,
                "risk_band": b,
                "reason_1": "2 support ticket(s) left unresolved for more than 48 hours",
                "reason_1_code": "unresolved_tickets_over_48h",
                "reason_2": "month-to-month contract",
                "reason_2_code": "contract",
                "reason_3": None,
                "reason_3_code": None,
                "model_name": "churn",
                "model_version": "1",
                "scored_at": now,
            }
            for c, p, b in zip(ids, probabilities, bands, strict=True)
        ],
        schema=CHURN_SCORES,
    )
    actions = pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "as_of_date": as_of,
                "action_code": "service_recovery_call",
                "action": "Call the customer to resolve open tickets",
                "reasoning": f"{p:.0%} churn risk; open tickets are the first reason.",
                "churn_probability": p,
                "risk_band": b,
                "annual_value": 600.0,
                "expected_value": p * 600 * 0.3 - 15,
                "model_version": "1",
            }
            for c, p, b in zip(ids, probabilities, bands, strict=True)
            if b != "low"
        ],
        schema=RETENTION_ACTIONS,
    )
    deltalake.write_deltalake(table_path(settings, "churn_scores"), scores, mode="overwrite")
    deltalake.write_deltalake(table_path(settings, "retention_actions"), actions, mode="overwrite")
    return len(ids)


def build(home: Path) -> Settings:
    """Generate, land, build the marts and plant scores under ``home`` (slow: Spark)."""
    from spark_jobs.marts import build as build_marts
    from spark_jobs.pipeline import SCORED_TAG, land
    from spark_jobs.session import get_spark

    settings = Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    generate(CONFIG, settings)
    spark = get_spark("cems-api-tests", settings)
    land(SOURCES, settings, spark)
    build_marts("duckdb", settings)
    plant_scores(settings)
    build_marts("duckdb", settings, select=f"tag:{SCORED_TAG}")
    return settings


def shared(root: Path) -> Settings:
    """The lakehouse under ``root``, built by whichever worker gets the lock first."""
    home = root / "gold-lakehouse"
    root.mkdir(parents=True, exist_ok=True)
    with (root / "gold-lakehouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / READY).exists():
            shutil.rmtree(home, ignore_errors=True)  # a half-built home from a crashed run
            build(home)
            (home / READY).write_text("ok")
    return Settings(home=home)
