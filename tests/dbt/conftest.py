"""One small landed lakehouse per test session, shared by every dbt test.

A generated operator (300 customers, 10 days, 2 days of per-minute KPIs) is landed into
bronze and silver by the real pipeline; the dbt tests build marts over that silver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import deltalake
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from data_contracts.settings import Settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import generate
from spark_jobs.marts import BuildResult, build
from spark_jobs.pipeline import land
from spark_jobs.session import get_spark

SOURCES = ["crm", "billing", "telemetry", "interactions"]


@pytest.fixture(scope="session")
def dbt_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The process's SparkSession (shared with tests/spark_jobs when in the same worker)."""
    home = tmp_path_factory.mktemp("dbt-spark-home")
    session = get_spark(
        "cems-dbt-tests", Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def landed_lakehouse(tmp_path_factory: pytest.TempPathFactory, dbt_spark: SparkSession) -> Settings:
    """Settings of a CEMS_HOME whose silver holds a small landed operator."""
    home = tmp_path_factory.mktemp("dbt-lakehouse")
    settings = Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    generate(GeneratorConfig(customers=300, days=10, seed=5, kpi_days=2), settings)
    land(SOURCES, settings, dbt_spark)
    return settings


@dataclass(frozen=True)
class GoldSnapshot:
    result: BuildResult
    tables: dict[str, pa.Table]


def read_gold(paths: dict[str, str]) -> dict[str, pa.Table]:
    return {name: deltalake.DeltaTable(path).to_pyarrow_table() for name, path in paths.items()}


@pytest.fixture(scope="session")
def duckdb_gold(landed_lakehouse: Settings) -> GoldSnapshot:
    """A full ``dbt build`` on the duckdb target, and the gold tables it published."""
    result = build("duckdb", landed_lakehouse)
    return GoldSnapshot(result, read_gold(result.gold_paths))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the marks into groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the landed lakehouse share one xdist worker (--dist loadgroup): built once."""
    for item in items:
        if "landed_lakehouse" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("dbt-lakehouse"))
