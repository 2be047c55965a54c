"""Deliberately broken records, planted so the pipeline's quarantine has something to catch.

Every planted record is logged (entity, kind, file, business key, rule) to the ground
truth, never to the landing zone, so tests can check each one ends up in quarantine.
Kinds: ``schema_violation`` (a value the contract forbids), ``duplicate`` (the same record
delivered twice), ``orphan_key`` (a reference to something that does not exist) and
``late_event`` (an event arriving after the contract's late-arrival tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from data_contracts.synthetic.config import BadRecordRates
from data_contracts.synthetic.population import rng_for

ENTITY_CODES = {
    "billing.usage_daily": 1,
    "billing.invoices": 2,
    "billing.payments": 3,
    "network.cell_kpis": 4,
    "network.alarms": 5,
    "interactions.events": 6,
    "interactions.tickets": 7,
    "crm.customers": 8,
    "crm.subscriptions": 9,
    "crm.accounts": 10,
    "interactions.ticket_status_changes": 11,
}
# How each entity gets broken for a schema violation: column -> bad values (cycled).
SCHEMA_BREAKS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "billing.usage_daily": ("data_mb", ("N/A", "-125.40")),
    "billing.invoices": ("total_amount", ("-15.00", "12,50")),
    "billing.payments": ("amount", ("0000AB12500",)),
    "network.cell_kpis": ("packet_loss_pct", (150.0, -3.0)),
    "network.alarms": ("severity", ("urgent", "CRITICAL")),
    "interactions.events": ("channel", ("fax", "carrier_pigeon")),
    "interactions.tickets": ("csat_score", (7, 0)),
    "crm.customers": ("email", ("not-an-email", "someone@")),
}
# column, prefix, digits: orphan keys look valid but sit in a range nothing real uses.
ORPHAN_KEYS: dict[str, tuple[str, str, int]] = {
    "billing.usage_daily": ("subscription_id", "S9", 8),
    "billing.invoices": ("account_id", "A9", 7),
    "billing.payments": ("invoice_id", "INV99", 8),
    "network.cell_kpis": ("cell_id", "CELL9", 5),
    "interactions.events": ("customer_id", "C9", 7),
    "crm.subscriptions": ("plan_id", "P-RETIRED-", 4),
    "crm.accounts": ("customer_id", "C9", 7),
}


@dataclass
class Planted:
    entity: str
    kind: str
    file: str
    record_key: str
    rule: str


@dataclass
class Selection:
    """Row positions chosen for each kind in one delivery (disjoint)."""

    schema_violation: np.ndarray
    orphan_key: np.ndarray
    duplicate: np.ndarray
    late_event: np.ndarray

    @property
    def removed(self) -> np.ndarray:
        """Rows replaced by their broken version or moved to a later delivery."""
        return np.concatenate([self.schema_violation, self.orphan_key, self.late_event])


@dataclass
class Planter:
    seed: int
    rates: BadRecordRates
    log: list[Planted] = field(default_factory=list)

    def select(
        self, entity: str, delivery_no: int, n_rows: int, kinds: tuple[str, ...]
    ) -> Selection:
        rng = rng_for(self.seed, 40, ENTITY_CODES[entity], delivery_no)
        counts = {
            k: int(rng.binomial(n_rows, getattr(self.rates, k))) if k in kinds else 0
            for k in ("schema_violation", "orphan_key", "duplicate", "late_event")
        }
        total = min(sum(counts.values()), n_rows)
        picks = (
            np.sort(rng.choice(n_rows, size=total, replace=False))
            if total
            else np.array([], dtype=np.int64)
        )
        rng.shuffle(picks)
        out: dict[str, np.ndarray] = {}
        start = 0
        for kind, count in counts.items():
            out[kind] = np.sort(picks[start : start + count]).astype(np.int64)
            start += count
        return Selection(**out)

    def record(self, entity: str, kind: str, file: str, key: str, rule: str) -> None:
        self.log.append(Planted(entity, kind, file, key, rule))

    def table(self) -> pa.Table:
        return pa.table(
            {
                "entity": [p.entity for p in self.log],
                "kind": [p.kind for p in self.log],
                "file": [p.file for p in self.log],
                "record_key": [p.record_key for p in self.log],
                "rule": [p.rule for p in self.log],
            }
        )


def break_value(entity: str, i: int) -> tuple[str, Any]:
    column, values = SCHEMA_BREAKS[entity]
    return column, values[i % len(values)]


def orphan_value(entity: str, i: int, salt: int) -> tuple[str, str]:
    column, prefix, digits = ORPHAN_KEYS[entity]
    return column, f"{prefix}{(salt * 1000 + i) % 10**digits:0{digits}d}"
