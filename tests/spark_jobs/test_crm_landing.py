"""Incremental CRM landing over JDBC: watermarks, SCD2 history, quarantine, crash recovery."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import deltalake
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from data_contracts.loader import all_contracts, get_contract
from data_contracts.settings import Settings
from data_contracts.source_writers import CrmDatabase
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult, generate
from spark_jobs import crm
from spark_jobs.batches import Reconciliation
from spark_jobs.crm import (
    CrmConnectionError,
    ReadWindow,
    crm_connection,
    extract,
    key_ranges,
    land_crm,
    partition_column,
    partitioning,
    plan_read,
    window_query,
)
from spark_jobs.lake import STATISTICS_PROPERTY, Lake, silver_statistics

# Big enough that a planted record and the children it orphans stay inside the CRM
# contracts' 0.5 % error budget; small enough to generate in seconds.
CONFIG = GeneratorConfig(customers=1000, days=1, seed=5, kpi_days=0)
CRM_CONTRACTS = [c for c in all_contracts().values() if c.source == "crm"]
LANDED = ["crm.plans", "crm.customers", "crm.accounts", "crm.subscriptions"]
T1 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 9, 2, 9, 30, tzinfo=UTC)
W1 = "2026-09-01 08:00:00.000000"
W2 = "2026-09-02 09:30:00.000000"


@dataclass(frozen=True)
class FirstLoad:
    root: Path
    reports: list[Reconciliation]


@pytest.fixture(scope="module")
def crm_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerateResult]:
    home = tmp_path_factory.mktemp("crm-source")
    settings = Settings(home=home, crm_database_url=f"sqlite:///{home / 'sources' / 'crm.db'}")
    return settings, generate(CONFIG, settings)


@pytest.fixture(scope="module")
def first_load(
    spark: SparkSession,
    crm_source: tuple[Settings, GenerateResult],
    tmp_path_factory: pytest.TempPathFactory,
) -> FirstLoad:
    """The generated CRM landed once; tests that go on from there work on copies."""
    settings, _ = crm_source
    root = tmp_path_factory.mktemp("crm-first-load") / "lakehouse"
    return FirstLoad(root, land_crm(spark, Lake(str(root)), settings))


@pytest.fixture
def landed_copy(
    crm_source: tuple[Settings, GenerateResult], first_load: FirstLoad, lake: Lake, tmp_path: Path
) -> Settings:
    """A private copy of the CRM database, and ``lake`` holding its first load."""
    source, _ = crm_source
    database = tmp_path / "crm.db"
    shutil.copy(sa.engine.make_url(source.crm_database_url).database or "", database)
    shutil.copytree(first_load.root, lake.root)
    return Settings(home=tmp_path / "home", crm_database_url=f"sqlite:///{database}")


def _silver(spark: SparkSession, lake: Lake, name: str) -> DataFrame:
    return spark.read.format("delta").load(lake.silver(get_contract(name)))


def _text(column: str) -> Column:
    """A timestamp column as UTC text (collecting would shift it to the local time zone)."""
    return F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSSSSS")


def _versions(spark: SparkSession, lake: Lake, name: str, key: str, value: str) -> list[Any]:
    return (
        _silver(spark, lake, name)
        .filter(F.col(key) == value)
        .select("*", _text("valid_from").alias("from"), _text("valid_to").alias("to"))
        .orderBy("valid_from")
        .collect()
    )


def _assert_one_current_version_per_key(spark: SparkSession, lake: Lake, name: str) -> None:
    key = get_contract(name).primary_key[0]
    silver = _silver(spark, lake, name)
    per_key = silver.groupBy(key).agg(
        F.sum(F.col("is_current").cast("int")).alias("current"),
        F.count("*").alias("versions"),
        F.countDistinct("valid_from").alias("starts"),
    )
    assert per_key.filter("current != 1 OR versions != starts").count() == 0
    closed = silver.filter(~F.col("is_current"))
    assert (
        closed.filter(
            F.col("valid_to").isNull() | (F.col("valid_to") <= F.col("valid_from"))
        ).count()
        == 0
    )


def _current_id(spark: SparkSession, lake: Lake, name: str) -> str:
    key = get_contract(name).primary_key[0]
    silver = _silver(spark, lake, name).filter("is_current")
    if name == "crm.subscriptions":
        silver = silver.filter(F.col("subscription_status") == "active")
    return str(silver.agg(F.min(key)).first()[0])  # type: ignore[index]


def _update(url: str, entity: str, key: str, value: str, **changes: Any) -> None:
    db = CrmDatabase(url, CRM_CONTRACTS)
    table = db.tables[entity]
    try:
        with db.engine.begin() as conn:
            conn.execute(table.update().where(table.c[key] == value).values(**changes))
    finally:
        db.close()


def _insert_customer(url: str, like: str, customer_id: str, at: datetime) -> None:
    db = CrmDatabase(url, CRM_CONTRACTS)
    table = db.tables["customers"]
    try:
        with db.engine.begin() as conn:
            row = dict(
                conn.execute(sa.select(table).where(table.c.customer_id == like)).one()._mapping
            )
            row.update(
                customer_id=customer_id,
                email="new.customer@example.com",
                created_at=at,
                updated_at=at,
            )
            conn.execute(table.insert().values(**row))
    finally:
        db.close()


def _delta_versions(lake: Lake) -> dict[str, int]:
    paths = [lake.silver(get_contract(n)) for n in LANDED] + [
        lake.bronze(get_contract(n)) for n in LANDED
    ]
    paths += [lake.quarantine, lake.watermarks, lake.landed_files, lake.reconciliation]
    return {p: deltalake.DeltaTable(p).version() for p in paths if Path(p).is_dir()}


# ------------------------------------------------------------------ pure parts


def test_crm_urls_become_read_only_jdbc_connections_without_the_password_in_sight() -> None:
    lite = crm_connection("sqlite:////data/cems/crm.db")
    assert (lite.dialect, lite.url, lite.driver) == (
        "sqlite",
        "jdbc:sqlite:/data/cems/crm.db",
        "org.sqlite.JDBC",
    )
    assert lite.properties == {"open_mode": "1"}

    pg = crm_connection(
        "postgresql+psycopg://crm_reader:s3cret@db.example:6543/operator"
        "?options=-csearch_path%3Dcrm&sslmode=require"
    )
    assert pg.url == "jdbc:postgresql://db.example:6543/operator"
    assert pg.driver == "org.postgresql.Driver"
    assert pg.properties == {
        "user": "crm_reader",
        "password": "s3cret",
        "currentSchema": "crm",
        "sslmode": "require",
        "readOnly": "true",
        "readOnlyMode": "always",
    }
    assert "s3cret" not in repr(pg) and "s3cret" not in pg.url

    other = crm_connection(
        "postgresql://u@h/db?options=-c%20search_path%3Da,b%20-c%20statement_timeout%3D5min"
    )
    assert other.properties["currentSchema"] == "a,b"
    assert other.properties["options"] == "-c statement_timeout=5min"
    assert other.url == "jdbc:postgresql://h:5432/db"

    with pytest.raises(CrmConnectionError, match="in-memory"):
        crm_connection("sqlite://")
    with pytest.raises(CrmConnectionError, match="SQLite or PostgreSQL"):
        crm_connection("mysql://u@h/db")


def test_read_windows_round_trip_and_push_their_bounds_down() -> None:
    first = ReadWindow(None, W1)
    assert first.render() == f"updated_at in (-infinity, {W1}]"
    assert ReadWindow.parse(first.render()) == first
    later = ReadWindow(W1, W2)
    assert ReadWindow.parse(later.render()) == later
    with pytest.raises(ValueError, match="YYYY"):
        ReadWindow(None, "2026-09-01'; drop table customers; --")

    plans = get_contract("crm.plans")
    lite = window_query(crm_connection("sqlite:////x/crm.db"), plans, later)
    assert f"where \"updated_at\" > '{W1}' and \"updated_at\" <= '{W2}'" in lite
    assert lite.startswith('(select "plan_id", "plan_name"') and lite.endswith(") crm_rows")
    pg = window_query(crm_connection("postgresql://u@h/db"), plans, first)
    assert pg.endswith(f"where \"updated_at\" <= cast('{W1}+00' as timestamptz)) crm_rows")
    # Every CRM key is text (split by row count, see below); numeric keys split by value.
    assert partition_column(plans) is None
    assert partitioning(None, None, None) == {"numPartitions": "1"}
    assert partitioning("ticket_number", 1, 1_000_000) == {
        "partitionColumn": "ticket_number",
        "lowerBound": "1",
        "upperBound": "1000000",
        "numPartitions": "4",
    }


def test_key_ranges_cover_every_key_once_with_the_missing_keys_in_the_first() -> None:
    assert key_ranges("customer_id", []) == []
    # The database's order is kept (not Python's), a repeated cut collapses, quotes double.
    assert key_ranges("customer_id", ["b", "O'Neil", "O'Neil"]) == [
        '("customer_id" < \'b\' or "customer_id" is null)',
        "(\"customer_id\" >= 'b' and \"customer_id\" < 'O''Neil')",
        "\"customer_id\" >= 'O''Neil'",
    ]


def test_a_large_text_keyed_window_is_read_in_key_ranges_that_miss_and_repeat_no_row(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = get_contract("crm.customers")
    database = tmp_path / "crm.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    columns = ", ".join(f'"{c}" text' for c in contract.column_names)
    keys: list[str | None] = [f"C{i:05d}" for i in range(37)] + ["O'Neil", "c-lower", None]
    with engine.begin() as connection:
        # SQLite lets a text primary key be null: the range read must still return that row.
        connection.exec_driver_sql(
            f'create table customers ({columns}, primary key ("customer_id"))'
        )
        names = ", ".join(f'"{c}"' for c in contract.column_names)
        marks = ", ".join(f":p{i}" for i in range(len(contract.column_names)))
        for n, key in enumerate(keys):
            row = {c: f"v{n}" for c in contract.column_names}
            row["customer_id"], row["updated_at"] = key, f"2026-09-01 08:00:{n:02d}.000000"
            connection.execute(
                sa.text(f"insert into customers ({names}) values ({marks})"),
                {f"p{i}": v for i, v in enumerate(row.values())},
            )
    engine.dispose()
    source = crm_connection(f"sqlite:///{database}")
    window = ReadWindow(None, "2026-09-01 08:00:59.000000")

    def read() -> tuple[int, list[tuple[Any, ...]]]:
        rows = extract(spark, source, contract, window).drop("_source_file")
        return rows.rdd.getNumPartitions(), sorted(
            (tuple(r) for r in rows.collect()), key=lambda r: [str(v) for v in r]
        )

    parts, whole = read()
    assert parts == 1 and len(whole) == len(keys)
    monkeypatch.setattr(crm, "ROWS_PER_READ", 10)  # 40 rows: four ranges
    parts, ranged = read()
    assert parts == crm.MAX_PARTITIONS
    assert ranged == whole  # the null key and the quoted one included, none twice


# ------------------------------------------------------------------ landing


def test_first_load_lands_every_row_and_quarantines_every_planted_crm_record(
    spark: SparkSession, crm_source: tuple[Settings, GenerateResult], first_load: FirstLoad
) -> None:
    settings, result = crm_source
    lake = Lake(str(first_load.root))
    reports = first_load.reports
    # customer_attributes is empty in generated data: nothing to read, no batch.
    assert [r.contract for r in reports] == LANDED
    for report in reports:
        assert report.balanced, report
        assert report.batch_id == 1
        assert report.received == result.row_counts[report.contract]

    planted = [
        p
        for p in pacsv.read_csv(
            settings.generated_path / "ground_truth" / "planted_bad_records.csv"
        ).to_pylist()
        if p["entity"].startswith("crm.")
    ]
    assert {p["entity"] for p in planted} == {"crm.customers", "crm.accounts", "crm.subscriptions"}
    quarantine = spark.read.format("delta").load(lake.quarantine).collect()
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in quarantine:
        contract = get_contract(row.contract)
        payload = json.loads(row.raw_payload)
        key = "|".join(str(payload[k]) for k in contract.primary_key)
        reasons[(row.contract, key)] = list(row.reasons)
        assert row.source_file == f"jdbc:{row.contract}"
    for p in planted:
        column = p["rule"].split("=")[0]
        expected = (
            f"{column} does not match its pattern"
            if p["kind"] == "schema_violation"
            else f"{column} refers to an unknown"
        )
        found = reasons.get((p["entity"], p["record_key"]), [])
        assert any(r.startswith(expected) for r in found), (p, found)

    customers = _silver(spark, lake, "crm.customers")
    by_name = {r.contract: r for r in reports}
    assert customers.count() == by_name["crm.customers"].silver
    assert (
        customers.filter("is_current AND valid_to IS NULL AND valid_from = updated_at").count()
        == customers.count()
    )
    assert dict(customers.dtypes)["signup_date"] == "date"
    assert dict(customers.dtypes)["has_marketing_consent"] == "boolean"
    plans = _silver(spark, lake, "crm.plans")
    assert dict(plans.dtypes)["monthly_price"] == "decimal(12,2)"
    assert "is_current" not in plans.columns

    marks = {r.contract: r for r in spark.read.format("delta").load(lake.watermarks).collect()}
    engine = sa.create_engine(settings.crm_database_url)
    with engine.connect() as conn:
        for report in reports:
            newest = conn.exec_driver_sql(
                f"select max(updated_at) from {get_contract(report.contract).entity}"
            ).scalar_one()
            assert marks[report.contract].watermark == newest
            assert marks[report.contract].rows == report.received
    engine.dispose()


def test_rerun_without_crm_changes_changes_nothing(
    spark: SparkSession, landed_copy: Settings, lake: Lake
) -> None:
    before = _delta_versions(lake)
    rows = {n: _silver(spark, lake, n).count() for n in LANDED}
    assert land_crm(spark, lake, landed_copy) == []
    assert _delta_versions(lake) == before
    assert {n: _silver(spark, lake, n).count() for n in LANDED} == rows


def test_changed_rows_are_read_once_and_customers_and_subscriptions_keep_history(
    spark: SparkSession, landed_copy: Settings, lake: Lake
) -> None:
    url = landed_copy.crm_database_url
    customer = _current_id(spark, lake, "crm.customers")
    subscription = _current_id(spark, lake, "crm.subscriptions")
    _update(url, "customers", "customer_id", customer, city="Newtown", updated_at=T1)
    _update(
        url,
        "subscriptions",
        "subscription_id",
        subscription,
        subscription_status="terminated",
        end_date=T1.date(),
        termination_reason="price",
        updated_at=T1,
    )
    _insert_customer(url, like=customer, customer_id="C09999999", at=T2)

    reports = {r.contract: r for r in land_crm(spark, lake, landed_copy)}
    assert set(reports) == {"crm.customers", "crm.subscriptions"}
    assert (reports["crm.customers"].received, reports["crm.customers"].silver) == (2, 2)
    assert (reports["crm.subscriptions"].received, reports["crm.subscriptions"].silver) == (1, 1)
    assert all(r.balanced and r.batch_id == 2 for r in reports.values())

    old, new = _versions(spark, lake, "crm.customers", "customer_id", customer)
    assert (old.is_current, old.to) == (False, W1)
    assert (new.is_current, new.to, new["from"], new.city) == (True, None, W1, "Newtown")
    assert old.city != "Newtown" and old.email == new.email
    [added] = _versions(spark, lake, "crm.customers", "customer_id", "C09999999")
    assert (added.is_current, added["from"]) == (True, W2)
    ended, ending = _versions(spark, lake, "crm.subscriptions", "subscription_id", subscription)
    assert (ended.subscription_status, ended.is_current, ended.to) == ("active", False, W1)
    assert (ending.subscription_status, ending.termination_reason) == ("terminated", "price")
    for name in ("crm.customers", "crm.subscriptions"):
        _assert_one_current_version_per_key(spark, lake, name)
        configuration = deltalake.DeltaTable(lake.silver(get_contract(name))).metadata()
        assert configuration.configuration[STATISTICS_PROPERTY] == ",".join(
            silver_statistics(get_contract(name))
        )
    marks = spark.read.format("delta").load(lake.watermarks).filter("batch_id = 2").collect()
    assert {r.contract: r.watermark for r in marks} == {
        "crm.customers": W2,
        "crm.subscriptions": W1,
    }


def test_a_crashed_batch_reruns_with_its_planned_bounds_and_writes_no_version_twice(
    spark: SparkSession, landed_copy: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = landed_copy.crm_database_url
    contract = get_contract("crm.customers")
    first, second = (
        _silver(spark, lake, "crm.customers")
        .filter("is_current")
        .orderBy("customer_id")
        .limit(2)
        .select("customer_id")
        .collect()
    )
    _update(url, "customers", "customer_id", first.customer_id, city="Planned", updated_at=T1)
    planned = plan_read(spark, lake, crm_connection(url), contract)
    assert planned is not None
    batch, window = planned
    assert (batch.batch_id, batch.resumed, window.until) == (2, False, W1)
    # The CRM moves on after planning: this change belongs to the next batch.
    _update(url, "customers", "customer_id", second.customer_id, city="Later", updated_at=T2)

    real = crm.write_scd2

    def write_then_die(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        monkeypatch.setattr(crm, "write_scd2", real)
        raise RuntimeError("killed after the silver MERGE committed")

    monkeypatch.setattr(crm, "write_scd2", write_then_die)
    with pytest.raises(RuntimeError, match="killed"):
        land_crm(spark, lake, landed_copy)
    monkeypatch.undo()

    reports = [r for r in land_crm(spark, lake, landed_copy) if r.contract == contract.name]
    resumed, following = reports
    # Same bounds as planned: only the first change; its version was already in silver.
    assert (resumed.batch_id, resumed.received, resumed.silver, resumed.duplicates) == (2, 1, 0, 1)
    assert (following.batch_id, following.received, following.silver) == (3, 1, 1)
    assert resumed.balanced and following.balanced
    _assert_one_current_version_per_key(spark, lake, contract.name)
    for customer, city, at in ((first, "Planned", W1), (second, "Later", W2)):
        old, new = _versions(spark, lake, contract.name, "customer_id", customer.customer_id)
        assert (old.to, new["from"], new.city, new.is_current) == (at, at, city, True)
    bronze = spark.read.format("delta").load(lake.bronze(contract))
    assert bronze.filter("_batch_id = 2").count() == 1
    marks = (
        spark.read.format("delta")
        .load(lake.watermarks)
        .filter(F.col("contract") == contract.name)
        .orderBy("batch_id")
        .collect()
    )
    assert [(r.batch_id, r.watermark) for r in marks][1:] == [(2, W1), (3, W2)]
    assert land_crm(spark, lake, landed_copy) == []


@pytest.mark.postgres
def test_crm_in_postgresql_lands_incrementally(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_schema: tuple[str, sa.Engine, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm_url, _, _ = postgres_schema
    spark: SparkSession = request.getfixturevalue("spark")  # only once there is a database
    # Customers, accounts and subscriptions are then read in key ranges that PostgreSQL
    # cuts and compares in its own collation; the reconciliations must still be whole.
    monkeypatch.setattr(crm, "ROWS_PER_READ", 300)
    settings = Settings(home=tmp_path / "home", crm_database_url=crm_url)
    result = generate(CONFIG, settings)
    lake = Lake(str(tmp_path / "lakehouse"))
    reports = land_crm(spark, lake, settings)
    assert [r.contract for r in reports] == LANDED
    for report in reports:
        assert report.balanced and report.received == result.row_counts[report.contract]
    ranged = deltalake.DeltaTable(lake.bronze(get_contract("crm.customers"))).file_uris()
    assert len(ranged) == crm.MAX_PARTITIONS  # a file per key range
    customers = _silver(spark, lake, "crm.customers")
    assert dict(customers.dtypes)["updated_at"] == "timestamp"
    customer = _current_id(spark, lake, "crm.customers")
    _update(crm_url, "customers", "customer_id", customer, city="Newtown", updated_at=T1)
    [again] = land_crm(spark, lake, settings)
    assert (again.contract, again.received, again.silver, again.batch_id) == (
        "crm.customers",
        1,
        1,
        2,
    )
    old, new = _versions(spark, lake, "crm.customers", "customer_id", customer)
    assert (old.to, new["from"], new.city) == (W1, W1, "Newtown")
    assert land_crm(spark, lake, settings) == []
