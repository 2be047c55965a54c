"""``cems privacy``: export everything held on one customer, or erase them (GDPR and CCPA)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly
from api.cli.operational import operational_settings, operator_name

if TYPE_CHECKING:
    from api.audit.log import Outcome
    from data_contracts.settings import Settings

app = typer.Typer(
    help="Privacy (GDPR and CCPA): a customer's full data export, and their erasure.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True, stderr=True)
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

CustomerOption = Annotated[
    str, typer.Option("--customer", help="The customer id, e.g. C00000042.", show_default=False)
]


def _customer(value: str) -> str:
    if not _CUSTOMER_ID.match(value):
        raise UserError(
            f"--customer must be a customer id like C00000042 (letters, digits, _.:-), "
            f"not {value!r}."
        )
    return value


def _audit(
    settings: Settings,
    action: str,
    customer_id: str,
    detail: dict[str, Any],
    outcome: Outcome = "success",
) -> None:
    from api.audit.keys import load_or_create_key
    from api.audit.log import AuditEvent, append_sync
    from api.core.clock import SystemClock
    from api.db.engine import sync_engine

    event = AuditEvent(
        action=action,
        outcome=outcome,
        resource=f"cli privacy {action.removeprefix('customer.')}",
        actor_label=operator_name(),
        customer_id=customer_id,
        detail=detail,
    )
    engine = sync_engine(settings)
    try:
        append_sync(engine, event, key=load_or_create_key(settings), clock=SystemClock())
    finally:
        engine.dispose()


@app.command("export")
@friendly
def export(
    customer: CustomerOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write the JSON to this file (default: standard output)."),
    ] = None,
    landing: Annotated[
        bool,
        typer.Option(
            "--landing/--no-landing", help="Name the landing files that mention the customer."
        ),
    ] = True,
) -> None:
    """Everything held on one customer, every store, as JSON (audited)."""
    from api.core.clock import SystemClock
    from api.privacy.export import export_customer

    customer = _customer(customer)
    settings = operational_settings()
    data = export_customer(settings, customer, now=SystemClock().now(), include_landing=landing)
    if not data.holds_data:
        raise UserError(f"No store holds customer {customer}; check the id.")
    text = json.dumps(data.to_dict(), indent=2, ensure_ascii=False)
    if output is not None:
        # Personal data: readable by the owner only, created that way (no window).
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    _audit(
        settings,
        "customer.export_full",
        customer,
        {
            "tables_searched": len(data.tables),
            "rows_found": data.rows_found,
            "landing_files": len(data.landing_files),
        },
    )
    if output is None:
        typer.echo(text)
    else:
        tables = sum(1 for t in data.tables if t.rows)
        console.print(
            f"Wrote {data.rows_found:,} rows from {tables} tables on customer {customer} "
            f"to {output}."
        )


@app.command("erase")
@friendly
def erase(
    customer: CustomerOption,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the erasure cannot be undone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Erase one customer from every store, time travel included (audited, irreversible)."""
    from api.core.clock import SystemClock
    from api.privacy.erase import ErasureError, NothingHeldError, erase_customer

    customer = _customer(customer)
    if not yes:
        raise UserError(
            f"Erasing customer {customer} cannot be undone; run it again with --yes to erase "
            "them from every store."
        )
    settings = operational_settings()
    try:
        result = erase_customer(
            settings, customer, now=SystemClock().now(), requested_by=operator_name()
        )
    except NothingHeldError:
        raise UserError(f"No store holds customer {customer}; check the id.") from None
    except ErasureError as exc:
        done = {
            f"{store}:{table}": n
            for store, tables in exc.counts.items()
            for table, n in tables.items()
            if n
        }
        detail = {"error": type(exc.__cause__).__name__, "tables": done}
        _audit(settings, "customer.erase", customer, detail, outcome="failure")
        raise UserError(f"{str(exc).capitalize()}.") from None
    _audit(settings, "customer.erase", customer, result.audit_detail())
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    stores = ", ".join(
        f"{sum(tables.values()):,} in {store}" for store, tables in result.counts.items()
    )
    again = " (already erased before)" if result.previously_erased else ""
    console.print(
        f"Erased customer {customer}{again}: {result.rows_erased:,} rows ({stores}); "
        f"{len(result.history_purged)} Delta tables keep no older versions; erasure "
        f"{result.erasure_id} in the ledger."
    )
    if result.landing_files:
        console.print(
            f"{len(result.landing_files)} landing files still mention the customer (raw "
            "deliveries, removed by the landing zone's retention):"
        )
        for found in result.landing_files:
            console.print(f"  {found.path}")
