"""Legacy import: map another vendor's customer export onto our contracts.

A mapping file (``data_contracts/mappings/<name>.yaml``) declares, per target contract, how
the vendor's columns become ours: rename (``from``), translate (``value_map``), ``cast``,
``derive`` (string templates and date arithmetic from the snapshot date; a small declarative
language, never Python ``eval``), constants (``default``) and ``when`` conditions that decide
whether a value or a whole row exists. Vendor columns our contracts have no place for become
typed ``crm.customer_attributes`` rows, so no signal is thrown away.

The result is written the way ``cems generate`` writes its sources: CRM rows upserted into the
operational CRM database in one transaction and the CRM CSV export refreshed from it, billing
rows as daily CSV files, every table cast to its contract's Arrow schema. Rows that cannot be
mapped are not written; each is listed once, with its first reason, in a reject report.

Ids: every imported customer gets a number from a range reserved for imports (``ids`` in the
mapping, ``C90000001`` upwards by default). The vendor key is kept as the attribute
``legacy_customer_key``; a re-import looks keys up there and reuses their numbers, and keys not
seen before get the next free number in input order. So the same file imported twice leaves the
database unchanged, and ids never depend on a hash that could collide.
"""

from __future__ import annotations

import calendar
import csv
import json
import re
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import sqlalchemy as sa
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from data_contracts import landing
from data_contracts.loader import Column, Contract, all_contracts
from data_contracts.schemas import arrow_schema
from data_contracts.settings import Settings, get_settings
from data_contracts.source_writers import CrmDatabase, conform, write_csv

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
KEY_ATTRIBUTE = "legacy_customer_key"
CUSTOMERS = "crm.customers"
ATTRIBUTES = "crm.customer_attributes"
BUILTINS = ("as_of", "row_number", "line_number", "key", "customer_number", "source_system")
# Filled with the as_of date at 00:00 UTC when a mapping leaves them out: never the wall
# clock, so a re-import of the same file writes the same rows.
ROW_TIMESTAMPS = ("created_at", "updated_at")
SUPPORTED_DELIVERIES = ("crm_database", "csv_daily")
UPSERT_BATCH_ROWS = 4000  # keeps each DELETE ... IN under SQLite's bound-parameter limit
PROGRESS_EVERY = 100
_TRUE_TEXT = frozenset({"true", "yes", "y", "t", "1"})
_FALSE_TEXT = frozenset({"false", "no", "n", "f", "0"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CUSTOMER_ID = re.compile(r"^C([0-9]{8})$")


# ---------------------------------------------------------------- errors


class LegacyImportError(ValueError):
    """An import that cannot run; the message is one sentence for the person running it."""


class MappingError(LegacyImportError):
    """The mapping file is unreadable or does not fit our contracts."""


class InputFileError(LegacyImportError):
    """The vendor file as a whole cannot be imported (missing, empty, lacking columns)."""


class _RowError(Exception):
    """One input row cannot be mapped; ``column`` names the culprit."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


# ---------------------------------------------------------------- values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise _RowError(name, f"cannot read {_text(value)!r} as a number")
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise _RowError(name, f"cannot read {_text(value)!r} as a number") from None
    if not number.is_finite():
        raise _RowError(name, f"cannot read {_text(value)!r} as a number")
    return number


def _integer(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        number = _number(value, name)
    except _RowError:
        raise _RowError(name, f"cannot read {_text(value)!r} as an integer") from None
    if number != number.to_integral_value():
        raise _RowError(name, f"cannot read {_text(value)!r} as an integer")
    return int(number)


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in _TRUE_TEXT:
        return True
    if text in _FALSE_TEXT:
        return False
    raise _RowError(name, f"cannot read {_text(value)!r} as a boolean (yes/no, true/false, 1/0)")


def _date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise _RowError(name, f"cannot read {_text(value)!r} as a date (YYYY-MM-DD)") from None


def _timestamp(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise _RowError(name, f"cannot read {_text(value)!r} as a timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Cast = Literal["string", "integer", "number", "boolean", "date"]


def cast_value(value: Any, cast: Cast, name: str) -> Any:
    """Cast one value; an empty value stays empty."""
    if value is None or value == "":
        return None
    if cast == "string":
        return _text(value)
    if cast == "integer":
        return _integer(value, name)
    if cast == "number":
        return _number(value, name)
    if cast == "boolean":
        return _boolean(value, name)
    return _date(value, name)


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic; the day is clamped to the target month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Condition:
    """``NAME OP LITERAL`` with a JSON literal, or ``NAME is blank`` / ``NAME is not blank``."""

    name: str
    op: str
    literal: Any = None

    def holds(self, scope: dict[str, Any]) -> bool:
        value = scope.get(self.name)
        if self.op == "is blank":
            return value is None
        if self.op == "is not blank":
            return value is not None
        if self.op in ("in", "not in"):
            found = any(_equals(value, item) for item in self.literal)
            return found if self.op == "in" else not found
        if self.op == "==":
            return _equals(value, self.literal)
        if self.op == "!=":
            return not _equals(value, self.literal)
        if value is None:
            return False
        left, right = _number(value, self.name), Decimal(str(self.literal))
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[self.op]


def _equals(value: Any, literal: Any) -> bool:
    if literal is None or value is None:
        return literal is None and value is None
    try:
        if isinstance(literal, bool):
            return _boolean(value, "") == literal
        if isinstance(literal, int | float):
            return _number(value, "") == Decimal(str(literal))
    except _RowError:
        return False
    return bool(_text(value) == literal)


_CONDITION_FORMS = (
    re.compile(r"^\s*(?P<name>\w+)\s+(?P<op>is\s+not\s+blank|is\s+blank)\s*$"),
    re.compile(r"^\s*(?P<name>\w+)\s+(?P<op>not\s+in|in)\s+(?P<literal>\[.*\])\s*$"),
    re.compile(r"^\s*(?P<name>\w+)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<literal>\S.*?)\s*$"),
)


@cache
def parse_condition(text: str) -> Condition:
    """Parse one ``when`` condition; raises ValueError with an example on bad syntax."""
    for form in _CONDITION_FORMS:
        match = form.match(text)
        if match is None:
            continue
        name, op = match["name"], " ".join(match["op"].split())
        if not _NAME.match(name):
            break
        if op in ("is blank", "is not blank"):
            return Condition(name, op)
        try:
            literal = json.loads(match["literal"])
        except json.JSONDecodeError:
            raise ValueError(
                f'condition {text!r}: the value must be JSON, e.g. Churn == "Yes", '
                'tenure > 0 or Contract in ["One year", "Two year"]'
            ) from None
        scalar = (str, int, float, bool, type(None))
        if op in ("in", "not in"):
            if not isinstance(literal, list) or not all(isinstance(x, scalar) for x in literal):
                raise ValueError(f"condition {text!r}: 'in' needs a list of plain values")
        elif op in ("<", "<=", ">", ">="):
            if not isinstance(literal, int | float) or isinstance(literal, bool):
                raise ValueError(f"condition {text!r}: {op} compares with a number")
        elif not isinstance(literal, scalar):
            raise ValueError(f"condition {text!r}: compare with a plain value, not {literal!r}")
        return Condition(name, op, literal)
    raise ValueError(
        f"condition {text!r} is not of the form NAME OP VALUE (==, !=, <, <=, >, >=, in, "
        "not in) or NAME is blank / NAME is not blank"
    )


def _holds(conditions: Iterable[str], scope: dict[str, Any]) -> bool:
    return all(parse_condition(text).holds(scope) for text in conditions)


def _as_condition_list(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list):
        for item in items:
            if isinstance(item, str):
                parse_condition(item)
    return items


Conditions = Annotated[list[str], BeforeValidator(_as_condition_list)]


# ---------------------------------------------------------------- templates

_FORMATTER = string.Formatter()


@cache
def parse_template(text: str) -> tuple[tuple[str, str | None, str], ...]:
    """Split a template into (literal text, field name, format spec) parts, names only."""
    parts: list[tuple[str, str | None, str]] = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"template {text!r}: {exc}") from None
    for literal, name, spec, conversion in parsed:
        if name is not None and (not _NAME.match(name) or conversion or "{" in (spec or "")):
            raise ValueError(
                f"template {text!r}: fields are plain names with an optional format, "
                "e.g. {customer_number:08d} or {as_of:%Y%m}"
            )
        parts.append((literal, name, spec or ""))
    return tuple(parts)


def render_template(text: str, scope: dict[str, Any]) -> str:
    out: list[str] = []
    for literal, name, spec in parse_template(text):
        out.append(literal)
        if name is None:
            continue
        value = scope.get(name)
        if value is None:
            raise _RowError(name, f"{name} is empty")
        try:
            out.append(format(value, spec))
        except (ValueError, TypeError):
            raise _RowError(name, f"cannot format {_text(value)!r} as {{{name}:{spec}}}") from None
    return "".join(out)


# ---------------------------------------------------------------- mapping model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Operand = int | float | str  # a number, or the name of a column / variable / builtin


def _operand_names(*operands: Operand | None) -> list[str]:
    return [o for o in operands if isinstance(o, str)]


def _operand_value(operand: Operand, scope: dict[str, Any]) -> Any:
    if isinstance(operand, str):
        value = scope.get(operand)
        if value is None:
            raise _RowError(operand, f"{operand} is empty")
        return value
    return operand


class DateDerive(_Strict):
    """Date arithmetic from the as_of date.

    ``as_of + as_of_plus_months - as_of_minus_months (+/- days)``; with ``modulo`` only the
    remainder ``as_of_minus_months % modulo`` is subtracted (the start of the current
    renewal term), or all of it when ``modulo`` is 0.
    """

    as_of_minus_months: Operand = 0
    as_of_plus_months: Operand = 0
    modulo: Operand | None = None
    as_of_minus_days: Operand = 0
    as_of_plus_days: Operand = 0

    def names(self) -> list[str]:
        return _operand_names(
            self.as_of_minus_months,
            self.as_of_plus_months,
            self.modulo,
            self.as_of_minus_days,
            self.as_of_plus_days,
        )

    def evaluate(self, scope: dict[str, Any]) -> date:
        def whole(operand: Operand) -> int:
            name = operand if isinstance(operand, str) else "derive"
            return _integer(_operand_value(operand, scope), name)

        minus = whole(self.as_of_minus_months)
        if self.modulo is not None and (modulo := whole(self.modulo)) > 0:
            minus %= modulo
        day = add_months(scope["as_of"], whole(self.as_of_plus_months) - minus)
        return day + timedelta(days=whole(self.as_of_plus_days) - whole(self.as_of_minus_days))


_UNMAPPED = object()


class ValueSpec(_Strict):
    """How one value is produced. A bare scalar in YAML is shorthand for ``default``."""

    from_: str | None = Field(default=None, alias="from")
    value_map: dict[str, Any] | None = None
    cast: Cast | None = None
    derive: str | DateDerive | None = None
    default: Any = None
    when: Conditions = []

    @model_validator(mode="before")
    @classmethod
    def _constant_shorthand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"default": data}

    @field_validator("value_map", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key in value:
            if isinstance(key, bool) or key is None:
                raise ValueError(
                    f"value_map key {key!r} is not text; quote keys such as 'Yes', 'No', "
                    "'On', 'Off' and 'null' (YAML reads them as booleans or null)"
                )
        return {str(key): item for key, item in value.items()}

    @field_validator("derive")
    @classmethod
    def _valid_template(cls, value: str | DateDerive | None) -> str | DateDerive | None:
        if isinstance(value, str):
            parse_template(value)
        return value

    @field_validator("from_")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("'from' needs a column or variable name")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        if self.from_ is not None and self.derive is not None:
            raise ValueError("give either 'from' or 'derive', not both")
        if self.value_map is not None and self.from_ is None and self.derive is None:
            raise ValueError("value_map translates a source value; add 'from' or 'derive'")
        return self

    def names(self) -> list[str]:
        """Every name this spec reads (columns, variables, builtins)."""
        found = [parse_condition(c).name for c in self.when]
        if self.from_ is not None:
            found.append(self.from_)
        if isinstance(self.derive, str):
            found += [name for _, name, _ in parse_template(self.derive) if name is not None]
        elif self.derive is not None:
            found += self.derive.names()
        return found

    def primary_name(self) -> str | None:
        """The name a rejection of this value is reported against."""
        if self.from_ is not None:
            return self.from_
        names = self.names()
        return names[-1] if names else None

    def evaluate(self, scope: dict[str, Any]) -> Any:
        if not _holds(self.when, scope):
            return None
        value: Any = None
        if self.from_ is not None:
            value = scope.get(self.from_)
        elif isinstance(self.derive, str):
            value = render_template(self.derive, scope)
        elif self.derive is not None:
            value = self.derive.evaluate(scope)
        if value is None or value == "":
            value = self.default
        elif self.value_map is not None:
            mapped = self.value_map.get(_text(value), _UNMAPPED)
            if mapped is _UNMAPPED:
                known = ", ".join(repr(k) for k in self.value_map)
                raise _RowError(
                    self.primary_name() or "",
                    f"value {_text(value)!r} is not one of the mapped values ({known})",
                )
            value = mapped
        if self.cast is not None:
            value = cast_value(value, self.cast, self.primary_name() or "")
        return value


class AttributeSpec(ValueSpec):
    """An extra attribute: a value spec plus the attribute's type."""

    type: Literal["string", "number", "boolean"]

    @model_validator(mode="after")
    def _no_cast(self) -> AttributeSpec:
        if self.cast is not None:
            raise ValueError("extra attributes take 'type' (string, number, boolean), not 'cast'")
        return self

    def typed(self, value: Any, name: str) -> dict[str, Any]:
        cast: Cast = "string" if self.type == "string" else self.type
        typed = cast_value(value, cast, name)
        return {
            "attribute_type": self.type,
            "value_string": typed if self.type == "string" else None,
            "value_number": float(typed) if self.type == "number" and typed is not None else None,
            "value_boolean": typed if self.type == "boolean" else None,
        }


class InputOptions(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    key_column: str = Field(min_length=1)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            "".encode(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class IdOptions(_Strict):
    """The customer-number range reserved for this import (8 digits, ``C`` + number)."""

    customer_number_start: int = Field(default=90_000_001, ge=1, le=99_999_999)
    customer_number_end: int = Field(default=99_999_999, ge=1, le=99_999_999)

    @model_validator(mode="after")
    def _ordered(self) -> IdOptions:
        if self.customer_number_end < self.customer_number_start:
            raise ValueError("ids.customer_number_end is below customer_number_start")
        return self


class RowTemplate(_Strict):
    """One of several rows a target can produce from a single input row."""

    name: str
    when: Conditions = []
    weight: Operand | None = None
    columns: dict[str, ValueSpec] = {}


class SplitSpec(_Strict):
    """Split an input amount across a target's rows, in proportion to the rows' weights."""

    column: str
    total: str


class TargetSpec(_Strict):
    when: Conditions = []
    columns: dict[str, ValueSpec] = {}
    rows: list[RowTemplate] | None = Field(default=None, min_length=1)
    split: SplitSpec | None = None

    def templates(self) -> list[tuple[list[str], Operand | None, dict[str, ValueSpec]]]:
        """(conditions, weight, columns) per row, the shared columns merged in."""
        if self.rows is None:
            return [(list(self.when), None, dict(self.columns))]
        return [
            ([*self.when, *row.when], row.weight, {**self.columns, **row.columns})
            for row in self.rows
        ]


def _check_columns(contract: Contract, names: Iterable[str], where: str) -> None:
    known = set(contract.column_names)
    for name in names:
        if name not in known:
            raise ValueError(f"{where}: {contract.name} has no column {name!r}")


class ImportMapping(_Strict):
    """A validated mapping file."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source_system: str = Field(min_length=1)
    description: str = ""
    input: InputOptions
    as_of: date | None = None
    ids: IdOptions = IdOptions()
    variables: dict[str, ValueSpec] = {}
    targets: dict[str, TargetSpec] = Field(min_length=1)
    extra_attributes: dict[str, AttributeSpec] = {}
    reference_rows: dict[str, list[dict[str, Any]]] = {}

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, ValueSpec]) -> dict[str, ValueSpec]:
        for name in value:
            if not _NAME.match(name) or name in BUILTINS:
                raise ValueError(f"variable {name!r} must be a plain name and not a builtin")
        return value

    @field_validator("extra_attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, AttributeSpec]) -> dict[str, AttributeSpec]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"attribute name {name!r} must be snake_case")
            if name == KEY_ATTRIBUTE:
                raise ValueError(f"{KEY_ATTRIBUTE} is written by the import itself")
        return value

    @model_validator(mode="after")
    def _fits_contracts(self) -> ImportMapping:
        contracts = all_contracts()
        for name in [*self.targets, *self.reference_rows]:
            if name not in contracts:
                raise ValueError(f"unknown target contract {name!r}; known: {', '.join(contracts)}")
            if contracts[name].delivery not in SUPPORTED_DELIVERIES:
                raise ValueError(
                    f"{name} is delivered as {contracts[name].delivery}; the import writes "
                    "CRM tables and daily CSV files only"
                )
        if CUSTOMERS not in self.targets:
            raise ValueError(f"targets must include {CUSTOMERS}: every import creates customers")
        if ATTRIBUTES in self.targets:
            raise ValueError(f"{ATTRIBUTES} rows come from extra_attributes, not from targets")
        for name, target in self.targets.items():
            _check_target(contracts[name], target)
        for name, rows in self.reference_rows.items():
            contract = contracts[name]
            if contract.delivery != "crm_database":
                raise ValueError(f"reference_rows go to CRM tables, not to {name}")
            for index, row in enumerate(rows):
                _reference_row(contract, row, f"reference_rows.{name}[{index}]", None)
        return self

    def input_columns(self) -> set[str]:
        """The vendor columns the mapping reads (everything but builtins and variables)."""
        needed = {self.input.key_column}
        defined = set(BUILTINS)
        for name, spec in self.variables.items():
            needed |= set(spec.names()) - defined
            defined.add(name)
        for target in self.targets.values():
            needed |= {parse_condition(c).name for c in target.when}
            for conditions, weight, columns in target.templates():
                needed |= {parse_condition(c).name for c in conditions}
                needed |= set(_operand_names(weight))
                for spec in columns.values():
                    needed |= set(spec.names())
            if target.split is not None:
                needed.add(target.split.total)
        for attribute in self.extra_attributes.values():
            needed |= set(attribute.names())
        return needed - defined


def _check_target(contract: Contract, target: TargetSpec) -> None:
    where = f"targets.{contract.name}"
    _check_columns(contract, target.columns, where)
    for row in target.rows or []:
        _check_columns(contract, row.columns, f"{where}.rows[{row.name}]")
    computed = set(ROW_TIMESTAMPS)
    if target.split is not None:
        _check_columns(contract, [target.split.column], f"{where}.split")
        if contract.column(target.split.column).logical_type != "number":
            raise ValueError(f"{where}.split: {target.split.column} is not a number column")
        if target.rows is None or any(row.weight is None for row in target.rows):
            raise ValueError(f"{where}.split: every entry of rows needs a weight")
        computed.add(target.split.column)
    for column in contract.columns:
        if not column.required or column.name in computed:
            continue
        for _, _, columns in target.templates():
            if column.name not in columns:
                raise ValueError(
                    f"{where} gives no value for {column.name}, which the contract requires"
                )


def _reference_row(
    contract: Contract, row: dict[str, Any], where: str, stamp: datetime | None
) -> dict[str, Any]:
    """A literal catalogue row, coerced to the contract and checked."""
    _check_columns(contract, row, where)
    out: dict[str, Any] = {}
    for column in contract.columns:
        value = row.get(column.name)
        if value is None and column.name in ROW_TIMESTAMPS:
            value = stamp or datetime(2000, 1, 1, tzinfo=UTC)
        try:
            out[column.name] = _coerce(value, column)
            _check(out[column.name], column, contract.name)
        except _RowError as exc:
            raise ValueError(f"{where}: {exc.reason}") from None
    return out


# ---------------------------------------------------------------- loading


def resolve_mapping_path(mapping: str | Path) -> Path:
    """A path as given, or the name of a bundled mapping (``ibm_telco``)."""
    path = Path(mapping)
    if path.exists():
        return path
    bundled = MAPPINGS_DIR / f"{path.name.removesuffix('.yaml')}.yaml"
    if path.parent == Path() and bundled.exists():
        return bundled
    return path


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "DateDerive", "list[str]"})


def _first_error(exc: ValidationError) -> str:
    """The most specific of pydantic's errors, as one sentence."""
    errors = exc.errors()
    # In a union (e.g. derive: template | date arithmetic) the deepest error is the one meant.
    error = max(errors, key=lambda e: len(e["loc"]))
    parts = [
        str(part)
        for part in error["loc"]
        if str(part) not in _UNION_TAGS and not str(part).startswith("function-")
    ]
    where = ".".join(parts)
    if error["type"] == "extra_forbidden":
        parent, _, key = where.rpartition(".")
        return f"unknown key {key!r}" + (f" in {parent}" if parent else "")
    if error["type"] == "missing":
        return f"{where} is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def load_mapping(mapping: str | Path) -> ImportMapping:
    """Read and validate a mapping file; every problem is a one-sentence MappingError."""
    path = resolve_mapping_path(mapping)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        bundled = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
        raise MappingError(
            f"mapping file {path} does not exist; give a path or a bundled mapping ({bundled})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise MappingError(f"mapping file {path} is not valid YAML{at}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path} must be a YAML mapping with name and targets")
    try:
        return ImportMapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(f"mapping file {path}: {_first_error(exc)}") from None


# ---------------------------------------------------------------- the vendor file


@dataclass(frozen=True)
class VendorRow:
    line_number: int
    raw: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class VendorFile:
    path: Path
    header: tuple[str, ...]
    rows: list[VendorRow]


def read_vendor_file(mapping: ImportMapping, path: Path) -> VendorFile:
    """Read the export whole and check it carries every column the mapping reads."""
    if not path.is_file():
        raise InputFileError(f"file {path} does not exist; check the path")
    encoding = (
        "utf-8-sig"
        if mapping.input.encoding.lower() in ("utf-8", "utf8")
        else (mapping.input.encoding)
    )
    rows: list[VendorRow] = []
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=mapping.input.delimiter)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputFileError(f"file {path} is empty")
            header = [h.strip() for h in header]
            for fields in reader:
                if not fields or all(not f.strip() for f in fields):
                    continue
                raw: dict[str, Any] = dict(zip(header, fields, strict=False))
                problem = None
                if len(fields) != len(header):
                    problem = f"row has {len(fields)} fields, the header has {len(header)}"
                    if len(fields) > len(header):
                        raw["_extra_fields"] = fields[len(header) :]
                rows.append(VendorRow(reader.line_num, raw, problem))
    except UnicodeDecodeError:
        raise InputFileError(
            f"file {path} is not {mapping.input.encoding} text; set input.encoding in the mapping"
        ) from None
    except csv.Error as exc:
        raise InputFileError(f"file {path} is not readable CSV: {exc}") from None
    except OSError as exc:
        raise InputFileError(f"cannot read file {path}: {exc.strerror or exc}") from None
    duplicates = sorted(name for name, n in Counter(header).items() if n > 1)
    if duplicates:
        raise InputFileError(f"file {path} repeats the columns {', '.join(duplicates)}")
    missing = sorted(mapping.input_columns() - set(header))
    if missing:
        raise InputFileError(
            f"file {path} lacks the columns mapping {mapping.name} needs "
            f"({', '.join(missing)}); is it the right file for this mapping?"
        )
    if not rows:
        raise InputFileError(f"file {path} has a header but no data rows")
    return VendorFile(path, tuple(header), rows)


# ---------------------------------------------------------------- mapping rows


def _coerce(value: Any, column: Column) -> Any:
    """A value in the Python type Arrow expects for the contract column."""
    if value is None or value == "":
        return None
    physical = column.physical_type
    if column.is_decimal:
        precision, scale = column.decimal_precision_scale
        number = _number(value, column.name).quantize(
            Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP
        )
        if number.adjusted() >= precision - scale:
            raise _RowError(column.name, f"{number} is too large for {column.name}")
        return number
    if physical in ("bigint", "int"):
        return _integer(value, column.name)
    if physical == "double":
        return float(_number(value, column.name))
    if physical == "boolean":
        return _boolean(value, column.name)
    if physical == "date":
        return _date(value, column.name)
    if physical == "timestamp":
        return _timestamp(value, column.name)
    return _text(value)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check(value: Any, column: Column, contract_name: str) -> None:
    """The contract's own rules: required, enum, pattern, range."""
    where = f"{contract_name}.{column.name}"
    if value is None:
        if column.required:
            raise _RowError(column.name, f"{where} is required but the value is empty")
        return
    if column.allowed_values is not None and _text(value) not in column.allowed_values:
        allowed = ", ".join(column.allowed_values)
        raise _RowError(column.name, f"{_text(value)!r} is not an allowed {where} ({allowed})")
    is_text = isinstance(value, str)
    if is_text and column.pattern is not None and not _regex(column.pattern).search(value):
        raise _RowError(column.name, f"{value!r} does not match {where} {column.pattern}")
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if column.minimum is not None and value < column.minimum:
            reason = f"{value} is below the minimum {column.minimum} of {where}"
            raise _RowError(column.name, reason)
        if column.maximum is not None and value > column.maximum:
            reason = f"{value} is above the maximum {column.maximum} of {where}"
            raise _RowError(column.name, reason)


def _split(total: Decimal, weights: list[Decimal], scale: int) -> list[Decimal]:
    """Proportional shares that add up exactly; the largest share absorbs the rounding."""
    quantum = Decimal(1).scaleb(-scale)
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        raise _RowError("weight", "the split weights of the produced rows add up to zero")
    shares = [(total * w / whole).quantize(quantum, rounding=ROUND_HALF_UP) for w in weights]
    largest = weights.index(max(weights))
    shares[largest] += total.quantize(quantum, rounding=ROUND_HALF_UP) - sum(shares, Decimal(0))
    return shares


class _RowMapper:
    """Maps one vendor row at a time onto every target of the mapping."""

    def __init__(self, mapping: ImportMapping, as_of: date) -> None:
        self.mapping = mapping
        self.as_of = as_of
        self.stamp = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
        contracts = all_contracts()
        self.contracts = {name: contracts[name] for name in [*mapping.targets, ATTRIBUTES]}
        key_spec = AttributeSpec.model_validate({"from": "key", "type": "string"})
        self.attribute_specs = {KEY_ATTRIBUTE: key_spec, **mapping.extra_attributes}
        self.origins: dict[str, str] = {}
        for name, spec in mapping.variables.items():
            primary = spec.primary_name()
            if primary is not None and primary not in BUILTINS:
                self.origins[name] = self.origins.get(primary, primary)

    def origin(self, name: str) -> str:
        """The vendor column a name was computed from, for the reject report."""
        return self.origins.get(name, name)

    def map_row(self, scope: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        for name, spec in self.mapping.variables.items():
            scope[name] = self._value(spec, scope, f"variable {name}")
        out: dict[str, list[dict[str, Any]]] = {}
        for name, target in self.mapping.targets.items():
            out[name] = self._target_rows(self.contracts[name], target, scope)
        customers = out[CUSTOMERS]
        if len(customers) != 1:
            raise _RowError(self.mapping.input.key_column, f"no {CUSTOMERS} row for this input row")
        out[ATTRIBUTES] = self._attributes(customers[0]["customer_id"], scope)
        return out

    def _value(self, spec: ValueSpec, scope: dict[str, Any], what: str) -> Any:
        try:
            return spec.evaluate(scope)
        except _RowError as exc:
            raise _RowError(self.origin(exc.column), f"{exc.reason} (for {what})") from None

    def _target_rows(
        self, contract: Contract, target: TargetSpec, scope: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        weights: list[Decimal] = []
        sources: list[dict[str, ValueSpec]] = []
        for conditions, weight, columns in target.templates():
            try:
                if not _holds(conditions, scope):
                    continue
            except _RowError as exc:
                raise _RowError(self.origin(exc.column), exc.reason) from None
            row: dict[str, Any] = {}
            for column in contract.columns:
                spec = columns.get(column.name)
                if spec is None:
                    value = self.stamp if column.name in ROW_TIMESTAMPS else None
                else:
                    value = self._value(spec, scope, f"{contract.name}.{column.name}")
                try:
                    row[column.name] = _coerce(value, column)
                except _RowError as exc:
                    column_name = spec.primary_name() if spec is not None else None
                    raise _RowError(
                        self.origin(column_name or column.name),
                        f"{exc.reason} (for {contract.name}.{column.name})",
                    ) from None
            rows.append(row)
            sources.append(columns)
            if weight is not None:
                try:
                    weights.append(_number(_operand_value(weight, scope), str(weight)))
                except _RowError as exc:
                    reason = f"{exc.reason} (split weight)"
                    raise _RowError(self.origin(exc.column), reason) from None
        if target.split is not None and rows:
            total_name = target.split.total
            try:
                total = _number(_operand_value(total_name, scope), total_name)
            except _RowError as exc:
                raise _RowError(
                    self.origin(total_name), f"{exc.reason} (split over {contract.name})"
                ) from None
            column = contract.column(target.split.column)
            scale = column.decimal_precision_scale[1] if column.is_decimal else 2
            for row, share in zip(rows, _split(total, weights, scale), strict=True):
                row[column.name] = _coerce(share, column)
        for row, columns in zip(rows, sources, strict=True):
            for column in contract.columns:
                try:
                    _check(row[column.name], column, contract.name)
                except _RowError as exc:
                    spec = columns.get(column.name)
                    if target.split is not None and column.name == target.split.column:
                        culprit = target.split.total
                    else:
                        culprit = (spec.primary_name() if spec else None) or column.name
                    raise _RowError(self.origin(culprit), exc.reason) from None
        return rows

    def _attributes(self, customer_id: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
        # Built from a validated mapping and a checked customer row, so only the values
        # themselves can be wrong; typing them is the check.
        rows = []
        for name, spec in self.attribute_specs.items():
            try:
                if not _holds(spec.when, scope):
                    continue
                typed = spec.typed(spec.evaluate(scope), spec.primary_name() or name)
            except _RowError as exc:
                reason = f"{exc.reason} (for attribute {name})"
                raise _RowError(self.origin(exc.column), reason) from None
            rows.append(
                {
                    "customer_id": customer_id,
                    "attribute_name": name,
                    **typed,
                    "source_system": self.mapping.source_system,
                    "updated_at": self.stamp,
                }
            )
        return rows


# ---------------------------------------------------------------- result


@dataclass(frozen=True)
class Reject:
    line_number: int
    key: str
    column: str
    reason: str
    raw_row: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    """What an import read, wrote and left out."""

    mapping: str
    source_file: Path
    as_of: date
    rows_read: int
    rows_imported: int
    rows_rejected: int
    rows_per_contract: dict[str, int]
    reject_report: Path
    files_written: tuple[Path, ...]
    crm_database: str
    rejects: tuple[Reject, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping,
            "source_file": str(self.source_file),
            "as_of": self.as_of.isoformat(),
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "rows_rejected": self.rows_rejected,
            "rows_per_contract": dict(self.rows_per_contract),
            "reject_report": str(self.reject_report),
            "files_written": [str(p) for p in self.files_written],
            "crm_database": self.crm_database,
        }


# ---------------------------------------------------------------- writing


def _temp_sibling(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def _first_field(line: str) -> str:
    return next(csv.reader([line]), [""])[0] if line.strip() else ""


def _stage_daily_csv(table: pa.Table, final: Path, key: str) -> Path:
    """Our rows in a temp file beside ``final``; another writer's rows for the day are kept."""
    temp = _temp_sibling(final)
    write_csv(table, temp)
    if final.exists():
        ours = temp.read_text(encoding="utf-8").splitlines(keepends=True)
        existing = final.read_text(encoding="utf-8").splitlines(keepends=True)
        if existing and existing[0].strip() != ours[0].strip():
            temp.unlink()
            raise LegacyImportError(
                f"{final} already exists with other columns; move it away and import again"
            )
        replaced = set(table.column(key).to_pylist())
        kept = [line for line in existing[1:] if _first_field(line) not in replaced]
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
        temp.write_text("".join([ours[0], *kept, *ours[1:]]), encoding="utf-8")
    return temp


def _stage_rejects(rejects: list[Reject], final: Path) -> Path:
    temp = _temp_sibling(final)
    with temp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line_number", "key", "column", "reason", "raw_row"])
        for r in rejects:
            raw = json.dumps(r.raw_row, ensure_ascii=False)
            writer.writerow([r.line_number, r.key, r.column, r.reason, raw])
    return temp


def _batches(table: pa.Table) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, UPSERT_BATCH_ROWS):
        yield table.slice(start, UPSERT_BATCH_ROWS)


def _ensure_sqlite_folder(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


def _known_customers(db: CrmDatabase, source_system: str) -> dict[str, str]:
    attributes = db.tables["customer_attributes"]
    query = sa.select(attributes.c.value_string, attributes.c.customer_id).where(
        attributes.c.attribute_name == KEY_ATTRIBUTE,
        attributes.c.source_system == source_system,
    )
    with db.engine.connect() as connection:
        return {str(key): str(cid) for key, cid in connection.execute(query)}


def _highest_number(db: CrmDatabase, ids: IdOptions) -> int | None:
    customers = db.tables["customers"]
    query = sa.select(sa.func.max(customers.c.customer_id)).where(
        customers.c.customer_id >= f"C{ids.customer_number_start:08d}",
        customers.c.customer_id <= f"C{ids.customer_number_end:08d}",
    )
    with db.engine.connect() as connection:
        highest = connection.execute(query).scalar()
    match = _CUSTOMER_ID.match(str(highest)) if highest is not None else None
    return int(match.group(1)) if match else None


def _table(rows: list[dict[str, Any]], contract: Contract) -> pa.Table:
    return conform(pa.Table.from_pylist(rows, schema=arrow_schema(contract)), contract)


# ---------------------------------------------------------------- the import

ProgressCallback = Callable[[int, int], None]


def run_import(
    mapping: ImportMapping,
    source: Path | VendorFile,
    as_of: date,
    *,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Map a vendor file through ``mapping`` as of ``as_of`` and write it into the sources.

    ``source`` is a path, or a file already read with :func:`read_vendor_file`.
    """
    settings = settings or get_settings()
    vendor = source if isinstance(source, VendorFile) else read_vendor_file(mapping, source)
    contracts = all_contracts()
    crm_contracts = [c for c in contracts.values() if c.source == "crm"]
    _ensure_sqlite_folder(settings.crm_database_url)
    db = CrmDatabase(settings.crm_database_url, crm_contracts)
    try:
        try:
            db.create_missing()
            known = _known_customers(db, mapping.source_system)
            highest = _highest_number(db, mapping.ids)
        except sa.exc.SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise LegacyImportError(f"cannot use the CRM database: {reason}") from None
        mapper = _RowMapper(mapping, as_of)
        mapped, rejects = _map_rows(mapping, mapper, vendor, known, highest, as_of, on_progress)
        return _write(mapping, vendor, as_of, settings, db, mapper, mapped, rejects)
    finally:
        db.close()


@dataclass(frozen=True)
class MappedExport:
    """A vendor file mapped onto our contracts in memory (nothing written)."""

    tables: dict[str, pa.Table]
    rows_read: int
    rejects: tuple[Reject, ...]


def map_file(mapping: ImportMapping, source: Path | VendorFile, as_of: date) -> MappedExport:
    """Map a vendor file as :func:`run_import` does, but return contract-typed Arrow tables
    (every target, ``crm.customer_attributes`` and the reference rows) instead of writing.

    Customer numbers start at the mapping's range, as on a first import. ``cems ml
    evaluate`` uses this to measure the churn model on a vendor export without touching the
    operator's sources.
    """
    vendor = source if isinstance(source, VendorFile) else read_vendor_file(mapping, source)
    mapper = _RowMapper(mapping, as_of)
    mapped, rejects = _map_rows(mapping, mapper, vendor, {}, None, as_of, None)
    contracts = all_contracts()
    rows = {name: list(found) for name, found in mapped.items()}
    for name, references in mapping.reference_rows.items():
        rows.setdefault(name, []).extend(
            _reference_row(contracts[name], row, f"reference_rows.{name}", mapper.stamp)
            for row in references
        )
    tables = {name: _table(found, contracts[name]) for name, found in rows.items()}
    return MappedExport(tables, len(vendor.rows), tuple(rejects))


def _map_rows(
    mapping: ImportMapping,
    mapper: _RowMapper,
    vendor: VendorFile,
    known: dict[str, str],
    highest: int | None,
    as_of: date,
    on_progress: ProgressCallback | None,
) -> tuple[dict[str, list[dict[str, Any]]], list[Reject]]:
    key_column = mapping.input.key_column
    ids = mapping.ids
    next_number = max(ids.customer_number_start, (highest or 0) + 1)
    lines_by_key: dict[str, list[int]] = {}
    for row in vendor.rows:
        key = str(row.raw.get(key_column, "")).strip()
        lines_by_key.setdefault(key, []).append(row.line_number)
    mapped: dict[str, list[dict[str, Any]]] = {name: [] for name in mapper.contracts}
    produced: dict[str, dict[tuple[Any, ...], int]] = {name: {} for name in mapper.contracts}
    rejects: list[Reject] = []
    total = len(vendor.rows)
    for index, row in enumerate(vendor.rows, start=1):
        key = str(row.raw.get(key_column, "")).strip()
        try:
            if row.problem is not None:
                raise _RowError("", row.problem)
            if not key:
                raise _RowError(key_column, f"{key_column} is empty; every row needs a key")
            lines = lines_by_key[key]
            if len(lines) > 1:
                where = ", ".join(str(n) for n in lines)
                raise _RowError(
                    key_column,
                    f"{key_column} {key!r} appears on lines {where}; each key must appear once",
                )
            match = _CUSTOMER_ID.match(known.get(key, ""))
            is_new = match is None
            number = int(match.group(1)) if match else next_number
            if is_new and number > ids.customer_number_end:
                raise LegacyImportError(
                    f"the id range C{ids.customer_number_start:08d}-"
                    f"C{ids.customer_number_end:08d} of mapping {mapping.name} is full"
                )
            scope: dict[str, Any] = {
                name: (str(value).strip() or None) for name, value in row.raw.items()
            }
            scope.update(
                as_of=as_of,
                row_number=index,
                line_number=row.line_number,
                key=key,
                customer_number=number,
                source_system=mapping.source_system,
            )
            out = mapper.map_row(scope)
            _claim_keys(mapper, out, produced, row.line_number)
        except _RowError as exc:
            rejects.append(Reject(row.line_number, key, exc.column, exc.reason, row.raw))
        else:
            for name, rows in out.items():
                mapped[name].extend(rows)
            if is_new:
                next_number += 1
        if on_progress is not None and (index % PROGRESS_EVERY == 0 or index == total):
            on_progress(index, total)
    return mapped, rejects


def _claim_keys(
    mapper: _RowMapper,
    out: dict[str, list[dict[str, Any]]],
    produced: dict[str, dict[tuple[Any, ...], int]],
    line_number: int,
) -> None:
    """Reject a row whose output keys another row (or this one) already produced."""
    claims: list[tuple[str, tuple[Any, ...]]] = []
    for name, rows in out.items():
        primary_key = mapper.contracts[name].primary_key
        for row in rows:
            key = tuple(row[c] for c in primary_key)
            earlier = produced[name].get(key)
            if earlier is not None or (name, key) in claims:
                where = f"line {earlier}" if earlier is not None else "this row"
                raise _RowError(
                    primary_key[-1],
                    f"{name} key {'/'.join(map(str, key))} is already produced by {where}",
                )
            claims.append((name, key))
    for name, key in claims:
        produced[name][key] = line_number


def _write(
    mapping: ImportMapping,
    vendor: VendorFile,
    as_of: date,
    settings: Settings,
    db: CrmDatabase,
    mapper: _RowMapper,
    mapped: dict[str, list[dict[str, Any]]],
    rejects: list[Reject],
) -> ImportResult:
    """Stage every file, upsert the CRM in one transaction, then swap the files in."""
    contracts = all_contracts()
    crm_rows: dict[str, list[dict[str, Any]]] = {}
    for name, rows in mapping.reference_rows.items():
        crm_rows[name] = [
            _reference_row(contracts[name], row, f"reference_rows.{name}", mapper.stamp)
            for row in rows
        ]
    billing_rows: dict[str, list[dict[str, Any]]] = {}
    for name, rows in mapped.items():
        destination = crm_rows if contracts[name].delivery == "crm_database" else billing_rows
        destination.setdefault(name, []).extend(rows)
    counts = {name: len(rows) for name, rows in {**crm_rows, **billing_rows}.items()}

    report = settings.generated_path / "imports" / mapping.name / f"rejects_{as_of:%Y%m%d}.csv"
    staged: list[tuple[Path, Path]] = []
    try:
        staged.append((_stage_rejects(rejects, report), report))
        for name, rows in billing_rows.items():
            if rows:
                contract = contracts[name]
                final = landing.daily_file_path(settings.landing_path, contract, as_of)
                temp = _stage_daily_csv(_table(rows, contract), final, contract.primary_key[0])
                staged.append((temp, final))
        try:
            with db.engine.begin() as connection:
                for name, rows in crm_rows.items():
                    if not rows:
                        continue
                    contract = contracts[name]
                    for batch in _batches(_table(rows, contract)):
                        db.upsert(connection, contract.entity, batch)
                    staged.append(_stage_export(connection, db, contract, settings))
        except sa.exc.SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise LegacyImportError(f"the CRM database refused the import: {reason}") from None
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, final in staged:
        temp.replace(final)  # atomic within the folder
    return ImportResult(
        mapping=mapping.name,
        source_file=vendor.path,
        as_of=as_of,
        rows_read=len(vendor.rows),
        rows_imported=len(vendor.rows) - len(rejects),
        rows_rejected=len(rejects),
        rows_per_contract=counts,
        reject_report=report,
        files_written=tuple(final for _, final in staged if final != report),
        crm_database=sa.engine.make_url(settings.crm_database_url).render_as_string(
            hide_password=True
        ),
        rejects=tuple(rejects),
    )


def _stage_export(
    connection: sa.Connection, db: CrmDatabase, contract: Contract, settings: Settings
) -> tuple[Path, Path]:
    """The CRM's full-table CSV export, read back inside the writing transaction."""
    table = db.tables[contract.entity]
    order = list(table.primary_key.columns)
    rows = [dict(r._mapping) for r in connection.execute(sa.select(table).order_by(*order))]
    final = landing.crm_export_path(settings.landing_path, contract.entity)
    temp = _temp_sibling(final)
    write_csv(_table(rows, contract), temp)
    return temp, final
