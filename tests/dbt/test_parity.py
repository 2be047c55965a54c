"""The duckdb and spark targets build identical marts from the same silver."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
from typing import Any

import pyarrow as pa

from data_contracts.settings import Settings
from spark_jobs.marts import build

from .conftest import GoldSnapshot, read_gold

REL_TOLERANCE = 1e-9


def _normal(value: Any) -> Any:
    """One spelling per value whichever engine wrote it (timestamps in UTC, decimals as floats)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def column_checksum(column: pa.ChunkedArray) -> dict[str, Any]:
    """Non-null count and a sum for numbers, or a hash over the sorted values otherwise."""
    values = [_normal(v) for v in column.to_pylist()]
    present = [v for v in values if v is not None]
    summary: dict[str, Any] = {"non_null": len(present)}
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        summary["sum"] = math.fsum(float(v) for v in present)
    else:
        digest = hashlib.sha256()
        for value in sorted(str(v) for v in present):
            digest.update(value.encode() + b"\x00")
        summary["hash"] = digest.hexdigest()
    return summary


def _differences(name: str, duck: pa.Table, spark: pa.Table) -> list[str]:
    problems: list[str] = []
    if duck.num_rows != spark.num_rows:
        problems.append(f"{name}: {duck.num_rows} rows on duckdb, {spark.num_rows} on spark")
    if duck.column_names != spark.column_names:
        return [*problems, f"{name}: columns {duck.column_names} != {spark.column_names}"]
    for column in duck.column_names:
        left, right = column_checksum(duck[column]), column_checksum(spark[column])
        if "sum" in left and "sum" in right:
            close = math.isclose(left["sum"], right["sum"], rel_tol=REL_TOLERANCE, abs_tol=1e-6)
            if left["non_null"] != right["non_null"] or not close:
                problems.append(f"{name}.{column}: {left} != {right}")
        elif left != right:
            problems.append(f"{name}.{column}: {left} != {right}")
    return problems


def test_duckdb_and_spark_build_identical_marts(
    duckdb_gold: GoldSnapshot, landed_lakehouse: Settings
) -> None:
    # Unit tests run on both targets; the data tests already ran on duckdb (the same SQL).
    result = build("spark", landed_lakehouse, select="resource_type:model resource_type:unit_test")
    assert result.target == "spark"
    assert result.tests_failed == 0 and result.unit_tests_passed == 8
    assert result.models == duckdb_gold.result.models
    spark_tables = read_gold(result.gold_paths)
    problems = [
        problem
        for name, duck in duckdb_gold.tables.items()
        for problem in _differences(name, duck, spark_tables[name])
    ]
    assert not problems, "\n".join(problems)
    print(
        f"\nduckdb {duckdb_gold.result.elapsed_seconds:.1f}s (with data tests), "
        f"spark {result.elapsed_seconds:.1f}s (models and unit tests)"
    )
