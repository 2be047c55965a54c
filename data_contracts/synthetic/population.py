"""The operator's starting world: cells, plans, customers, accounts and subscriptions.

Everything is held as numpy arrays indexed by position (customer ``i`` has id
``C{i+1:08d}``), so a million customers fit in a few hundred MB. Personal strings
(names, addresses) are not held here: they are drawn per chunk at write time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_contracts.synthetic.config import GeneratorConfig
from data_contracts.synthetic.vocab import PLAN_INDEX, PLANS, REGION_NAMES

URB_URBAN, URB_SUBURBAN, URB_RURAL = 0, 1, 2
PRODUCT_MOBILE, PRODUCT_BROADBAND, PRODUCT_TV = 0, 1, 2
PRODUCTS = ("mobile", "broadband", "tv")
SEG_CONSUMER, SEG_SME, SEG_ENTERPRISE = 0, 1, 2
SEGMENTS = ("consumer", "sme", "enterprise")
CONTRACTS = ("month_to_month", "one_year", "two_year")
CONTRACT_MONTHS = np.array([0, 12, 24])
PAYMENT_METHODS = (
    "direct_debit",
    "credit_card",
    "bank_transfer",
    "electronic_check",
    "mailed_check",
)
CREDIT_CLASSES = ("a", "b", "c", "d")
NEVER = np.iinfo(np.int32).max // 2


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible random stream for one part of the simulation."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


@dataclass
class Cells:
    region: np.ndarray  # index into REGION_NAMES
    urbanicity: np.ndarray
    quality_z: np.ndarray  # latent badness, standardised (higher is worse)
    is_5g: np.ndarray
    is_edge: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    commissioned_day: np.ndarray  # day index relative to the window start (negative: before)
    base_latency_ms: np.ndarray
    base_loss_pct: np.ndarray
    base_throughput_mbps: np.ndarray
    base_drop_rate: np.ndarray
    outage_start_minute: np.ndarray  # [cell, day], -1 when no outage that day
    outage_minutes: np.ndarray  # [cell, day]

    @property
    def count(self) -> int:
        return int(self.region.shape[0])


@dataclass
class Customers:
    segment: np.ndarray
    urbanicity: np.ndarray
    region: np.ndarray
    home_cell: np.ndarray
    language: np.ndarray
    has_marketing_consent: np.ndarray
    is_do_not_sell: np.ndarray
    signup_day: np.ndarray
    created_second: np.ndarray
    credit_class: np.ndarray
    first_account: np.ndarray

    @property
    def count(self) -> int:
        return int(self.segment.shape[0])


@dataclass
class Accounts:
    customer: np.ndarray
    cycle_day: np.ndarray
    payment_method: np.ndarray
    is_autopay: np.ndarray
    is_paperless: np.ndarray
    card_last4: np.ndarray

    @property
    def count(self) -> int:
        return int(self.customer.shape[0])


@dataclass
class Subscriptions:
    customer: np.ndarray
    account: np.ndarray
    product: np.ndarray
    plan: np.ndarray
    contract: np.ndarray
    start_day: np.ndarray
    contract_start_day: np.ndarray
    contract_end_day: np.ndarray  # NEVER for month-to-month
    monthly_price: np.ndarray  # current price (after any rise)
    previous_price: np.ndarray  # NaN when never changed
    price_change_day: np.ndarray  # NEVER when never changed
    data_fill: np.ndarray  # share of the allowance this line tends to use
    voice_scale: np.ndarray
    roaming_propensity: np.ndarray

    @property
    def count(self) -> int:
        return int(self.customer.shape[0])


@dataclass
class World:
    config: GeneratorConfig
    cells: Cells
    customers: Customers
    accounts: Accounts
    subscriptions: Subscriptions
    plan_price: np.ndarray
    plan_previous_price: np.ndarray
    plan_price_change_day: np.ndarray


def _choice(rng: np.random.Generator, n: int, probs: list[float]) -> np.ndarray:
    return rng.choice(len(probs), size=n, p=np.asarray(probs) / np.sum(probs)).astype(np.int8)


def build_cells(config: GeneratorConfig) -> Cells:
    rng = rng_for(config.seed, 1)
    n, days = config.n_cells, config.days
    urb = _choice(rng, n, [0.40, 0.30, 0.30])
    region_weights = {
        URB_URBAN: [4, 1, 1, 1, 1, 1.5, 0.6, 0.3],
        URB_SUBURBAN: [2, 1, 1.2, 1, 1, 1.2, 0.8, 0.4],
        URB_RURAL: [0.1, 1.3, 0.8, 1.2, 1.0, 0.8, 1.4, 1.6],
    }
    region = np.empty(n, dtype=np.int8)
    for u, weights in region_weights.items():
        mask = urb == u
        region[mask] = _choice(rng, int(mask.sum()), weights)
    badness = rng.normal(0.0, 1.0, n) + np.array([0.0, 0.35, 1.1])[urb]
    quality_z = (badness - badness.mean()) / badness.std()
    is_5g = rng.random(n) < np.array([0.55, 0.30, 0.08])[urb]
    is_edge = (urb == URB_RURAL) & (rng.random(n) < 0.8)
    from data_contracts.synthetic.vocab import REGIONS

    centres = np.array([REGIONS[name][:2] for name in REGION_NAMES])
    spread = np.array([0.08, 0.25, 0.6])[urb]
    latitude = np.round(centres[region, 0] + rng.normal(0, 1, n) * spread, 5)
    longitude = np.round(centres[region, 1] + rng.normal(0, 1, n) * spread * 1.5, 5)
    commissioned = -rng.integers(30, 3650, n)
    base_latency = np.clip(
        np.array([22.0, 32.0, 55.0])[urb] * np.exp(0.22 * quality_z) * np.where(is_5g, 0.7, 1.0),
        6,
        None,
    )
    base_loss = np.array([0.15, 0.3, 0.8])[urb] * np.exp(0.45 * quality_z)
    base_tp = (
        np.array([110.0, 75.0, 28.0])[urb] * np.exp(-0.3 * quality_z) * np.where(is_5g, 2.2, 1.0)
    )
    base_drop = np.array([0.004, 0.007, 0.018])[urb] * np.exp(0.4 * quality_z)
    # Outages: rural sites (long power and backhaul chains) fail far more often and for longer.
    outage_p = np.array([0.004, 0.008, 0.03])[urb] * np.exp(0.5 * quality_z)
    has_outage = rng.random((n, days)) < outage_p[:, None]
    median_minutes = np.array([35.0, 50.0, 110.0])[urb]
    duration = np.rint(median_minutes[:, None] * rng.lognormal(0, 0.8, (n, days))).astype(np.int32)
    start = rng.integers(0, 1440, (n, days)).astype(np.int32)
    duration = np.clip(duration, 5, 1440 - start)
    return Cells(
        region=region,
        urbanicity=urb,
        quality_z=quality_z,
        is_5g=is_5g,
        is_edge=is_edge,
        latitude=latitude,
        longitude=longitude,
        commissioned_day=commissioned,
        base_latency_ms=base_latency,
        base_loss_pct=base_loss,
        base_throughput_mbps=base_tp,
        base_drop_rate=base_drop,
        outage_start_minute=np.where(has_outage, start, -1),
        outage_minutes=np.where(has_outage, duration, 0),
    )


def build_plans(config: GeneratorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Current list price, previous price (NaN if unchanged) and change day per plan."""
    price = np.array([p.monthly_price for p in PLANS])
    rise = np.array([p.price_rise_pct for p in PLANS])
    previous = np.where(rise > 0, np.round(price / (1 + rise), 2), np.nan)
    change_day = np.where(rise > 0, int(config.days * 0.35), NEVER)
    return price, previous, change_day


def build_world(config: GeneratorConfig) -> World:
    cells = build_cells(config)
    plan_price, plan_previous, plan_change_day = build_plans(config)
    rng = rng_for(config.seed, 2)
    n = config.customers
    segment = _choice(rng, n, [0.85, 0.12, 0.03])
    urb = _choice(rng, n, [0.55, 0.30, 0.15])
    home_cell = np.empty(n, dtype=np.int32)
    for u in range(3):
        candidates = np.flatnonzero(cells.urbanicity == u)
        if candidates.size == 0:
            candidates = np.arange(cells.count)
        mask = urb == u
        home_cell[mask] = rng.choice(candidates, size=int(mask.sum()))
    region = cells.region[home_cell]
    language = _choice(rng, n, [0.72, 0.18, 0.10])
    consent = rng.random(n) < 0.55
    do_not_sell = rng.random(n) < 0.08
    tenure_at_end = np.minimum(rng.exponential(1100.0, n).astype(np.int32) + 1, 5475)
    signup_day = (config.days - tenure_at_end).astype(np.int32)
    created_second = rng.integers(8 * 3600, 20 * 3600, n).astype(np.int32)
    credit = _choice(rng, n, [0.45, 0.30, 0.17, 0.08])

    # Accounts: one each, enterprises sometimes split billing across up to three.
    n_accounts = np.where(segment == SEG_ENTERPRISE, 1 + rng.binomial(2, 0.4, n), 1)
    acct_customer = np.repeat(np.arange(n, dtype=np.int32), n_accounts)
    first_account = np.concatenate([[0], np.cumsum(n_accounts)[:-1]]).astype(np.int32)
    m = acct_customer.size
    acct_segment = segment[acct_customer]
    method = np.where(
        acct_segment == SEG_CONSUMER,
        _choice(rng, m, [0.34, 0.22, 0.14, 0.20, 0.10]),
        _choice(rng, m, [0.50, 0.15, 0.30, 0.03, 0.02]),
    ).astype(np.int8)
    autopay = np.isin(method, [0, 1]) & (rng.random(m) < 0.93)
    accounts = Accounts(
        customer=acct_customer,
        cycle_day=rng.integers(1, 29, m).astype(np.int8),
        payment_method=method,
        is_autopay=autopay,
        is_paperless=rng.random(m) < np.where(method == 4, 0.15, 0.65),
        card_last4=rng.integers(0, 10000, m).astype(np.int16),
    )

    # Product holdings per customer.
    mobile_lines = np.select(
        [segment == SEG_CONSUMER, segment == SEG_SME],
        [_choice(rng, n, [0.15, 0.70, 0.15]), 1 + np.minimum(rng.poisson(1.5, n), 5)],
        2 + np.minimum(rng.poisson(4.0, n), 13),
    )
    has_bb = rng.random(n) < np.array([0.55, 0.75, 0.9])[segment]
    has_tv = has_bb & (rng.random(n) < np.array([0.45, 0.10, 0.0])[segment])
    mobile_lines = np.where(
        (mobile_lines == 0) & ~has_bb, 1, mobile_lines
    )  # everyone holds a product
    contract_customer = np.where(
        segment == SEG_ENTERPRISE,
        _choice(rng, n, [0.1, 0.3, 0.6]),
        _choice(rng, n, [0.45, 0.25, 0.30]),
    )
    counts = mobile_lines + has_bb + has_tv
    sub_customer = np.repeat(np.arange(n, dtype=np.int32), counts)
    s = sub_customer.size
    # product per line: mobile lines first, then broadband, then tv
    offset = np.arange(s) - np.repeat(np.cumsum(counts) - counts, counts)
    ml = mobile_lines[sub_customer]
    product = np.where(
        offset < ml,
        PRODUCT_MOBILE,
        np.where(
            offset == ml, np.where(has_bb[sub_customer], PRODUCT_BROADBAND, PRODUCT_TV), PRODUCT_TV
        ),
    ).astype(np.int8)
    seg_s = segment[sub_customer]
    plan = np.empty(s, dtype=np.int8)
    plan_choices = {
        (PRODUCT_MOBILE, SEG_CONSUMER): (
            ["P-MOB-S", "P-MOB-M", "P-MOB-L", "P-MOB-U"],
            [0.25, 0.35, 0.25, 0.15],
        ),
        (PRODUCT_MOBILE, SEG_SME): (["P-MOB-SME"], [1.0]),
        (PRODUCT_MOBILE, SEG_ENTERPRISE): (["P-MOB-ENT"], [1.0]),
        (PRODUCT_BROADBAND, SEG_CONSUMER): (["P-BB-100", "P-BB-500", "P-BB-1000"], [0.4, 0.4, 0.2]),
        (PRODUCT_BROADBAND, SEG_SME): (["P-BB-SME"], [1.0]),
        (PRODUCT_BROADBAND, SEG_ENTERPRISE): (["P-BB-ENT"], [1.0]),
        (PRODUCT_TV, SEG_CONSUMER): (["P-TV-BASIC", "P-TV-PREM"], [0.6, 0.4]),
        (PRODUCT_TV, SEG_SME): (["P-TV-SME"], [1.0]),
        (PRODUCT_TV, SEG_ENTERPRISE): (["P-TV-SME"], [1.0]),
    }
    for (prod, seg), (ids, probs) in plan_choices.items():
        mask = (product == prod) & (seg_s == seg)
        picks = _choice(rng, int(mask.sum()), probs)
        plan[mask] = np.array([PLAN_INDEX[i] for i in ids], dtype=np.int8)[picks]

    # Lines start at signup or later (added lines); enterprises spread lines across accounts.
    cust_signup = signup_day[sub_customer]
    tenure_left = np.maximum(config.days - cust_signup, 1)
    added_later = rng.random(s) < 0.25
    start_day = np.where(
        added_later, cust_signup + (rng.random(s) * tenure_left * 0.8).astype(np.int32), cust_signup
    ).astype(np.int32)
    acct_span = n_accounts[sub_customer]
    account = first_account[sub_customer] + (rng.integers(0, 1 << 30, s) % acct_span)

    contract = contract_customer[sub_customer].astype(np.int8)
    term_days = (CONTRACT_MONTHS[contract] * 30.44).astype(np.int32)
    reference = int(config.days * 0.5)
    renewals = np.where(
        term_days > 0, np.maximum(reference - start_day, 0) // np.maximum(term_days, 1), 0
    )
    contract_start = start_day + renewals * term_days
    contract_end = np.where(term_days > 0, contract_start + term_days, NEVER).astype(np.int32)

    product_types_held = (mobile_lines > 0).astype(int) + has_bb + has_tv
    bundle = (product_types_held >= 2)[sub_customer] & np.array(
        [p.is_bundle_eligible for p in PLANS]
    )[plan]
    personal_discount = np.where(rng.random(s) < 0.2, rng.choice([0.05, 0.1, 0.15], s), 0.0)
    factor = (1 - np.where(bundle, 0.10, 0.0)) * (1 - personal_discount)
    monthly_price = np.round(plan_price[plan] * factor, 2)
    changed = (plan_change_day[plan] < NEVER) & (start_day < plan_change_day[plan])
    previous_price = np.where(changed, np.round(plan_previous[plan] * factor, 2), np.nan)
    price_change_day = np.where(changed, plan_change_day[plan], NEVER).astype(np.int32)

    subscriptions = Subscriptions(
        customer=sub_customer,
        account=account.astype(np.int32),
        product=product,
        plan=plan,
        contract=contract,
        start_day=start_day,
        contract_start_day=contract_start.astype(np.int32),
        contract_end_day=contract_end,
        monthly_price=monthly_price,
        previous_price=previous_price,
        price_change_day=price_change_day,
        data_fill=rng.lognormal(np.log(0.55), 0.5, s),
        voice_scale=np.where(seg_s == SEG_CONSUMER, 10.0, 28.0) * rng.lognormal(0, 0.5, s),
        roaming_propensity=rng.beta(0.6, 30, s),
    )
    customers = Customers(
        segment=segment,
        urbanicity=urb,
        region=region,
        home_cell=home_cell,
        language=language,
        has_marketing_consent=consent,
        is_do_not_sell=do_not_sell,
        signup_day=signup_day,
        created_second=created_second,
        credit_class=credit,
        first_account=first_account,
    )
    return World(
        config,
        cells,
        customers,
        accounts,
        subscriptions,
        plan_price,
        plan_previous,
        plan_change_day,
    )
