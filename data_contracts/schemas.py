"""Schemas generated from the contracts, never retyped.

Each generator takes :class:`~data_contracts.loader.Contract` objects and returns the
schema in the target system's own form: an Arrow schema, Spark ``StructType`` JSON and
DDL, a dbt ``sources:`` document and a Great Expectations 1.x suite (plain dicts, so no
Spark, dbt or GE install is needed). :func:`write_generated` writes them all to disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from data_contracts.loader import (
    PII_CLASSES,
    SOURCES,
    Column,
    Contract,
    ContractError,
    all_contracts,
)


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type for one contract column."""
    physical = column.physical_type
    if column.is_decimal:
        precision, scale = column.decimal_precision_scale
        return pa.decimal128(precision, scale)
    mapping: dict[str, pa.DataType] = {
        "string": pa.string(),
        "bigint": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    if physical not in mapping:
        raise ContractError(f"column {column.name}: unsupported physicalType {physical!r}")
    return mapping[physical]


def arrow_schema(contract: Contract) -> pa.Schema:
    """The Arrow schema of a contract (nullability from ``required``)."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c), nullable=not c.required) for c in contract.columns],
        metadata={"contract": contract.name, "contract_version": contract.version},
    )


# --- Spark -----------------------------------------------------------------------------

# physicalType -> (Spark JSON type name, Spark DDL type name). Decimals are handled apart.
_SPARK_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "STRING"),
    "bigint": ("long", "BIGINT"),
    "int": ("integer", "INT"),
    "double": ("double", "DOUBLE"),
    "boolean": ("boolean", "BOOLEAN"),
    "date": ("date", "DATE"),
    "timestamp": ("timestamp", "TIMESTAMP"),
}
_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def spark_type(column: Column) -> str:
    """The Spark type of one column as ``StructType.jsonValue()`` spells it (``long``, ...)."""
    if column.is_decimal:
        precision, scale = column.decimal_precision_scale
        return f"decimal({precision},{scale})"
    if column.physical_type not in _SPARK_TYPES:
        raise ContractError(
            f"column {column.name}: unsupported physicalType {column.physical_type!r}"
        )
    return _SPARK_TYPES[column.physical_type][0]


def _spark_ddl_type(column: Column) -> str:
    if column.is_decimal:
        return spark_type(column).upper()
    spark_type(column)  # raises the same error as the JSON form for unknown types
    return _SPARK_TYPES[column.physical_type][1]


def spark_schema_json(contract: Contract) -> dict[str, Any]:
    """The contract as Spark ``StructType`` JSON, ready for ``StructType.fromJson``.

    Only the keys Spark's parser expects are emitted (Scala's ``DataType.fromJson`` matches
    the exact key set), so the description and PII class travel in field ``metadata``.
    """
    fields: list[dict[str, Any]] = []
    for column in contract.columns:
        metadata: dict[str, Any] = {"comment": column.description, "pii_class": column.pii_class}
        if column.unit:
            metadata["unit"] = column.unit
        fields.append(
            {
                "name": column.name,
                "type": spark_type(column),
                "nullable": not column.required,
                "metadata": metadata,
            }
        )
    return {"type": "struct", "fields": fields}


def spark_ddl(contract: Contract, *, not_null: bool = True) -> str:
    """The contract as a Spark DDL string, e.g. ``customer_id STRING NOT NULL, ...``.

    Required columns carry ``NOT NULL`` by default so the DDL states the whole contract;
    ``StructType.fromDDL`` and ``spark.read.schema`` accept it. Spark's file sources read
    every column as nullable whatever the schema says, so ``required`` is enforced by the
    generated quality suites, not by the reader; pass ``not_null=False`` for a plain read
    schema. Descriptions are left out (they live in the JSON form's metadata).
    """
    parts = []
    for column in contract.columns:
        name = column.name if _PLAIN_IDENTIFIER.match(column.name) else f"`{column.name}`"
        suffix = " NOT NULL" if not_null and column.required else ""
        parts.append(f"{name} {_spark_ddl_type(column)}{suffix}")
    return ", ".join(parts)


# --- dbt -------------------------------------------------------------------------------

# Silver tables that keep SCD type 2 history (spark_jobs.crm.SCD2 writes them): several
# versions per key, so the key is unique only among current versions.
SILVER_HISTORY = frozenset({"crm.customers", "crm.subscriptions"})
SCD2_COLUMNS: dict[str, tuple[str, str]] = {
    "valid_from": ("timestamp", "When this version became current (its updated_at, UTC)."),
    "valid_to": ("timestamp", "When a newer version replaced this one (UTC); null if current."),
    "is_current": ("boolean", "This is the latest version of the row."),
}
LINEAGE_COLUMNS: dict[str, tuple[str, str]] = {
    "_source_file": ("string", "Landing file or CRM read the row came from."),
    "_batch_id": ("bigint", "Landing batch that wrote the row."),
    "_ingested_at": ("timestamp", "When the row was landed (UTC)."),
}
# The environment variable the generated sources read the lakehouse root from.
LAKEHOUSE_ROOT_ENV = "CEMS_LAKEHOUSE_ROOT"

# ODCS slaProperties units -> dbt freshness periods.
_FRESHNESS_PERIODS = {
    "min": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
}
_PERIOD_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def _contract_id(contract: Contract) -> str:
    return contract.odcs.id or contract.name


def pii_classes(contract: Contract) -> list[str]:
    """The PII classes present in a contract, other than ``none``, in a stable order."""
    present = {c.pii_class for c in contract.columns}
    return [pii for pii in PII_CLASSES if pii in present and pii != "none"]


def resolve_reference(reference: str, contracts: Iterable[Contract]) -> tuple[Contract, Column]:
    """The contract and column a foreign key ``"<entity>.<column>"`` points at.

    Entities are unique across sources, so the entity name alone finds the contract.
    """
    entity, _, column_name = reference.partition(".")
    if not entity or not column_name:
        raise ContractError(f"reference {reference!r} is not of the form '<entity>.<column>'")
    owners = [c for c in contracts if c.entity == entity]
    if not owners:
        raise ContractError(f"reference {reference!r}: no contract describes entity {entity!r}")
    if len(owners) > 1:
        names = ", ".join(c.name for c in owners)
        raise ContractError(f"reference {reference!r} is ambiguous between {names}")
    return owners[0], owners[0].column(column_name)


def _dbt_freshness(contract: Contract) -> dict[str, Any] | None:
    """A dbt freshness config when the SLA is measured on a timestamp column."""
    if contract.column(contract.freshness_column).logical_type != "timestamp":
        return None  # a date column has no time of day; dbt would compare at midnight
    period = _FRESHNESS_PERIODS.get(contract.freshness_unit.lower())
    if period is None or contract.freshness_value <= 0:
        raise ContractError(
            f"{contract.name}: freshness {contract.freshness_value:g} "
            f"{contract.freshness_unit!r} cannot be expressed in dbt minutes, hours or days"
        )
    # dbt counts are whole numbers: 1.5 d becomes 36 hours, 0.25 h becomes 15 minutes.
    minutes = contract.freshness_value * _PERIOD_MINUTES[period]
    for name, size in sorted(_PERIOD_MINUTES.items(), key=lambda item: -item[1]):
        if (minutes / size).is_integer():
            return {"error_after": {"count": int(minutes / size), "period": name}}
    return {"error_after": {"count": max(1, round(minutes)), "period": "minute"}}


def _streamed(contract: Contract) -> bool:
    return contract.delivery.endswith("_microbatch")


def _dbt_column(contract: Contract, column: Column, known: list[Contract]) -> dict[str, Any]:
    meta: dict[str, Any] = {"pii_class": column.pii_class}
    if column.unit:
        meta["unit"] = column.unit
    tests: list[Any] = []
    if column.required:
        tests.append("not_null")
    if contract.primary_key == [column.name]:
        if contract.name in SILVER_HISTORY:
            tests.append({"unique": {"config": {"where": "is_current"}}})
        else:
            tests.append("unique")
    if column.allowed_values:
        tests.append({"accepted_values": {"arguments": {"values": list(column.allowed_values)}}})
    if column.references:
        owner, target = resolve_reference(column.references, known)
        to = f"source('{owner.source}','{owner.entity}')"
        relationship: dict[str, Any] = {"arguments": {"to": to, "field": target.name}}
        if _streamed(contract) and _streamed(owner):
            # Streams land side by side, so landing cannot hold a child back for a parent
            # that arrives in a later micro-batch (or sits in quarantine): report, don't fail.
            relationship["config"] = {"severity": "warn"}
        tests.append({"relationships": relationship})
    entry: dict[str, Any] = {
        "name": column.name,
        "description": column.description,
        "data_type": column.physical_type,
        "config": {"meta": meta},
    }
    if tests:
        entry["data_tests"] = tests
    return entry


def _dbt_table(contract: Contract, known: list[Contract]) -> dict[str, Any]:
    path = f"{{{{ env_var('{LAKEHOUSE_ROOT_ENV}') }}}}/silver/{contract.source}/{contract.entity}"
    config: dict[str, Any] = {
        "meta": {
            "owner": contract.owner,
            "contract_id": _contract_id(contract),
            "contract_version": contract.version,
            "delivery": contract.delivery,
            "error_budget_pct": contract.error_budget_pct,
            "primary_key": contract.primary_key,
            "pii_classes": pii_classes(contract),
            "silver_history": "scd2" if contract.name in SILVER_HISTORY else "none",
            # dbt-duckdb renders a source with this in place of schema.identifier.
            "external_location": f"delta_scan('{path}')",
        }
    }
    freshness = _dbt_freshness(contract)
    if freshness is not None:
        config["loaded_at_field"] = contract.freshness_column
        config["freshness"] = freshness
    columns = [_dbt_column(contract, c, known) for c in contract.columns]
    if contract.name in SILVER_HISTORY:
        columns.extend(_dbt_extra_columns(SCD2_COLUMNS))
    columns.extend(_dbt_extra_columns(LINEAGE_COLUMNS))
    return {
        "name": contract.entity,
        "description": contract.description,
        # dbt-spark reads the same Delta table by path: delta.`<path>`.
        "identifier": (
            f"{{{{ ('`' ~ env_var('{LAKEHOUSE_ROOT_ENV}') ~ '/silver/{contract.source}/"
            f"{contract.entity}`') if target.type == 'spark' else '{contract.entity}' }}}}"
        ),
        "config": config,
        "columns": columns,
    }


def _dbt_extra_columns(columns: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "description": description,
            "data_type": data_type,
            "config": {"meta": {"pii_class": "none"}},
        }
        for name, (data_type, description) in columns.items()
    ]


def dbt_sources(contracts: Iterable[Contract]) -> dict[str, Any]:
    """A dbt ``sources:`` document (``version: 2``) with one source per contract source.

    Written for dbt 1.11: ``meta``, ``freshness`` and ``loaded_at_field`` sit under
    ``config`` (moved there in 1.10), tests are ``data_tests`` and generic test arguments
    sit under ``arguments``. Composite primary keys get no dbt test (dbt core has no
    compound unique test); the Great Expectations suite checks them.

    Each table says where its silver Delta table lives, for both dbt targets: dbt-duckdb
    reads ``meta.external_location`` (``delta_scan('<root>/silver/<source>/<entity>')``)
    and dbt-spark the ``identifier`` (``delta.`<path>```, the source's schema being
    ``delta`` on Spark), with the root from ``env_var('CEMS_LAKEHOUSE_ROOT')``. SCD2
    tables list ``valid_from``/``valid_to``/``is_current`` and test the key as unique
    among current versions; every table lists the lineage columns.
    """
    given = list(contracts)
    # Foreign keys may point outside the contracts asked for; resolve those from all.
    asked = {c.entity for c in given}
    known = given + [c for c in all_contracts().values() if c.entity not in asked]
    by_source: dict[str, list[Contract]] = {}
    for contract in given:
        by_source.setdefault(contract.source, []).append(contract)
    order = [s for s in SOURCES if s in by_source] + sorted(set(by_source) - set(SOURCES))
    return {
        "version": 2,
        "sources": [
            {
                "name": source,
                "schema": f"{{{{ 'delta' if target.type == 'spark' else '{source}' }}}}",
                "description": (
                    f"The {source} source system, generated from data_contracts/{source}/;"
                    " edit the contracts, not this file."
                ),
                "tables": [
                    _dbt_table(c, known) for c in sorted(by_source[source], key=lambda c: c.entity)
                ],
            }
            for source in order
        ],
    }


# --- Great Expectations ----------------------------------------------------------------


def _expectation(kind: str, rule: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"contract_rule": rule}}


def expectation_suite(contract: Contract) -> dict[str, Any]:
    """A Great Expectations 1.x expectation suite, in GE's serialised dict form."""
    expectations = [
        _expectation(
            "expect_table_columns_to_match_set",
            "schema",
            column_set=contract.column_names,
            exact_match=True,
        )
    ]
    key = contract.primary_key
    if len(key) > 1:
        expectations.append(
            _expectation("expect_compound_columns_to_be_unique", "primary_key", column_list=key)
        )
    for column in contract.columns:
        name = column.name
        if column.required:
            expectations.append(
                _expectation("expect_column_values_to_not_be_null", "required", column=name)
            )
        if key == [name]:
            expectations.append(
                _expectation("expect_column_values_to_be_unique", "primary_key", column=name)
            )
        if column.allowed_values:
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    "enum",
                    column=name,
                    value_set=list(column.allowed_values),
                )
            )
        bounds = {
            arg: value
            for arg, value in (("min_value", column.minimum), ("max_value", column.maximum))
            if value is not None
        }
        if bounds:
            expectations.append(
                _expectation("expect_column_values_to_be_between", "range", column=name, **bounds)
            )
        if column.pattern:
            expectations.append(
                _expectation(
                    "expect_column_values_to_match_regex",
                    "pattern",
                    column=name,
                    regex=column.pattern,
                )
            )
    return {
        "name": contract.name,
        "expectations": expectations,
        "meta": {
            "contract_id": _contract_id(contract),
            "contract_version": contract.version,
            "owner": contract.owner,
            "error_budget_pct": contract.error_budget_pct,
            "generated_by": "data_contracts.schemas",
        },
    }


# --- writing ---------------------------------------------------------------------------

FORMATS = ("arrow", "spark", "dbt", "great-expectations")
_GENERATED_HEADER = "# Generated from data_contracts by `cems contracts export`; do not edit.\n"


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a file.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", newline="\n")
    partial.replace(path)
    return path


def write_generated(out_dir: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write every contract's generated schemas under ``out_dir``; return the paths written.

    Layout: ``arrow/<source>__<entity>.txt``, ``spark/<source>__<entity>.json`` and
    ``.ddl``, ``dbt/_sources.yml``, ``great_expectations/<source>__<entity>.json``. The
    output is byte-for-byte the same for the same contracts.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; choose from {FORMATS}")
    contracts = list(all_contracts().values())
    written: list[Path] = []
    for fmt in FORMATS:
        if fmt not in wanted:
            continue
        if fmt == "dbt":
            text = _GENERATED_HEADER + yaml.safe_dump(
                dbt_sources(contracts), sort_keys=False, allow_unicode=True, width=100
            )
            written.append(_write(out_dir / "dbt" / "_sources.yml", text))
            continue
        for contract in contracts:
            stem = f"{contract.source}__{contract.entity}"
            if fmt == "arrow":
                written.append(
                    _write(out_dir / "arrow" / f"{stem}.txt", f"{arrow_schema(contract)}\n")
                )
            elif fmt == "spark":
                folder = out_dir / "spark"
                written.append(_write(folder / f"{stem}.json", _json(spark_schema_json(contract))))
                written.append(_write(folder / f"{stem}.ddl", spark_ddl(contract) + "\n"))
            else:
                folder = out_dir / "great_expectations"
                written.append(_write(folder / f"{stem}.json", _json(expectation_suite(contract))))
    return written


def dbt_source_files(contracts: Iterable[Contract] | None = None) -> dict[str, str]:
    """The dbt project's sources, one YAML per source as jaffle-shop lays them out.

    Keys are paths inside ``dbt/`` (``models/staging/<source>/_<source>__sources.yml``),
    values the file text. The dbt project commits these; a test fails when they drift.
    """
    chosen = list(all_contracts().values()) if contracts is None else list(contracts)
    document = dbt_sources(chosen)
    files: dict[str, str] = {}
    for source in document["sources"]:
        name = source["name"]
        text = _GENERATED_HEADER.replace(
            "`cems contracts export`", "`data_contracts.schemas.write_dbt_sources`"
        ) + yaml.safe_dump(
            {"version": 2, "sources": [source]}, sort_keys=False, allow_unicode=True, width=100
        )
        files[f"models/staging/{name}/_{name}__sources.yml"] = text
    if contracts is None:  # the full project also reads the gold tables ml/ writes
        from data_contracts.gold import dbt_source

        source = dbt_source()
        name = str(source["name"])
        files[f"models/staging/{name}/_{name}__sources.yml"] = _GENERATED_HEADER.replace(
            "data_contracts by `cems contracts export`",
            "data_contracts/gold.py by `data_contracts.schemas.write_dbt_sources`",
        ) + yaml.safe_dump(
            {"version": 2, "sources": [source]}, sort_keys=False, allow_unicode=True, width=100
        )
    return files


def write_dbt_sources(project_dir: Path) -> list[Path]:
    """Write :func:`dbt_source_files` into a dbt project folder; return the paths written."""
    return [_write(project_dir / rel, text) for rel, text in dbt_source_files().items()]
