"""Schemas generated from the contracts carry the contracts' details, never retyped ones."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from data_contracts.loader import SOURCES, Contract, ContractError, all_contracts, get_contract
from data_contracts.schemas import (
    FORMATS,
    arrow_schema,
    arrow_type,
    dbt_source_files,
    dbt_sources,
    expectation_suite,
    pii_classes,
    resolve_reference,
    spark_ddl,
    spark_schema_json,
    spark_type,
    write_generated,
)

# What pyspark's StructType.fromJson / Scala's DataType.fromJson accept for atomic types.
SPARK_ATOMIC = {"string", "long", "integer", "double", "boolean", "date", "timestamp"}
SPARK_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$")


def _contracts() -> list[Contract]:
    return list(all_contracts().values())


# --- Arrow -----------------------------------------------------------------------------


def test_arrow_schema_types_and_nullability() -> None:
    schema = arrow_schema(get_contract("billing.invoices"))
    assert schema.field("total_amount").type == pa.decimal128(12, 2)
    assert not schema.field("total_amount").nullable
    assert schema.field("issue_date").type == pa.date32()
    assert schema.metadata[b"contract"] == b"billing.invoices"
    customers = arrow_schema(get_contract("crm.customers"))
    assert customers.field("email").nullable
    assert customers.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert get_contract("crm.customers").column_names == customers.names


def test_unsupported_physical_type_is_a_contract_error() -> None:
    column = dataclasses.replace(
        get_contract("crm.customers").column("email"), physical_type="uuid"
    )
    with pytest.raises(ContractError, match="unsupported physicalType"):
        arrow_type(column)
    with pytest.raises(ContractError, match="unsupported physicalType"):
        spark_type(column)


# --- Spark -----------------------------------------------------------------------------


def _assert_spark_struct(doc: dict[str, Any]) -> None:
    """The shape StructType.fromJson accepts; Scala's parser matches the exact key sets."""
    assert set(doc) == {"type", "fields"}
    assert doc["type"] == "struct"
    for field in doc["fields"]:
        assert set(field) == {"name", "type", "nullable", "metadata"}
        assert isinstance(field["name"], str)
        assert isinstance(field["nullable"], bool)
        assert isinstance(field["metadata"], dict)
        assert field["type"] in SPARK_ATOMIC or SPARK_DECIMAL.match(field["type"]), field


def test_spark_json_has_the_structtype_shape_for_every_contract() -> None:
    for contract in _contracts():
        doc = spark_schema_json(contract)
        _assert_spark_struct(doc)
        assert [f["name"] for f in doc["fields"]] == contract.column_names
        assert json.loads(json.dumps(doc)) == doc  # plain JSON values only


def test_spark_json_types_nullability_and_metadata() -> None:
    fields = {f["name"]: f for f in spark_schema_json(get_contract("billing.invoices"))["fields"]}
    assert fields["total_amount"]["type"] == "decimal(12,2)"
    assert fields["total_amount"]["nullable"] is False
    assert fields["total_amount"]["metadata"] == {
        "comment": "Amount due including tax.",
        "pii_class": "none",
        "unit": "currency",
    }
    usage = {f["name"]: f for f in spark_schema_json(get_contract("billing.usage_daily"))["fields"]}
    assert usage["sms_count"]["type"] == "long"
    assert usage["data_mb"]["type"] == "double"
    assert usage["usage_date"]["type"] == "date"
    customers = {f["name"]: f for f in spark_schema_json(get_contract("crm.customers"))["fields"]}
    assert customers["date_of_birth"]["nullable"] is True
    assert customers["date_of_birth"]["metadata"]["pii_class"] == "sensitive"
    assert customers["has_marketing_consent"]["type"] == "boolean"
    assert customers["updated_at"]["type"] == "timestamp"


def test_spark_ddl_states_types_and_required_columns() -> None:
    contract = get_contract("billing.payments")
    ddl = spark_ddl(contract)
    parts = ddl.split(", ")
    assert [p.split(" ")[0] for p in parts] == contract.column_names
    assert "amount DECIMAL(12,2) NOT NULL" in parts
    assert "card_last4 STRING" in parts  # optional: no NOT NULL
    assert "paid_at TIMESTAMP NOT NULL" in parts
    assert "is_late BOOLEAN NOT NULL" in parts
    relaxed = spark_ddl(contract, not_null=False)
    assert "NOT NULL" not in relaxed
    assert "amount DECIMAL(12,2)" in relaxed.split(", ")
    assert "sms_count BIGINT NOT NULL" in spark_ddl(get_contract("billing.usage_daily"))


# --- dbt -------------------------------------------------------------------------------


def _dbt_table(doc: dict[str, Any], source: str, entity: str) -> dict[str, Any]:
    (src,) = [s for s in doc["sources"] if s["name"] == source]
    tables: list[dict[str, Any]] = [t for t in src["tables"] if t["name"] == entity]
    (table,) = tables
    return table


def _dbt_column(table: dict[str, Any], name: str) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [c for c in table["columns"] if c["name"] == name]
    (column,) = columns
    return column


def test_dbt_sources_has_one_source_per_contract_source() -> None:
    doc = dbt_sources(_contracts())
    assert doc["version"] == 2
    assert [s["name"] for s in doc["sources"]] == list(SOURCES)
    for source in doc["sources"]:
        expected = sorted(c.entity for c in _contracts() if c.source == source["name"])
        assert [t["name"] for t in source["tables"]] == expected
    # Survives a YAML round trip: no Python-only objects in it.
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc


def test_dbt_primary_keys_enums_and_foreign_keys() -> None:
    doc = dbt_sources(_contracts())
    customers = _dbt_table(doc, "crm", "customers")
    # Silver keeps SCD2 history: the key is unique among current versions only.
    assert _dbt_column(customers, "customer_id")["data_tests"] == [
        "not_null",
        {"unique": {"config": {"where": "is_current"}}},
    ]
    assert _dbt_column(_dbt_table(doc, "crm", "plans"), "plan_id")["data_tests"] == [
        "not_null",
        "unique",
    ]
    assert "data_tests" not in _dbt_column(customers, "email")  # optional, no rules
    payments = _dbt_table(doc, "billing", "payments")
    assert {
        "accepted_values": {"arguments": {"values": ["succeeded", "failed", "reversed"]}}
    } in _dbt_column(payments, "payment_status")["data_tests"]
    accounts = _dbt_table(doc, "crm", "accounts")
    assert _dbt_column(accounts, "customer_id")["data_tests"] == [
        "not_null",
        {
            "relationships": {
                "arguments": {"to": "source('crm','customers')", "field": "customer_id"}
            }
        },
    ]
    # Cross-source foreign key: interactions.tickets -> crm.subscriptions.
    tickets = _dbt_table(doc, "interactions", "tickets")
    assert _dbt_column(tickets, "subscription_id")["data_tests"] == [
        {
            "relationships": {
                "arguments": {"to": "source('crm','subscriptions')", "field": "subscription_id"}
            }
        }
    ]
    # Part of a composite key: not unique on its own.
    usage = _dbt_table(doc, "billing", "usage_daily")
    assert "unique" not in _dbt_column(usage, "subscription_id")["data_tests"]
    assert "not_null" in _dbt_column(usage, "usage_date")["data_tests"]


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in _keys(value)}
    if isinstance(node, list):
        return {k for item in node for k in _keys(item)}
    return set()


def test_dbt_uses_the_dbt_1_11_keys_only() -> None:
    keys = _keys(dbt_sources(_contracts()))
    assert "data_tests" in keys
    assert "tests" not in keys  # the pre-1.8 key
    for source in dbt_sources(_contracts())["sources"]:
        for table in source["tables"]:
            assert "meta" not in table and "freshness" not in table  # moved to config in 1.10
            for column in table["columns"]:
                for test in column.get("data_tests", []):
                    if isinstance(test, dict):
                        (arguments,) = test.values()
                        assert set(arguments) <= {"arguments", "config"}


def test_dbt_meta_and_freshness_come_from_the_contract() -> None:
    doc = dbt_sources(_contracts())
    customers = _dbt_table(doc, "crm", "customers")["config"]
    assert customers["meta"]["owner"] == "crm-data-owner"
    assert customers["meta"]["contract_id"] == "urn:cems:contract:crm:customers"
    assert customers["meta"]["contract_version"] == "1.0.0"
    assert customers["meta"]["pii_classes"] == ["personal", "sensitive"]
    assert customers["loaded_at_field"] == "updated_at"
    assert customers["freshness"] == {"error_after": {"count": 1, "period": "day"}}
    alarms = _dbt_table(doc, "network", "alarms")["config"]
    assert alarms["loaded_at_field"] == "occurred_at"
    assert alarms["freshness"] == {"error_after": {"count": 15, "period": "minute"}}
    # The invoices SLA is on a date column: no timestamp to measure freshness with.
    invoices = _dbt_table(doc, "billing", "invoices")["config"]
    assert "freshness" not in invoices and "loaded_at_field" not in invoices
    payments = _dbt_table(doc, "billing", "payments")
    assert payments["config"]["meta"]["pii_classes"] == ["payment"]
    assert _dbt_column(payments, "card_last4")["config"]["meta"] == {"pii_class": "payment"}


def test_dbt_sources_locate_silver_for_duckdb_and_spark() -> None:
    doc = dbt_sources(_contracts())
    (crm,) = [s for s in doc["sources"] if s["name"] == "crm"]
    assert crm["schema"] == "{{ 'delta' if target.type == 'spark' else 'crm' }}"
    customers = _dbt_table(doc, "crm", "customers")
    root = "{{ env_var('CEMS_LAKEHOUSE_ROOT') }}"
    assert customers["config"]["meta"]["external_location"] == (
        f"delta_scan('{root}/silver/crm/customers')"
    )
    assert customers["identifier"] == (
        "{{ ('`' ~ env_var('CEMS_LAKEHOUSE_ROOT') ~ '/silver/crm/customers`')"
        " if target.type == 'spark' else 'customers' }}"
    )
    names = [c["name"] for c in customers["columns"]]
    assert names[-6:] == [
        "valid_from",
        "valid_to",
        "is_current",
        "_source_file",
        "_batch_id",
        "_ingested_at",
    ]
    assert customers["config"]["meta"]["silver_history"] == "scd2"
    plans = _dbt_table(doc, "crm", "plans")
    assert [c["name"] for c in plans["columns"]][-3:] == [
        "_source_file",
        "_batch_id",
        "_ingested_at",
    ]
    assert plans["config"]["meta"]["silver_history"] == "none"


def test_dbt_source_files_one_per_source_in_staging() -> None:
    files = dbt_source_files()
    # One per source system, plus the gold tables the churn models write (ml/).
    assert sorted(files) == sorted(
        f"models/staging/{source}/_{source}__sources.yml" for source in (*SOURCES, "ml")
    )
    for text in files.values():
        assert text.startswith("# Generated from data_contracts")
        assert len(yaml.safe_load(text)["sources"]) == 1


def test_dbt_fractional_freshness_becomes_whole_periods() -> None:
    contract = dataclasses.replace(get_contract("crm.customers"), freshness_value=1.5)
    table = _dbt_table(dbt_sources([contract]), "crm", "customers")
    assert table["config"]["freshness"] == {"error_after": {"count": 36, "period": "hour"}}
    odd = dataclasses.replace(contract, freshness_unit="fortnight")
    with pytest.raises(ContractError, match="cannot be expressed"):
        dbt_sources([odd])


def test_dbt_subset_still_resolves_foreign_keys_from_all_contracts() -> None:
    doc = dbt_sources([get_contract("billing.payments")])
    assert [s["name"] for s in doc["sources"]] == ["billing"]
    payments = _dbt_table(doc, "billing", "payments")
    tests = _dbt_column(payments, "account_id")["data_tests"]
    assert tests[-1]["relationships"]["arguments"]["to"] == "source('crm','accounts')"


def test_resolve_reference_rejects_bad_targets() -> None:
    contracts = _contracts()
    owner, column = resolve_reference("cells.cell_id", contracts)
    assert (owner.name, column.name) == ("network.cells", "cell_id")
    with pytest.raises(ContractError, match="no contract describes entity"):
        resolve_reference("towers.tower_id", contracts)
    with pytest.raises(ContractError, match="has no column"):
        resolve_reference("cells.tower_id", contracts)
    with pytest.raises(ContractError, match="not of the form"):
        resolve_reference("cells", contracts)


def test_pii_classes_lists_only_real_classes() -> None:
    assert pii_classes(get_contract("crm.customers")) == ["personal", "sensitive"]
    assert pii_classes(get_contract("network.cells")) == []


# --- Great Expectations ----------------------------------------------------------------


def _expectations(suite: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["kwargs"] for e in suite["expectations"] if e["type"] == kind]


def test_suite_shape_for_every_contract() -> None:
    for contract in _contracts():
        suite = expectation_suite(contract)
        assert suite["name"] == contract.name
        assert suite["meta"]["contract_version"] == contract.version
        assert json.loads(json.dumps(suite)) == suite
        for expectation in suite["expectations"]:
            assert set(expectation) == {"type", "kwargs", "meta"}
            assert expectation["type"].startswith("expect_")
        first = suite["expectations"][0]
        assert first["type"] == "expect_table_columns_to_match_set"
        assert first["kwargs"] == {"column_set": contract.column_names, "exact_match": True}
        not_null = _expectations(suite, "expect_column_values_to_not_be_null")
        assert [k["column"] for k in not_null] == [c.name for c in contract.columns if c.required]


def test_suite_uniqueness_follows_the_primary_key() -> None:
    usage = expectation_suite(get_contract("billing.usage_daily"))
    assert _expectations(usage, "expect_compound_columns_to_be_unique") == [
        {"column_list": ["subscription_id", "usage_date"]}
    ]
    assert _expectations(usage, "expect_column_values_to_be_unique") == []
    customers = expectation_suite(get_contract("crm.customers"))
    assert _expectations(customers, "expect_column_values_to_be_unique") == [
        {"column": "customer_id"}
    ]
    assert _expectations(customers, "expect_compound_columns_to_be_unique") == []


def test_suite_enums_ranges_and_patterns() -> None:
    payments = expectation_suite(get_contract("billing.payments"))
    assert {
        "column": "payment_status",
        "value_set": ["succeeded", "failed", "reversed"],
    } in _expectations(payments, "expect_column_values_to_be_in_set")
    assert {"column": "amount", "min_value": 0} in _expectations(
        payments, "expect_column_values_to_be_between"
    )
    assert {"column": "payment_id", "regex": "^PAY[0-9]{10}$"} in _expectations(
        payments, "expect_column_values_to_match_regex"
    )
    kpis = expectation_suite(get_contract("network.cell_kpis"))
    assert {"column": "packet_loss_pct", "min_value": 0, "max_value": 100} in _expectations(
        kpis, "expect_column_values_to_be_between"
    )


# --- writing ---------------------------------------------------------------------------


def test_write_generated_writes_every_format(tmp_path: Path) -> None:
    paths = write_generated(tmp_path)
    count = len(_contracts())
    assert len(paths) == count * 4 + 1  # arrow, spark json + ddl, suites, one dbt file
    assert all(p.is_file() for p in paths)
    assert {p.parent.name for p in paths} == {"arrow", "spark", "dbt", "great_expectations"}
    spark = json.loads((tmp_path / "spark" / "billing__invoices.json").read_text())
    assert spark == spark_schema_json(get_contract("billing.invoices"))
    arrow = (tmp_path / "arrow" / "billing__invoices.txt").read_text()
    assert "total_amount: decimal128(12, 2) not null" in arrow
    sources = yaml.safe_load((tmp_path / "dbt" / "_sources.yml").read_text())
    assert sources == dbt_sources(_contracts())
    suite = json.loads((tmp_path / "great_expectations" / "billing__usage_daily.json").read_text())
    assert suite == expectation_suite(get_contract("billing.usage_daily"))
    assert not list(tmp_path.rglob("*.partial"))


def test_write_generated_is_deterministic(tmp_path: Path) -> None:
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in write_generated(tmp_path / "a")}
    second = {
        p.relative_to(tmp_path / "b"): p.read_bytes() for p in write_generated(tmp_path / "b")
    }
    assert first == second


def test_write_generated_only_the_formats_asked_for(tmp_path: Path) -> None:
    paths = write_generated(tmp_path, formats=["great-expectations"])
    assert {p.parent.name for p in paths} == {"great_expectations"}
    assert not (tmp_path / "spark").exists()
    with pytest.raises(ValueError, match="unknown formats"):
        write_generated(tmp_path, formats=["xml"])
    assert set(FORMATS) == {"arrow", "spark", "dbt", "great-expectations"}
