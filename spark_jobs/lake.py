"""Where each lakehouse table lives, and the idempotent ways we write to them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, DataFrameWriter, Observation, SparkSession

from data_contracts.loader import Contract
from data_contracts.settings import Settings

INGEST_COLUMNS = ("_source_system", "_source_file", "_batch_id", "_ingested_at")

# Delta computes the minimum, maximum and null count of the first 32 columns of every file it
# writes (9-12 % of landing billing's time). The landing tables keep statistics only on
# the columns their reads filter on, set as a table property when a write creates the table
# (Delta ignores the option on a table that exists). They also keep names and e-mail
# addresses out of the Delta log's statistics.
STATISTICS_PROPERTY = "delta.dataSkippingStatsColumns"
# A batch's read of bronze (``_batch_id``; a stream's attempt also by ``_ingested_at``).
BRONZE_STATISTICS = ("_batch_id", "_ingested_at")
# The same for quarantine, which is partitioned by contract.
QUARANTINE_STATISTICS = ("batch_id", "ingested_at")


@dataclass(frozen=True)
class Lake:
    """Table locations under the lakehouse root (a local path or s3a:// / abfss:// URL)."""

    root: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lakehouse_root.rstrip("/"))

    def bronze(self, contract: Contract) -> str:
        return f"{self.root}/bronze/{contract.source}/{contract.entity}"

    def silver(self, contract: Contract) -> str:
        return f"{self.root}/silver/{contract.source}/{contract.entity}"

    @property
    def quarantine(self) -> str:
        return f"{self.root}/quarantine/rows"

    @property
    def landed_files(self) -> str:
        """Which landing files each batch consumed (drives idempotent re-runs)."""
        return f"{self.root}/_state/landed_files"

    @property
    def watermarks(self) -> str:
        """Per-table incremental-read watermarks (CRM ``updated_at``)."""
        return f"{self.root}/_state/watermarks"

    @property
    def reconciliation(self) -> str:
        return f"{self.root}/_state/reconciliation"

    @property
    def quality_results(self) -> str:
        return f"{self.root}/quality/results"

    def checkpoint(self, name: str) -> str:
        return f"{self.root}/_checkpoints/{name}"


def silver_statistics(contract: Contract) -> tuple[str, ...]:
    """The business key (erasure and lookups filter on it) and the batch. (Delta keeps no
    statistics on booleans, so an SCD2 table's ``is_current`` cannot be among them.)"""
    return (*contract.primary_key, "_batch_id")


def with_statistics(writer: DataFrameWriter, statistics: Sequence[str]) -> DataFrameWriter:
    """``writer`` that, should it create its table, keeps statistics on ``statistics`` only."""
    return writer.option(STATISTICS_PROPERTY, ",".join(statistics)) if statistics else writer


def table_exists(spark: SparkSession, path: str) -> bool:
    return bool(DeltaTable.isDeltaTable(spark, path))


def as_of_now(spark: SparkSession, path: str) -> tuple[DataFrame, int]:
    """The Delta table at ``path`` pinned to its current version, and that version.

    A plain ``load`` reads whatever version is newest each time the frame is used, so two
    passes over one frame can see two versions if someone commits between them.
    """
    last = DeltaTable.forPath(spark, path).history(1).select("version").first()
    version = int(last["version"]) if last is not None else 0
    return spark.read.format("delta").option("versionAsOf", version).load(path), version


def is_empty(spark: SparkSession, path: str) -> bool:
    """True when no Delta table is at ``path`` or it has no data files (from the log alone)."""
    if not table_exists(spark, path):
        return True
    detail = DeltaTable.forPath(spark, path).detail().select("numFiles").first()
    return detail is None or int(detail["numFiles"]) == 0


def append_once(
    df: DataFrame,
    path: str,
    app_id: str,
    version: int,
    partition_by: list[str] | None = None,
    user_metadata: str | None = None,
    statistics: Sequence[str] = (),
) -> None:
    """Append that Delta skips if (app_id, version) already committed: retries never duplicate.

    ``statistics``: the columns a table this append creates keeps file statistics on.
    """
    writer = with_statistics(
        df.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", version),
        statistics,
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if user_metadata is not None:  # recorded in the commit, found again in the history
        writer = writer.option("userMetadata", user_metadata)
    writer.save(path)


def observe(df: DataFrame, metrics: list[Column]) -> tuple[DataFrame, Observation]:
    """``df`` with aggregate ``metrics`` computed as a side effect of whichever action runs it.

    Read them with :func:`observed` once the action has returned.
    """
    observation = Observation(f"cems-{uuid.uuid4().hex}")
    return df.observe(observation, *metrics), observation


def observed(observation: Observation) -> dict[str, Any] | None:
    """The metrics of an observed action, or None when the action never ran its query.

    That happens when Delta skips an :func:`append_once` whose ``(app_id, version)`` had
    already committed; waiting on the observation would then block forever.
    """
    handle = getattr(observation, "_jo", None)
    if handle is not None:  # classic Spark fulfils it before the action returns
        return dict(observation.get) if handle.future().isCompleted() else None
    result = getattr(observation, "_result", None)  # Spark Connect: arrives with the response
    return dict(result) if result is not None else None


def merge_by_key(spark: SparkSession, df: DataFrame, path: str, keys: list[str]) -> None:
    """Upsert on the business key: rows change only when their content changed."""
    if not table_exists(spark, path):
        df.limit(0).write.format("delta").mode("append").save(path)
    target = DeltaTable.forPath(spark, path)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    changed = " OR ".join(
        f"NOT (t.`{c}` <=> s.`{c}`)" for c in df.columns if c not in keys and not c.startswith("_")
    )
    (
        target.alias("t")
        .merge(df.alias("s"), condition)
        .whenMatchedUpdateAll(condition=changed or None)
        .whenNotMatchedInsertAll()
        .execute()
    )
