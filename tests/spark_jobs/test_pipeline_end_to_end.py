"""`land --source all` on one generated operator: the issue's acceptance, end to end.

Every record the generator broke on purpose (and delivered) is in quarantine with a reason
that names what is wrong; children of a quarantined parent are held back with a reason of
their own instead of being called orphans; silver is referentially whole; every
reconciliation balances; the quality gate passes; and the CLI reports the same as JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from data_contracts.loader import all_contracts, get_contract
from data_contracts.settings import Settings
from data_contracts.synthetic.config import BadRecordRates, GeneratorConfig
from data_contracts.synthetic.generate import generate
from spark_jobs.batches import Reconciliation
from spark_jobs.lake import Lake
from spark_jobs.pipeline import SOURCES, land, landed_contracts, quality_gate
from spark_jobs.validate import HELD_SUFFIX

Landed = tuple[Settings, Lake, list[Reconciliation]]

# What a planted record's reason must say, by the kind of damage done to it.
EXPECTED_REASON = {
    "schema_violation": lambda column: column,
    "orphan_key": lambda column: f"{column} refers to an unknown",
    "late_event": lambda column: "later than the",
}


# Its module fixture is minutes of Spark: build it once, on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("landed-operator")


@pytest.fixture(scope="module")
def landed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    """800 customers over 5 days (2 of per-minute KPIs, so late KPIs can arrive), with
    twice the generator's usual damage (still inside every contract's error budget)."""
    settings = Settings(home=tmp_path_factory.mktemp("end-to-end"))
    config = GeneratorConfig(
        customers=800, days=5, seed=23, kpi_days=2, bad_records=BadRecordRates().scaled(2)
    )
    generate(config, settings)
    return settings, Lake.from_settings(settings), land(list(SOURCES), settings, spark)


def _norm(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()
    except ValueError:
        return str(value)


def _key(row: dict[str, Any], name: str) -> str:
    return "|".join(_norm(row.get(k)) for k in get_contract(name).primary_key)


def _delivered_keys(landing: Path, name: str) -> set[tuple[str, str]]:
    """(key, file) of every streamed row the landing zone still holds (edge files may be
    overwritten at the window's end, so a planted row there may never have been delivered)."""
    contract = get_contract(name)
    folder = landing / contract.source / contract.entity
    found: set[tuple[str, str]] = set()
    for path in folder.glob("date=*/*.parquet"):
        for row in pq.read_table(path).to_pylist():
            found.add((_key(row, name), path.relative_to(landing).as_posix()))
    for path in folder.glob("date=*/*.jsonl"):
        for line in path.read_text().splitlines():
            found.add((_key(json.loads(line), name), path.relative_to(landing).as_posix()))
    return found


def test_every_planted_record_is_quarantined_with_its_reason_and_every_source_reconciles(
    spark: SparkSession, landed: Landed
) -> None:
    settings, lake, reports = landed
    landed_names = {r.contract for r in reports if not r.skipped}
    assert landed_names >= {
        c.name
        for c in all_contracts().values()
        if c.name not in ("crm.customer_attributes", "network.alarms")  # none generated
    }
    for report in reports:
        assert report.balanced, report

    planted = pacsv.read_csv(
        settings.generated_path / "ground_truth" / "planted_bad_records.csv"
    ).to_pylist()
    assert {p["kind"] for p in planted} >= {"schema_violation", "orphan_key", "late_event"}
    quarantined: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in spark.read.format("delta").load(lake.quarantine).collect():
        key = _key(json.loads(row.raw_payload), row.contract)
        quarantined[(row.contract, key)].extend(row.reasons)

    delivered: dict[str, set[tuple[str, str]]] = {}
    checked = 0
    for p in planted:
        if p["kind"] == "duplicate":
            continue
        name = p["entity"]
        key = "|".join(_norm(part) for part in p["record_key"].split("|"))
        if get_contract(name).source in ("network", "interactions") and p["file"]:
            if name not in delivered:
                delivered[name] = _delivered_keys(settings.landing_path, name)
            if (key, p["file"]) not in delivered[name]:
                assert "_edge-" in p["file"], p  # only overwritten edge files lose rows
                continue
        column = p["rule"].split("=")[0]
        expected = EXPECTED_REASON[p["kind"]](column)
        reasons = quarantined.get((name, key), [])
        assert any(expected in reason for reason in reasons), (p, reasons)
        checked += 1
    assert checked >= 20

    by_name = {r.contract: r for r in reports}
    for name, report in by_name.items():
        duplicates = sum(1 for p in planted if p["entity"] == name and p["kind"] == "duplicate")
        assert report.duplicates >= duplicates, name


def test_children_of_a_quarantined_parent_are_held_back_and_silver_stays_whole(
    spark: SparkSession, landed: Landed
) -> None:
    _, lake, reports = landed
    quarantine = spark.read.format("delta").load(lake.quarantine)
    held = quarantine.filter(F.col("reason").endswith(HELD_SUFFIX))
    assert held.count() > 0
    # Every held child points at a parent key that is itself in quarantine (for a broken
    # field of its own, or held in turn: customer -> account -> subscription -> usage).
    for row in held.select("contract", "reason", "raw_payload").collect():
        column = row.reason.split(" ")[0]
        entity = row.reason.split(" refers to ")[1].split(" ")[0]
        parent = next(c for c in all_contracts().values() if c.entity == entity)
        key = json.loads(row.raw_payload)[column]
        path = f"$.{column}"
        assert (
            quarantine.filter(F.col("contract") == parent.name)
            .filter(F.get_json_object("raw_payload", path) == str(key))
            .count()
            > 0
        ), row
    # No silver row refers to a key its parent's silver table does not hold.
    for contract in all_contracts().values():
        silver_path = lake.silver(contract)
        if contract.name == "crm.customer_attributes":
            continue
        child = spark.read.format("delta").load(silver_path)
        for column in contract.columns:
            if not column.references:
                continue
            entity, key = column.references.split(".")
            parent = next(c for c in all_contracts().values() if c.entity == entity)
            keys = spark.read.format("delta").load(lake.silver(parent)).select(key)
            orphans = (
                child.filter(F.col(column.name).isNotNull())
                .join(keys, child[column.name] == keys[key], "left_anti")
                .count()
            )
            streamed_pair = contract.source == parent.source == "interactions"
            assert orphans == 0 or streamed_pair, (contract.name, column.name, orphans)
    # Held children are reported, but they do not count against the child's error budget.
    assert all(r.balanced for r in reports)


def test_the_quality_gate_passes_on_what_landed(spark: SparkSession, landed: Landed) -> None:
    settings, lake, reports = landed
    results = quality_gate(landed_contracts(reports), settings, spark)
    assert {r.contract for r in results} == set(landed_contracts(reports))
    assert all(r.success for r in results), [r.failed for r in results if not r.success]
    stored = spark.read.format("delta").load(lake.quality_results)
    assert stored.select("contract").distinct().count() == len(results)


def test_landing_again_finds_nothing_new(spark: SparkSession, landed: Landed) -> None:
    settings, _, _ = landed
    again = land(list(SOURCES), settings, spark)
    assert [r for r in again if not r.skipped and r.received] == []
