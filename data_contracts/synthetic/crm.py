"""The CRM's end-of-window snapshot: plans, customers, accounts, subscriptions, cells inventory.

Built in chunks of customers so a million customers never sit in memory as Python
objects; personal strings are drawn per chunk from their own random stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pyarrow as pa

from data_contracts.synthetic.population import (
    CONTRACTS,
    CREDIT_CLASSES,
    NEVER,
    PAYMENT_METHODS,
    PRODUCTS,
    SEGMENTS,
    World,
    rng_for,
)
from data_contracts.synthetic.simulate import US_PER_DAY, Outcome, epoch_us, ts_array
from data_contracts.synthetic.vocab import (
    COMPANY_SUFFIXES,
    CURRENCY,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LANGUAGES,
    LAST_NAMES,
    OPERATOR_COUNTRY_CODE,
    PLANS,
    REGION_NAMES,
    REGIONS,
    STREETS,
    URBANICITY,
)

US_PER_SECOND = 1_000_000


def _dates(start: date, days: np.ndarray) -> pa.Array:
    epoch_day = (start - date(1970, 1, 1)).days
    return pa.array((epoch_day + days).astype(np.int32), pa.date32())


def _nullable_dates(start: date, days: np.ndarray) -> pa.Array:
    epoch_day = (start - date(1970, 1, 1)).days
    mask = days >= NEVER
    return pa.array(np.where(mask, 0, epoch_day + days).astype(np.int32), pa.date32(), mask=mask)


class CrmSnapshot:
    def __init__(self, world: World, outcome: Outcome) -> None:
        self.world = world
        self.outcome = outcome
        self.cfg = world.config
        self.t0 = epoch_us(self.cfg)
        self.last_day = self.cfg.days - 1

    def plans(self) -> pa.Table:
        start = self.cfg.start_date
        change = self.world.plan_price_change_day
        changed = change < NEVER
        launched = np.array([-p.launched_days_before_start for p in PLANS])
        updated_day = np.where(changed, change, launched)
        return pa.table(
            {
                "plan_id": [p.plan_id for p in PLANS],
                "plan_name": [p.plan_name for p in PLANS],
                "product_type": [p.product_type for p in PLANS],
                "customer_segment": [p.customer_segment for p in PLANS],
                "monthly_price": self.world.plan_price,
                "previous_monthly_price": pa.array(
                    np.nan_to_num(self.world.plan_previous_price), mask=~changed
                ),
                "price_changed_date": _nullable_dates(start, change),
                "currency": [CURRENCY] * len(PLANS),
                "data_allowance_gb": pa.array([p.data_allowance_gb for p in PLANS], pa.float64()),
                "voice_allowance_minutes": pa.array(
                    [p.voice_allowance_minutes for p in PLANS], pa.int64()
                ),
                "sms_allowance": pa.array([p.sms_allowance for p in PLANS], pa.int64()),
                "download_speed_mbps": pa.array([p.download_speed_mbps for p in PLANS], pa.int64()),
                "tv_channel_count": pa.array([p.tv_channel_count for p in PLANS], pa.int64()),
                "overage_price_per_gb": pa.array(
                    [p.overage_price_per_gb for p in PLANS], pa.float64()
                ),
                "is_bundle_eligible": [p.is_bundle_eligible for p in PLANS],
                "launched_date": _dates(start, launched),
                "updated_at": ts_array(
                    self.t0 + updated_day.astype(np.int64) * US_PER_DAY + 6 * 3600 * US_PER_SECOND
                ),
            }
        )

    def cells(self) -> pa.Table:
        cells = self.world.cells
        n = cells.count
        return pa.table(
            {
                "cell_id": [f"CELL{i + 1:06d}" for i in range(n)],
                "site_id": [f"SITE{i // 3 + 1:05d}" for i in range(n)],
                "region": np.array(REGION_NAMES)[cells.region],
                "urbanicity": np.array(URBANICITY)[cells.urbanicity],
                "latitude": cells.latitude,
                "longitude": cells.longitude,
                "technology": np.where(cells.is_5g, "5g", "4g"),
                "is_edge_site": cells.is_edge,
                "commissioned_date": _dates(self.cfg.start_date, cells.commissioned_day),
            }
        )

    def chunks(self) -> Iterator[tuple[int, dict[str, pa.Table]]]:
        """Customers, accounts and subscriptions for consecutive ranges of customers."""
        n = self.world.customers.count
        size = self.cfg.chunk_size
        for number, lo in enumerate(range(0, n, size)):
            hi = min(lo + size, n)
            yield (
                number,
                {
                    "customers": self._customers(number, lo, hi),
                    "accounts": self._accounts(lo, hi),
                    "subscriptions": self._subscriptions(lo, hi),
                },
            )

    def _customers(self, number: int, lo: int, hi: int) -> pa.Table:
        cust = self.world.customers
        rng = rng_for(self.cfg.seed, 50, number)
        idx = np.arange(lo, hi)
        k = hi - lo
        lang = cust.language[lo:hi]
        first = np.empty(k, dtype=object)
        last = np.empty(k, dtype=object)
        for li, code in enumerate(LANGUAGES):
            mask = lang == li
            m = int(mask.sum())
            first[mask] = np.array(FIRST_NAMES[code], dtype=object)[
                rng.integers(0, len(FIRST_NAMES[code]), m)
            ]
            last[mask] = np.array(LAST_NAMES[code], dtype=object)[
                rng.integers(0, len(LAST_NAMES[code]), m)
            ]
        segment = cust.segment[lo:hi]
        suffix = np.array(COMPANY_SUFFIXES, dtype=object)[rng.integers(0, len(COMPANY_SUFFIXES), k)]
        domain = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), k)]
        street = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), k)]
        house = rng.integers(1, 250, k)
        postal = rng.integers(10000, 99999, k)
        phone = rng.integers(0, 10**9, k)
        age_days = rng.integers(18 * 365, 85 * 365, k)
        city_pick = rng.integers(0, 4, k)
        region = cust.region[lo:hi]
        cities = np.array(
            [
                REGIONS[r][2][c]
                for r, c in zip(np.array(REGION_NAMES)[region], city_pick, strict=True)
            ],
            dtype=object,
        )
        ascii_fold = str.maketrans("áéíóúñÁÉÍÓÚÑèëêçàÉ", "aeiounAEIOUNeeecaE")
        emails = [
            f"{f}.{name}{i + 1}@{d}".lower().translate(ascii_fold)
            for f, name, i, d in zip(first, last, idx, domain, strict=True)
        ]
        company = [
            f"{name} {s}" if seg > 0 else None
            for name, s, seg in zip(last, suffix, segment, strict=True)
        ]
        signup = cust.signup_day[lo:hi]
        created_us = (
            self.t0
            + signup.astype(np.int64) * US_PER_DAY
            + cust.created_second[lo:hi].astype(np.int64) * US_PER_SECOND
        )
        profile_update = rng.random(k) < 0.08
        update_day = rng.integers(0, self.cfg.days, k)
        update_us = (
            self.t0
            + update_day.astype(np.int64) * US_PER_DAY
            + rng.integers(8, 20, k) * 3600 * US_PER_SECOND
        )
        updated_us = np.where(profile_update & (update_us > created_us), update_us, created_us)
        dob_days = signup - age_days
        consumer = segment == 0
        return pa.table(
            {
                "customer_id": [f"C{i + 1:08d}" for i in idx],
                "customer_type": np.array(SEGMENTS)[segment],
                "first_name": first.tolist(),
                "last_name": last.tolist(),
                "company_name": pa.array(company, pa.string()),
                "email": emails,
                "phone_number": [f"{OPERATOR_COUNTRY_CODE}7{p:09d}" for p in phone],
                "date_of_birth": pa.array(
                    ((self.cfg.start_date - date(1970, 1, 1)).days + dob_days).astype(np.int32),
                    pa.date32(),
                    mask=~consumer,
                ),
                "address_line": [f"{h} {s}" for h, s in zip(house, street, strict=True)],
                "postal_code": [f"{p:05d}" for p in postal],
                "city": cities.tolist(),
                "region": np.array(REGION_NAMES)[region],
                "urbanicity": np.array(URBANICITY)[cust.urbanicity[lo:hi]],
                "home_cell_id": [f"CELL{c + 1:06d}" for c in cust.home_cell[lo:hi]],
                "preferred_language": np.array(LANGUAGES)[lang],
                "has_marketing_consent": cust.has_marketing_consent[lo:hi],
                "is_do_not_sell": cust.is_do_not_sell[lo:hi],
                "signup_date": _dates(self.cfg.start_date, signup),
                "created_at": ts_array(created_us),
                "updated_at": ts_array(updated_us),
            }
        )

    def _accounts(self, lo: int, hi: int) -> pa.Table:
        acc, cust = self.world.accounts, self.world.customers
        sel = np.flatnonzero((acc.customer >= lo) & (acc.customer < hi))
        owner = acc.customer[sel]
        churn = self.outcome.churn_day[owner]
        closed = churn < NEVER
        signup = cust.signup_day[owner]
        created_us = (
            self.t0
            + signup.astype(np.int64) * US_PER_DAY
            + cust.created_second[owner].astype(np.int64) * US_PER_SECOND
        )
        closed_us = self.t0 + churn.astype(np.int64) * US_PER_DAY + 10 * 3600 * US_PER_SECOND
        return pa.table(
            {
                "account_id": [f"A{i + 1:08d}" for i in sel],
                "customer_id": [f"C{c + 1:08d}" for c in owner],
                "account_status": np.where(closed, "closed", "active"),
                "billing_cycle_day": acc.cycle_day[sel].astype(np.int64),
                "payment_method": np.array(PAYMENT_METHODS)[acc.payment_method[sel]],
                "is_autopay": acc.is_autopay[sel],
                "is_paperless_billing": acc.is_paperless[sel],
                "credit_class": np.array(CREDIT_CLASSES)[cust.credit_class[owner]],
                "currency": [CURRENCY] * sel.size,
                "opened_date": _dates(self.cfg.start_date, signup),
                "closed_date": _nullable_dates(self.cfg.start_date, np.where(closed, churn, NEVER)),
                "created_at": ts_array(created_us),
                "updated_at": ts_array(np.where(closed, closed_us, created_us)),
            }
        )

    def _subscriptions(self, lo: int, hi: int) -> pa.Table:
        subs, cust = self.world.subscriptions, self.world.customers
        sel = np.flatnonzero((subs.customer >= lo) & (subs.customer < hi))
        owner = subs.customer[sel]
        end = self.outcome.sub_end_day[sel]
        ended = end < NEVER
        start = subs.start_day[sel]
        created_us = (
            self.t0
            + start.astype(np.int64) * US_PER_DAY
            + cust.created_second[owner].astype(np.int64) * US_PER_SECOND
        )
        end_us = self.t0 + end.astype(np.int64) * US_PER_DAY + 11 * 3600 * US_PER_SECOND
        change = subs.price_change_day[sel]
        changed = change < NEVER
        change_us = self.t0 + change.astype(np.int64) * US_PER_DAY + 6 * 3600 * US_PER_SECOND
        updated_us = np.maximum(created_us, np.where(changed, change_us, 0))
        updated_us = np.where(ended, np.maximum(updated_us, end_us), updated_us)
        mobile = subs.product[sel] == 0
        reasons = self.outcome.churn_reason
        msisdn = (sel.astype(np.int64) * 7919 + 100_000_000) % 1_000_000_000
        return pa.table(
            {
                "subscription_id": [f"S{i + 1:09d}" for i in sel],
                "account_id": [f"A{a + 1:08d}" for a in subs.account[sel]],
                "customer_id": [f"C{c + 1:08d}" for c in owner],
                "plan_id": [PLANS[p].plan_id for p in subs.plan[sel]],
                "product_type": np.array(PRODUCTS)[subs.product[sel]],
                "msisdn": pa.array(
                    [f"{OPERATOR_COUNTRY_CODE}7{m:09d}" for m in msisdn], pa.string(), mask=~mobile
                ),
                "subscription_status": np.where(ended, "terminated", "active"),
                "contract_type": np.array(CONTRACTS)[subs.contract[sel]],
                "contract_start_date": _dates(self.cfg.start_date, subs.contract_start_day[sel]),
                "contract_end_date": _nullable_dates(
                    self.cfg.start_date, subs.contract_end_day[sel]
                ),
                "monthly_price": subs.monthly_price[sel],
                "previous_monthly_price": pa.array(
                    np.nan_to_num(subs.previous_price[sel]), mask=~changed
                ),
                "price_changed_date": _nullable_dates(self.cfg.start_date, change),
                "start_date": _dates(self.cfg.start_date, start),
                "end_date": _nullable_dates(self.cfg.start_date, end),
                "termination_reason": pa.array(
                    [reasons[c] if e else None for c, e in zip(owner, ended, strict=True)],
                    pa.string(),
                ),
                "created_at": ts_array(created_us),
                "updated_at": ts_array(updated_us),
            }
        )
