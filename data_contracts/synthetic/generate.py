"""``cems generate``: write a whole synthetic operator the way its source systems deliver it.

Output (all under the settings' locations, swapped in atomically at the end):
- the CRM as an operational database (SQLite file by default, PostgreSQL by URL) and its
  nightly CSV export;
- billing daily files: invoices and usage as CSV, payments in the legacy fixed-width layout;
- the network inventory (cells CSV), per-minute cell KPIs (Parquet micro-batches from the
  core and edge collectors) and alarms (JSON lines);
- interaction events, ticket versions and ticket status changes (JSON lines micro-batches);
- ``generated/``: manifest with parameters, row counts and checksums, and the ground truth
  (who churned and why, every planted bad record).
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from data_contracts.landing import crm_export_path, daily_file_path, microbatch_path
from data_contracts.loader import Contract, all_contracts, get_contract
from data_contracts.schemas import arrow_schema
from data_contracts.settings import Settings
from data_contracts.source_writers import (
    CrmDatabase,
    FixedWidthLayout,
    conform,
    csv_line,
    json_rows,
    quoted_columns,
    sha256_file,
    staged_directory,
    text_rows,
    textual,
    write_csv,
    write_jsonl,
    write_parquet,
)
from data_contracts.synthetic.bad_records import (
    Planted,
    Planter,
    Selection,
    break_value,
    orphan_value,
)
from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.crm import CrmSnapshot
from data_contracts.synthetic.population import NEVER, build_world
from data_contracts.synthetic.simulate import Simulation, epoch_us
from data_contracts.synthetic.telemetry import Telemetry

GENERATOR_VERSION = "cems-synthetic/1"
LATE_DELAY_HOURS = (6, 30)  # planted late events arrive this many hours after their event time
Progress = Callable[[str, int, int], None]


@dataclass
class GenerateResult:
    config: GeneratorConfig
    row_counts: dict[str, int]
    planted: dict[str, dict[str, int]]
    customers_churned: int
    landing_path: Path
    generated_path: Path
    crm_database_url: str
    files_written: int
    manifest: dict[str, Any] = field(default_factory=dict)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class _Writer:
    """Writes one run's deliveries into a staging landing folder, planting bad records."""

    def __init__(self, config: GeneratorConfig, landing: Path, planter: Planter) -> None:
        self.cfg = config
        self.landing = landing
        self.planter = planter
        self.t0 = epoch_us(config)
        self.counts: dict[str, int] = defaultdict(int)
        self.late: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        self.late_kpis: dict[int, list[pa.Table]] = defaultdict(list)
        self.layout = FixedWidthLayout(str(get_contract("billing.payments").custom["layout"]))
        self.last_hour = config.days * 24 - 1

    def rel(self, path: Path) -> str:
        return path.relative_to(self.landing).as_posix()

    def _key(self, contract: Contract, row: dict[str, Any]) -> str:
        return "|".join(str(row[k]) for k in contract.primary_key)

    # ---------------------------------------------------------- daily CSV (usage, invoices)
    def daily_csv(self, name: str, table: pa.Table, day: int) -> None:
        contract = get_contract(name)
        table = conform(table, contract)
        path = daily_file_path(self.landing, contract, self.cfg.start_date + timedelta(days=day))
        rel = self.rel(path)
        sel = self.planter.select(
            name, day, table.num_rows, ("schema_violation", "orphan_key", "duplicate")
        )
        extra = self._broken_rows(contract, table, sel, rel, day, text_rows)
        keep = _without(table, sel.removed)
        header = contract.column_names
        quoted = quoted_columns(table)
        write_csv(keep, path, [csv_line([row[c] for c in header], quoted) for row in extra])
        self.counts[name] += table.num_rows + sel.duplicate.size

    def _broken_rows(
        self,
        contract: Contract,
        table: pa.Table,
        sel: Selection,
        rel: str,
        salt: int,
        render: Callable[[pa.Table], list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """Broken versions of the selected rows (and duplicates), rendered for the file format."""
        name = contract.name
        rows: list[dict[str, Any]] = []
        for i, pos in enumerate(sel.schema_violation):
            row = render(table.slice(int(pos), 1))[0]
            column, value = break_value(name, i)
            row[column] = value
            rows.append(row)
            self.planter.record(
                name, "schema_violation", rel, self._key(contract, row), f"{column}={value!r}"
            )
        for i, pos in enumerate(sel.orphan_key):
            row = render(table.slice(int(pos), 1))[0]
            column, value = orphan_value(name, i, salt)
            row[column] = value
            rows.append(row)
            self.planter.record(
                name,
                "orphan_key",
                rel,
                self._key(contract, row),
                f"{column}={value} does not exist",
            )
        for pos in sel.duplicate:
            row = render(table.slice(int(pos), 1))[0]
            rows.append(row)
            self.planter.record(name, "duplicate", rel, self._key(contract, row), "delivered twice")
        return rows

    # ---------------------------------------------------------- fixed-width payments
    def payments(self, table: pa.Table, day: int) -> None:
        contract = get_contract("billing.payments")
        table = conform(table, contract)
        file_day = self.cfg.start_date + timedelta(days=day)
        path = daily_file_path(self.landing, contract, file_day)
        rel = self.rel(path)
        sel = self.planter.select(
            contract.name, day, table.num_rows, ("schema_violation", "orphan_key", "duplicate")
        )
        broken = self._broken_rows(contract, table, sel, rel, day, pa.Table.to_pylist)
        extra_lines = [self.layout.render_detail(row) for row in broken]
        keep = _without(table, sel.removed)
        self.layout.write(keep, path, file_day, sender_id="LEGACYPP", extra_lines=extra_lines)
        self.counts[contract.name] += table.num_rows + sel.duplicate.size

    # ---------------------------------------------------------- JSON lines micro-batches
    def hourly_jsonl(
        self,
        name: str,
        table: pa.Table,
        time_column: str,
        kinds: tuple[str, ...],
        day: int | None = None,
    ) -> None:
        """Split a day's (or any) table by event hour and write one file per hour."""
        contract = get_contract(name)
        table = conform(table, contract)
        if table.num_rows == 0 and day is None:
            return
        hours = (
            (pc.cast(table[time_column], pa.int64()).to_numpy() - self.t0) // 3_600_000_000
        ).astype(np.int64)
        hour_range = (
            range(day * 24, day * 24 + 24) if day is not None else sorted(set(hours.tolist()))
        )
        for hour in hour_range:
            part = table.filter(pa.array(hours == hour))
            self.jsonl_file(contract, int(hour), part, kinds)

    def jsonl_file(
        self, contract: Contract, hour: int, table: pa.Table, kinds: tuple[str, ...]
    ) -> None:
        name = contract.name
        path = microbatch_path(self.landing, contract, _hour_dt(self.t0, hour), "00")
        rel = self.rel(path)
        sel = self.planter.select(name, hour, table.num_rows, self._kinds_at(kinds, hour))
        extra = self._broken_rows(contract, table, sel, rel, hour, json_rows)
        for pos in sel.late_event:
            row = json_rows(table.slice(int(pos), 1))[0]
            arrival = self._late_hour(name, hour, int(pos))
            self.late[(name, arrival)].append(row)
            arrival_rel = self.rel(
                microbatch_path(self.landing, contract, _hour_dt(self.t0, arrival), "00")
            )
            self.planter.record(
                name,
                "late_event",
                arrival_rel,
                self._key(contract, row),
                f"arrived {arrival - hour} h after its event time",
            )
        extra = extra + self.late.pop((name, hour), [])
        keep = _without(table, sel.removed)
        if keep.num_rows or extra:
            write_jsonl(keep, path, extra)
        self.counts[name] += table.num_rows + sel.duplicate.size

    def _kinds_at(self, kinds: tuple[str, ...], hour: int) -> tuple[str, ...]:
        """Late events only where the window leaves room for them to arrive late."""
        if hour + LATE_DELAY_HOURS[1] <= self.last_hour:
            return kinds
        return tuple(k for k in kinds if k != "late_event")

    def _late_hour(self, name: str, hour: int, pos: int) -> int:
        lo, hi = LATE_DELAY_HOURS
        return hour + lo + (hour * 31 + pos) % (hi - lo)

    def flush_late(self) -> None:
        """Anything still pending lands in the window's last hour (never silently dropped)."""
        for (name, hour), rows in sorted(self.late.items()):
            contract = get_contract(name)
            path = microbatch_path(self.landing, contract, _hour_dt(self.t0, hour), "late")
            write_jsonl(_empty(contract), path, rows)
        self.late.clear()

    # ---------------------------------------------------------- Parquet KPIs
    def kpis(self, batch_hour: int, part: str, table: pa.Table, delivery_no: int) -> None:
        contract = get_contract("network.cell_kpis")
        name = contract.name
        table = conform(table, contract)
        path = microbatch_path(self.landing, contract, _hour_dt(self.t0, batch_hour), part)
        rel = self.rel(path)
        kinds = self._kinds_at(
            ("schema_violation", "orphan_key", "duplicate", "late_event"), batch_hour
        )
        sel = self.planter.select(name, delivery_no, table.num_rows, kinds)
        pieces = [_without(table, sel.removed)]
        column, _ = break_value(name, 0)
        for i, pos in enumerate(sel.schema_violation):
            _, value = break_value(name, i)
            row = table.slice(int(pos), 1)
            row = row.set_column(
                row.schema.get_field_index(column), column, pa.array([value], pa.float64())
            )
            pieces.append(row)
            self.planter.record(
                name,
                "schema_violation",
                rel,
                self._key(contract, row.to_pylist()[0]),
                f"{column}={value!r}",
            )
        for i, pos in enumerate(sel.orphan_key):
            ocol, value = orphan_value(name, i, delivery_no)
            row = table.slice(int(pos), 1)
            row = row.set_column(
                row.schema.get_field_index(ocol), ocol, pa.array([value], pa.string())
            )
            pieces.append(row)
            self.planter.record(
                name,
                "orphan_key",
                rel,
                self._key(contract, row.to_pylist()[0]),
                f"{ocol}={value} does not exist",
            )
        if sel.duplicate.size:
            dup = table.take(pa.array(sel.duplicate))
            pieces.append(dup)
            for row in dup.to_pylist():
                self.planter.record(
                    name, "duplicate", rel, self._key(contract, row), "delivered twice"
                )
        if sel.late_event.size:
            late = table.take(pa.array(sel.late_event))
            arrival = self._late_hour(name, batch_hour, delivery_no)
            self.late_kpis[arrival].append(late)
            arrival_rel = self.rel(
                microbatch_path(self.landing, contract, _hour_dt(self.t0, arrival), "late")
            )
            for row in late.to_pylist():
                self.planter.record(
                    name,
                    "late_event",
                    arrival_rel,
                    self._key(contract, row),
                    f"arrived {arrival - batch_hour} h after its batch",
                )
        write_parquet(pa.concat_tables([p.cast(pieces[0].schema) for p in pieces]), path)
        self.counts[name] += table.num_rows + sel.duplicate.size

    def kpi_late_files(self, up_to_hour: int) -> None:
        """Write the collectors' re-sent late rows whose arrival hour has come."""
        contract = get_contract("network.cell_kpis")
        for hour in sorted(h for h in self.late_kpis if h < up_to_hour):
            path = microbatch_path(self.landing, contract, _hour_dt(self.t0, hour), "late")
            write_parquet(pa.concat_tables(self.late_kpis.pop(hour)), path)


def _empty(contract: Contract) -> pa.Table:
    return arrow_schema(contract).empty_table()


def _hour_dt(t0: int, hour: int) -> datetime:
    return datetime.fromtimestamp(t0 / 1_000_000 + hour * 3600, tz=UTC)


def _without(table: pa.Table, positions: np.ndarray) -> pa.Table:
    if positions.size == 0:
        return table
    mask = np.ones(table.num_rows, dtype=bool)
    mask[positions] = False
    return table.filter(pa.array(mask))


def _write_crm(
    config: GeneratorConfig,
    snapshot: CrmSnapshot,
    url: str,
    landing: Path,
    planter: Planter,
    progress: Progress,
) -> dict[str, int]:
    crm = {name.split(".")[1]: c for name, c in all_contracts().items() if c.source == "crm"}
    db = CrmDatabase(url, crm.values())
    counts: dict[str, int] = defaultdict(int)
    writers: dict[str, pacsv.CSVWriter] = {}
    try:
        with db.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            db.metadata.drop_all(conn)
            db.metadata.create_all(conn)

            def emit(entity: str, table: pa.Table) -> None:
                contract = crm[entity]
                table = conform(table, contract)
                db.insert(conn, entity, table)
                text = textual(table)
                path = crm_export_path(landing, entity)
                if entity not in writers:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writers[entity] = pacsv.CSVWriter(str(path), text.schema)
                writers[entity].write_table(text)
                counts[f"crm.{entity}"] += table.num_rows

            emit("plans", snapshot.plans())
            emit("customer_attributes", _empty(crm["customer_attributes"]))
            total = (config.customers + config.chunk_size - 1) // config.chunk_size
            for number, tables in snapshot.chunks():
                for entity, table in tables.items():
                    emit(entity, _plant_crm(f"crm.{entity}", table, number, planter))
                progress("CRM database", number + 1, total)
    finally:
        for w in writers.values():
            w.close()
        db.close()
    return dict(counts)


def _plant_crm(name: str, table: pa.Table, chunk: int, planter: Planter) -> pa.Table:
    kinds = {
        "crm.customers": ("schema_violation",),
        "crm.subscriptions": ("orphan_key",),
        "crm.accounts": ("orphan_key",),
    }.get(name)
    if not kinds:
        return table
    contract = get_contract(name)
    sel = planter.select(name, chunk, table.num_rows, kinds)
    positions = sel.schema_violation if kinds[0] == "schema_violation" else sel.orphan_key
    if positions.size == 0 and chunk == 0 and table.num_rows:
        positions = np.array([table.num_rows // 2])  # every run plants at least one of each
    if positions.size == 0:
        return table
    column = (
        break_value(name, 0)[0] if kinds[0] == "schema_violation" else orphan_value(name, 0, 0)[0]
    )
    values = table[column].to_pylist()
    for i, pos in enumerate(positions):
        if kinds[0] == "schema_violation":
            _, value = break_value(name, i)
        else:
            _, value = orphan_value(name, i, chunk)
        values[int(pos)] = value
        key = "|".join(str(table[k][int(pos)].as_py()) for k in contract.primary_key)
        rule = (
            f"{column}={value!r}"
            if kinds[0] == "schema_violation"
            else f"{column}={value} does not exist"
        )
        planter.record(name, kinds[0], "crm database", key, rule)
    return table.set_column(
        table.schema.get_field_index(column),
        column,
        pa.array(values, table.schema.field(column).type),
    )


def generate(
    config: GeneratorConfig, settings: Settings, progress: Progress = _no_progress
) -> GenerateResult:
    """Generate every source for ``config`` and publish it atomically under ``settings``."""
    landing_final = settings.landing_path
    generated_final = settings.generated_path
    crm_url = settings.crm_database_url
    world = build_world(config)
    planter = Planter(config.seed, config.bad_records)
    sim = Simulation(world)
    with ExitStack() as stack:
        landing = stack.enter_context(staged_directory(landing_final))
        generated = stack.enter_context(staged_directory(generated_final))
        writer = _Writer(config, landing, planter)
        # Telemetry only depends on the cells, so it is written by a second process.
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        telemetry_job = pool.submit(write_telemetry, config, str(landing))
        cells = get_contract("network.cells")
        snapshot_day = config.start_date + timedelta(days=config.days - 1)
        write_csv(
            conform(CrmSnapshot(world, sim.outcome()).cells(), cells),
            daily_file_path(landing, cells, snapshot_day),
        )
        writer.counts["network.cells"] = world.cells.count
        for out in sim.days():
            writer.daily_csv("billing.usage_daily", out.usage, out.day)
            writer.daily_csv("billing.invoices", out.invoices, out.day)
            writer.payments(out.payments, out.day)
            writer.hourly_jsonl(
                "interactions.events",
                out.events,
                "occurred_at",
                ("schema_violation", "orphan_key", "duplicate", "late_event"),
                out.day,
            )
            writer.hourly_jsonl(
                "interactions.tickets",
                out.tickets,
                "updated_at",
                ("schema_violation", "duplicate"),
                out.day,
            )
            writer.hourly_jsonl(
                "interactions.ticket_status_changes",
                out.ticket_status_changes,
                "changed_at",
                (),
                out.day,
            )
            progress("Simulating days", out.day + 1, config.days)
        counts, planted = telemetry_job.result()
        writer.counts.update(counts)
        planter.log.extend(planted)
        progress("Network telemetry", 1, 1)
        writer.flush_late()
        outcome = sim.outcome()
        snapshot = CrmSnapshot(world, outcome)
        crm_counts = _write_crm_published(config, snapshot, crm_url, landing, planter, progress)
        writer.counts.update(crm_counts)
        _write_ground_truth(generated, world, outcome, planter)
        manifest = _manifest(config, landing, generated, writer.counts, planter, outcome, crm_url)
        (generated / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        )
        files = len(manifest["files"])
    return GenerateResult(
        config=config,
        row_counts=dict(sorted(writer.counts.items())),
        planted=manifest["planted"],
        customers_churned=int((outcome.churn_day < NEVER).sum()),
        landing_path=landing_final,
        generated_path=generated_final,
        crm_database_url=crm_url,
        files_written=files,
        manifest=manifest,
    )


def write_telemetry(config: GeneratorConfig, landing: str) -> tuple[dict[str, int], list[Planted]]:
    """Alarms and per-minute KPIs for the whole window (runs in its own process)."""
    world = build_world(config)
    telemetry = Telemetry(world)
    planter = Planter(config.seed, config.bad_records)
    writer = _Writer(config, Path(landing), planter)
    alarms = get_contract("network.alarms")
    by_hour = telemetry.alarms_by_hour()
    for hour in sorted(by_hour):
        writer.jsonl_file(
            alarms, hour, conform(by_hour[hour], alarms), ("schema_violation", "late_event")
        )
    for number, batch in enumerate(telemetry.kpi_batches()):
        writer.kpis(batch.batch_hour, batch.part, batch.table, number)
        writer.kpi_late_files(batch.batch_hour)
    writer.kpi_late_files(config.days * 24 + 1)
    writer.flush_late()
    return dict(writer.counts), planter.log


def _write_crm_published(
    config: GeneratorConfig,
    snapshot: CrmSnapshot,
    url: str,
    landing: Path,
    planter: Planter,
    progress: Progress,
) -> dict[str, int]:
    """SQLite: build a fresh file beside the old one, then rename over it. Other databases:
    one transaction replaces the tables, so readers never see half a CRM."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        final = Path(parsed.database)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.with_name(f".{final.name}.staging-{uuid.uuid4().hex[:8]}")
        try:
            counts = _write_crm(
                config,
                snapshot,
                parsed.set(database=str(staging)).render_as_string(hide_password=False),
                landing,
                planter,
                progress,
            )
            staging.replace(final)
        finally:
            if staging.exists():
                staging.unlink()
        return counts
    return _write_crm(config, snapshot, url, landing, planter, progress)


def _write_ground_truth(folder: Path, world: Any, outcome: Any, planter: Planter) -> None:
    truth = folder / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    cfg = world.config
    churned = outcome.churn_day < NEVER
    n = world.customers.count
    churn_dates = [
        (cfg.start_date + timedelta(days=int(d))).isoformat() if c else None
        for d, c in zip(outcome.churn_day, churned, strict=True)
    ]
    table = pa.table(
        {
            "customer_id": [f"C{i + 1:08d}" for i in range(n)],
            "is_churned": churned,
            "churn_date": pa.array(churn_dates, pa.string()),
            "termination_reason": pa.array([r or None for r in outcome.churn_reason], pa.string()),
            "primary_driver": pa.array([r or None for r in outcome.churn_driver], pa.string()),
            "home_cell_quality_z": np.round(world.cells.quality_z[world.customers.home_cell], 4),
        }
    )
    pacsv.write_csv(table, truth / "churn.csv")
    pacsv.write_csv(planter.table(), truth / "planted_bad_records.csv")


def _manifest(
    config: GeneratorConfig,
    landing: Path,
    generated: Path,
    counts: dict[str, int],
    planter: Planter,
    outcome: Any,
    crm_url: str,
) -> dict[str, Any]:
    planted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in planter.log:
        planted[p.entity][p.kind] += 1
    files = {
        path.relative_to(landing).as_posix(): sha256_file(path)
        for path in sorted(landing.rglob("*"))
        if path.is_file()
    }
    truth = {
        f"ground_truth/{p.name}": sha256_file(p)
        for p in sorted((generated / "ground_truth").glob("*"))
    }
    db = CrmDatabase(crm_url, [c for c in all_contracts().values() if c.source == "crm"])
    try:
        crm_checksum = db.checksum()
    finally:
        db.close()
    params = asdict(config)
    params["start_date"] = config.start_date.isoformat()
    churned = int((outcome.churn_day < NEVER).sum())
    return {
        "generator": GENERATOR_VERSION,
        "parameters": params,
        "row_counts": dict(sorted(counts.items())),
        "planted": {k: dict(sorted(v.items())) for k, v in sorted(planted.items())},
        "churn": {
            "customers": config.customers,
            "churned": churned,
            "rate": round(churned / max(config.customers, 1), 4),
        },
        "files": files,
        "ground_truth": truth,
        "crm_checksum": crm_checksum,
    }
