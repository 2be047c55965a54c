"""One SparkSession per test process (Spark's testing guide); each test gets its own lakehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from data_contracts.settings import Settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult, generate
from spark_jobs.lake import Lake
from spark_jobs.session import get_spark


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    home = tmp_path_factory.mktemp("spark-home")
    session = get_spark(
        "cems-tests", Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def landed_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerateResult]:
    """A small generated operator (300 customers, 6 days) whose files tests land."""
    home = tmp_path_factory.mktemp("landing-source")
    settings = Settings(home=home)
    return settings, generate(GeneratorConfig(customers=300, days=6, seed=5, kpi_days=1), settings)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """An empty lakehouse for one test."""
    return Lake(str(tmp_path / "lakehouse"))
