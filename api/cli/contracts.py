"""``cems contracts``: list, lint and export the data contracts.

The ODCS contracts under ``data_contracts/`` are the single definition of every source
entity; ``export`` turns them into Arrow and Spark schemas, dbt sources and Great
Expectations suites, and ``lint`` checks them against the standard and our conventions.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from api.cli.errors import UserError, friendly
from data_contracts.loader import (
    CONTRACTS_DIR,
    PII_CLASSES,
    SOURCES,
    Contract,
    ContractError,
    all_contracts,
    load_contract,
)
from data_contracts.schemas import FORMATS, resolve_reference, write_generated
from data_contracts.settings import get_settings

app = typer.Typer(
    help="Inspect, lint and export the data contracts, the single definition of every source.",
    no_args_is_help=True,
)

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class ExportFormat(StrEnum):
    """What ``cems contracts export`` writes."""

    arrow = "arrow"
    spark = "spark"
    dbt = "dbt"
    great_expectations = "great-expectations"
    all = "all"


def _console() -> Console:
    # Built per call so output goes to whatever sys.stdout is now (CliRunner swaps it).
    # No markup: paths and validator messages may contain "[...]".
    return Console(highlight=False, markup=False)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@app.command("list")
@friendly
def list_contracts() -> None:
    """Show every contract: owner, delivery, columns, primary key, error budget, freshness."""
    contracts = list(all_contracts().values())
    table = Table(title="Data contracts", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Contract", no_wrap=True)
    # Identifiers have no spaces to wrap at: one per line, folded only when very narrow.
    table.add_column("Owner", overflow="fold")
    table.add_column("Delivery", overflow="fold")
    table.add_column("Columns", justify="right")
    table.add_column("Primary key", overflow="fold")
    table.add_column("Error budget", justify="right")
    table.add_column("Freshness", overflow="fold")
    for contract in contracts:
        within = f"{contract.freshness_value:g} {contract.freshness_unit}"
        table.add_row(
            contract.name,
            contract.owner,
            contract.delivery,
            str(len(contract.columns)),
            "\n".join(contract.primary_key),
            f"{contract.error_budget_pct:g}%",
            f"{within} on\n{contract.freshness_column}",
        )
    console = _console()
    console.print(table)
    per_source = ", ".join(
        f"{source} {sum(c.source == source for c in contracts)}" for source in SOURCES
    )
    console.print(f"{len(contracts)} contracts across {len(SOURCES)} sources ({per_source}).")


@app.command("export")
@friendly
def export(
    output_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="What to generate: arrow, spark, dbt, great-expectations, or all of them.",
            case_sensitive=False,
        ),
    ] = ExportFormat.all,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write into (default: <CEMS_HOME>/generated/contracts).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate schemas, dbt sources and quality suites from the contracts."""
    target = out if out is not None else get_settings().generated_path / "contracts"
    formats = FORMATS if output_format is ExportFormat.all else (output_format.value,)
    try:
        paths = write_generated(target, formats=formats)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(
            f"cannot write to {target} ({reason}); pass a writable folder with --out."
        ) from None
    console = _console()
    for fmt in formats:
        folder = "great_expectations" if fmt == "great-expectations" else fmt
        count = sum(1 for p in paths if p.parent.name == folder)
        console.print(f"  {fmt:<20} {_plural(count, 'file'):>9} in {target / folder}")
    contracts = _plural(len(all_contracts()), "contract")
    console.print(f"Wrote {_plural(len(paths), 'file')} for {contracts} to {target}.")


@cache
def _odcs_validator() -> Any:
    """A JSON Schema validator for the ODCS schema shipped with the standard's package."""
    import jsonschema  # only lint needs it
    import open_data_contract_standard

    schema_path = Path(open_data_contract_standard.__file__).with_name("schema.json")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def _as_json(raw: Any) -> Any:
    # YAML turns unquoted dates into date objects; JSON Schema sees strings.
    return json.loads(json.dumps(raw, default=str))


def _schema_problems(raw: Any) -> list[str]:
    errors = sorted(
        _odcs_validator().iter_errors(_as_json(raw)), key=lambda e: list(map(str, e.path))
    )
    return [f"ODCS schema: {e.message} at /{'/'.join(map(str, e.path))}" for e in errors]


def _classification_problems(raw: Any) -> list[str]:
    """Every column states its classification; the loader alone would default it to none."""
    problems = []
    for obj in raw.get("schema") or []:
        for prop in obj.get("properties") or []:
            name = f"{obj.get('name')}.{prop.get('name')}"
            pii = prop.get("classification")
            if pii is None:
                problems.append(
                    f"{name} has no classification; set one of {', '.join(PII_CLASSES)}"
                )
            elif pii not in PII_CLASSES:
                problems.append(
                    f"{name} classification {pii!r} is not one of {', '.join(PII_CLASSES)}"
                )
    return problems


def _convention_problems(contract: Contract, raw: Any, contracts_dir: Path) -> list[str]:
    problems = []
    if raw.get("name") != contract.name:
        problems.append(f"name is {raw.get('name')!r}; the file's place says {contract.name!r}")
    for column in contract.columns:
        if not _SNAKE_CASE.match(column.name):
            problems.append(f"column {column.name!r} is not snake_case")
        if column.is_primary_key and not column.required:
            problems.append(f"primary key column {column.name} must be required")
    if contract.freshness_column not in contract.column_names:
        problems.append(f"freshness element {contract.freshness_column!r} is not a column")
    layout = contract.custom.get("layout")
    if layout and not (contracts_dir / str(layout)).is_file():
        problems.append(f"layout {layout} does not exist under {contracts_dir}")
    return problems


def _lint(contracts_dir: Path) -> tuple[int, list[tuple[str, str]]]:
    """Check every contract file under ``contracts_dir``; return (files, (file, problem)s)."""
    paths = [p for source in SOURCES for p in sorted((contracts_dir / source).glob("*.yaml"))]
    problems: list[tuple[str, str]] = []
    loaded: list[tuple[str, Contract]] = []
    for path in paths:
        label = path.relative_to(contracts_dir).as_posix()
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append((label, f"cannot be read as YAML: {exc}"))
            continue
        if not isinstance(raw, dict):
            problems.append((label, "is not a YAML mapping"))
            continue
        found = _schema_problems(raw) + _classification_problems(raw)
        try:
            contract = load_contract(path)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            found.append(f"does not parse as ODCS: {first['msg']} at {where}")
        except (ValueError, TypeError) as exc:  # ContractError, or a value of the wrong kind
            found.append(f"does not load: {exc}")
        else:
            loaded.append((label, contract))
            found += _convention_problems(contract, raw, contracts_dir)
        problems += [(label, problem) for problem in found]
    contracts = [contract for _, contract in loaded]
    for label, contract in loaded:
        for column in contract.columns:
            if column.references:
                try:
                    resolve_reference(column.references, contracts)
                except ContractError as exc:
                    problems.append((label, f"{column.name}: {exc}"))
    return len(paths), problems


@app.command("lint")
@friendly
def lint(
    contracts_dir: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="Folder holding one sub-folder of contracts per source (crm, billing, ...).",
            exists=True,
            file_okay=False,
        ),
    ] = CONTRACTS_DIR,
) -> None:
    """Validate every contract against the ODCS JSON schema and our conventions.

    Conventions: the loader reads it, every column is classified as none, personal,
    sensitive or payment, and every relationship points at an existing column.
    """
    checked, problems = _lint(contracts_dir)
    if checked == 0:
        raise UserError(
            f"no contracts found in {contracts_dir}; expected <source>/<entity>.yaml files "
            f"for sources {', '.join(SOURCES)}."
        )
    console = _console()
    if problems:
        table = Table(title="Contract problems", title_justify="left")
        table.add_column("File", no_wrap=True)
        table.add_column("Problem")
        for label, problem in problems:
            table.add_row(label, problem)
        console.print(table)
        files = len({label for label, _ in problems})
        console.print(
            f"Linted {checked} contracts: {_plural(len(problems), 'problem')} in "
            f"{_plural(files, 'file')}; "
            "fix them and run the lint again."
        )
        raise typer.Exit(1)
    console.print(f"Linted {checked} contracts in {contracts_dir}: no problems.")
