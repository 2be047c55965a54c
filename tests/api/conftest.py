"""API fixtures: one published serving store per worker, an app per test with a frozen clock.

The serving store is published from a shared, really landed and dbt-built lakehouse
(tests/support/gold_lakehouse.py). Each test gets a fresh app whose clock it can move, and
creates the accounts it needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import deltalake
import pytest
from api_client import Api, serial
from fastapi.testclient import TestClient
from gold_lakehouse import shared

from api.core.clock import FrozenClock
from api.main import create_app
from api.serving.publish import publish
from data_contracts.settings import Settings


@pytest.fixture(scope="session")
def gold_settings(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Settings:
    """Settings of the shared landed + built + scored lakehouse (read only)."""
    reuse = os.environ.get("CEMS_TEST_SHARED_ROOT")  # iterate locally on one built lakehouse
    if reuse:
        return shared(Path(reuse))
    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    return shared(root / "shared")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, gold_settings: Settings) -> Settings:
    """Settings whose serving database holds one publication of the shared gold marts."""
    home = tmp_path_factory.mktemp("api-home")
    settings = Settings(home=home, lakehouse_root=gold_settings.lakehouse_root)
    publish(settings)
    return settings


@pytest.fixture(scope="session")
def customer_ids(gold_settings: Settings) -> list[str]:
    table = deltalake.DeltaTable(f"{gold_settings.gold_root}/dim_customers").to_pyarrow_table(
        columns=["customer_id"]
    )
    return sorted(table.column("customer_id").to_pylist())


@pytest.fixture
def api(served: Settings) -> Iterator[Api]:
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    app = create_app(served, clock)
    # One source address per test: sign-in throttling counts per address and minute.
    n = next(serial)
    with TestClient(app, client=(f"10.{n // 250 % 250}.{n % 250}.1", 50000)) as client:
        yield Api(client, clock, served)


@pytest.fixture
def fresh_settings(tmp_path: Path, gold_settings: Settings) -> Settings:
    """An empty serving database over the shared lakehouse (publish tests)."""
    return Settings(home=tmp_path / "home", lakehouse_root=gold_settings.lakehouse_root)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the marks into groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every test that reads the shared lakehouse on one xdist worker (--dist loadgroup).

    The other worker goes on with the rest of the suite instead of waiting for the lock
    while the lakehouse is built.
    """
    for item in items:
        if "gold_settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("gold-lakehouse"))
