"""Per-minute cell KPIs and alarm events, consistent with the cells' outage schedule.

Each hour the core collector drops one file for the cells it polls directly; rural
edge sites report through an edge collector per region that uploads an hour later
over its thin link (still within the contract's late-arrival tolerance).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_contracts.synthetic.population import World, rng_for
from data_contracts.synthetic.simulate import epoch_us, ids, ts_array
from data_contracts.synthetic.vocab import REGION_NAMES

US_PER_MINUTE = 60_000_000
EDGE_UPLOAD_DELAY_HOURS = 1
ALARM_TYPES_OUTAGE = ("power_failure", "backhaul_down", "hardware_fault", "software_fault")
ALARM_TYPES_MINOR = ("high_temperature", "congestion")
# Traffic load by hour of day (0..1): quiet nights, busy evenings.
LOAD = np.array(
    [
        0.25,
        0.18,
        0.12,
        0.1,
        0.1,
        0.15,
        0.3,
        0.5,
        0.65,
        0.7,
        0.72,
        0.75,
        0.8,
        0.78,
        0.75,
        0.75,
        0.8,
        0.85,
        0.92,
        1.0,
        0.98,
        0.85,
        0.6,
        0.4,
    ]
)


@dataclass
class KpiBatch:
    """One collector file: ``batch_hour`` is when it lands, rows may be older (edge delay)."""

    batch_hour: int  # hours since window start
    part: str
    table: pa.Table


class Telemetry:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cfg = world.config
        self.t0 = epoch_us(self.cfg)
        self.cell_ids = ids("CELL", 6, world.cells.count)

    def kpi_batches(self) -> Iterator[KpiBatch]:
        """Hourly KPI files in landing order, from the first telemetry day to the window end."""
        cells = self.world.cells
        edge_regions = sorted({int(r) for r in cells.region[cells.is_edge]})
        first_hour = self.cfg.telemetry_first_day * 24
        last_hour = self.cfg.days * 24
        for hour in range(first_hour, last_hour):
            table = self._kpi_hour(hour)
            is_edge = pa.array(cells.is_edge).take(pa.array(np.repeat(np.arange(cells.count), 60)))
            core = table.filter(pa.compute.invert(is_edge))
            yield KpiBatch(hour, "core", core)
            for region in edge_regions:
                mask = np.repeat(cells.is_edge & (cells.region == region), 60)
                batch_hour = hour + EDGE_UPLOAD_DELAY_HOURS  # may land after the window ends
                yield KpiBatch(
                    batch_hour, f"edge-{REGION_NAMES[region]}", table.filter(pa.array(mask))
                )

    def _kpi_hour(self, hour: int) -> pa.Table:
        cells = self.world.cells
        rng = rng_for(self.cfg.seed, 20, hour)
        n = cells.count
        day, hod = divmod(hour, 24)
        minute_of_day = hod * 60 + np.arange(60)
        shape = (n, 60)
        load = LOAD[hod] * rng.uniform(0.85, 1.15, shape)
        start = cells.outage_start_minute[:, day][:, None]
        length = cells.outage_minutes[:, day][:, None]
        down = (
            (start >= 0)
            & (minute_of_day[None, :] >= start)
            & (minute_of_day[None, :] < start + length)
        )
        latency = cells.base_latency_ms[:, None] * (1 + 0.6 * load) * rng.lognormal(0, 0.15, shape)
        loss = np.clip(
            cells.base_loss_pct[:, None] * (1 + 1.5 * load) * rng.lognormal(0, 0.4, shape), 0, 100
        )
        throughput = (
            cells.base_throughput_mbps[:, None] * (1 - 0.5 * load) * rng.lognormal(0, 0.2, shape)
        )
        drops = np.clip(
            cells.base_drop_rate[:, None] * (1 + load) * rng.lognormal(0, 0.3, shape), 0, 1
        )
        availability = np.where(down, 0.0, 100.0)
        flat_down = down.ravel()
        measured = self.t0 + hour * 3_600_000_000 + np.arange(60) * US_PER_MINUTE
        return pa.table(
            {
                "cell_id": self.cell_ids.take(pa.array(np.repeat(np.arange(n), 60))),
                "measured_at": ts_array(np.tile(measured, n)),
                "latency_ms": pa.array(np.round(latency.ravel(), 1), mask=flat_down),
                "packet_loss_pct": pa.array(np.round(loss.ravel(), 3), mask=flat_down),
                "throughput_mbps": np.where(flat_down, 0.0, np.round(throughput.ravel(), 2)),
                "dropped_call_rate": pa.array(np.round(drops.ravel(), 4), mask=flat_down),
                "availability_pct": availability.ravel(),
            }
        )

    def alarms_by_hour(self) -> dict[int, pa.Table]:
        """Alarm events grouped by the hour they are reported in."""
        cells = self.world.cells
        rng = rng_for(self.cfg.seed, 30)
        rows: list[tuple[int, str, int, str, str, int]] = []
        n, days = cells.count, self.cfg.days
        minor = rng.random((n, days)) < 0.03
        minor_start = rng.integers(0, 1380, (n, days))
        minor_len = rng.integers(10, 90, (n, days))
        outage_type = rng.choice(len(ALARM_TYPES_OUTAGE), size=(n, days), p=[0.35, 0.3, 0.2, 0.15])
        minor_type = rng.integers(0, 2, (n, days))
        for cell, day in zip(*np.nonzero(cells.outage_minutes > 0), strict=True):
            start = int(cells.outage_start_minute[cell, day])
            alarm_no = (int(day) * n + int(cell)) * 2
            kind = ALARM_TYPES_OUTAGE[int(outage_type[cell, day])]
            begin = int(day) * 1440 + start
            rows.append((alarm_no, "raised", int(cell), kind, "critical", begin))
            rows.append(
                (
                    alarm_no,
                    "cleared",
                    int(cell),
                    kind,
                    "critical",
                    begin + int(cells.outage_minutes[cell, day]),
                )
            )
        for cell, day in zip(*np.nonzero(minor), strict=True):
            alarm_no = (int(day) * n + int(cell)) * 2 + 1
            kind = ALARM_TYPES_MINOR[int(minor_type[cell, day])]
            severity = "minor" if kind == "congestion" else "warning"
            begin = int(day) * 1440 + int(minor_start[cell, day])
            rows.append((alarm_no, "raised", int(cell), kind, severity, begin))
            rows.append(
                (alarm_no, "cleared", int(cell), kind, severity, begin + int(minor_len[cell, day]))
            )
        rows = [r for r in rows if r[5] < days * 1440]
        rows.sort(key=lambda r: (r[5], r[0], r[1]))
        grouped: dict[int, list[tuple[int, str, int, str, str, int]]] = {}
        for row in rows:
            grouped.setdefault(row[5] // 60, []).append(row)
        out: dict[int, pa.Table] = {}
        for hour, items in grouped.items():
            out[hour] = pa.table(
                {
                    "alarm_id": pa.array([f"AL{r[0]:09d}" for r in items], pa.string()),
                    "event_type": pa.array([r[1] for r in items], pa.string()),
                    "cell_id": self.cell_ids.take(pa.array([r[2] for r in items])),
                    "alarm_type": pa.array([r[3] for r in items], pa.string()),
                    "severity": pa.array([r[4] for r in items], pa.string()),
                    "occurred_at": ts_array(
                        self.t0 + np.array([r[5] for r in items], dtype=np.int64) * US_PER_MINUTE
                    ),
                }
            )
        return out
