"""Streaming landing of telemetry and interactions: late events and schema violations in
quarantine, reconciliation, idempotent re-runs, and exactly once across a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import deltalake
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from data_contracts.landing import microbatch_path
from data_contracts.loader import get_contract
from data_contracts.settings import Settings
from data_contracts.synthetic.config import BadRecordRates, GeneratorConfig
from data_contracts.synthetic.generate import generate
from spark_jobs.batches import Reconciliation
from spark_jobs.lake import BRONZE_STATISTICS, STATISTICS_PROPERTY, Lake, silver_statistics
from spark_jobs.streaming import (
    STREAMS,
    FileMark,
    high_water_marks,
    land_interactions,
    land_stream,
    land_streams,
    land_telemetry,
    late_reason,
    state_path,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LATE = late_reason(get_contract("interactions.events"))
Landed = tuple[Settings, Lake, list[Reconciliation]]


# ------------------------------------------------------------------ pure lateness logic


def test_a_file_is_judged_against_the_files_that_arrived_before_it() -> None:
    hour = 3_600_000_000
    batch = [
        FileMark("b", modified_us=20, max_event_us=5 * hour),
        FileMark("a", modified_us=10, max_event_us=9 * hour),
        FileMark("c", modified_us=20, max_event_us=None),
    ]
    stored_later = [FileMark("x", modified_us=15, max_event_us=12 * hour)]
    marks = high_water_marks(batch, seen_before=2 * hour, seen_after=stored_later)
    # a arrived first (only stored files before it); b after a and x; c ties b, path decides.
    assert marks == {"a": 2 * hour, "b": 12 * hour, "c": 12 * hour}
    assert high_water_marks(batch[:1], None, []) == {"b": None}


# ------------------------------------------------------------------ generated operator


def _norm(value: Any) -> str:
    """Key parts as comparable text: timestamps in any ISO spelling become one instant."""
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()
    except ValueError:
        return str(value)


def _key(row: dict[str, Any], name: str) -> str:
    return "|".join(_norm(row.get(k)) for k in get_contract(name).primary_key)


def _norm_key(record_key: str) -> str:
    return "|".join(_norm(part) for part in record_key.split("|"))


def _was_delivered(planted: dict[str, Any], present: set[tuple[str, str]]) -> bool:
    return (_norm_key(planted["record_key"]), planted["file"]) in present


def _delivered(landing: Path, name: str) -> list[dict[str, Any]]:
    """Every row the landing zone holds for a contract (what the stream must account for)."""
    contract = get_contract(name)
    folder = landing / contract.source / contract.entity
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("date=*/*.parquet")):
        rows += [{**r, "_file": path} for r in pq.read_table(path).to_pylist()]
    for path in sorted(folder.glob("date=*/*.jsonl")):
        rows += [{**json.loads(line), "_file": path} for line in path.read_text().splitlines()]
    return rows


@pytest.fixture(scope="module")
def landed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    """Three days (two of per-minute KPIs, so late KPIs can arrive) with five times the
    default bad-record rate, landed once with availableNow, all five queries side by side."""
    settings = Settings(home=tmp_path_factory.mktemp("stream-source"))
    config = GeneratorConfig(
        customers=200, days=3, seed=4, kpi_days=2, bad_records=BadRecordRates().scaled(5)
    )
    generate(config, settings)
    lake = Lake(str(tmp_path_factory.mktemp("stream-lake") / "lakehouse"))
    names = STREAMS["telemetry"] + STREAMS["interactions"]
    return settings, lake, land_streams(spark, lake, settings.landing_path, names)


def test_available_now_quarantines_late_events_and_violations_and_reconciles(
    spark: SparkSession, landed: Landed
) -> None:
    settings, lake, reports = landed
    by_name = {r.contract: r for r in reports}
    assert set(by_name) == {
        "network.cell_kpis",
        "network.alarms",
        "interactions.events",
        "interactions.tickets",
        "interactions.ticket_status_changes",
    }
    planted = pacsv.read_csv(
        settings.generated_path / "ground_truth" / "planted_bad_records.csv"
    ).to_pylist()
    quarantine = spark.read.format("delta").load(lake.quarantine)
    for name, report in by_name.items():
        contract = get_contract(name)
        assert report.balanced, report
        assert not report.skipped, report
        delivered = _delivered(settings.landing_path, name)
        assert report.received == len(delivered), name

        silver = spark.read.format("delta").load(lake.silver(contract))
        assert silver.count() == report.silver
        for path, statistics in (
            (lake.bronze(contract), BRONZE_STATISTICS),
            (lake.silver(contract), silver_statistics(contract)),
        ):
            configuration = deltalake.DeltaTable(path).metadata().configuration
            assert configuration[STATISTICS_PROPERTY] == ",".join(statistics), path
        assert silver.groupBy(*contract.primary_key).count().filter("count > 1").isEmpty()

        # A planted record counts if the landing zone holds it: the generator writes the
        # window's last two hours of an edge collector to one file name, so the second
        # overwrites the first (what was never delivered cannot land).
        present = {
            (_key(r, name), r["_file"].relative_to(settings.landing_path).as_posix())
            for r in delivered
        }
        lost = [p for p in planted if p["entity"] == name and not _was_delivered(p, present)]
        assert all("_edge-" in p["file"] for p in lost), lost
        quarantined: dict[str, list[list[str]]] = {}
        for row in quarantine.filter(F.col("contract") == name).collect():
            quarantined.setdefault(_key(json.loads(row.raw_payload), name), []).append(row.reasons)
        mine = [p for p in planted if p["entity"] == name]

        late = [p for p in mine if p["kind"] == "late_event"]
        late_keys = {_norm_key(p["record_key"]) for p in late if _was_delivered(p, present)}
        found_late = {k for k, reasons in quarantined.items() if any(LATE in r for r in reasons)}
        assert found_late == late_keys, name  # every late event, and nothing on time

        for p in mine:
            if p["kind"] != "schema_violation" or not _was_delivered(p, present):
                continue
            column = p["rule"].split("=")[0]
            reasons = quarantined.get(_norm_key(p["record_key"]), [])
            assert any(column in reason for r in reasons for reason in r), p
    assert by_name["network.cell_kpis"].quarantined[LATE] > 0
    assert by_name["interactions.events"].quarantined[LATE] > 0


def test_rerunning_with_no_new_files_changes_nothing(spark: SparkSession, landed: Landed) -> None:
    settings, lake, _ = landed
    names = [r.contract for r in landed[2]]
    tables = [lake.silver(get_contract(n)) for n in names]
    tables += [lake.bronze(get_contract(n)) for n in names]
    tables += [lake.quarantine, state_path(lake)]
    before = [deltalake.DeltaTable(t).version() for t in tables]

    again = land_telemetry(spark, lake, settings.landing_path) + land_interactions(
        spark, lake, settings.landing_path
    )

    assert all(r.skipped and r.received == 0 for r in again), again
    assert [deltalake.DeltaTable(t).version() for t in tables] == before


# ------------------------------------------------------------------ SIGKILL, exactly once


def _event(number: int, at: datetime) -> str:
    return json.dumps(
        {
            "event_id": f"EV{number:012d}",
            "customer_id": f"C{number % 97:07d}",
            "subscription_id": None,
            "channel": "app",
            "event_type": "login",
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_seconds": 30,
        }
    )


def _event_files(landing: Path) -> tuple[list[tuple[Path, list[str]]], set[str], set[str]]:
    """Sixteen hourly files across a date boundary: (path, lines), valid ids, quarantined ids.

    File 5 carries a line that is not JSON, file 10 an event ten hours old (late), file
    12 re-delivers an event of file 11 (same content, on time: silver keeps one).
    """
    contract = get_contract("interactions.events")
    start = datetime(2026, 8, 1, 18, tzinfo=UTC)
    files: list[tuple[Path, list[str]]] = []
    valid: set[str] = set()
    for f in range(16):
        hour = start + timedelta(hours=f)
        lines = [_event(f * 100 + i, hour + timedelta(minutes=5 * i)) for i in range(10)]
        valid |= {f"EV{f * 100 + i:012d}" for i in range(10)}
        files.append((microbatch_path(landing, contract, hour, "00"), lines))
    files[5][1].append('{"event_id": "EV000000009999", "channel": ')
    files[10][1].append(_event(9000, start))
    files[12][1].append(files[11][1][0])
    return files, valid, {"EV000000009000"}


def _deliver(path: Path, lines: list[str]) -> None:
    """Write then rename, as a collector does, so the stream never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)


def _commits(delta_table: Path) -> int:
    log = delta_table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def test_sigkill_mid_batch_then_restart_lands_every_event_exactly_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    lake = Lake(settings.lakehouse_root)
    contract = get_contract("interactions.events")
    files, valid, late = _event_files(settings.landing_path)
    jvm_tmp = tmp_path / "jvm-tmp"
    jvm_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEMS_")}
    env |= {
        "CEMS_HOME": str(home),
        "CEMS_LANDING_ROOT": settings.landing_root,
        "CEMS_LAKEHOUSE_ROOT": settings.lakehouse_root,
        "CEMS_SPARK_MASTER": "local[2]",
        # A short-lived JVM: the quick compiler alone saves it much CPU (the test's time).
        # The kill skips the JVM's shutdown hooks, so its temporary folders (Spark's
        # artifacts-<uuid>) stay behind: in the test's own folder, not in /tmp.
        "JAVA_TOOL_OPTIONS": f"-XX:TieredStopAtLevel=1 -Djava.io.tmpdir={jvm_tmp}",
    }
    log_path = tmp_path / "stream.log"
    bronze = Path(lake.bronze(contract))
    checkpoint = Path(lake.checkpoint("streaming/interactions/events"))
    for path, lines in files[:2]:
        _deliver(path, lines)
    delivered = 2
    with log_path.open("wb") as log:
        # Its own process group, so the kill takes the JVM and Python workers down too.
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "spark_jobs.streaming", "--source", "interactions"),
                *("--interval-seconds", "1", "--max-files-per-trigger", "2"),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while _commits(bronze) < 2:  # batch 1 has written bronze, not yet silver
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                if delivered < len(files):
                    _deliver(*files[delivered])
                    delivered += 1
                time.sleep(0.2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    offsets = {int(p.name) for p in (checkpoint / "offsets").iterdir() if p.name.isdigit()}
    commits = {int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit()}
    assert max(offsets) not in commits  # the kill landed inside a micro-batch
    for path, lines in files[delivered:]:
        _deliver(path, lines)

    report = land_stream(spark, lake, settings.landing_path, contract.name)

    total = sum(len(lines) for _, lines in files)
    state = spark.read.format("delta").load(state_path(lake)).collect()
    assert sorted(r.batch_id for r in state) == list(range(len(state)))  # each batch once
    assert sum(r.received for r in state) == total
    # The restart's report covers the interrupted batch and the rest, nothing before it.
    before_kill = sum(r.received for r in state if r.batch_id < max(offsets))
    assert report.balanced, report
    assert report.received == total - before_kill, report
    silver = spark.read.format("delta").load(lake.silver(contract))
    counts = Counter(r.event_id for r in silver.select("event_id").collect())
    assert set(counts) == valid and set(counts.values()) == {1}
    bronze_rows = spark.read.format("delta").load(str(bronze))
    assert bronze_rows.count() == total
    assert bronze_rows.groupBy("event_id", "_source_file").count().filter("count > 1").isEmpty()
    quarantined = spark.read.format("delta").load(lake.quarantine).collect()
    assert Counter(r.reason for r in quarantined) == {"row is malformed": 1, LATE: 1}
    late_row = next(r for r in quarantined if r.reason == LATE)
    assert json.loads(late_row.raw_payload)["event_id"] in late
