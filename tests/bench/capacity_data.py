"""Data for bench_capacity.py: a small real gold lakehouse, scaled to N customers at publish.

The base is a generated operator (BASE customers) landed with Spark and built by dbt, with
planted churn scores (as the API tests do: the serving path is measured, not the model). It is
built once and kept under ``.cems/bench-capacity-gold`` (delete it to rebuild).

``scaled_reader(settings, customers)`` is the ``read`` hook of ``api.serving.publish.publish``:
it replays the base marts copy after copy, rewriting every key (customer, account,
subscription, transaction, invoice, payment, usage-day ids) and the personal fields (email,
phone, last name) so that each of the N customers is distinct, and every copy's rows point
at that copy's customer, accounts and subscriptions.
"""

from __future__ import annotations

import fcntl
import shutil
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from api.serving.publish import gold_batches
from data_contracts.settings import Settings

REPO = Path(__file__).resolve().parents[2]
BASE_CUSTOMERS = 1000
BASE_DAYS = 35
BATCH_ROWS = 5_000
READY = "READY"
_LETTERS = string.ascii_lowercase


def build_base(home: Path) -> Settings:
    """Generate, land, build the marts and plant scores under ``home`` (Spark: a few minutes)."""
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from gold_lakehouse import SOURCES, plant_scores  # tests/support: the API tests' builder

    from data_contracts.synthetic.config import GeneratorConfig
    from data_contracts.synthetic.generate import generate
    from spark_jobs.marts import build as build_marts
    from spark_jobs.pipeline import SCORED_TAG, land
    from spark_jobs.session import get_spark

    settings = Settings(home=home, spark_master="local[2]", spark_shuffle_partitions=2)
    generate(
        GeneratorConfig(customers=BASE_CUSTOMERS, days=BASE_DAYS, seed=17, kpi_days=1), settings
    )
    spark = get_spark("cems-bench-capacity", settings)
    try:
        land(SOURCES, settings, spark)
    finally:
        spark.stop()
    build_marts("duckdb", settings)
    plant_scores(settings)
    build_marts("duckdb", settings, select=f"tag:{SCORED_TAG}")
    return settings


def base_lakehouse(home: Path) -> Path:
    """The base gold lakehouse under ``home``, built unless a previous run left it ready."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with (home.parent / (home.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / READY).exists():
            shutil.rmtree(home, ignore_errors=True)
            build_base(home)
            (home / READY).write_text("ok")
    return home


def _suffix(copy: int) -> str:
    """Copy number as letters (no digits: the audit log masks long digit runs as card numbers)."""
    letters = ""
    copy += 1
    while copy:
        copy, rest = divmod(copy - 1, 26)
        letters = _LETTERS[rest] + letters
    return letters


class _Ids:
    """Dense numbering of a base key column, so copy k's id is f"{prefix}{k * size + i}"."""

    def __init__(self, prefix: str, values: list[str], width: int) -> None:
        self.prefix = prefix
        self.index = {v: i for i, v in enumerate(sorted(set(values)))}
        self.size = len(self.index)
        self.width = width

    def rewrite(self, values: list[Any], copy: int) -> list[Any]:
        base = copy * self.size
        p, w, index = self.prefix, self.width, self.index
        return [None if v is None else f"{p}{base + index[v]:0{w}d}" for v in values]


class ScaledGold:
    """The base marts, held in memory, replayed ``copies`` times with rewritten keys."""

    def __init__(self, settings: Settings, customers: int) -> None:
        self.customers = customers
        self.marts = {
            mart: pa.Table.from_batches(list(gold_batches(settings, mart)))
            for mart in (
                "dim_customers",
                "dim_billing_accounts",
                "fct_billing_transactions",
                "fct_usage_daily",
                "agg_usage_patterns",
            )
        }
        dim = self.marts["dim_customers"]
        self.customer_ids = _Ids("C", dim.column("customer_id").to_pylist(), 8)
        accounts = self.marts["dim_billing_accounts"].column("account_id").to_pylist()
        self.account_ids = _Ids("A", accounts, 8)
        subscriptions = self.marts["agg_usage_patterns"].column("subscription_id").to_pylist()
        subscriptions += self.marts["fct_usage_daily"].column("subscription_id").to_pylist()
        self.subscription_ids = _Ids("S", subscriptions, 9)
        tx = self.marts["fct_billing_transactions"]
        self.invoice_ids = _Ids(
            "INV",
            [v for v in tx.column("invoice_id").to_pylist() if v]
            + [v for v in dim.column("latest_invoice_id").to_pylist() if v]
            + [
                v
                for v in self.marts["dim_billing_accounts"].column("latest_invoice_id").to_pylist()
                if v
            ],
            10,
        )
        self.payment_ids = _Ids(
            "PAY",
            [v for v in tx.column("payment_id").to_pylist() if v]
            + [
                v
                for v in self.marts["dim_billing_accounts"].column("last_payment_id").to_pylist()
                if v
            ],
            10,
        )
        self.base = self.customer_ids.size
        self.copies = -(-customers // self.base)

    def _copy(self, mart: str, copy: int) -> pa.Table:
        table = self.marts[mart]
        if copy == self.copies - 1:  # the last copy may be partial: only customers below N
            limit = self.customers - copy * self.base
            keep = [
                self.customer_ids.index[c] < limit for c in table.column("customer_id").to_pylist()
            ]
            table = table.filter(pa.array(keep))
        columns: dict[str, Callable[[list[Any]], list[Any]]] = {
            "customer_id": lambda v: self.customer_ids.rewrite(v, copy),
            "account_id": lambda v: self.account_ids.rewrite(v, copy),
            "subscription_id": lambda v: self.subscription_ids.rewrite(v, copy),
            "invoice_id": lambda v: self.invoice_ids.rewrite(v, copy),
            "latest_invoice_id": lambda v: self.invoice_ids.rewrite(v, copy),
            "payment_id": lambda v: self.payment_ids.rewrite(v, copy),
            "last_payment_id": lambda v: self.payment_ids.rewrite(v, copy),
        }
        names = table.schema.names
        originals = {n: table.column(n).to_pylist() for n in columns if n in names}
        for name, rewrite in columns.items():
            if name in names:
                i = names.index(name)
                table = table.set_column(
                    i, table.schema.field(i), pa.array(rewrite(originals[name]), pa.string())
                )
        suffix = _suffix(copy)
        if mart == "fct_billing_transactions":
            table = self._transactions(table, originals, suffix)
        if mart == "dim_customers":
            table = self._personal(table, copy, suffix)
        if mart == "fct_usage_daily":
            subs = table.column("subscription_id").to_pylist()
            days = [d.isoformat() for d in table.column("usage_date").to_pylist()]
            table = _replace(
                table, "usage_day_id", [f"{s}|{d}" for s, d in zip(subs, days, strict=True)]
            )
        return table

    @staticmethod
    def _transactions(table: pa.Table, originals: dict[str, list[Any]], suffix: str) -> pa.Table:
        """Transaction ids and descriptions name the invoice or payment: follow the new ids."""
        pairs = [
            (old_i, new_i) if old_i else (old_p, new_p) if old_p else (None, None)
            for old_i, new_i, old_p, new_p in zip(
                originals["invoice_id"],
                table.column("invoice_id").to_pylist(),
                originals["payment_id"],
                table.column("payment_id").to_pylist(),
                strict=True,
            )
        ]

        def follow(values: list[Any], tag: bool) -> list[Any]:
            out = []
            for value, (old, new) in zip(values, pairs, strict=True):
                if value is not None and old and old in value:
                    value = value.replace(old, new)
                elif value is not None and tag:
                    value = f"{value}-{suffix}"
                out.append(value)
            return out

        table = _replace(
            table, "transaction_id", follow(table.column("transaction_id").to_pylist(), True)
        )
        return _replace(
            table, "description", follow(table.column("description").to_pylist(), False)
        )

    def _personal(self, table: pa.Table, copy: int, suffix: str) -> pa.Table:
        emails = table.column("email").to_pylist()
        table = _replace(
            table,
            "email",
            [None if e is None else e.replace("@", f".{suffix}@", 1) for e in emails],
        )
        ids = table.column("customer_id").to_pylist()
        phones = table.column("phone_number").to_pylist()
        table = _replace(
            table,
            "phone_number",
            [
                None if p is None else p[:-8] + f"{int(c[1:]) % 10**8:08d}"
                for p, c in zip(phones, ids, strict=True)
            ],
        )
        last = table.column("last_name").to_pylist()
        cap = suffix.capitalize()
        table = _replace(table, "last_name", [None if n is None else f"{n}-{cap}" for n in last])
        companies = table.column("company_name").to_pylist()
        return _replace(
            table, "company_name", [None if n is None else f"{n} {cap}" for n in companies]
        )

    def batches(self, mart: str) -> Iterator[pa.RecordBatch]:
        """Every copy of ``mart``, in batches of about BATCH_ROWS rows."""
        pending: list[pa.Table] = []
        rows = 0
        for copy in range(self.copies):
            table = self._copy(mart, copy)
            pending.append(table)
            rows += table.num_rows
            if rows >= BATCH_ROWS:
                yield from pa.concat_tables(pending).combine_chunks().to_batches()
                pending, rows = [], 0
        if pending:
            yield from pa.concat_tables(pending).combine_chunks().to_batches()


def _replace(table: pa.Table, name: str, values: list[Any]) -> pa.Table:
    i = table.schema.names.index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def scaled_reader(
    settings: Settings, customers: int
) -> Callable[[Settings, str], Iterator[pa.RecordBatch]]:
    """A ``read`` hook for ``publish``: the base marts scaled to ``customers`` customers."""
    scaled = ScaledGold(settings, customers)

    def read(_settings: Settings, mart: str) -> Iterator[pa.RecordBatch]:
        return scaled.batches(mart)

    return read
