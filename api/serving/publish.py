"""Publish gold marts into the serving tables: load a new version, then switch it in.

Readers always see one whole publication: the rows of the new version are invisible until
one short transaction marks it ``current``. If anything fails before that, the new rows are
removed, the publication is marked ``failed`` and the previous version keeps serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import deltalake
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from api.core.clock import Clock, SystemClock
from api.crypto.keyring import Keyring, open_keyring, use_keyring
from api.db.engine import sync_engine
from api.db.migrate import ensure_schema
from api.serving.keys import customer_search_keys
from api.serving.models import (
    Publication,
    ServingAccount,
    ServingCustomer,
    ServingCustomerName,
    ServingTransaction,
    ServingUsage,
    ServingUsagePattern,
)
from data_contracts.settings import Settings

BATCH_ROWS = 5_000
KEEP_RETIRED = 1  # the version just replaced stays for readers still on it


class PublishError(RuntimeError):
    """A publication could not be loaded; the previous one keeps serving."""


Row = dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _payload(row: Row) -> str:
    return orjson.dumps(row, default=_json_default).decode()


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


def _customer(ring: Keyring, row: Row) -> Row:
    keys = customer_search_keys(ring, row)
    return {
        "customer_id": row["customer_id"],
        "customer_type": row.get("customer_type"),
        "region": row.get("region"),
        "email_bidx": keys.email_bidx,
        "phone_bidx": keys.phone_bidx,
        "churn_risk_band": row.get("churn_risk_band"),
        "payload": _payload(row),
    }


def _customer_names(ring: Keyring, row: Row) -> list[Row]:
    terms = customer_search_keys(ring, row).name_terms
    return [{"term_bidx": term, "customer_id": row["customer_id"]} for term in terms]


def _account(_ring: Keyring, row: Row) -> Row:
    return {
        "account_id": row["account_id"],
        "customer_id": row["customer_id"],
        "payload": _payload(row),
    }


def _transaction(_ring: Keyring, row: Row) -> Row:
    return {
        "transaction_id": row["transaction_id"],
        "customer_id": row["customer_id"],
        "account_id": row["account_id"],
        "transaction_type": row["transaction_type"],
        "occurred_at": _text(row["occurred_at"]),
        "payload": _payload(row),
    }


def _usage(_ring: Keyring, row: Row) -> Row:
    return {
        "usage_day_id": row["usage_day_id"],
        "customer_id": row["customer_id"],
        "subscription_id": row["subscription_id"],
        "usage_date": _text(row["usage_date"]),
        "payload": _payload(row),
    }


def _pattern(_ring: Keyring, row: Row) -> Row:
    return {
        "subscription_id": row["subscription_id"],
        "customer_id": row["customer_id"],
        "payload": _payload(row),
    }


@dataclass(frozen=True)
class ServingSource:
    """One gold mart and the serving table it fills."""

    mart: str
    table: sa.Table
    to_row: Callable[[Keyring, Row], Row]
    side_table: sa.Table | None = None  # one-to-many lookup rows (name words)
    side_rows: Callable[[Keyring, Row], list[Row]] | None = None


SOURCES: tuple[ServingSource, ...] = (
    ServingSource(
        "dim_customers",
        ServingCustomer.__table__,  # type: ignore[arg-type]
        _customer,
        ServingCustomerName.__table__,  # type: ignore[arg-type]
        _customer_names,
    ),
    ServingSource("dim_billing_accounts", ServingAccount.__table__, _account),  # type: ignore[arg-type]
    ServingSource("fct_billing_transactions", ServingTransaction.__table__, _transaction),  # type: ignore[arg-type]
    ServingSource("fct_usage_daily", ServingUsage.__table__, _usage),  # type: ignore[arg-type]
    ServingSource("agg_usage_patterns", ServingUsagePattern.__table__, _pattern),  # type: ignore[arg-type]
)
SERVING_TABLES = tuple(source.table for source in SOURCES) + tuple(
    source.side_table for source in SOURCES if source.side_table is not None
)


@dataclass
class PublishResult:
    version: int
    as_of_date: date | None
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    retired_versions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "as_of_date": self.as_of_date.isoformat() if self.as_of_date else None,
            "row_counts": self.row_counts,
            "seconds": round(self.seconds, 2),
            "retired_versions": self.retired_versions,
        }


def gold_batches(settings: Settings, mart: str) -> Iterator[pa.RecordBatch]:
    """Stream a gold mart's rows (daily usage: only the most recent serving days)."""
    path = f"{settings.gold_root}/{mart}"
    try:
        dataset = deltalake.DeltaTable(path).to_pyarrow_dataset()
    except Exception as exc:  # delta-rs raises TableNotFoundError and friends
        raise PublishError(
            f"gold mart {mart} is not published at {path}; run the nightly build first"
        ) from exc
    expression = None
    if mart == "fct_usage_daily":
        latest = pc.max(dataset.to_table(columns=["usage_date"]).column("usage_date")).as_py()
        if latest is not None:
            since = latest - timedelta(days=settings.serving_usage_days - 1)
            expression = pc.field("usage_date") >= pa.scalar(since)
    yield from dataset.to_batches(filter=expression, batch_size=BATCH_ROWS)


def _as_of(settings: Settings) -> date | None:
    path = f"{settings.gold_root}/dim_customers"
    try:
        table = deltalake.DeltaTable(path).to_pyarrow_table(columns=["as_of_date"])
    except Exception as exc:  # delta-rs raises TableNotFoundError and friends
        raise PublishError(
            f"gold mart dim_customers is not published at {path}; run the nightly build first"
        ) from exc
    value = pc.max(table.column("as_of_date")).as_py() if table.num_rows else None
    return value if isinstance(value, date) else None


def publish(
    settings: Settings,
    *,
    clock: Clock | None = None,
    read: Callable[[Settings, str], Iterable[pa.RecordBatch]] = gold_batches,
) -> PublishResult:
    """Load every serving table from gold as a new version and switch it in atomically."""
    clock = clock or SystemClock()
    started = time.perf_counter()
    ensure_schema(settings)
    ring = open_keyring(settings)
    engine = sync_engine(settings)
    publications: sa.Table = Publication.__table__  # type: ignore[assignment]
    try:
        as_of = _as_of(settings)
        with engine.begin() as conn:
            latest = conn.execute(sa.select(sa.func.max(publications.c.version))).scalar()
            version = int(latest or 0) + 1
            conn.execute(
                publications.insert().values(
                    version=version, status="loading", started_at=clock.now(), as_of_date=as_of
                )
            )
        result = PublishResult(version=version, as_of_date=as_of)
        try:
            with use_keyring(ring):
                for source in SOURCES:
                    result.row_counts[source.mart] = _load(
                        engine, ring, source, version, read(settings, source.mart)
                    )
        except Exception as exc:
            _discard(engine, version, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, PublishError):
                raise
            raise PublishError(f"publication {version} failed and was discarded: {exc}") from exc
        with engine.begin() as conn:
            conn.execute(
                publications.update()
                .where(publications.c.status == "current")
                .values(status="retired")
            )
            conn.execute(
                publications.update()
                .where(publications.c.version == version)
                .values(
                    status="current",
                    published_at=clock.now(),
                    row_counts=orjson.dumps(result.row_counts).decode(),
                )
            )
        result.retired_versions = _prune(engine)
        result.seconds = time.perf_counter() - started
        return result
    finally:
        engine.dispose()


def _load(
    engine: sa.Engine,
    ring: Keyring,
    source: ServingSource,
    version: int,
    batches: Iterable[pa.RecordBatch],
) -> int:
    count = 0
    for batch in batches:
        records = batch.to_pylist()
        rows = [{"version": version, **source.to_row(ring, row)} for row in records]
        if not rows:
            continue
        with engine.begin() as conn:
            conn.execute(source.table.insert(), rows)
            if source.side_table is not None and source.side_rows is not None:
                side = [
                    {"version": version, **extra}
                    for row in records
                    for extra in source.side_rows(ring, row)
                ]
                if side:
                    conn.execute(source.side_table.insert(), side)
        count += len(rows)
    return count


def _delete_version(conn: sa.Connection, version: int) -> None:
    for table in SERVING_TABLES:
        conn.execute(table.delete().where(table.c.version == version))


def _discard(engine: sa.Engine, version: int, error: str) -> None:
    publications: sa.Table = Publication.__table__  # type: ignore[assignment]
    with engine.begin() as conn:
        _delete_version(conn, version)
        conn.execute(
            publications.update()
            .where(publications.c.version == version)
            .values(status="failed", error=error[:2000])
        )


def _prune(engine: sa.Engine) -> list[int]:
    """Drop the rows of retired versions beyond the one kept for readers in flight."""
    publications: sa.Table = Publication.__table__  # type: ignore[assignment]
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(publications.c.version)
            .where(publications.c.status == "retired")
            .order_by(publications.c.version.desc())
        )
        retired = [int(row[0]) for row in rows]
        dropped = retired[KEEP_RETIRED:]
        for version in dropped:
            _delete_version(conn, version)
            conn.execute(
                publications.update()
                .where(publications.c.version == version)
                .values(status="pruned")
            )
    return dropped


def current_publication(conn: sa.Connection) -> Mapping[str, Any] | None:
    """The serving publication, if any (sync callers: CLI, tests)."""
    publications: sa.Table = Publication.__table__  # type: ignore[assignment]
    row = (
        conn.execute(sa.select(publications).where(publications.c.status == "current"))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None
