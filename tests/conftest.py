"""Shared fixtures: an isolated CEMS_HOME per test, and small generated operators per session."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from data_contracts.settings import Settings, get_settings
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult, generate

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist sends the ids to its scheduler
def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse a suite in which two tests share a node id.

    pytest-xdist schedules `--dist loadgroup` by node id: of tests with the same id it runs
    one and drops the rest without a word (pytest 9.2 gave every schemathesis case of
    tests/api/test_openapi_fuzz.py the same id, so 30 of its 31 operations never ran).
    """
    counts = Counter(item.nodeid for item in session.items)
    shared = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    if shared:
        raise pytest.UsageError(
            f"{len(shared)} node ids are shared by several tests, so pytest-xdist would run "
            f"only one of each: {', '.join(shared[:3])}"
        )


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


def synthetic_churn_features(
    customers: int = 3000, as_of_count: int = 6, seed: int = 0, strength: float = 1.0
) -> Any:
    """A frame shaped like gold ``fct_churn_features`` with planted churn causes.

    Weekly as_of dates; the last four weeks' labels are incomplete, as in the mart. Churn
    log-odds rise with a month-to-month contract, tickets unresolved over 48 hours, failed
    payments, a recent price rise and short tenure, and fall with a bundle; ``strength``
    scales every effect (0: labels are pure noise).
    """
    import numpy as np
    import pandas as pd

    from ml.synthetic import planted_churn_logit

    rng = np.random.default_rng(seed)
    ids = [f"C{n:08d}" for n in range(1, customers + 1)]
    segment = rng.choice(["consumer", "sme", "enterprise"], customers, p=[0.8, 0.15, 0.05])
    region = rng.choice(["north", "south", "east", "west", "central"], customers)
    signup_age = rng.integers(10, 2000, customers)
    m2m = rng.random(customers) < 0.45
    last = date(2026, 3, 1)
    frames = []
    for step in range(as_of_count):
        as_of = last - timedelta(days=7 * (as_of_count - 1 - step))
        tenure = signup_age + 7 * step
        unresolved = rng.poisson(0.08, customers)
        failed = rng.poisson(0.05, customers)
        price_rise = rng.random(customers) < 0.12
        products = rng.integers(1, 4, customers)
        logit = planted_churn_logit(m2m, unresolved, failed, price_rise, tenure, products, strength)
        churned = rng.random(customers) < 1 / (1 + np.exp(-logit))
        frames.append(
            pd.DataFrame(
                {
                    "churn_feature_id": [f"{c}|{as_of}" for c in ids],
                    "customer_id": ids,
                    "as_of_date": as_of,
                    "customer_type": segment,
                    "region": region,
                    "urbanicity": rng.choice(["urban", "suburban", "rural"], customers),
                    "tenure_days": tenure,
                    "active_subscription_count": products,
                    "has_mobile": True,
                    "has_broadband": products >= 2,
                    "has_tv": products >= 3,
                    "has_month_to_month_contract": m2m,
                    "days_to_nearest_contract_end": np.where(
                        m2m, np.nan, rng.integers(0, 700, customers)
                    ),
                    "had_price_rise_in_window": price_rise,
                    "monthly_value": np.round(rng.gamma(4, 12, customers), 2),
                    "data_gb_in_window": rng.gamma(2, 5, customers),
                    "voice_minutes_in_window": rng.gamma(2, 80, customers),
                    "tickets_opened_in_window": unresolved + rng.poisson(0.1, customers),
                    "tickets_unresolved_over_48h_at_as_of": unresolved,
                    "failed_payments_in_window": failed,
                    "home_cell_availability_pct": 100 - rng.gamma(1, 0.5, customers),
                    "is_churned_in_label_window": churned,
                    "is_label_window_complete": step < as_of_count - 4,
                    "label_window_days": 30,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def publish_churn_features(settings: Settings, frame: Any) -> str:
    """Write ``frame`` where dbt publishes ``fct_churn_features`` (replacing it)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from ml.features import features_path

    path = features_path(settings)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_deltalake(path, table, mode="overwrite", schema_mode="overwrite")
    return path


@pytest.fixture(scope="session")
def churn_features() -> Any:
    """The builder of synthetic ``fct_churn_features`` frames (see the function)."""
    return synthetic_churn_features


@pytest.fixture(scope="session")
def publish_features() -> Any:
    """Writes a frame to gold ``fct_churn_features`` of a settings' lakehouse."""
    return publish_churn_features
