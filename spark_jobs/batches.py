"""The landing transaction every source shares: plan, bronze, check, quarantine, silver.

A batch is a fixed set of input files (or an incremental CRM read) with a number. Its plan
is recorded before any data moves; every write is keyed by ``(table, batch number)`` with
Delta's ``txnAppId``/``txnVersion``, so a re-run after a crash repeats only what did not
commit and a re-run after success changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from data_contracts.loader import Contract
from spark_jobs.lake import (
    BRONZE_STATISTICS,
    QUARANTINE_STATISTICS,
    Lake,
    append_once,
    as_of_now,
    is_empty,
    merge_by_key,
    observe,
    observed,
    silver_statistics,
    table_exists,
)
from spark_jobs.validate import (
    HELD,
    VALID,
    VIOLATIONS,
    check_contract,
    check_references,
    deduplicate,
    invalid_rows,
    own_violation,
    raw_payload,
    valid_rows,
)

PLAN_SCHEMA = T.StructType(
    [
        T.StructField("contract", T.StringType(), False),
        T.StructField("batch_id", T.LongType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("input", T.StringType(), True),
        T.StructField("recorded_at", T.TimestampType(), False),
    ]
)


class ErrorBudgetError(RuntimeError):
    """A batch broke more rows than its contract allows; nothing reached silver."""


@dataclass
class Reconciliation:
    """What happened to every received row of one batch."""

    contract: str
    batch_id: int
    inputs: int
    received: int = 0
    silver: int = 0
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.received == self.silver + self.quarantined_total + self.duplicates

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quarantined_total"] = self.quarantined_total
        data["balanced"] = self.balanced
        return data


@dataclass(frozen=True)
class Batch:
    batch_id: int
    inputs: list[str]
    resumed: bool


def plan_batch(
    spark: SparkSession, lake: Lake, contract: Contract, candidates: list[str]
) -> Batch | None:
    """The batch to run: an unfinished one (same inputs), or a new one over unseen inputs."""
    history: list[Any] = []
    if table_exists(spark, lake.landed_files):
        history = (
            spark.read.format("delta")
            .load(lake.landed_files)
            .filter(F.col("contract") == contract.name)
            .collect()
        )
    completed = {r.batch_id for r in history if r.status == "completed"}
    planned: dict[int, list[str]] = {}
    for r in history:
        if r.status == "planned" and r.input is not None:
            planned.setdefault(r.batch_id, []).append(r.input)
    unfinished = sorted(b for b in planned if b not in completed)
    if unfinished:
        return Batch(unfinished[0], sorted(planned[unfinished[0]]), resumed=True)
    seen = {i for inputs in planned.values() for i in inputs}
    new = sorted(c for c in candidates if c not in seen)
    if not new:
        return None
    batch_id = max(planned, default=0) + 1
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(contract.name, batch_id, "planned", i, now) for i in new]
    append_once(
        spark.createDataFrame(rows, PLAN_SCHEMA).coalesce(1),  # one file, not one per core
        lake.landed_files,
        f"plan/{contract.name}",
        batch_id,
    )
    return Batch(batch_id, new, resumed=False)


def complete_batch(spark: SparkSession, lake: Lake, contract: Contract, batch_id: int) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    row = spark.createDataFrame([(contract.name, batch_id, "completed", None, now)], PLAN_SCHEMA)
    append_once(row.coalesce(1), lake.landed_files, f"done/{contract.name}", batch_id)


def quarantine_rows(invalid: DataFrame, contract: Contract) -> DataFrame:
    """The quarantine table's shape: source, batch, rule broken, raw payload."""
    return invalid.select(
        F.lit(contract.name).alias("contract"),
        F.col("_source_file").alias("source_file"),
        F.col("_batch_id").alias("batch_id"),
        F.col(VIOLATIONS)[0].alias("reason"),
        F.col(VIOLATIONS).alias("reasons"),
        raw_payload(invalid).alias("raw_payload"),
        F.col("_ingested_at").alias("ingested_at"),
    )


def land(
    spark: SparkSession,
    lake: Lake,
    contract: Contract,
    batch: Batch,
    received: DataFrame,
    references: dict[str, DataFrame] | None = None,
    order_by: list[str] | None = None,
    write_silver: Callable[[DataFrame], int] | None = None,
) -> Reconciliation:
    """Bronze -> contract checks -> quarantine -> dedupe -> silver for one planned batch.

    ``received`` holds the rows as delivered plus the ingest columns. ``write_silver``
    replaces the default MERGE (e.g. SCD2); it returns the rows it wrote. Every valid row
    not written is a duplicate: of another row in the batch, or of what silver holds.

    The input is read once, into bronze; the checks then read the batch back from bronze,
    so what reaches quarantine and silver is exactly what bronze recorded (one ingest time,
    one read of the source system). Bronze is scanned twice more: once for quarantine, with
    the batch's counts observed in the same pass, and once for silver.
    """
    report = Reconciliation(contract.name, batch.batch_id, len(batch.inputs))
    append_once(
        received,
        lake.bronze(contract),
        f"bronze/{contract.name}",
        batch.batch_id,
        statistics=BRONZE_STATISTICS,
    )
    staged = bronze_batch(spark, lake, contract, batch.batch_id).select(*received.columns)
    checked = check_references(check_contract(staged, contract), contract, references or {})

    watched, observation = observe(checked, _batch_counts())
    append_once(
        quarantine_rows(invalid_rows(watched, contract), contract),
        lake.quarantine,
        f"quarantine/{contract.name}",
        batch.batch_id,
        partition_by=["contract"],
        statistics=QUARANTINE_STATISTICS,
    )
    totals = observed(observation)
    if totals is None:  # a crashed run committed this batch's quarantine: count on their own
        counted = checked.agg(*_batch_counts()).first()
        assert counted is not None  # a global aggregate always has its one row
        totals = counted.asDict()
    report.received, valid_count = int(totals["received"]), int(totals["valid"])
    counts = (
        quarantined_batch(spark, lake, contract, batch.batch_id)
        .groupBy("reason", own_violation(F.col("reasons")).alias("own"))
        .count()
        .collect()
    )
    report.quarantined = {}
    for r in counts:
        report.quarantined[r["reason"]] = report.quarantined.get(r["reason"], 0) + int(r["count"])
    # Children held back because their parent is in quarantine are not this batch's fault.
    broken = sum(int(r["count"]) for r in counts if r["own"])
    share = 100.0 * broken / max(report.received, 1)
    if share > contract.error_budget_pct:
        summary = ", ".join(f"{reason}: {n}" for reason, n in sorted(report.quarantined.items()))
        raise ErrorBudgetError(
            f"{contract.name} batch {batch.batch_id}: {broken} of "
            f"{report.received} rows ({share:.2f} %) broke the contract, over its error "
            f"budget of {contract.error_budget_pct} %; "
            f"they are in quarantine ({summary}); silver was not changed."
        )
    unique = deduplicate(valid_rows(checked), contract.primary_key, order_by or ["_source_file"])
    if write_silver is None:
        report.silver = _merge_silver(spark, lake, contract, batch.batch_id, unique)
    else:
        report.silver = write_silver(unique)
    report.duplicates = valid_count - report.silver
    complete_batch(spark, lake, contract, batch.batch_id)
    return report


def bronze_batch(
    spark: SparkSession,
    lake: Lake,
    contract: Contract,
    batch_id: int,
    ingested_at: datetime | None = None,
) -> DataFrame:
    """The rows bronze recorded for one batch; ``ingested_at`` also pins the attempt (a
    stream's new checkpoint numbers its micro-batches from 0 again)."""
    rows = spark.read.format("delta").load(lake.bronze(contract))
    match = F.col("_batch_id") == batch_id
    if ingested_at is not None:
        match &= F.col("_ingested_at") == F.lit(ingested_at)
    return rows.filter(match)


def quarantined_batch(
    spark: SparkSession,
    lake: Lake,
    contract: Contract,
    batch_id: int,
    ingested_at: datetime | None = None,
) -> DataFrame:
    """The quarantine rows of one batch (``ingested_at`` as in :func:`bronze_batch`)."""
    rows = spark.read.format("delta").load(lake.quarantine)
    match = (F.col("contract") == contract.name) & (F.col("batch_id") == batch_id)
    if ingested_at is not None:
        match &= F.col("ingested_at") == F.lit(ingested_at)
    return rows.filter(match)


def _batch_counts() -> list[Column]:
    """Rows checked and rows that passed every check, observed in the quarantine pass."""
    return [
        F.count(F.lit(1)).alias("received"),
        F.count(F.when(F.col(VALID), F.lit(1))).alias("valid"),
    ]


def _merge_silver(
    spark: SparkSession, lake: Lake, contract: Contract, batch_id: int, unique: DataFrame
) -> int:
    """Rows the batch's upsert into silver inserted or changed.

    Into a silver table with no rows yet (a first load), a MERGE could only insert: the
    rows are appended instead, which skips the MERGE's join and its second pass, keyed by
    the batch like every other write. If a crashed run already committed that append,
    Delta skips it and the MERGE finds those rows unchanged rather than counting them twice.
    """
    from delta.tables import DeltaTable

    path = lake.silver(contract)
    data = unique.select(*contract.column_names, "_source_file", "_batch_id", "_ingested_at")
    if is_empty(spark, path):  # also when no table exists: this append creates it
        watched, observation = observe(data, [F.count(F.lit(1)).alias("rows")])
        append_once(
            watched,
            path,
            f"silver/{contract.name}",
            batch_id,
            statistics=silver_statistics(contract),
        )
        appended = observed(observation)
        if appended is not None:
            return int(appended["rows"])
    merge_by_key(spark, data, path, contract.primary_key)
    last = DeltaTable.forPath(spark, path).history(1).collect()[0]
    metrics = last.operationMetrics or {}
    if last.operation != "MERGE":
        return 0
    return int(metrics.get("numTargetRowsInserted", 0)) + int(
        metrics.get("numTargetRowsUpdated", 0)
    )


def ingest_columns(
    df: DataFrame, system: str, batch_id: int, ingested_at: datetime | None = None
) -> DataFrame:
    """Add the ingest metadata every bronze row carries (``_source_file`` must be set).

    ``ingested_at`` (timezone-aware) stamps the rows with a time known before the write;
    by default the query's own current time.
    """
    stamp = F.current_timestamp() if ingested_at is None else F.lit(ingested_at)
    return (
        df.withColumn("_source_system", F.lit(system))
        .withColumn("_batch_id", F.lit(batch_id).cast("long"))
        .withColumn("_ingested_at", stamp)
    )


def parent_contracts(contract: Contract) -> dict[str, Contract]:
    """Each foreign key of ``contract`` (``"<entity>.<column>"``) and the contract it names."""
    from data_contracts.loader import all_contracts

    by_entity = {c.entity: c for c in all_contracts().values()}
    return {
        column.references: by_entity[column.references.split(".")[0]]
        for column in contract.columns
        if column.references
    }


def reference_keys(spark: SparkSession, lake: Lake, contract: Contract) -> dict[str, DataFrame]:
    """Known keys of every table this contract's foreign keys point at (if landed).

    Each frame holds the key column and ``_held``: false for keys in the parent's silver
    table, true for keys that exist only in quarantine (a parent row that broke its own
    contract), so children of a quarantined parent are held back with a reason of their own.

    Each table is read as of its version now: a batch checks its rows twice (the quarantine
    pass, then the silver pass), and a parent landing in between (the nightly CRM batch beside
    a continuous stream) must not give a row a second verdict, quarantined and loaded.
    """
    from data_contracts.schemas import spark_type

    parents = parent_contracts(contract)
    if not parents:
        return {}
    quarantine = (
        as_of_now(spark, lake.quarantine)[0] if table_exists(spark, lake.quarantine) else None
    )
    found: dict[str, DataFrame] = {}
    for reference, parent in parents.items():
        key = reference.split(".")[1]
        path = lake.silver(parent)
        if not table_exists(spark, path):
            continue
        keys = as_of_now(spark, path)[0].select(key).withColumn(HELD, F.lit(False))
        if quarantine is not None:
            key_type = spark_type(next(c for c in parent.columns if c.name == key))
            held = (
                quarantine.filter(F.col("contract") == parent.name)
                .select(F.get_json_object("raw_payload", f"$.{key}").cast(key_type).alias(key))
                .filter(F.col(key).isNotNull())
                .withColumn(HELD, F.lit(True))
            )
            keys = keys.unionByName(held)
        found[reference] = keys
    return found
