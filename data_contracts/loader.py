"""Typed access to the ODCS v3 contracts in this folder.

The YAML files are the single definition of every source entity. This module parses
them with the Open Data Contract Standard's own pydantic model and exposes a small,
typed view (``Contract``, ``Column``) that the generator, importers, Spark jobs and
schema generators share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import OpenDataContractStandard
from pydantic import ValidationError

CONTRACTS_DIR = Path(__file__).resolve().parent
SOURCES = ("crm", "billing", "network", "interactions")
PII_CLASSES = ("none", "personal", "sensitive", "payment")


class ContractError(ValueError):
    """A contract file is missing or does not follow our conventions."""


@dataclass(frozen=True)
class Column:
    """One property of a contract's schema."""

    name: str
    logical_type: str  # string | integer | number | boolean | date | timestamp
    physical_type: str  # string | bigint | double | decimal(p,s) | boolean | date | timestamp
    description: str
    required: bool
    primary_key_position: int | None
    pii_class: str
    allowed_values: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    unit: str | None = None
    references: str | None = None  # "<entity>.<column>"

    @property
    def is_primary_key(self) -> bool:
        return self.primary_key_position is not None

    @property
    def is_decimal(self) -> bool:
        return self.physical_type.startswith("decimal")

    @property
    def decimal_precision_scale(self) -> tuple[int, int]:
        if not self.is_decimal:
            raise ContractError(f"column {self.name} is not a decimal")
        inner = self.physical_type[self.physical_type.index("(") + 1 : -1]
        precision, scale = (int(part) for part in inner.split(","))
        return precision, scale


@dataclass(frozen=True)
class Contract:
    """A source entity's contract, e.g. ``crm.customers``."""

    source: str
    entity: str
    version: str
    description: str
    owner: str
    delivery: str
    error_budget_pct: float
    freshness_value: float
    freshness_unit: str
    freshness_column: str
    columns: tuple[Column, ...]
    path: Path
    custom: dict[str, Any] = field(default_factory=dict)
    late_tolerance_minutes: int | None = None

    @property
    def name(self) -> str:
        return f"{self.source}.{self.entity}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def primary_key(self) -> list[str]:
        keyed = [c for c in self.columns if c.primary_key_position is not None]
        return [c.name for c in sorted(keyed, key=lambda c: c.primary_key_position or 0)]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ContractError(f"{self.name} has no column {name!r}")

    @property
    def odcs(self) -> OpenDataContractStandard:
        """The full standard model, for anything the typed view does not expose."""
        return _parse(self.path)


def _custom(props: list[Any] | None) -> dict[str, Any]:
    return {p.property: p.value for p in props or [] if p.property}


@cache
def _parse(path: Path) -> OpenDataContractStandard:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"cannot read contract {path}: {exc}") from exc
    try:
        return OpenDataContractStandard.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ContractError(
            f"contract {path} does not follow ODCS v3 at {where}: {first['msg']}"
        ) from exc


def _column(prop: Any, where: str) -> Column:
    opts = prop.logicalTypeOptions or {}
    custom = _custom(prop.customProperties)
    pii = prop.classification or "none"
    if pii not in PII_CLASSES:
        raise ContractError(f"{where}.{prop.name}: classification must be one of {PII_CLASSES}")
    if not prop.logicalType or not prop.physicalType:
        raise ContractError(f"{where}.{prop.name}: logicalType and physicalType are required")
    references = None
    for rel in prop.relationships or []:
        references = rel.to if isinstance(rel.to, str) else None
    return Column(
        name=prop.name,
        logical_type=prop.logicalType,
        physical_type=prop.physicalType,
        description=prop.description or "",
        required=bool(prop.required),
        primary_key_position=prop.primaryKeyPosition if prop.primaryKey else None,
        pii_class=pii,
        allowed_values=tuple(str(e.value) for e in prop.enum) if prop.enum else None,
        minimum=opts.get("minimum"),
        maximum=opts.get("maximum"),
        pattern=opts.get("pattern"),
        unit=custom.get("unit"),
        references=references,
    )


def load_contract(path: Path) -> Contract:
    """Parse one contract file into the typed view."""
    doc = _parse(path)
    source = path.parent.name
    if not doc.schema_ or len(doc.schema_) != 1:
        raise ContractError(f"{path}: a contract describes exactly one schema object")
    obj = doc.schema_[0]
    entity = obj.name or path.stem
    where = f"{source}.{entity}"
    custom = _custom(doc.customProperties)
    team = doc.team
    members = team.members if team is not None and not isinstance(team, list) else None
    owners = [m.username for m in members or [] if m.username]
    sla = next((s for s in doc.slaProperties or [] if s.property == "freshness"), None)
    if sla is None or sla.element is None:
        raise ContractError(f"{path}: a freshness slaProperty with an element is required")
    if "delivery" not in custom or "errorBudgetPct" not in custom:
        raise ContractError(f"{path}: customProperties delivery and errorBudgetPct are required")
    late = custom.get("lateArrivalToleranceMinutes")
    return Contract(
        source=source,
        entity=entity,
        version=doc.version or "",
        description=obj.description or "",
        owner=owners[0] if owners else "",
        delivery=str(custom["delivery"]),
        error_budget_pct=float(custom["errorBudgetPct"]),
        freshness_value=float(sla.value) if sla.value is not None else 0.0,
        freshness_unit=sla.unit or "",
        freshness_column=sla.element.split(".", 1)[-1],
        columns=tuple(_column(p, where) for p in obj.properties or []),
        path=path,
        custom=custom,
        late_tolerance_minutes=int(late) if late is not None else None,
    )


@cache
def all_contracts() -> dict[str, Contract]:
    """Every contract, keyed ``<source>.<entity>``, in a stable order."""
    found: dict[str, Contract] = {}
    for source in SOURCES:
        for path in sorted((CONTRACTS_DIR / source).glob("*.yaml")):
            contract = load_contract(path)
            found[contract.name] = contract
    return found


def get_contract(name: str) -> Contract:
    """Look a contract up by ``<source>.<entity>`` (or a unique ``<entity>``)."""
    contracts = all_contracts()
    if name in contracts:
        return contracts[name]
    matches = [c for c in contracts.values() if c.entity == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(contracts)
    raise ContractError(f"no contract named {name!r}; known contracts: {known}")


def load_layout(name: str) -> dict[str, Any]:
    """A fixed-width file layout from ``layouts/`` (referenced by a contract's ``layout``)."""
    path = CONTRACTS_DIR / name
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data
