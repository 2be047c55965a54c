"""Batch landing of billing files: quarantine with reasons, reconciliation, idempotency, crashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import deltalake
import duckdb
import duckdb_extension_delta
import pyarrow.csv as pacsv
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from data_contracts.loader import get_contract
from data_contracts.settings import Settings
from data_contracts.source_writers import FixedWidthLayout
from data_contracts.synthetic.generate import GenerateResult
from spark_jobs import batches
from spark_jobs.batches import ErrorBudgetError
from spark_jobs.billing import (
    land_billing,
    land_contract,
    land_network_inventory,
    parse_fixed_width,
)
from spark_jobs.lake import (
    BRONZE_STATISTICS,
    QUARANTINE_STATISTICS,
    STATISTICS_PROPERTY,
    Lake,
    silver_statistics,
)

Source = tuple[Settings, GenerateResult]


def _versions(path: str) -> int:
    return deltalake.DeltaTable(path).version()


def _land_all(spark: SparkSession, lake: Lake, landing: Path) -> list[batches.Reconciliation]:
    return land_network_inventory(spark, lake, landing) + land_billing(spark, lake, landing)


@pytest.fixture(scope="module")
def landed(
    spark: SparkSession, landed_source: Source, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Lake, list[batches.Reconciliation]]:
    """The generated billing files landed once; tests below inspect and re-run it."""
    lake = Lake(str(tmp_path_factory.mktemp("billing-lake") / "lakehouse"))
    return lake, _land_all(spark, lake, landed_source[0].landing_path)


def _quarantined_keys(spark: SparkSession, lake: Lake, name: str) -> dict[str, str]:
    contract = get_contract(name)
    rows = (
        spark.read.format("delta").load(lake.quarantine).filter(F.col("contract") == name).collect()
    )
    found = {}
    for row in rows:
        payload = json.loads(row.raw_payload)
        found["|".join(str(payload.get(k)) for k in contract.primary_key)] = row.reason
    return found


def test_every_planted_schema_violation_is_quarantined_and_every_batch_reconciles(
    spark: SparkSession, landed: tuple[Lake, list[batches.Reconciliation]], landed_source: Source
) -> None:
    settings, result = landed_source
    lake, reports = landed
    assert {r.contract for r in reports} == {
        "network.cells",
        "billing.invoices",
        "billing.payments",
        "billing.usage_daily",
    }
    for report in reports:
        assert report.balanced, report
    by_name = {r.contract: r for r in reports}
    assert by_name["billing.usage_daily"].received == result.row_counts["billing.usage_daily"]

    planted = pacsv.read_csv(
        settings.generated_path / "ground_truth" / "planted_bad_records.csv"
    ).to_pylist()
    for name in ("billing.usage_daily", "billing.invoices", "billing.payments"):
        keys = _quarantined_keys(spark, lake, name)
        expected = [p for p in planted if p["entity"] == name and p["kind"] == "schema_violation"]
        for p in expected:
            assert p["record_key"] in keys, p
            column = p["rule"].split("=")[0]
            assert keys[p["record_key"]].startswith(column), (p, keys[p["record_key"]])
        duplicates = sum(1 for p in planted if p["entity"] == name and p["kind"] == "duplicate")
        assert by_name[name].duplicates >= duplicates

    silver = spark.read.format("delta").load(lake.silver(get_contract("billing.usage_daily")))
    assert silver.groupBy("subscription_id", "usage_date").count().filter("count > 1").count() == 0
    assert dict(silver.dtypes)["data_mb"] == "double"
    assert dict(silver.dtypes)["usage_date"] == "date"
    # The batch log gets one small file per plan and per completion, not one per core: it is
    # read back at the start of every batch.
    assert len(deltalake.DeltaTable(lake.landed_files).file_uris()) == 2 * len(reports)


def test_rerun_on_the_same_input_changes_nothing(
    spark: SparkSession, lake: Lake, landed_source: Source
) -> None:
    settings, _ = landed_source
    _land_all(spark, lake, settings.landing_path)
    contract = get_contract("billing.usage_daily")
    before = {
        p: _versions(p) for p in (lake.silver(contract), lake.bronze(contract), lake.quarantine)
    }
    silver_rows = spark.read.format("delta").load(lake.silver(contract)).count()
    assert _land_all(spark, lake, settings.landing_path) == []
    after = {p: _versions(p) for p in before}
    assert after == before
    assert spark.read.format("delta").load(lake.silver(contract)).count() == silver_rows


def test_a_crash_before_silver_then_rerun_leaves_every_table_consistent(
    spark: SparkSession, lake: Lake, landed_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = landed_source
    contract = get_contract("billing.invoices")

    def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(batches, "_merge_silver", crash)
    with pytest.raises(RuntimeError, match="killed"):
        land_contract(spark, lake, settings.landing_path, "billing.invoices")
    monkeypatch.undo()
    bronze_rows = spark.read.format("delta").load(lake.bronze(contract)).count()
    report = land_contract(spark, lake, settings.landing_path, "billing.invoices")
    assert report is not None and report.batch_id == 1 and report.balanced
    bronze = spark.read.format("delta").load(lake.bronze(contract))
    assert (
        bronze.count() == bronze_rows == report.received
    )  # the resumed batch did not append twice
    quarantine = (
        spark.read.format("delta").load(lake.quarantine).filter(F.col("contract") == contract.name)
    )
    assert quarantine.count() == report.quarantined_total
    silver = spark.read.format("delta").load(lake.silver(contract))
    assert silver.count() == silver.select("invoice_id").distinct().count() == report.silver


def _statistics_columns(path: str) -> set[str]:
    """Every column some data file of the table carries statistics for, from its Delta log."""
    columns: set[str] = set()
    for commit in sorted((Path(path) / "_delta_log").glob("*.json")):
        for line in commit.read_text(encoding="utf-8").splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                stats = json.loads(add["stats"])
                assert stats["numRecords"] >= 0  # row counts stay: Delta answers counts with them
                columns |= set(stats.get("nullCount", {})) | set(stats.get("minValues", {}))
    return columns


def test_landing_tables_keep_statistics_on_the_columns_reads_filter_on_and_still_skip_files(
    spark: SparkSession, lake: Lake, landed_source: Source, tmp_path: Path
) -> None:
    settings, _ = landed_source
    contract = get_contract("billing.usage_daily")
    delivered = sorted((settings.landing_path / contract.source / contract.entity).iterdir())
    assert len(delivered) >= 4
    folder = tmp_path / "landing" / contract.source / contract.entity
    folder.mkdir(parents=True)
    reports = []
    for part in (delivered[:2], delivered[2:]):  # two days' files, then the rest: two batches
        for file in part:
            shutil.copy(file, folder / file.name)
        reports.append(land_contract(spark, lake, tmp_path / "landing", contract.name))
    assert [r.batch_id for r in reports if r is not None] == [1, 2]
    assert all(r is not None and r.balanced for r in reports)

    for path, columns in (
        (lake.bronze(contract), BRONZE_STATISTICS),
        (lake.quarantine, QUARANTINE_STATISTICS),
        (lake.silver(contract), silver_statistics(contract)),
    ):
        configuration = deltalake.DeltaTable(path).metadata().configuration
        assert configuration[STATISTICS_PROPERTY] == ",".join(columns), path
        assert _statistics_columns(path) == set(columns), path

    # The second batch's read of bronze opens only the files that batch appended.
    bronze = spark.read.format("delta").load(lake.bronze(contract))
    files_of: dict[int, set[str]] = {}
    for r in bronze.select("_batch_id", F.input_file_name().alias("file")).distinct().collect():
        files_of.setdefault(int(r["_batch_id"]), set()).add(Path(r["file"]).name)
    read = {Path(f).name for f in batches.bronze_batch(spark, lake, contract, 2).inputFiles()}
    assert files_of[1] and files_of[2]
    assert read == files_of[2]


def test_silver_is_readable_by_delta_rs_and_duckdb(
    spark: SparkSession, lake: Lake, landed_source: Source
) -> None:
    settings, _ = landed_source
    land_contract(spark, lake, settings.landing_path, "billing.invoices")
    path = lake.silver(get_contract("billing.invoices"))
    spark_rows = spark.read.format("delta").load(path)
    expected_total = spark_rows.agg(F.sum("total_amount")).collect()[0][0]
    table = deltalake.DeltaTable(path).to_pyarrow_table()
    assert table.num_rows == spark_rows.count()
    assert str(table.schema.field("total_amount").type) == "decimal128(12, 2)"
    extension = next(
        Path(duckdb_extension_delta.__file__).parent.glob("extensions/*/delta.duckdb_extension")
    )
    con = duckdb.connect()
    con.load_extension(str(extension))
    count, total = con.execute(
        f"select count(*), sum(total_amount) from delta_scan('{path}')"
    ).fetchone()  # type: ignore[misc]
    assert count == table.num_rows
    assert total == expected_total


def test_fixed_width_records_are_cut_by_the_layout(spark: SparkSession) -> None:
    layout = FixedWidthLayout(str(get_contract("billing.payments").custom["layout"]))
    good = layout.render_detail(
        {
            "payment_id": "PAY0000000001",
            "invoice_id": "INV0000000007",
            "account_id": "A00000003",
            "payment_method": "credit_card",
            "amount": 85.06,
            "currency": "EUR",
            "payment_status": "failed",
            "failure_reason": "card_expired",
            "is_late": True,
            "card_last4": "4242",
            "paid_at": __import__("datetime").datetime(2026, 8, 14, 8, 10, 2),
        }
    )
    bad = good[:38] + "0000AB12500" + good[49:]
    lines = spark.createDataFrame(
        [("H20260814LEGACYPP001", "f"), (good, "f"), (bad, "f"), ("T000000002", "f")],
        ["value", "_source_file"],
    )
    rows = parse_fixed_width(lines, layout).collect()
    assert len(rows) == 2
    first = rows[0].asDict()
    assert first["payment_method"] == "credit_card" and first["payment_status"] == "failed"
    assert first["failure_reason"] == "card_expired" and first["is_late"] == "true"
    assert first["amount"] == "85.06" and first["paid_at"] == "2026-08-14T08:10:02Z"
    assert rows[1]["amount"] == "0000AB12500"  # left as text so the contract check names it


def test_a_batch_over_its_error_budget_fails_loudly_and_leaves_silver_alone(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    contract = get_contract("billing.invoices")
    folder = tmp_path / "landing" / "billing" / "invoices"
    folder.mkdir(parents=True)
    header = ",".join(contract.column_names)
    dates = "2026-08-01,2026-07-02,2026-07-31,2026-08-15"
    good = f'"INV0000000001","A00000001",{dates},10.00,0.00,2.00,12.00,"EUR"'
    broken = f'"INV0000000002","A00000001",{dates},ten,0.00,2.00,12.00,"EUR"'
    (folder / "invoices_20260801.csv").write_text("\n".join([header, good, broken]) + "\n")
    with pytest.raises(ErrorBudgetError, match="over its error budget"):
        land_contract(spark, lake, tmp_path / "landing", "billing.invoices")
    assert not deltalake.DeltaTable.is_deltatable(lake.silver(contract))
    quarantined = spark.read.format("delta").load(lake.quarantine).collect()
    assert [r.reason for r in quarantined] == ["recurring_amount is not a valid decimal(12,2)"]
