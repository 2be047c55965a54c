"""``cems audit``: verify the audit log's chains, archive old entries, review reports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.cli.errors import UserError, friendly
from api.cli.operational import operational_settings, operator_name

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(
    help="The tamper-evident audit log: verify its chains, archive old entries, review it.",
    no_args_is_help=True,
)
report_app = typer.Typer(
    help="Review reports: failed sign-ins, MFA failures, who accessed which customer's data.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")
console = Console(highlight=False, soft_wrap=True)
TAMPERED_EXIT_CODE = 1
DEFAULT_REPORT_DAYS = 30

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help=f"Start of the period: a date or ISO timestamp (default: {DEFAULT_REPORT_DAYS} "
        "days before --until).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="End of the period: a date (inclusive) or ISO timestamp."),
]


def _parse_moment(value: str, option: str, *, end_of_day: bool) -> datetime:
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} must be a date like 2026-01-31 or an ISO timestamp, not {value!r}."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _period(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    end = _parse_moment(until, "--until", end_of_day=True) if until else datetime.now(UTC)
    start = (
        _parse_moment(since, "--since", end_of_day=False)
        if since
        else end - timedelta(days=DEFAULT_REPORT_DAYS)
    )
    if start >= end:
        raise UserError(f"--since ({start.isoformat()}) must be before --until ({end}).")
    return start, end


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@app.command("verify")
@friendly
def verify_log(
    include_archive: Annotated[
        bool,
        typer.Option("--include-archive", help="Also recompute the archived entries in Delta."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Recompute every chain; exit 1 and name each edited, inserted or deleted entry."""
    from api.audit.keys import AuditKeyError, load_key
    from api.audit.verify import verify

    settings = operational_settings()
    try:
        key: bytes | None = load_key(settings)
    except AuditKeyError:
        key = None  # fine while the log is empty; verify() refuses otherwise
    try:
        report = verify(settings, key, include_archive=include_archive)
    except AuditKeyError as exc:
        raise UserError(f"cannot verify the audit log: {exc}.") from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        checked = (
            f"{_count(report.entries_checked, 'entry', 'entries')} in "
            f"{_count(report.chains_checked, 'chain', 'chains')}"
        )
        if report.archived_entries_checked is not None:
            archived = report.archived_entries_checked
            checked += f" and {_count(archived, 'archived entry', 'archived entries')}"
        if report.ok:
            console.print(f"Audit log intact: {checked} verified.")
        else:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.kinds().items()))
            console.print(
                f"[bold red]Audit log tampered:[/] {len(report.findings)} findings ({kinds}) "
                f"in {checked}:"
            )
            for finding in report.findings:
                where = " (archive)" if finding.location == "archive" else ""
                console.print(f"  [bold]{finding.kind}[/]{where}: {escape(finding.message)}")
    if not report.ok:
        raise typer.Exit(TAMPERED_EXIT_CODE)


@app.command("archive")
@friendly
def archive_log(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Archive entries older than this date (YYYY-MM-DD); it must be at least the "
            "retention period (5 years) ago.",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Move entries older than the retention period to the Delta archive, then delete them."""
    from api.audit.keys import AuditKeyError
    from api.audit.retention import RetentionError, archive
    from api.core.clock import SystemClock

    try:
        cutoff = datetime.strptime(before, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UserError(f"--before must be a date like 2020-01-31, not {before!r}.") from None
    settings = operational_settings()
    try:
        result = archive(settings, before=cutoff, clock=SystemClock(), actor=operator_name())
    except RetentionError as exc:
        raise UserError(f"{exc}.") from None
    except AuditKeyError as exc:
        raise UserError(f"cannot archive the audit log: {exc}.") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(
            f"Archived {result.entries_archived:,} audit entries of {result.chains:,} chains "
            f"older than {before} to {result.table_path} ({result.rows_written:,} new rows)."
        )
        for held in result.held_back:
            console.print(
                f"  [yellow]Held back[/] chain {held.chain_id} at entry {held.seq} "
                f"({held.reason}); run `cems audit verify`."
            )
    if result.held_back:
        raise typer.Exit(TAMPERED_EXIT_CODE)


def _run_report(call: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from sqlalchemy.ext.asyncio import AsyncSession

    from api.crypto.keyring import open_keyring, use_keyring
    from api.db.engine import async_engine

    settings = operational_settings()

    async def run() -> T:
        engine = async_engine(settings)
        try:
            async with AsyncSession(engine) as session:
                return await call(session)
        finally:
            await engine.dispose()

    with use_keyring(open_keyring(settings)):  # reviews name customers by decrypted e-mail
        return asyncio.run(run())


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return escape(", ".join(value))
    if isinstance(value, str) and len(value) == 25 and value[10] == "T":  # an ISO timestamp
        return f"{value[:10]} {value[11:16]}"
    return escape("-" if value is None else str(value))


def _show(
    rows: Sequence[Any],
    as_json: bool,
    title: str,
    columns: Sequence[tuple[str, str]],
) -> None:
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        console.print(f"{title}: none.")
        return
    table = Table(title=title)
    for header, name in columns:
        moment = name.startswith(("first_", "last_"))
        table.add_column(header, overflow="fold", no_wrap=moment)
    for row in rows:
        data = row.to_dict()
        table.add_row(*(_cell(data[name]) for _, name in columns))
    console.print(table)


@report_app.command("failed-logins")
@friendly
def report_failed_logins(
    since: SinceOption = None, until: UntilOption = None, as_json: JsonOption = False
) -> None:
    """Failed sign-ins by account and source address."""
    from api.audit.reports import failed_logins

    start, end = _period(since, until)
    rows = _run_report(lambda s: failed_logins(s, start, end))
    _show(
        rows,
        as_json,
        f"Failed sign-ins {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC",
        [
            ("Account", "account"),
            ("Address", "source_address"),
            ("Failures", "failures"),
            ("First", "first_attempt"),
            ("Last", "last_attempt"),
        ],
    )


@report_app.command("mfa-failures")
@friendly
def report_mfa_failures(
    since: SinceOption = None, until: UntilOption = None, as_json: JsonOption = False
) -> None:
    """Failed MFA checks (sign-in and step-up) by account and source address."""
    from api.audit.reports import mfa_failures

    start, end = _period(since, until)
    rows = _run_report(lambda s: mfa_failures(s, start, end))
    _show(
        rows,
        as_json,
        f"MFA failures {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC",
        [
            ("Account", "account"),
            ("Role", "role"),
            ("Address", "source_address"),
            ("Failures", "failures"),
            ("First", "first_attempt"),
            ("Last", "last_attempt"),
        ],
    )


@report_app.command("access")
@friendly
def report_access(
    since: SinceOption = None,
    until: UntilOption = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="Only this customer's data.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Who (actor and role) read or changed which customer's data in the period."""
    from api.audit.reports import customer_access

    start, end = _period(since, until)
    rows = _run_report(lambda s: customer_access(s, start, end, customer))
    _show(
        rows,
        as_json,
        f"Access to customer data {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC",
        [
            ("Customer", "customer_id"),
            ("Actor", "actor_label"),
            ("Role", "actor_role"),
            ("Count", "accesses"),
            ("Refused", "refused"),
            ("Last", "last_access"),
            ("Actions", "actions"),
        ],
    )
