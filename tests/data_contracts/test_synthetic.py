"""The synthetic operator: determinism, contract conformance, planted bad records, churn causes."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from data_contracts.loader import get_contract
from data_contracts.schemas import arrow_schema
from data_contracts.settings import Settings
from data_contracts.source_writers import CrmDatabase, FixedWidthLayout
from data_contracts.synthetic import simulate
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.generate import GenerateResult, generate

Operator = tuple[Settings, GenerateResult]


def _planted(settings: Settings) -> list[dict[str, str]]:
    table = pacsv.read_csv(settings.generated_path / "ground_truth" / "planted_bad_records.csv")
    return table.to_pylist()


def _crm_rows(settings: Settings, entity: str) -> list[dict[str, object]]:
    db = CrmDatabase(settings.crm_database_url, [get_contract(f"crm.{entity}")])
    try:
        return db.read(entity)
    finally:
        db.close()


def _jsonl(paths: list[Path]) -> list[dict[str, object]]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_checksums_and_another_seed_does_not(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=400, days=8, seed=7)
    manifests = []
    for name, cfg in [
        ("a", config),
        ("b", config),
        ("c", GeneratorConfig(customers=400, days=8, seed=8)),
    ]:
        settings = Settings(home=tmp_path / name)
        manifests.append(generate(cfg, settings).manifest)
    first, second, other = manifests
    assert first["files"] == second["files"]
    assert first["crm_checksum"] == second["crm_checksum"]
    assert first["ground_truth"] == second["ground_truth"]
    common = first["files"].keys() & other["files"].keys()
    assert len(common) > 0.5 * len(first["files"])
    changed = [f for f in common if first["files"][f] != other["files"][f]]
    assert len(changed) > 0.9 * len(common)
    assert first["crm_checksum"] != other["crm_checksum"]


def test_regenerating_replaces_the_previous_output_without_leftovers(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    generate(GeneratorConfig(customers=300, days=6, seed=1), settings)
    result = generate(GeneratorConfig(customers=200, days=3, seed=2), settings)
    on_disk = {
        p.relative_to(settings.landing_path).as_posix()
        for p in settings.landing_path.rglob("*")
        if p.is_file()
    }
    assert on_disk == set(result.manifest["files"])
    assert not [p for p in tmp_path.rglob(".*staging*")]
    assert len(_crm_rows(settings, "customers")) == 200


def test_a_failure_mid_run_leaves_the_previous_generation_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    before = generate(GeneratorConfig(customers=200, days=4, seed=1), settings).manifest
    original = simulate.Simulation._usage

    def explode(self: simulate.Simulation, d: int, rng: np.random.Generator) -> pa.Table:
        if d == 2:
            raise OSError("disk full")
        return original(self, d, rng)

    monkeypatch.setattr(simulate.Simulation, "_usage", explode)
    with pytest.raises(OSError, match="disk full"):
        generate(GeneratorConfig(customers=300, days=4, seed=2), settings)
    after = json.loads((settings.generated_path / "manifest.json").read_text())
    assert after == json.loads(json.dumps(before))
    files = {
        p.relative_to(settings.landing_path).as_posix()
        for p in settings.landing_path.rglob("*")
        if p.is_file()
    }
    assert files == set(before["files"])
    assert len(_crm_rows(settings, "customers")) == 200
    assert not [p for p in tmp_path.rglob(".*staging*")]


# ------------------------------------------------------------------ conformance


def test_every_contract_is_delivered(small_operator: Operator) -> None:
    _, result = small_operator
    for name in [
        "crm.customers",
        "crm.accounts",
        "crm.subscriptions",
        "crm.plans",
        "billing.invoices",
        "billing.payments",
        "billing.usage_daily",
        "network.cells",
        "network.cell_kpis",
        "network.alarms",
        "interactions.events",
        "interactions.tickets",
        "interactions.ticket_status_changes",
    ]:
        assert result.row_counts[name] > 0, name


def test_csv_deliveries_parse_with_the_contract_schema_once_planted_rows_are_set_aside(
    small_operator: Operator,
) -> None:
    settings, _ = small_operator
    planted = _planted(settings)
    for name in ("billing.usage_daily", "billing.invoices"):
        contract = get_contract(name)
        schema = arrow_schema(contract)
        broken = {
            (p["file"], p["record_key"])
            for p in planted
            if p["entity"] == name and p["kind"] == "schema_violation"
        }
        folder = settings.landing_path / contract.source / contract.entity
        path = sorted(folder.glob("*.csv"))[0]
        rel = path.relative_to(settings.landing_path).as_posix()
        as_text = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in schema.names}, strings_can_be_null=True
            ),
        )
        keys = [
            "|".join(str(v) for v in values)
            for values in zip(*[as_text[k].to_pylist() for k in contract.primary_key], strict=True)
        ]
        keep = pa.array([(rel, k) not in broken for k in keys])
        assert pc.sum(pc.invert(keep)).as_py() == sum(1 for f, _ in broken if f == rel)
        table = as_text.filter(keep).cast(schema.remove_metadata())
        assert table.num_rows > 0
        for column in contract.columns:
            if column.required:
                assert table[column.name].null_count == 0, column.name
        if not pc.all(keep).as_py():  # the planted rows really do break the contract's types
            with pytest.raises((pa.ArrowInvalid, ValueError)):
                as_text.cast(schema.remove_metadata())


def test_kpi_parquet_files_carry_the_contract_schema(small_operator: Operator) -> None:
    settings, _ = small_operator
    contract = get_contract("network.cell_kpis")
    files = sorted((settings.landing_path / "network" / "cell_kpis").rglob("*.parquet"))
    parts = Counter(p.stem.rsplit("_", 1)[-1] for p in files)
    assert parts["core"] > 0 and any(k.startswith("edge-") for k in parts)
    schema = pq.read_schema(files[0])
    expected = arrow_schema(contract)
    assert schema.names == expected.names
    assert [f.type for f in schema] == [f.type for f in expected]


def test_kpis_show_rural_cells_worse_and_outages_as_zero_availability(
    small_operator: Operator,
) -> None:
    settings, _ = small_operator
    cells = pacsv.read_csv(next((settings.landing_path / "network" / "cells").glob("*.csv")))
    kpis = pa.concat_tables(
        pq.read_table(p)
        for p in sorted((settings.landing_path / "network" / "cell_kpis").rglob("*.parquet"))
    )
    urbanicity = dict(
        zip(cells["cell_id"].to_pylist(), cells["urbanicity"].to_pylist(), strict=True)
    )
    by_class: dict[str, list[float]] = {"urban": [], "rural": []}
    down: dict[str, int] = Counter()
    rows: dict[str, int] = Counter()
    for cell, latency, availability in zip(
        kpis["cell_id"].to_pylist(),
        kpis["latency_ms"].to_pylist(),
        kpis["availability_pct"].to_pylist(),
        strict=True,
    ):
        kind = urbanicity.get(cell)
        if kind in by_class and latency is not None and latency >= 0:
            by_class[kind].append(latency)
        if kind:
            rows[kind] += 1
            down[kind] += availability == 0
    assert np.median(by_class["rural"]) > 1.5 * np.median(by_class["urban"])
    assert down["rural"] / rows["rural"] > down["urban"] / rows["urban"]
    outage_rows = kpis.filter(pc.equal(kpis["availability_pct"], 0.0))
    assert outage_rows.num_rows > 0
    assert outage_rows["latency_ms"].null_count == outage_rows.num_rows


def test_fixed_width_payment_files_follow_their_layout(small_operator: Operator) -> None:
    settings, _ = small_operator
    layout = FixedWidthLayout(str(get_contract("billing.payments").custom["layout"]))
    files = sorted((settings.landing_path / "billing" / "payments").glob("PAYMENTS_*.DAT"))
    assert files
    seen_late = seen_failed = 0
    for path in files:
        lines = path.read_text(encoding="ascii").splitlines()
        assert all(len(line) == layout.record_length for line in lines)
        assert lines[0][0] == "H" and lines[0][1:9] == path.stem.split("_")[1]
        assert lines[-1][0] == "T"
        details = lines[1:-1]
        assert all(line[0] == "D" for line in details)
        assert int(lines[-1][1:10]) == len(details)
        numeric = [line[38:49] for line in details if line[38:49].isdigit()]
        assert int(lines[-1][10:25]) == sum(int(a) for a in numeric)
        seen_late += sum(line[55] == "Y" for line in details)
        seen_failed += sum(line[52] == "F" for line in details)
    assert seen_failed > 0 and seen_late > 0


def test_jsonl_events_have_exactly_the_contract_fields(small_operator: Operator) -> None:
    settings, _ = small_operator
    contract = get_contract("interactions.events")
    files = sorted((settings.landing_path / "interactions" / "events").rglob("*.jsonl"))
    rows = _jsonl(files[:24])
    assert rows
    assert all(set(r) == set(contract.column_names) for r in rows)
    channels = Counter(r["channel"] for r in rows)
    assert {"app", "web", "call_centre", "chat", "store"} <= set(channels)


def test_crm_database_and_export_agree_and_support_incremental_reads(
    small_operator: Operator,
) -> None:
    settings, result = small_operator
    engine = sa.create_engine(settings.crm_database_url)
    with engine.connect() as conn:
        counts = {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
            for t in ("customers", "accounts", "subscriptions", "plans")
        }
        window_start = datetime.combine(result.config.start_date, datetime.min.time())
        changed = conn.execute(
            sa.text("select count(*) from subscriptions where updated_at >= :w"),
            {"w": window_start},
        ).scalar_one()
        terminated = conn.execute(
            sa.text(
                "select count(*) from subscriptions where subscription_status = 'terminated'"
                " and end_date is not null and termination_reason is not null"
            )
        ).scalar_one()
    engine.dispose()
    for entity, count in counts.items():
        export = pacsv.read_csv(settings.landing_path / "crm" / "export" / f"{entity}.csv")
        assert export.num_rows == count == result.row_counts[f"crm.{entity}"]
    assert 0 < changed < counts["subscriptions"]
    assert terminated > 0


# ------------------------------------------------------------------ planted bad records


def test_planted_records_are_documented_and_found_where_the_log_says(
    small_operator: Operator,
) -> None:
    settings, result = small_operator
    planted = _planted(settings)
    kinds = Counter((p["entity"], p["kind"]) for p in planted)
    for expected in [
        ("billing.usage_daily", "schema_violation"),
        ("billing.usage_daily", "orphan_key"),
        ("billing.usage_daily", "duplicate"),
        ("network.cell_kpis", "late_event"),
        ("network.cell_kpis", "schema_violation"),
        ("interactions.events", "duplicate"),
        ("crm.customers", "schema_violation"),
        ("crm.subscriptions", "orphan_key"),
    ]:
        assert kinds[expected] > 0, expected
    assert sum(kinds.values()) == sum(sum(v.values()) for v in result.planted.values())
    subscription_ids = {r["subscription_id"] for r in _crm_rows(settings, "subscriptions")}
    plan_ids = {r["plan_id"] for r in _crm_rows(settings, "plans")}
    for p in planted:
        if p["entity"] != "billing.usage_daily":
            continue
        sub_id, usage_date = p["record_key"].split("|")
        lines = [
            line
            for line in (settings.landing_path / p["file"]).read_text().splitlines()
            if line.startswith(f'"{sub_id}",{usage_date},')
        ]
        if p["kind"] == "duplicate":
            assert len(lines) == 2 and lines[0] == lines[1]
        elif p["kind"] == "orphan_key":
            assert sub_id not in subscription_ids and len(lines) == 1
        else:
            data_mb = lines[0].split(",")[2]
            assert data_mb == "N/A" or float(data_mb) < 0
    customers = {r["customer_id"]: r for r in _crm_rows(settings, "customers")}
    for p in planted:
        if p["entity"] == "crm.customers":
            pattern = get_contract("crm.customers").column("email").pattern or ""
            assert not re.match(pattern, str(customers[p["record_key"]]["email"]))
        if p["entity"] == "crm.subscriptions":
            plan = next(
                r["plan_id"]
                for r in _crm_rows(settings, "subscriptions")
                if r["subscription_id"] == p["record_key"]
            )
            assert plan not in plan_ids


def test_late_events_arrive_after_the_contract_tolerance(small_operator: Operator) -> None:
    settings, _ = small_operator
    late = [p for p in _planted(settings) if p["kind"] == "late_event"]
    assert late
    for p in late:
        contract = get_contract(p["entity"])
        tolerance = timedelta(minutes=contract.late_tolerance_minutes or 0)
        path = settings.landing_path / p["file"]
        stamp = path.stem.split("_")[-2]
        batch_start = datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=UTC)
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            cell, measured = p["record_key"].split("|")
            times = [
                t
                for c, t in zip(
                    table["cell_id"].to_pylist(), table["measured_at"].to_pylist(), strict=True
                )
                if c == cell and str(t) == measured
            ]
            assert times, p
            event_time = times[0]
        else:
            key_field = contract.primary_key[0]
            rows = [r for r in _jsonl([path]) if str(r[key_field]) == p["record_key"].split("|")[0]]
            assert rows, p
            event_time = datetime.fromisoformat(
                str(rows[0][contract.freshness_column]).replace("Z", "+00:00")
            )
        assert batch_start - event_time > tolerance


# ------------------------------------------------------------------ churn causes


def test_churners_show_the_planted_causes_in_the_delivered_data(churn_operator: Operator) -> None:
    """Computed from what the sources deliver (not the ground truth's drivers)."""
    settings, result = churn_operator
    subs = _crm_rows(settings, "subscriptions")
    customers = {r["customer_id"]: r for r in _crm_rows(settings, "customers")}
    churned = {r["customer_id"] for r in subs if r["subscription_status"] == "terminated"}
    stayers = set(customers) - churned
    assert 100 < len(churned) < 0.5 * len(customers)

    # worse home-cell network quality
    kpis = pa.concat_tables(
        pq.read_table(p, columns=["cell_id", "latency_ms", "availability_pct"])
        for p in sorted((settings.landing_path / "network" / "cell_kpis").rglob("*core.parquet"))
        + sorted((settings.landing_path / "network" / "cell_kpis").rglob("*edge-*.parquet"))
    )
    grouped = (
        kpis.filter(pc.greater_equal(kpis["latency_ms"], 0))
        .group_by("cell_id")
        .aggregate([("latency_ms", "mean")])
    )
    latency = dict(
        zip(grouped["cell_id"].to_pylist(), grouped["latency_ms_mean"].to_pylist(), strict=True)
    )

    def mean_latency(group: set[str]) -> float:
        return float(
            np.mean(
                [
                    latency[customers[c]["home_cell_id"]]
                    for c in group
                    if customers[c]["home_cell_id"] in latency
                ]
            )
        )

    assert mean_latency(churned) > 1.05 * mean_latency(stayers)

    # more tickets, per day as a customer in the window
    tickets = _jsonl(sorted((settings.landing_path / "interactions" / "tickets").rglob("*.jsonl")))
    ticket_customers = Counter(t["customer_id"] for t in tickets if t["ticket_status"] == "open")
    start = result.config.start_date
    left = {r["customer_id"]: r["end_date"] for r in subs if r["end_date"] is not None}

    def exposure(customer_id: str) -> int:
        first = max(customers[customer_id]["signup_date"], start)
        last = left.get(customer_id) or start + timedelta(days=result.config.days)
        return max((last - first).days, 1)

    per_churner = sum(ticket_customers[c] for c in churned) / sum(exposure(c) for c in churned)
    per_stayer = sum(ticket_customers[c] for c in stayers) / sum(exposure(c) for c in stayers)
    assert per_churner > 1.2 * per_stayer

    # month-to-month contracts churn more, bundles protect
    def share(group: set[str], predicate: str) -> float:
        owners = {r["customer_id"] for r in subs if predicate == r["contract_type"]}
        return len(group & owners) / len(group)

    assert share(churned, "month_to_month") > 1.2 * share(stayers, "month_to_month")
    products = Counter()
    for r in subs:
        products[(r["customer_id"], r["product_type"])] = 1
    kinds = Counter(c for c, _ in products)
    bundled = {c for c, k in kinds.items() if k >= 2}
    assert len(churned & bundled) / len(churned) < len(stayers & bundled) / len(stayers)

    # and the ground truth agrees with the CRM about who left
    truth = pacsv.read_csv(settings.generated_path / "ground_truth" / "churn.csv")
    truth_churned = {
        c
        for c, flag in zip(
            truth["customer_id"].to_pylist(), truth["is_churned"].to_pylist(), strict=True
        )
        if flag
    }
    assert truth_churned == churned
    assert result.customers_churned == len(churned)
