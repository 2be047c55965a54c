"""Contract checks (spark_jobs/validate.py): what each rejected row is told, and that the
validity test stays inside Spark's generated code."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_contracts.loader import get_contract
from spark_jobs.batches import reference_keys
from spark_jobs.lake import Lake
from spark_jobs.validate import (
    HELD,
    VALID,
    VIOLATIONS,
    WHY_FIRST,
    check_contract,
    check_references,
    flag,
    invalid_rows,
    valid_rows,
)

USAGE = get_contract("billing.usage_daily")
COLUMNS = USAGE.column_names


def _rows(spark: SparkSession, rows: list[dict[str, str]]) -> DataFrame:
    full = [tuple(row.get(c, "0") for c in COLUMNS) for row in rows]
    return spark.createDataFrame(full, ", ".join(f"`{c}` string" for c in COLUMNS))


def test_each_rejected_row_names_every_rule_it_broke_in_order_and_valid_rows_pass_typed(
    spark: SparkSession,
) -> None:
    received = _rows(
        spark,
        [
            {"subscription_id": "S1", "usage_date": "2026-11-01", "data_mb": "12.5"},
            # bad date, negative data, and a line nobody knows: three reasons, in order
            {"subscription_id": "S9", "usage_date": "yesterday", "data_mb": "-1"},
            # only a foreign key problem: its parent sits in quarantine
            {"subscription_id": "S2", "usage_date": "2026-11-01", "data_mb": " "},
            {"subscription_id": "S3", "usage_date": "2026-11-02"},
        ],
    )
    keys = spark.createDataFrame(
        [("S1", False), ("S2", True), ("S3", False)], f"subscription_id string, {HELD} boolean"
    )
    checked = check_references(
        check_contract(received, USAGE), USAGE, {"subscriptions.subscription_id": keys}
    )
    checked = flag(
        checked,
        f"{WHY_FIRST}late",
        F.when(F.col("subscription_id") == "S3", F.lit("arrived after the watermark")),
    )

    rejected = {
        r["subscription_id"]: r[VIOLATIONS]
        for r in invalid_rows(checked, USAGE).select("subscription_id", VIOLATIONS).collect()
    }
    assert rejected == {
        "S9": [
            "usage_date is not a valid date",
            "data_mb is below its minimum 0",
            "subscription_id refers to an unknown subscriptions",
        ],
        "S2": [
            "data_mb is required but missing",
            "subscription_id refers to subscriptions held in quarantine",
        ],
        "S3": ["arrived after the watermark"],
    }
    valid = valid_rows(checked).collect()
    assert [(r["subscription_id"], str(r["usage_date"]), r["data_mb"]) for r in valid] == [
        ("S1", "2026-11-01", 12.5)
    ]
    assert not [c for c in valid_rows(checked).columns if c.startswith("_")]


def test_a_malformed_line_is_its_first_reason(spark: SparkSession) -> None:
    received = _rows(spark, [{"subscription_id": "S1", "usage_date": "2026-11-01"}] * 2)
    received = received.withColumn(
        "_corrupt_record",
        F.when(F.monotonically_increasing_id() == 0, F.lit("S1;;;")),
    )
    reasons = [
        r[VIOLATIONS] for r in invalid_rows(check_contract(received, USAGE), USAGE).collect()
    ]
    assert reasons == [["row is malformed"]]


def test_the_validity_test_runs_in_generated_code_not_row_by_row(spark: SparkSession) -> None:
    """The filter that splits valid from rejected rows must be compiled with the scan (a
    higher-order function such as an array filtered by a lambda would run outside it)."""
    checked = check_contract(_rows(spark, [{"subscription_id": "S1"}]), USAGE)
    plan = valid_rows(checked)._jdf.queryExecution().executedPlan().toString()
    filters = [line for line in plan.splitlines() if "Filter" in line]
    assert filters, plan
    assert all(line.lstrip(" +-:").startswith("*(") for line in filters), plan
    assert "lambdafunction" not in plan
    assert VALID not in valid_rows(checked).columns


def test_a_parent_landing_between_a_batchs_two_passes_does_not_give_a_row_two_verdicts(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The quarantine pass and the silver pass check the same rows against the same parent
    keys: a subscription landing in between (the nightly CRM batch beside a continuous
    stream) must not leave a usage row both quarantined as an orphan and loaded into silver."""
    lake = Lake(str(tmp_path / "lakehouse"))
    parents = lake.silver(get_contract("crm.subscriptions"))
    spark.createDataFrame([("S1",)], "subscription_id string").write.format("delta").save(parents)
    received = _rows(
        spark,
        [
            {"subscription_id": "S1", "usage_date": "2026-11-01"},
            {"subscription_id": "S2", "usage_date": "2026-11-01"},
        ],
    )
    checked = check_references(
        check_contract(received, USAGE), USAGE, reference_keys(spark, lake, USAGE)
    )

    rejected = [r["subscription_id"] for r in invalid_rows(checked, USAGE).collect()]
    # S2's subscription lands while the batch is between its two passes
    spark.createDataFrame([("S2",)], "subscription_id string").write.format("delta").mode(
        "append"
    ).save(parents)
    accepted = [r["subscription_id"] for r in valid_rows(checked).collect()]

    assert (rejected, accepted) == (["S2"], ["S1"])
    # the next batch sees the new parent
    later = check_references(
        check_contract(received, USAGE), USAGE, reference_keys(spark, lake, USAGE)
    )
    assert sorted(r["subscription_id"] for r in valid_rows(later).collect()) == ["S1", "S2"]
