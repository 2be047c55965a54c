"""The contracts themselves: they load, and they agree with each other and the layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from data_contracts.loader import (
    CONTRACTS_DIR,
    PII_CLASSES,
    SOURCES,
    ContractError,
    all_contracts,
    get_contract,
    load_contract,
    load_layout,
)
from data_contracts.schemas import resolve_reference

EXPECTED = {
    "crm.accounts",
    "crm.customer_attributes",
    "crm.customers",
    "crm.plans",
    "crm.subscriptions",
    "billing.invoices",
    "billing.payments",
    "billing.usage_daily",
    "network.alarms",
    "network.cell_kpis",
    "network.cells",
    "interactions.events",
    "interactions.ticket_status_changes",
    "interactions.tickets",
}


def test_all_fourteen_contracts_load() -> None:
    contracts = all_contracts()
    assert set(contracts) == EXPECTED
    for name, contract in contracts.items():
        assert contract.name == name
        assert contract.columns, name
        assert contract.owner.endswith("-data-owner"), name
        assert contract.version == "1.0.0", name


def test_every_source_has_contracts() -> None:
    sources = {c.source for c in all_contracts().values()}
    assert sources == set(SOURCES)
    for source in SOURCES:
        assert any((CONTRACTS_DIR / source).glob("*.yaml")), source


def test_get_contract_by_full_name_or_entity() -> None:
    assert get_contract("payments").name == "billing.payments"
    assert get_contract("crm.customers").entity == "customers"
    with pytest.raises(ContractError, match="no contract named"):
        get_contract("crm.nope")


def test_every_contract_has_a_required_primary_key() -> None:
    for contract in all_contracts().values():
        assert contract.primary_key, contract.name
        for name in contract.primary_key:
            assert contract.column(name).required, f"{contract.name}.{name}"


def test_composite_primary_keys_keep_their_order() -> None:
    assert get_contract("billing.usage_daily").primary_key == ["subscription_id", "usage_date"]
    assert get_contract("interactions.ticket_status_changes").primary_key == [
        "ticket_id",
        "changed_at",
        "to_status",
    ]
    assert get_contract("crm.customers").primary_key == ["customer_id"]


def test_foreign_key_targets_exist_with_the_same_type() -> None:
    contracts = list(all_contracts().values())
    checked = 0
    for contract in contracts:
        for column in contract.columns:
            if column.references is None:
                continue
            owner, target = resolve_reference(column.references, contracts)
            assert target.name == column.references.split(".")[1]
            assert target.physical_type == column.physical_type, column.references
            # A foreign key points at a key, otherwise the join fans out.
            assert target.name in owner.primary_key, column.references
            checked += 1
    assert checked >= 15  # accounts, subscriptions, invoices, payments, tickets, ...


def test_pii_classes_are_known_and_sensitive_columns_are_marked() -> None:
    for contract in all_contracts().values():
        for column in contract.columns:
            assert column.pii_class in PII_CLASSES, f"{contract.name}.{column.name}"
    customers = get_contract("crm.customers")
    assert customers.column("email").pii_class == "personal"
    assert customers.column("date_of_birth").pii_class == "sensitive"
    assert customers.column("customer_id").pii_class == "none"
    assert get_contract("billing.payments").column("card_last4").pii_class == "payment"
    assert get_contract("crm.subscriptions").column("msisdn").pii_class == "personal"


def test_enums_are_parsed_as_strings() -> None:
    payments = get_contract("billing.payments")
    assert payments.column("payment_status").allowed_values == ("succeeded", "failed", "reversed")
    assert payments.column("amount").allowed_values is None
    # 4g would be a number to a careless parser; the contract says it is a code.
    assert get_contract("network.cells").column("technology").allowed_values == ("4g", "5g")


def test_decimal_columns_and_ranges_are_parsed() -> None:
    invoices = get_contract("billing.invoices")
    total = invoices.column("total_amount")
    assert total.is_decimal
    assert total.decimal_precision_scale == (12, 2)
    assert total.minimum == 0
    assert total.unit == "currency"
    kpis = get_contract("network.cell_kpis")
    assert (kpis.column("packet_loss_pct").minimum, kpis.column("packet_loss_pct").maximum) == (
        0,
        100,
    )
    with pytest.raises(ContractError, match="not a decimal"):
        _ = invoices.column("currency").decimal_precision_scale


def test_freshness_sla_points_at_a_column() -> None:
    for contract in all_contracts().values():
        assert contract.freshness_column in contract.column_names, contract.name
        assert contract.freshness_value > 0, contract.name
    assert get_contract("network.alarms").freshness_unit == "min"
    assert get_contract("network.alarms").late_tolerance_minutes == 120


def _contiguous(fields: list[dict[str, Any]]) -> bool:
    expected_start = 1
    for field in fields:
        if field["start"] != expected_start or field["length"] < 1:
            return False
        expected_start += field["length"]
    return True


def test_payments_fixed_width_layout_matches_the_contract() -> None:
    payments = get_contract("billing.payments")
    layout_name = payments.custom["layout"]
    assert (CONTRACTS_DIR / layout_name).is_file()
    layout = load_layout(layout_name)
    assert layout["contract"] == "billing.payments"
    record_length = layout["record_length"]
    detail = layout["records"]["detail"]["fields"]
    assert _contiguous(detail)
    last = detail[-1]
    assert last["start"] + last["length"] - 1 == record_length
    for record in ("header", "trailer"):
        fields = layout["records"][record]["fields"]
        assert _contiguous(fields), record
        assert fields[-1]["start"] + fields[-1]["length"] - 1 <= record_length, record
    # The detail record carries exactly the contract's columns, plus framing.
    names = [f["name"] for f in detail if f["name"] not in {"record_type", "filler"}]
    assert names == payments.column_names
    # Every code in the file decodes to a value the contract allows.
    for field in detail:
        allowed = payments.column(field["name"]).allowed_values if "codes" in field else None
        if allowed is not None:
            assert set(field["codes"].values()) <= set(allowed), field["name"]


def _write_contract(tmp_path: Path, raw: dict[str, Any], source: str = "crm") -> Path:
    path = tmp_path / source / "customers.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _customers_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(
        (CONTRACTS_DIR / "crm" / "customers.yaml").read_text(encoding="utf-8")
    )
    return raw


def test_a_copy_of_a_good_contract_loads(tmp_path: Path) -> None:
    contract = load_contract(_write_contract(tmp_path, _customers_raw()))
    assert contract.name == "crm.customers"
    assert contract.column_names == get_contract("crm.customers").column_names


def test_unknown_classification_raises_contract_error(tmp_path: Path) -> None:
    raw = _customers_raw()
    raw["schema"][0]["properties"][4]["classification"] = "secret"
    with pytest.raises(ContractError, match="classification must be one of"):
        load_contract(_write_contract(tmp_path, raw))


def test_missing_freshness_sla_raises_contract_error(tmp_path: Path) -> None:
    raw = _customers_raw()
    del raw["slaProperties"]
    with pytest.raises(ContractError, match="freshness"):
        load_contract(_write_contract(tmp_path, raw))


def test_missing_error_budget_raises_contract_error(tmp_path: Path) -> None:
    raw = _customers_raw()
    raw["customProperties"] = [p for p in raw["customProperties"] if p["property"] != "delivery"]
    with pytest.raises(ContractError, match="delivery and errorBudgetPct"):
        load_contract(_write_contract(tmp_path, raw))


def test_unreadable_yaml_raises_contract_error(tmp_path: Path) -> None:
    path = tmp_path / "crm" / "broken.yaml"
    path.parent.mkdir()
    path.write_text("apiVersion: v3.2.0\nschema: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContractError, match="cannot read contract"):
        load_contract(path)
