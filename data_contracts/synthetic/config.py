"""Parameters of the synthetic operator, including the documented churn hazard model.

See docs/DATA_GENERATOR.md for the story behind each number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

DEFAULT_START_DATE = date(2026, 8, 1)


@dataclass(frozen=True)
class ChurnHazard:
    """Daily churn hazard: ``h = base * exp(sum(coef * driver))`` per customer and day.

    Drivers (all computed from data the pipeline can see, so a model can learn them):
    ``network``: home-cell quality (z-score of the cell's latent badness, worse is higher);
    ``outage``: the home cell had an outage in the last 7 days;
    ``tickets``: tickets of the last 30 days left unresolved for over 48 hours, capped at 3;
    ``month_to_month``: every line is on a month-to-month contract;
    ``contract_end``: a committed contract ends within 30 days;
    ``price_rise``: a price increase took effect in the last 60 days;
    ``failed_payment``: a payment attempt failed in the last 30 days;
    ``short_tenure``: customer for less than 180 days;
    ``bundle``: holds two or more product types (protective, negative);
    ``sme`` / ``enterprise``: segment effects relative to consumers.
    """

    base_daily: float = 0.00045
    network: float = 0.45
    outage: float = 0.50
    tickets: float = 0.90
    month_to_month: float = 0.90
    contract_end: float = 0.80
    price_rise: float = 0.70
    failed_payment: float = 0.80
    short_tenure: float = 0.50
    bundle: float = -0.60
    sme: float = -0.20
    enterprise: float = -0.60

    def coefficients(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if k != "base_daily"}


@dataclass(frozen=True)
class BadRecordRates:
    """Share of delivered rows deliberately broken, per kind (documented, on purpose)."""

    schema_violation: float = 0.001
    duplicate: float = 0.001
    orphan_key: float = 0.0005
    late_event: float = 0.0005

    def scaled(self, factor: float) -> BadRecordRates:
        return BadRecordRates(
            self.schema_violation * factor,
            self.duplicate * factor,
            self.orphan_key * factor,
            self.late_event * factor,
        )


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int
    days: int
    seed: int
    start_date: date = DEFAULT_START_DATE
    kpi_days: int | None = None  # per-minute KPIs for the last N days only (None: all days)
    bad_records: BadRecordRates = field(default_factory=BadRecordRates)
    hazard: ChurnHazard = field(default_factory=ChurnHazard)
    chunk_size: int = 100_000

    @property
    def n_cells(self) -> int:
        return max(24, round(self.customers / 500))

    @property
    def telemetry_first_day(self) -> int:
        if self.kpi_days is None:
            return 0
        return max(0, self.days - self.kpi_days)
