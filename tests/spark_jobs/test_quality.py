"""Quality of silver: the contract's generated GE suite run on Spark, recorded once, with docs."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from data_contracts.loader import Contract, all_contracts, get_contract
from data_contracts.schemas import expectation_suite, spark_schema_json
from data_contracts.settings import Settings
from spark_jobs.lake import Lake
from spark_jobs.quality import (
    QualityError,
    build_suite,
    validate_all,
    validate_silver,
    without_personal_values,
)

CELLS = get_contract("network.cells")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", spark_master="local[2]")


def _cell(cell_id: str, **changes: Any) -> dict[str, Any]:
    row = {
        "cell_id": cell_id,
        "site_id": "SITE00001",
        "region": "metro",
        "urbanicity": "urban",
        "latitude": 51.5,
        "longitude": -0.12,
        "technology": "5g",
        "is_edge_site": False,
        "commissioned_date": date(2021, 3, 1),
    }
    return {**row, **changes}


def _write_silver(
    spark: SparkSession,
    lake: Lake,
    contract: Contract,
    rows: list[dict[str, Any]],
    current: list[bool] | None = None,
) -> None:
    """Silver as landing writes it: contract columns plus lineage (and SCD2 columns if given)."""
    fields = T.StructType.fromJson(spark_schema_json(contract)).fields
    # Nullable, so a test can plant the nulls the suite has to catch.
    schema = T.StructType([T.StructField(f.name, f.dataType, True, f.metadata) for f in fields])
    flags = current or [True] * len(rows)
    schema = schema.add("is_current", T.BooleanType())
    data = [
        (*(row[n] for n in contract.column_names), flag)
        for row, flag in zip(rows, flags, strict=True)
    ]
    df = (
        spark.createDataFrame(data, schema)
        .withColumn("_source_file", F.lit("landing/network/cells/cells_2024-05-01.csv"))
        .withColumn("_batch_id", F.lit(4).cast("long"))
        .withColumn("_ingested_at", F.lit(datetime(2024, 5, 1, 6, 0)))
    )
    if current is None:
        df = df.drop("is_current")
    else:
        df = df.withColumn("valid_from", F.lit(datetime(2024, 4, 1))).withColumn(
            "valid_to", F.when(~F.col("is_current"), F.lit(datetime(2024, 5, 1)))
        )
    df.write.format("delta").save(lake.silver(contract))


def _results(spark: SparkSession, lake: Lake) -> list[Any]:
    return spark.read.format("delta").load(lake.quality_results).collect()


def test_every_generated_expectation_becomes_a_great_expectations_object() -> None:
    for contract in all_contracts().values():
        generated = [e["type"] for e in expectation_suite(contract)["expectations"]]
        suite = build_suite(contract)
        assert [e.expectation_type for e in suite.expectations] == generated, contract.name
        assert suite.name == contract.name


def test_row_values_of_personal_columns_never_reach_results() -> None:
    customers = get_contract("crm.customers")
    result = {"unexpected_count": 1, "partial_unexpected_list": ["ann@example.com"]}
    assert without_personal_values(customers, ["email"], result) == {
        "unexpected_count": 1,
        "partial_unexpected_list": [],
    }
    assert without_personal_values(customers, ["region"], result) == result


def test_validating_a_contract_without_silver_says_so(
    spark: SparkSession, lake: Lake, settings: Settings
) -> None:
    with pytest.raises(QualityError, match=r"network\.cells has no silver table"):
        validate_silver(spark, lake, CELLS, settings)
    assert validate_all(spark, lake, settings) == []


def test_silver_that_keeps_its_contract_passes_and_is_recorded_once(
    spark: SparkSession, lake: Lake, settings: Settings
) -> None:
    # SCD2-shaped: the closed version of CELL000001 breaks the enum and repeats the key,
    # but only current rows are held to the contract.
    rows = [_cell("CELL000001", region="atlantis"), _cell("CELL000001"), _cell("CELL000002")]
    _write_silver(spark, lake, CELLS, rows, current=[False, True, True])

    (result,) = validate_all(spark, lake, settings)

    expected = len(expectation_suite(CELLS)["expectations"])
    assert result.contract == "network.cells"
    assert result.success, result.failed
    assert result.statistics == {
        "evaluated_expectations": expected,
        "successful_expectations": expected,
        "unsuccessful_expectations": 0,
    }
    assert (result.rows, result.batch_id, result.run_id) == (2, 4, "silver-v0")

    recorded = _results(spark, lake)
    assert len(recorded) == expected
    assert all(r.success and r.contract == "network.cells" for r in recorded)
    assert {r.run_id for r in recorded} == {"silver-v0"}
    assert {r.batch_id for r in recorded} == {4}
    schema_row = next(r for r in recorded if r.expectation_type.startswith("expect_table"))
    # Lineage and SCD2 columns are not part of the contract's column set.
    assert set(json.loads(schema_row.observed_value)) == set(CELLS.column_names)

    index = settings.home / "quality" / "data_docs" / "index.html"
    assert result.data_docs == index
    assert index.is_file()
    assert "silver-v0" in index.read_text(encoding="utf-8")

    # The same silver state again (a retry, or a run that landed nothing new): the stored
    # outcome answers, nothing is validated or written twice.
    again = validate_silver(spark, lake, CELLS, settings, run_id="silver-v0")
    assert again.success
    assert (again.rows, again.batch_id, again.evaluated) == (2, 4, expected)
    assert abs((again.validated_at - result.validated_at).total_seconds()) < 1
    assert len(_results(spark, lake)) == expected
    pages = list((index.parent / "validations" / "network" / "cells" / "silver-v0").rglob("*.html"))
    assert len(pages) == 1


def test_enum_null_and_duplicate_key_violations_fail_the_named_expectations(
    spark: SparkSession, lake: Lake, settings: Settings
) -> None:
    rows = [
        _cell("CELL000001"),
        _cell("CELL000001", site_id="SITE00002"),
        _cell("CELL000002", region="atlantis"),
        _cell("CELL000003", urbanicity=None),
    ]
    _write_silver(spark, lake, CELLS, rows)

    result = validate_silver(spark, lake, CELLS, settings, run_id="manual-1")

    assert not result.success
    failed = {(o.expectation_type, o.column): o for o in result.failed}
    assert set(failed) == {
        ("expect_column_values_to_be_in_set", "region"),
        ("expect_column_values_to_not_be_null", "urbanicity"),
        ("expect_column_values_to_be_unique", "cell_id"),
    }
    assert {o.contract_rule for o in result.failed} == {"enum", "required", "primary_key"}
    region = failed[("expect_column_values_to_be_in_set", "region")].observed_value
    assert region["unexpected_count"] == 1
    assert region["partial_unexpected_list"] == ["atlantis"]
    assert (
        failed[("expect_column_values_to_be_unique", "cell_id")].observed_value["unexpected_count"]
        == 2
    )
    assert result.unsuccessful == 3
    assert result.evaluated == result.successful + 3

    recorded = [r for r in _results(spark, lake) if not r.success]
    assert {(r.expectation_type, r.column, r.run_id) for r in recorded} == {
        (kind, column, "manual-1") for kind, column in failed
    }
    by_column = {r.column: json.loads(r.observed_value) for r in recorded}
    assert by_column["region"]["partial_unexpected_list"] == ["atlantis"]
