"""Shared fixtures: an isolated CEMS_HOME per test, and small generated operators per session."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_contracts.settings import Settings, get_settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult, generate

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def cems_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh CEMS_HOME for one test; settings are re-read from it."""
    home = tmp_path / "cems-home"
    monkeypatch.setenv("CEMS_HOME", str(home))
    for var in [
        v
        for v in os.environ
        if v.startswith("CEMS_") and v not in {"CEMS_HOME", "CEMS_TEST_POSTGRES_URL"}
    ]:
        monkeypatch.delenv(var)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _generate(root: Path, config: GeneratorConfig) -> tuple[Settings, GenerateResult]:
    settings = Settings(home=root)
    return settings, generate(config, settings)


@pytest.fixture(scope="session")
def small_operator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerateResult]:
    """1,500 customers over 21 days: enough of every record kind to inspect."""
    return _generate(
        tmp_path_factory.mktemp("small"), GeneratorConfig(customers=1500, days=21, seed=11)
    )


@pytest.fixture(scope="session")
def churn_operator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerateResult]:
    """5,000 customers over 75 days: enough churners to compare with stayers."""
    return _generate(
        tmp_path_factory.mktemp("churn"),
        GeneratorConfig(customers=5000, days=75, seed=3, kpi_days=30),
    )


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, sa.Engine, str]]:
    """A private schema in the test PostgreSQL: (URL whose search_path is it, admin engine, name).

    CI must provide ``CEMS_TEST_POSTGRES_URL`` (``.ci/run`` starts a server); elsewhere the
    test is skipped with that reason.
    """
    url = os.environ.get("CEMS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide CEMS_TEST_POSTGRES_URL (.ci/run starts PostgreSQL)")
        pytest.skip("CEMS_TEST_POSTGRES_URL is not set; .ci/run provides a PostgreSQL")
    schema = f"cems_test_{os.getpid()}_{next(_schema_numbers)}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"create schema {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", admin, schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop schema {schema} cascade"))
        admin.dispose()


_schema_numbers = itertools.count()
