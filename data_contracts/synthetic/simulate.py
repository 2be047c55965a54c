"""Day-by-day simulation of the operator: usage, bills, payments, tickets, interactions, churn.

Churn follows the hazard model in :class:`~data_contracts.synthetic.config.ChurnHazard`:
each day every live customer leaves with probability ``base * exp(sum(coef * driver))``.
The drivers are consequences of things the data shows (a bad home cell, outages, open
tickets, failed payments, contracts ending, price rises), so a model can recover them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.population import (
    NEVER,
    PAYMENT_METHODS,
    PRODUCT_MOBILE,
    SEG_ENTERPRISE,
    SEG_SME,
    World,
    rng_for,
)
from data_contracts.synthetic.vocab import CURRENCY, PLANS

US_PER_DAY = 86_400_000_000
CHANNELS = ("app", "web", "call_centre", "chat", "store")
EVENT_TYPES = (
    "login",
    "view_bill",
    "pay_bill",
    "view_usage",
    "plan_change_view",
    "speed_test",
    "outage_report",
    "support_contact",
    "complaint",
    "cancel_request",
    "store_visit",
)
EVENT_MIX = {  # channel -> probabilities over EVENT_TYPES
    "app": [0.35, 0.18, 0.10, 0.22, 0.07, 0.08, 0, 0, 0, 0, 0],
    "web": [0.30, 0.25, 0.15, 0.15, 0.10, 0.05, 0, 0, 0, 0, 0],
    "call_centre": [0, 0.05, 0.05, 0, 0.15, 0, 0, 0.55, 0.20, 0, 0],
    "chat": [0, 0.15, 0, 0.05, 0.10, 0, 0, 0.55, 0.15, 0, 0],
    "store": [0, 0, 0.10, 0, 0.20, 0, 0, 0, 0, 0, 0.70],
}
CHANNEL_DURATION_S = np.array([150.0, 200.0, 420.0, 600.0, 900.0])
HOUR_WEIGHTS = np.array(
    [
        1,
        0.5,
        0.3,
        0.3,
        0.3,
        0.5,
        1.5,
        3,
        5,
        6,
        6.5,
        7,
        7.5,
        7,
        6.5,
        6.5,
        7,
        7.5,
        8,
        8.5,
        8,
        6,
        4,
        2,
    ],
    dtype=float,
)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
TICKET_CATEGORIES = ("network", "billing", "technical_support", "device", "account", "cancellation")
PRIORITIES = ("low", "medium", "high", "critical")
FIRST_RESPONSE_MEDIAN_MIN = np.array([600.0, 240.0, 60.0, 20.0])
RESOLUTION_MEDIAN_H = np.array([60.0, 30.0, 20.0, 80.0, 14.0, 6.0])
LONG_TICKET_S = 48 * 3600  # a ticket still open after 48 hours counts against the customer
TICKET_MEMORY_DAYS = 30
REASON_BY_DRIVER = {
    "network": "network_quality",
    "outage": "network_quality",
    "tickets": "service_issues",
    "month_to_month": "competitor_offer",
    "contract_end": "contract_end",
    "price_rise": "price",
    "failed_payment": "payment_issues",
    "short_tenure": "competitor_offer",
}
BASELINE_REASONS = ("moved_away", "other", "competitor_offer")
FAILURE_REASONS = (
    "insufficient_funds",
    "card_expired",
    "card_declined",
    "bank_rejected",
    "technical_error",
)


def epoch_us(config: GeneratorConfig) -> int:
    start = datetime(
        config.start_date.year, config.start_date.month, config.start_date.day, tzinfo=UTC
    )
    return int(start.timestamp() * 1_000_000)


def ts_array(values_us: np.ndarray) -> pa.Array:
    return pa.array(values_us.astype(np.int64), pa.timestamp("us", tz="UTC"))


def ids(prefix: str, width: int, count: int) -> pa.Array:
    return pa.array([f"{prefix}{i + 1:0{width}d}" for i in range(count)], pa.string())


@dataclass
class DayOutput:
    day: int
    usage: pa.Table
    invoices: pa.Table
    payments: pa.Table
    events: pa.Table
    tickets: pa.Table
    ticket_status_changes: pa.Table


@dataclass
class Outcome:
    """End-of-window state the CRM snapshot and the ground truth are written from."""

    churn_day: np.ndarray
    churn_reason: list[str]
    churn_driver: list[str]
    sub_end_day: np.ndarray
    drivers_at_churn: dict[int, dict[str, float]] = field(default_factory=dict)


class Simulation:
    """Runs the window day by day; iterate :meth:`days` to receive each day's deliveries."""

    def __init__(self, world: World) -> None:
        self.world = world
        cfg = world.config
        self.cfg = cfg
        self.t0 = epoch_us(cfg)
        cust, subs, acc, cells = world.customers, world.subscriptions, world.accounts, world.cells
        n = cust.count
        self.customer_ids = ids("C", 8, n)
        self.account_ids = ids("A", 8, acc.count)
        self.subscription_ids = ids("S", 9, subs.count)
        self.churn_day = np.full(n, NEVER, dtype=np.int32)
        self.reasons: dict[int, str] = {}
        self.drivers: dict[int, str] = {}
        self.driver_values: dict[int, dict[str, float]] = {}
        self.sub_end_day = np.full(subs.count, NEVER, dtype=np.int32)
        self.unresolved_tickets = np.zeros(n, dtype=np.int16)
        self.failed_until = np.full(n, -1, dtype=np.int32)
        self.usage_charges = np.zeros(acc.count)
        self.invoice_seq = 0
        self.payment_seq = 0
        self.ticket_seq = 0
        self.event_seq = 0
        # static per-customer drivers
        self.cell_z = cells.quality_z[cust.home_cell]
        committed = subs.contract > 0
        self.all_m2m = np.ones(n, dtype=bool)
        self.all_m2m[subs.customer[committed]] = False
        self.contract_end = np.full(n, NEVER, dtype=np.int32)
        np.minimum.at(self.contract_end, subs.customer, subs.contract_end_day)
        self.price_rise_day = np.full(n, NEVER, dtype=np.int32)
        np.minimum.at(self.price_rise_day, subs.customer, subs.price_change_day)
        kinds = np.zeros((n, 3), dtype=bool)
        kinds[subs.customer, subs.product] = True
        self.bundle = kinds.sum(axis=1) >= 2
        self.first_sub = np.full(n, -1, dtype=np.int64)
        order = np.arange(subs.count)[::-1]
        self.first_sub[subs.customer[order]] = order
        outage = cells.outage_minutes > 0
        csum = np.cumsum(outage, axis=1)
        shifted = np.concatenate(
            [np.zeros((cells.count, 7), dtype=csum.dtype), csum[:, :-7]], axis=1
        )[:, : outage.shape[1]]
        self.cell_outage_recent = (csum - shifted) > 0
        self.pending_payments: dict[int, list[dict[str, np.ndarray]]] = defaultdict(list)
        self.pending_ticket_memory: dict[int, list[tuple[np.ndarray, int]]] = defaultdict(list)
        self.pending_ticket_rows: dict[int, list[dict[str, object]]] = defaultdict(list)
        self.pending_status_rows: dict[int, list[dict[str, object]]] = defaultdict(list)

    # ------------------------------------------------------------------ helpers
    def _us(self, day: int | np.ndarray, second: np.ndarray | int) -> np.ndarray:
        return (
            self.t0
            + np.asarray(day, dtype=np.int64) * US_PER_DAY
            + np.asarray(second, dtype=np.int64) * 1_000_000
        )

    def _date(self, day: int) -> datetime:
        return datetime(
            self.cfg.start_date.year, self.cfg.start_date.month, self.cfg.start_date.day, tzinfo=UTC
        ) + timedelta(days=day)

    # ------------------------------------------------------------------ main loop
    def days(self) -> Iterator[DayOutput]:
        for day in range(self.cfg.days):
            rng = rng_for(self.cfg.seed, 10, day)
            yield self._simulate_day(day, rng)

    def _simulate_day(self, d: int, rng: np.random.Generator) -> DayOutput:
        cust = self.world.customers
        payments = self._payments_due(d)
        for who, delta in self.pending_ticket_memory.pop(d, []):
            np.add.at(self.unresolved_tickets, who, delta)
        alive = np.flatnonzero((cust.signup_day <= d) & (self.churn_day == NEVER))
        outage_today = self.world.cells.outage_minutes[cust.home_cell[alive], d] > 0
        ticket_events = self._open_tickets(d, alive, outage_today, rng)
        churn_events = self._churn(d, alive, rng)
        usage = self._usage(d, rng)
        invoices = self._invoices(d, rng)
        events = self._events(d, alive, outage_today, ticket_events, churn_events, rng)
        tickets = _rows_table(self.pending_ticket_rows.pop(d, []), _TICKET_FIELDS)
        changes = _rows_table(self.pending_status_rows.pop(d, []), _STATUS_FIELDS)
        return DayOutput(d, usage, invoices, payments, events, tickets, changes)

    # ------------------------------------------------------------------ churn
    def driver_matrix(self, d: int, who: np.ndarray) -> dict[str, np.ndarray]:
        cust = self.world.customers
        return {
            "network": self.cell_z[who],
            "outage": self.cell_outage_recent[cust.home_cell[who], d].astype(float),
            "tickets": np.minimum(self.unresolved_tickets[who], 3).astype(float),
            "month_to_month": self.all_m2m[who].astype(float),
            "contract_end": (
                (self.contract_end[who] - d >= 0) & (self.contract_end[who] - d <= 30)
            ).astype(float),
            "price_rise": (
                (d - self.price_rise_day[who] >= 0) & (d - self.price_rise_day[who] <= 60)
            ).astype(float),
            "failed_payment": (self.failed_until[who] >= d).astype(float),
            "short_tenure": ((d - cust.signup_day[who]) < 180).astype(float),
            "bundle": self.bundle[who].astype(float),
            "sme": (cust.segment[who] == SEG_SME).astype(float),
            "enterprise": (cust.segment[who] == SEG_ENTERPRISE).astype(float),
        }

    def _churn(self, d: int, alive: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hz = self.cfg.hazard
        coefs = hz.coefficients()
        drivers = self.driver_matrix(d, alive)
        log_h = np.full(alive.size, np.log(hz.base_daily))
        for name, coef in coefs.items():
            log_h += coef * drivers[name]
        churned_pos = np.flatnonzero(rng.random(alive.size) < np.exp(log_h))
        churners = alive[churned_pos]
        positive = [k for k, v in coefs.items() if v > 0]
        for pos, c in zip(churned_pos, churners, strict=True):
            weights = np.array(
                [
                    np.expm1(coefs[k] * drivers[k][pos]) if drivers[k][pos] > 0 else 0.0
                    for k in positive
                ]
            )
            weights = np.clip(weights, 0, None)
            total = weights.sum() + 1.0
            pick = rng.random() * total
            if pick < weights.sum():
                driver = positive[int(np.searchsorted(np.cumsum(weights), pick, side="right"))]
                reason = REASON_BY_DRIVER[driver]
                if (
                    driver == "failed_payment"
                    and self.world.customers.credit_class[c] == 3
                    and rng.random() < 0.5
                ):
                    reason = "non_payment"
            else:
                driver = "baseline"
                reason = BASELINE_REASONS[int(rng.integers(0, len(BASELINE_REASONS)))]
            self.churn_day[c] = d
            self.reasons[int(c)] = reason
            self.drivers[int(c)] = driver
            self.driver_values[int(c)] = {k: float(drivers[k][pos]) for k in drivers}
        if churners.size:
            subs = self.world.subscriptions
            theirs = (self.sub_end_day == NEVER) & np.isin(subs.customer, churners)
            # lines that would have been added later never activate: they end the day they'd start
            subs.start_day[theirs & (subs.start_day > d)] = d
            self.sub_end_day[theirs] = d
        return churners

    # ------------------------------------------------------------------ tickets
    def _open_tickets(
        self, d: int, alive: np.ndarray, outage_today: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        failed = self.failed_until[alive] >= d
        p = 0.002 * np.exp(0.5 * self.cell_z[alive] + 1.6 * outage_today + 1.0 * failed)
        opened = np.flatnonzero(rng.random(alive.size) < p)
        who = alive[opened]
        k = who.size
        category = rng.choice(len(TICKET_CATEGORIES), size=k, p=[0.25, 0.2, 0.25, 0.15, 0.12, 0.03])
        category = np.where(outage_today[opened] & (rng.random(k) < 0.8), 0, category)
        category = np.where(failed[opened] & (rng.random(k) < 0.6), 1, category)
        priority = rng.choice(4, size=k, p=[0.3, 0.45, 0.2, 0.05])
        priority = np.where(outage_today[opened], np.maximum(priority, 2), priority)
        channel = rng.choice([0, 1, 2, 3, 4], size=k, p=[0.15, 0.1, 0.45, 0.25, 0.05])
        open_s = (rng.choice(24, size=k, p=HOUR_WEIGHTS) * 3600 + rng.integers(0, 3600, k)).astype(
            np.int64
        )
        first_resp_s = (
            np.rint(FIRST_RESPONSE_MEDIAN_MIN[priority] * 60 * rng.lognormal(0, 0.8, k)).astype(
                np.int64
            )
            + 30
        )
        resolve_s = first_resp_s + np.rint(
            RESOLUTION_MEDIAN_H[category] * 3600 * rng.lognormal(0, 1.0, k)
        ).astype(np.int64)
        pending_customer = rng.random(k) < 0.3
        answered = rng.random(k) < 0.35
        hours = resolve_s / 3600
        csat = np.clip(
            np.rint(5.2 - 0.03 * hours - 0.8 * (category == 0) + rng.normal(0, 0.8, k)), 1, 5
        ).astype(int)
        agents = rng.integers(1, 400, k)
        base = self.t0 + d * US_PER_DAY
        # Tickets left unresolved past 48 hours count for 30 days (the churn driver).
        long_open = resolve_s > LONG_TICKET_S
        counts_from = d + (open_s + LONG_TICKET_S) // 86400
        for day_key in np.unique(counts_from[long_open]):
            sel = long_open & (counts_from == day_key)
            self.pending_ticket_memory[int(day_key)].append((who[sel], 1))
            self.pending_ticket_memory[int(day_key) + TICKET_MEMORY_DAYS].append((who[sel], -1))
        for i in range(k):
            self.ticket_seq += 1
            tid = f"TK{self.ticket_seq:09d}"
            c = int(who[i])
            sub = int(self.first_sub[c])
            opened_us = base + int(open_s[i]) * 1_000_000
            resp_us = opened_us + int(first_resp_s[i]) * 1_000_000
            res_us = opened_us + int(resolve_s[i]) * 1_000_000
            closed_us = res_us + 48 * 3_600_000_000
            common = {
                "ticket_id": tid,
                "customer_id": self.customer_ids[c].as_py(),
                "subscription_id": self.subscription_ids[sub].as_py() if sub >= 0 else None,
                "category": TICKET_CATEGORIES[int(category[i])],
                "channel": CHANNELS[int(channel[i])],
                "priority": PRIORITIES[int(priority[i])],
                "opened_at": opened_us,
            }
            agent = f"AG{int(agents[i]):05d}"
            steps: list[tuple[int, str, int | None, int | None, int | None, str | None]] = [
                (opened_us, "open", None, None, None, None),
                (resp_us, "in_progress", resp_us, None, None, agent),
            ]
            if pending_customer[i]:
                steps.append(
                    ((resp_us + res_us) // 2, "pending_customer", resp_us, None, None, agent)
                )
            score = int(csat[i]) if answered[i] else None
            steps.append((res_us, "resolved", resp_us, res_us, None, agent))
            steps.append((closed_us, "closed", resp_us, res_us, score, None))
            previous: str | None = None
            for at_us, status, fr, rs, cs, who_agent in steps:
                at_day = (at_us - self.t0) // US_PER_DAY
                if at_day >= self.cfg.days:
                    break
                self.pending_ticket_rows[int(at_day)].append(
                    {
                        **common,
                        "ticket_status": status,
                        "first_response_at": fr,
                        "resolved_at": rs,
                        "csat_score": cs,
                        "updated_at": at_us,
                    }
                )
                self.pending_status_rows[int(at_day)].append(
                    {
                        "ticket_id": tid,
                        "changed_at": at_us,
                        "from_status": previous,
                        "to_status": status,
                        "agent_id": who_agent,
                    }
                )
                previous = status
        return who, channel, open_s

    # ------------------------------------------------------------------ usage
    def _usage(self, d: int, rng: np.random.Generator) -> pa.Table:
        subs = self.world.subscriptions
        cust = self.world.customers
        active = np.flatnonzero(
            (subs.start_day <= d) & (self.sub_end_day > d) & (subs.product != 2)
        )
        m = active.size
        weekend = self._date(d).weekday() >= 5
        product = subs.product[active]
        plan = subs.plan[active]
        business = cust.segment[subs.customer[active]] > 0
        allowance_gb = np.array(
            [p.data_allowance_gb if p.data_allowance_gb is not None else 80.0 for p in PLANS]
        )[plan]
        mobile = product == PRODUCT_MOBILE
        day_factor = np.where(business, 0.6 if weekend else 1.1, 1.2 if weekend else 0.95)
        quality = np.exp(-0.08 * self.cell_z[subs.customer[active]])
        noise = rng.lognormal(-0.06, 0.35, m)
        data_mb = np.where(
            mobile,
            allowance_gb * 1024 / 30 * subs.data_fill[active] * day_factor * quality * noise,
            4000 * subs.data_fill[active] * (1.25 if weekend else 1.0) * noise,
        )
        voice_factor = np.where(business, 0.35 if weekend else 1.15, 1.1 if weekend else 1.0)
        voice = np.where(mobile, rng.gamma(1.4, subs.voice_scale[active] / 1.4 * voice_factor), 0.0)
        sms = np.where(mobile, rng.poisson(np.where(business, 0.8, 1.6)), 0)
        roaming = mobile & (rng.random(m) < subs.roaming_propensity[active])
        roaming_data = np.where(roaming, data_mb * rng.uniform(0.3, 0.9, m), 0.0)
        roaming_voice = np.where(roaming, voice * rng.uniform(0.2, 0.8, m), 0.0)
        data_mb = data_mb - roaming_data
        # charges accrue on the account until its next invoice
        daily_allow = allowance_gb * 1024 / 30
        over_price = np.array([p.overage_price_per_gb or 0.0 for p in PLANS])[plan]
        overage = np.where(mobile, np.maximum(data_mb - daily_allow, 0) / 1024 * over_price, 0.0)
        charges = overage + roaming_data * 0.005 + roaming_voice * 0.10
        np.add.at(self.usage_charges, subs.account[active], charges)
        return pa.table(
            {
                "subscription_id": self.subscription_ids.take(pa.array(active)),
                "usage_date": pa.array(np.full(m, self._date(d).date()), pa.date32()),
                "data_mb": np.round(data_mb, 2),
                "voice_minutes": np.round(voice, 1),
                "sms_count": sms.astype(np.int64),
                "roaming_data_mb": np.round(roaming_data, 2),
                "roaming_voice_minutes": np.round(roaming_voice, 1),
            }
        )

    # ------------------------------------------------------------------ billing
    def _invoices(self, d: int, rng: np.random.Generator) -> pa.Table:
        acc, subs = self.world.accounts, self.world.subscriptions
        today = self._date(d)
        active = (subs.start_day <= d) & (self.sub_end_day > d)
        price_now = np.where(
            subs.price_change_day <= d,
            subs.monthly_price,
            np.where(np.isnan(subs.previous_price), subs.monthly_price, subs.previous_price),
        )
        recurring_all = np.bincount(
            subs.account[active], weights=price_now[active], minlength=acc.count
        )
        due = np.flatnonzero((acc.cycle_day == today.day) & (recurring_all > 0))
        k = due.size
        recurring = np.round(recurring_all[due], 2)
        usage = np.round(self.usage_charges[due], 2)
        self.usage_charges[due] = 0.0
        tax = np.round((recurring + usage) * 0.20, 2)
        total = np.round(recurring + usage + tax, 2)
        invoice_ids = [f"INV{self.invoice_seq + i + 1:010d}" for i in range(k)]
        self.invoice_seq += k
        period_end = today.date() - timedelta(days=1)
        period_start = (today - timedelta(days=30)).date()
        self._schedule_payments(d, due, np.array(invoice_ids, dtype=object), total, rng)
        return pa.table(
            {
                "invoice_id": pa.array(invoice_ids, pa.string()),
                "account_id": self.account_ids.take(pa.array(due)),
                "issue_date": pa.array([today.date()] * k, pa.date32()),
                "billing_period_start": pa.array([period_start] * k, pa.date32()),
                "billing_period_end": pa.array([period_end] * k, pa.date32()),
                "due_date": pa.array([today.date() + timedelta(days=14)] * k, pa.date32()),
                "recurring_amount": recurring,
                "usage_amount": usage,
                "tax_amount": tax,
                "total_amount": total,
                "currency": pa.array([CURRENCY] * k, pa.string()),
            }
        )

    def _schedule_payments(
        self,
        d: int,
        accounts: np.ndarray,
        invoice_ids: np.ndarray,
        amount: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        acc, cust = self.world.accounts, self.world.customers
        k = accounts.size
        if k == 0:
            return
        method = acc.payment_method[accounts]
        autopay = acc.is_autopay[accounts]
        credit = cust.credit_class[acc.customer[accounts]]
        due_day = d + 14
        manual_delay = np.rint(9 * rng.lognormal(0, 0.5, k)).astype(np.int32)
        first_day = np.where(autopay, due_day, d + manual_delay)
        credit_risk = np.array([0.01, 0.03, 0.08, 0.18])[credit]
        p_fail = np.where(
            autopay,
            credit_risk * np.where(method == 1, 1.6, 1.0),
            np.where(method == 3, 0.06 + credit_risk, 0.0),
        )
        never_pay = ~autopay & (rng.random(k) < np.array([0.005, 0.02, 0.05, 0.12])[credit])
        fail1 = rng.random(k) < p_fail
        retry_day = first_day + rng.integers(3, 8, k)
        fail2 = fail1 & (rng.random(k) < 0.3)
        reason_card = rng.choice([1, 2, 0], size=k, p=[0.4, 0.4, 0.2])
        reason_debit = rng.choice([0, 3], size=k, p=[0.8, 0.2])
        reason_check = rng.choice([0, 3, 4], size=k, p=[0.6, 0.3, 0.1])
        reason = np.where(
            method == 1, reason_card, np.where(method == 0, reason_debit, reason_check)
        )
        second_of_day = np.where(
            autopay, rng.integers(2 * 3600, 6 * 3600, k), rng.integers(8 * 3600, 22 * 3600, k)
        )
        base = {
            "account": accounts,
            "invoice": invoice_ids,
            "amount": amount,
            "method": method,
            "due_day": np.full(k, due_day),
            "second": second_of_day,
        }
        attempts = [
            (~never_pay, first_day, np.where(fail1, 1, 0)),
            (fail1 & ~never_pay, retry_day, np.where(fail2, 1, 0)),
        ]
        for mask, day_of, failed in attempts:
            for day_key in np.unique(day_of[mask]):
                sel = mask & (day_of == day_key)
                if int(day_key) >= self.cfg.days:
                    continue
                self.pending_payments[int(day_key)].append(
                    {
                        **{kk: v[sel] for kk, v in base.items()},
                        "failed": failed[sel],
                        "reason": reason[sel],
                    }
                )

    def _payments_due(self, d: int) -> pa.Table:
        parts = self.pending_payments.pop(d, [])
        acc = self.world.accounts
        if parts:
            merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            merged = {
                k: np.array([], dtype=np.int64)
                for k in (
                    "account",
                    "invoice",
                    "amount",
                    "method",
                    "due_day",
                    "second",
                    "failed",
                    "reason",
                )
            }
            merged["invoice"] = np.array([], dtype=object)
        order = np.lexsort((merged["invoice"].astype(str), merged["second"]))
        merged = {k: v[order] for k, v in merged.items()}
        k = merged["account"].size
        failed = merged["failed"].astype(bool)
        if k:
            np.maximum.at(
                self.failed_until, acc.customer[merged["account"][failed].astype(np.int64)], d + 30
            )
        payment_ids = [f"PAY{self.payment_seq + i + 1:010d}" for i in range(k)]
        self.payment_seq += k
        method = merged["method"].astype(np.int64)
        last4 = (
            acc.card_last4[merged["account"].astype(np.int64)]
            if k
            else np.array([], dtype=np.int16)
        )
        return pa.table(
            {
                "payment_id": pa.array(payment_ids, pa.string()),
                "invoice_id": pa.array(merged["invoice"].tolist(), pa.string()),
                "account_id": self.account_ids.take(pa.array(merged["account"].astype(np.int64))),
                "payment_method": pa.array([PAYMENT_METHODS[m] for m in method], pa.string()),
                "amount": merged["amount"].astype(float),
                "currency": pa.array([CURRENCY] * k, pa.string()),
                "payment_status": pa.array(
                    ["failed" if f else "succeeded" for f in failed], pa.string()
                ),
                "failure_reason": pa.array(
                    [
                        FAILURE_REASONS[int(r)] if f else None
                        for f, r in zip(failed, merged["reason"], strict=True)
                    ],
                    pa.string(),
                ),
                "is_late": d > merged["due_day"].astype(np.int64),
                "card_last4": pa.array(
                    [
                        f"{int(x):04d}" if m == 1 else None
                        for x, m in zip(last4, method, strict=True)
                    ],
                    pa.string(),
                ),
                "paid_at": ts_array(self._us(d, merged["second"].astype(np.int64))),
            }
        )

    # ------------------------------------------------------------------ interactions
    def _events(
        self,
        d: int,
        alive: np.ndarray,
        outage_today: np.ndarray,
        tickets: tuple[np.ndarray, np.ndarray, np.ndarray],
        churners: np.ndarray,
        rng: np.random.Generator,
    ) -> pa.Table:
        cust = self.world.customers
        lam = np.array([0.20, 0.30, 0.55])[cust.segment[alive]]
        counts = rng.poisson(lam)
        who = np.repeat(alive, counts)
        k = who.size
        channel = rng.choice(5, size=k, p=[0.45, 0.25, 0.12, 0.10, 0.08])
        etype = np.empty(k, dtype=np.int64)
        for ci, name in enumerate(CHANNELS):
            mask = channel == ci
            probs = np.asarray(EVENT_MIX[name], dtype=float)
            etype[mask] = rng.choice(len(EVENT_TYPES), size=int(mask.sum()), p=probs / probs.sum())
        second = rng.choice(24, size=k, p=HOUR_WEIGHTS) * 3600 + rng.integers(0, 3600, k)
        # outage reports from customers whose home cell is down today
        reporters = alive[outage_today & (rng.random(alive.size) < 0.08)]
        t_who, t_channel, t_second = tickets
        extra_who = [reporters, t_who, churners]
        extra_channel = [
            np.zeros(reporters.size, dtype=np.int64),
            t_channel,
            np.full(churners.size, 2),
        ]
        extra_type = [np.full(reporters.size, 6), np.full(t_who.size, 7), np.full(churners.size, 9)]
        extra_second = [
            rng.integers(0, 86400, reporters.size),
            t_second,
            rng.integers(9 * 3600, 19 * 3600, churners.size),
        ]
        who = np.concatenate([who, *extra_who]).astype(np.int64)
        channel = np.concatenate([channel, *extra_channel]).astype(np.int64)
        etype = np.concatenate([etype, *extra_type]).astype(np.int64)
        second = np.concatenate([second, *extra_second]).astype(np.int64)
        order = np.lexsort((who, second))
        who, channel, etype, second = who[order], channel[order], etype[order], second[order]
        k = who.size
        duration = np.rint(CHANNEL_DURATION_S[channel] * rng.lognormal(0, 0.6, k)).astype(np.int64)
        sub = self.first_sub[who]
        sub_mask = (sub < 0) | (rng.random(k) < 0.3)
        event_ids = [f"EV{self.event_seq + i + 1:012d}" for i in range(k)]
        self.event_seq += k
        return pa.table(
            {
                "event_id": pa.array(event_ids, pa.string()),
                "customer_id": self.customer_ids.take(pa.array(who)),
                "subscription_id": self.subscription_ids.take(
                    pa.array(np.maximum(sub, 0), mask=sub_mask)
                ),
                "channel": pa.array(np.array(CHANNELS)[channel], pa.string()),
                "event_type": pa.array(np.array(EVENT_TYPES)[etype], pa.string()),
                "occurred_at": ts_array(self._us(d, second)),
                "duration_seconds": duration,
            }
        )

    def outcome(self) -> Outcome:
        n = self.world.customers.count
        reasons = [""] * n
        drivers = [""] * n
        for c, r in self.reasons.items():
            reasons[c] = r
            drivers[c] = self.drivers[c]
        return Outcome(
            self.churn_day, reasons, drivers, self.sub_end_day, drivers_at_churn=self.driver_values
        )


_TICKET_FIELDS = {
    "ticket_id": pa.string(),
    "customer_id": pa.string(),
    "subscription_id": pa.string(),
    "category": pa.string(),
    "channel": pa.string(),
    "priority": pa.string(),
    "ticket_status": pa.string(),
    "opened_at": pa.timestamp("us", tz="UTC"),
    "first_response_at": pa.timestamp("us", tz="UTC"),
    "resolved_at": pa.timestamp("us", tz="UTC"),
    "csat_score": pa.int64(),
    "updated_at": pa.timestamp("us", tz="UTC"),
}
_STATUS_FIELDS = {
    "ticket_id": pa.string(),
    "changed_at": pa.timestamp("us", tz="UTC"),
    "from_status": pa.string(),
    "to_status": pa.string(),
    "agent_id": pa.string(),
}


def _rows_table(rows: list[dict[str, object]], fields: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({name: pa.array([r[name] for r in rows], typ) for name, typ in fields.items()})
