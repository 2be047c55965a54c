"""Entry points the CLI, the DAGs and the tests share: land one source or all of them."""

from __future__ import annotations

from pyspark.sql import SparkSession

from data_contracts.settings import Settings, get_settings
from spark_jobs.batches import Reconciliation
from spark_jobs.lake import Lake
from spark_jobs.session import get_spark

SOURCES = ("crm", "billing", "telemetry", "interactions")
# Parents land before children so foreign keys can be checked against what has landed.
ORDER = ("crm", "billing", "telemetry", "interactions")


def land_source(
    source: str, spark: SparkSession, lake: Lake, settings: Settings
) -> list[Reconciliation]:
    """Land everything new from one source system; one reconciliation per contract touched."""
    landing = settings.landing_path
    if source == "crm":
        from spark_jobs.crm import land_crm

        return land_crm(spark, lake, settings)
    if source == "billing":
        from spark_jobs.billing import land_billing, land_network_inventory

        return land_network_inventory(spark, lake, landing) + land_billing(spark, lake, landing)
    if source == "telemetry":
        from spark_jobs.streaming import land_telemetry

        return land_telemetry(spark, lake, landing)
    if source == "interactions":
        from spark_jobs.streaming import land_interactions

        return land_interactions(spark, lake, landing)
    raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)} or all")


def land(
    sources: list[str], settings: Settings | None = None, spark: SparkSession | None = None
) -> list[Reconciliation]:
    """Land the given sources (in dependency order) and return every reconciliation."""
    settings = settings or get_settings()
    spark = spark or get_spark("cems-land", settings)
    lake = Lake.from_settings(settings)
    reports: list[Reconciliation] = []
    for source in [s for s in ORDER if s in sources]:
        reports.extend(land_source(source, spark, lake, settings))
    return reports
