"""The legacy import engine and the IBM Telco mapping, on small hand-written exports."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

from data_contracts import landing
from data_contracts.legacy_import import (
    MAPPINGS_DIR,
    ImportMapping,
    ImportResult,
    InputFileError,
    MappingError,
    load_mapping,
    run_import,
)
from data_contracts.loader import all_contracts, get_contract
from data_contracts.schemas import arrow_schema
from data_contracts.settings import Settings, get_settings
from data_contracts.source_writers import CrmDatabase, conform, write_csv

AS_OF = date(2024, 1, 31)
IBM_HEADER = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
    "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
    "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
)
NO_NET = ",".join(["No internet service"] * 6)
# Line numbers in the comments: the header is line 1.
GOOD_ROWS = [
    # 2: DSL only, month-to-month, electronic check, active
    "0001-AAAAA,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,"
    "Month-to-month,Yes,Electronic check,29.85,29.85,No",
    # 3: mobile + DSL, one year, mailed check, active
    "0002-BBBBB,Male,0,No,No,34,Yes,No,DSL,Yes,No,Yes,No,No,No,"
    "One year,No,Mailed check,56.95,1889.5,No",
    # 4: mobile + DSL, churned
    "0003-CCCCC,Male,0,No,No,2,Yes,No,DSL,Yes,Yes,No,No,No,No,"
    "Month-to-month,Yes,Mailed check,53.85,108.15,Yes",
    # 5: mobile + fiber + tv, two year, bank transfer, senior
    "0004-DDDDD,Female,1,No,No,45,Yes,Yes,Fiber optic,No,No,Yes,No,Yes,Yes,"
    "Two year,Yes,Bank transfer (automatic),104.80,4700.10,No",
    # 6: brand new (tenure 0, blank TotalCharges), mobile only, credit card
    f"0005-EEEEE,Female,0,Yes,Yes,0,Yes,No,No,{NO_NET},"
    "Two year,No,Credit card (automatic),20.25, ,No",
    # 7: three lines, churned
    "0006-FFFFF,Male,1,Yes,No,8,Yes,Yes,Fiber optic,No,No,Yes,No,Yes,Yes,"
    "Month-to-month,Yes,Electronic check,99.65,820.5,Yes",
    # 8: mobile + fiber, one year, credit card
    "0007-GGGGG,Male,0,No,No,22,Yes,Yes,Fiber optic,No,Yes,No,No,No,No,"
    "One year,Yes,Credit card (automatic),89.10,1949.4,No",
]
BAD_ROWS = [
    # 9: MonthlyCharges is not a number
    "0008-HHHHH,Male,0,No,No,5,Yes,No,DSL,No,No,No,No,No,No,"
    "Month-to-month,Yes,Mailed check,abc,250.0,No",
    # 10: Contract value the mapping does not know
    "0009-IIIII,Female,0,No,No,5,Yes,No,DSL,No,No,No,No,No,No,"
    "Three year,Yes,Mailed check,45.00,225.0,No",
    # 11: no customer key
    ",Female,0,No,No,5,Yes,No,DSL,No,No,No,No,No,No,Month-to-month,Yes,Mailed check,45.00,225.0,No",
    # 12 and 13: the same key twice
    f"0011-KKKKK,Male,0,No,No,3,Yes,No,No,{NO_NET},Month-to-month,No,Mailed check,20.00,60.0,No",
    f"0011-KKKKK,Male,0,No,No,4,Yes,No,No,{NO_NET},Month-to-month,No,Mailed check,20.00,80.0,No",
]


def write_export(path: Path, rows: list[str], header: str = IBM_HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("CEMS_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def mapping() -> ImportMapping:
    return load_mapping(MAPPINGS_DIR / "ibm_telco.yaml")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "telco.csv", GOOD_ROWS + BAD_ROWS)


def crm(settings: Settings) -> CrmDatabase:
    crm_contracts = [c for c in all_contracts().values() if c.source == "crm"]
    return CrmDatabase(settings.crm_database_url, crm_contracts)


def read_table(db: CrmDatabase, entity: str) -> list[dict[str, Any]]:
    return db.read(entity)


def attributes_of(db: CrmDatabase, customer_id: str) -> dict[str, dict[str, Any]]:
    rows = db.read("customer_attributes")
    return {r["attribute_name"]: r for r in rows if r["customer_id"] == customer_id}


def read_contract_csv(path: Path, contract_name: str) -> pa.Table:
    contract = get_contract(contract_name)
    schema = arrow_schema(contract)
    options = pacsv.ConvertOptions(
        column_types={f.name: f.type for f in schema if not pa.types.is_timestamp(f.type)},
        strings_can_be_null=True,
    )
    table = pacsv.read_csv(path, convert_options=options)
    return conform(table, contract)


# ---------------------------------------------------------------- the happy path


@pytest.fixture
def imported(mapping: ImportMapping, export: Path, settings: Settings) -> ImportResult:
    return run_import(mapping, export, AS_OF, settings=settings)


def test_counts_and_result(imported: ImportResult) -> None:
    assert imported.rows_read == 12
    assert imported.rows_imported == 7
    assert imported.rows_rejected == 5
    assert imported.rows_per_contract == {
        "crm.plans": 4,
        "crm.customers": 7,
        "crm.accounts": 7,
        "crm.subscriptions": 14,
        "crm.customer_attributes": 7 * 16,
        "billing.invoices": 6,
    }
    assert imported.as_of == AS_OF
    assert json.loads(json.dumps(imported.to_dict()))["rows_imported"] == 7


def test_customers_get_ids_from_the_import_range_in_input_order(
    imported: ImportResult, settings: Settings
) -> None:
    customers = read_table(crm(settings), "customers")
    assert [c["customer_id"] for c in customers] == [f"C9000000{n}" for n in range(1, 8)]
    first = customers[0]
    assert first["customer_type"] == "consumer"
    assert (first["region"], first["urbanicity"], first["city"]) == (
        "central",
        "suburban",
        "Unknown",
    )
    assert first["preferred_language"] == "en"
    assert first["has_marketing_consent"] is False and first["is_do_not_sell"] is False
    assert first["signup_date"] == date(2023, 12, 31)  # tenure 1 month before as_of
    stamp = first["updated_at"].replace(tzinfo=UTC)
    assert stamp == datetime(2024, 1, 31, tzinfo=UTC)


def test_accounts_carry_payment_method_autopay_and_closure(
    imported: ImportResult, settings: Settings
) -> None:
    accounts = {a["customer_id"]: a for a in read_table(crm(settings), "accounts")}
    assert accounts["C90000001"]["account_id"] == "A90000001"
    assert accounts["C90000001"]["payment_method"] == "electronic_check"
    assert accounts["C90000001"]["is_autopay"] is False
    assert accounts["C90000001"]["is_paperless_billing"] is True
    assert accounts["C90000002"]["payment_method"] == "mailed_check"
    assert accounts["C90000004"]["payment_method"] == "bank_transfer"
    assert accounts["C90000004"]["is_autopay"] is True
    assert accounts["C90000005"]["payment_method"] == "credit_card"
    assert accounts["C90000005"]["is_autopay"] is True
    assert accounts["C90000005"]["currency"] == "USD"
    assert accounts["C90000003"]["account_status"] == "closed"
    assert accounts["C90000003"]["closed_date"] == AS_OF
    assert accounts["C90000002"]["account_status"] == "active"
    assert accounts["C90000002"]["closed_date"] is None


def test_subscriptions_lines_plans_and_contract_terms(
    imported: ImportResult, settings: Settings
) -> None:
    lines = read_table(crm(settings), "subscriptions")
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_customer.setdefault(line["customer_id"], []).append(line)
    plans = {c: sorted(line["plan_id"] for line in ls) for c, ls in by_customer.items()}
    assert plans["C90000001"] == ["P-IBM-DSL"]
    assert plans["C90000002"] == ["P-IBM-DSL", "P-IBM-MOBILE"]
    assert plans["C90000004"] == ["P-IBM-FIBER", "P-IBM-MOBILE", "P-IBM-TV"]
    assert plans["C90000005"] == ["P-IBM-MOBILE"]
    assert {line["subscription_id"] for line in by_customer["C90000004"]} == {
        "S900000041",
        "S900000042",
        "S900000043",
    }
    one_year = by_customer["C90000002"][0]
    assert one_year["contract_type"] == "one_year"
    # tenure 34 on a one-year contract: the third renewal started 10 months ago
    assert one_year["contract_start_date"] == date(2023, 3, 31)
    assert one_year["contract_end_date"] == date(2024, 3, 31)
    assert one_year["start_date"] == date(2021, 3, 31)
    monthly = by_customer["C90000001"][0]
    assert monthly["contract_type"] == "month_to_month"
    assert monthly["contract_end_date"] is None
    assert by_customer["C90000004"][0]["contract_type"] == "two_year"


def test_monthly_charges_split_across_lines_by_list_price(
    imported: ImportResult, settings: Settings
) -> None:
    lines = read_table(crm(settings), "subscriptions")
    prices = {line["subscription_id"]: line["monthly_price"] for line in lines}
    # 104.80 over mobile 20 : fiber 50 : tv 10
    assert prices["S900000041"] == Decimal("26.20")
    assert prices["S900000042"] == Decimal("65.50")
    assert prices["S900000043"] == Decimal("13.10")
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line["customer_id"]] = totals.get(line["customer_id"], Decimal(0)) + Decimal(
            line["monthly_price"]
        )
    assert totals["C90000002"] == Decimal("56.95")
    assert totals["C90000006"] == Decimal("99.65")


def test_churn_is_a_termination_of_every_line_and_not_an_attribute(
    imported: ImportResult, settings: Settings
) -> None:
    db = crm(settings)
    lines = read_table(db, "subscriptions")
    for line in lines:
        churned = line["customer_id"] in ("C90000003", "C90000006")
        assert line["subscription_status"] == ("terminated" if churned else "active")
        assert line["end_date"] == (AS_OF if churned else None)
        assert line["termination_reason"] == ("other" if churned else None)
    names = {r["attribute_name"] for r in db.read("customer_attributes")}
    assert not any("churn" in name for name in names)


def test_vendor_columns_kept_as_typed_attributes(
    imported: ImportResult, settings: Settings
) -> None:
    db = crm(settings)
    first = attributes_of(db, "C90000001")
    assert first["legacy_customer_key"]["value_string"] == "0001-AAAAA"
    assert first["gender"]["attribute_type"] == "string"
    assert first["gender"]["value_string"] == "Female"
    assert first["is_senior_citizen"]["attribute_type"] == "boolean"
    assert first["is_senior_citizen"]["value_boolean"] is False
    assert first["has_partner"]["value_boolean"] is True
    assert first["has_online_backup"]["value_boolean"] is True
    # "No phone service" is not a yes/no answer: an empty boolean, the missing line says it
    assert first["has_multiple_lines"]["attribute_type"] == "boolean"
    assert first["has_multiple_lines"]["value_boolean"] is None
    assert first["internet_service"]["value_string"] == "DSL"
    assert first["monthly_charges"]["attribute_type"] == "number"
    assert first["monthly_charges"]["value_number"] == pytest.approx(29.85)
    assert first["tenure_months"]["value_number"] == 1.0
    assert {r["source_system"] for r in first.values()} == {"ibm_telco"}
    senior = attributes_of(db, "C90000004")
    assert senior["is_senior_citizen"]["value_boolean"] is True
    assert senior["has_streaming_movies"]["value_boolean"] is True
    assert len(first) == 16


def test_blank_total_charges_is_a_new_customer(imported: ImportResult, settings: Settings) -> None:
    db = crm(settings)
    customer = next(c for c in db.read("customers") if c["customer_id"] == "C90000005")
    assert customer["signup_date"] == AS_OF
    attributes = attributes_of(db, "C90000005")
    assert attributes["total_charges"]["attribute_type"] == "number"
    assert attributes["total_charges"]["value_number"] is None
    assert attributes["tenure_months"]["value_number"] == 0.0
    assert attributes["has_online_security"]["value_boolean"] is None
    lines = [s for s in db.read("subscriptions") if s["customer_id"] == "C90000005"]
    assert [s["start_date"] for s in lines] == [AS_OF]


def test_plans_catalogue_upserted(imported: ImportResult, settings: Settings) -> None:
    plans = {p["plan_id"]: p for p in crm(settings).read("plans")}
    assert set(plans) == {"P-IBM-MOBILE", "P-IBM-DSL", "P-IBM-FIBER", "P-IBM-TV"}
    assert plans["P-IBM-FIBER"]["monthly_price"] == Decimal("50.00")
    assert plans["P-IBM-TV"]["product_type"] == "tv"
    assert {p["currency"] for p in plans.values()} == {"USD"}


# ---------------------------------------------------------------- rejects


def test_reject_report_lists_each_bad_row_once_with_its_reason(imported: ImportResult) -> None:
    expected = imported.reject_report
    assert expected.parent == get_settings().generated_path / "imports" / "ibm_telco"
    assert expected.name == "rejects_20240131.csv"
    with expected.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["line_number", "key", "column", "reason", "raw_row"]
    by_line = {int(r["line_number"]): r for r in rows}
    assert sorted(by_line) == [9, 10, 11, 12, 13]
    assert by_line[9]["column"] == "MonthlyCharges"
    assert "cannot read 'abc' as a number" in by_line[9]["reason"]
    assert by_line[10]["column"] == "Contract"
    assert "'Three year'" in by_line[10]["reason"]
    assert by_line[11]["column"] == "customerID"
    assert "empty" in by_line[11]["reason"]
    for line in (12, 13):
        assert by_line[line]["key"] == "0011-KKKKK"
        assert by_line[line]["column"] == "customerID"
        assert "lines 12, 13" in by_line[line]["reason"]
    raw = json.loads(by_line[10]["raw_row"])
    assert raw["customerID"] == "0009-IIIII" and raw["Contract"] == "Three year"
    assert json.loads(by_line[9]["raw_row"])["MonthlyCharges"] == "abc"


def test_rejected_rows_are_not_written(imported: ImportResult, settings: Settings) -> None:
    db = crm(settings)
    keys = {
        r["value_string"]
        for r in db.read("customer_attributes")
        if r["attribute_name"] == "legacy_customer_key"
    }
    assert keys == {f"000{n}-{c * 5}" for n, c in zip(range(1, 8), "ABCDEFG", strict=True)}


def contract_mapping(tmp_path: Path, customer_columns: dict[str, Any]) -> ImportMapping:
    """A minimal mapping onto crm.customers, to test single rules in isolation."""
    columns = {
        "customer_id": {"derive": "C{customer_number:08d}"},
        "customer_type": "consumer",
        "city": "Unknown",
        "region": "central",
        "urbanicity": "urban",
        "preferred_language": "en",
        "has_marketing_consent": False,
        "is_do_not_sell": False,
        "signup_date": {"derive": "{as_of}"},
        **customer_columns,
    }
    document = {
        "name": "tiny",
        "source_system": "tiny",
        "input": {"key_column": "id"},
        "targets": {"crm.customers": {"columns": columns}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_mapping(path)


def test_enum_value_not_allowed_by_the_contract_is_rejected(
    tmp_path: Path, settings: Settings
) -> None:
    mapping = contract_mapping(tmp_path, {"region": {"from": "area"}})
    export = write_export(tmp_path / "tiny.csv", ["1,north", "2,atlantis"], header="id,area")
    result = run_import(mapping, export, AS_OF, settings=settings)
    assert (result.rows_imported, result.rows_rejected) == (1, 1)
    reject = result.rejects[0]
    assert (reject.line_number, reject.column) == (3, "area")
    assert "'atlantis' is not an allowed crm.customers.region" in reject.reason


def test_required_column_empty_is_rejected(tmp_path: Path, settings: Settings) -> None:
    mapping = contract_mapping(tmp_path, {"city": {"from": "town"}})
    export = write_export(tmp_path / "tiny.csv", ["1,Springfield", "2,"], header="id,town")
    result = run_import(mapping, export, AS_OF, settings=settings)
    assert result.rows_rejected == 1
    assert result.rejects[0].column == "town"
    assert "crm.customers.city is required" in result.rejects[0].reason


def test_row_with_wrong_field_count_is_rejected(tmp_path: Path, settings: Settings) -> None:
    mapping = contract_mapping(tmp_path, {})
    export = write_export(tmp_path / "tiny.csv", ["1,a", "2,b,c"], header="id,note")
    result = run_import(mapping, export, AS_OF, settings=settings)
    assert result.rows_rejected == 1
    assert "3 fields" in result.rejects[0].reason


# ---------------------------------------------------------------- idempotence and ids


def test_reimport_changes_nothing(
    mapping: ImportMapping, export: Path, settings: Settings, imported: ImportResult
) -> None:
    db = crm(settings)
    before = db.checksum()
    files = {p: p.read_bytes() for p in imported.files_written}
    again = run_import(mapping, export, AS_OF, settings=settings)
    assert db.checksum() == before
    assert again.rows_per_contract == imported.rows_per_contract
    assert {p: p.read_bytes() for p in again.files_written} == files
    assert len(db.read("customers")) == 7
    assert len(db.read("subscriptions")) == 14


def test_known_keys_keep_their_ids_and_new_keys_get_the_next_number(
    mapping: ImportMapping, tmp_path: Path, settings: Settings, imported: ImportResult
) -> None:
    newcomer = GOOD_ROWS[0].replace("0001-AAAAA", "0099-ZZZZZ")
    reordered = write_export(tmp_path / "later.csv", [newcomer, *reversed(GOOD_ROWS)])
    result = run_import(mapping, reordered, AS_OF, settings=settings)
    assert result.rows_rejected == 0
    db = crm(settings)
    keys = {
        r["value_string"]: r["customer_id"]
        for r in db.read("customer_attributes")
        if r["attribute_name"] == "legacy_customer_key"
    }
    assert keys["0001-AAAAA"] == "C90000001"
    assert keys["0007-GGGGG"] == "C90000007"
    assert keys["0099-ZZZZZ"] == "C90000008"
    assert len(db.read("customers")) == 8


# ---------------------------------------------------------------- files


def test_crm_export_refreshed_from_the_whole_table(
    mapping: ImportMapping, export: Path, settings: Settings
) -> None:
    (settings.home / "sources").mkdir(parents=True)
    db = crm(settings)
    db.create_missing()
    existing = {
        "customer_id": "C00000001",
        "customer_type": "sme",
        "company_name": "Acme",
        "city": "Lisbon",
        "region": "coast",
        "urbanicity": "urban",
        "preferred_language": "en",
        "has_marketing_consent": True,
        "is_do_not_sell": False,
        "signup_date": date(2020, 5, 1),
        "created_at": datetime(2020, 5, 1, tzinfo=UTC),
        "updated_at": datetime(2020, 5, 1, tzinfo=UTC),
    }
    contract = get_contract("crm.customers")
    with db.engine.begin() as connection:
        table = conform(pa.Table.from_pylist([existing], schema=arrow_schema(contract)), contract)
        db.upsert(connection, "customers", table)
    result = run_import(mapping, export, AS_OF, settings=settings)
    path = landing.crm_export_path(settings.landing_path, "customers")
    assert path in result.files_written
    exported = read_contract_csv(path, "crm.customers")
    ids = exported.column("customer_id").to_pylist()
    assert ids == ["C00000001", *[f"C9000000{n}" for n in range(1, 8)]]
    assert exported.schema.equals(arrow_schema(contract), check_metadata=False)
    for entity in ("accounts", "subscriptions", "plans", "customer_attributes"):
        assert landing.crm_export_path(settings.landing_path, entity).is_file()
    leftovers = [p for p in settings.landing_path.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_invoice_file_written_and_conforming(imported: ImportResult, settings: Settings) -> None:
    contract = get_contract("billing.invoices")
    path = landing.daily_file_path(settings.landing_path, contract, AS_OF)
    assert path in imported.files_written
    invoices = read_contract_csv(path, "billing.invoices").to_pylist()
    assert len(invoices) == 6  # everyone with tenure > 0 (the newcomer is not billed yet)
    by_account = {i["account_id"]: i for i in invoices}
    assert "A90000005" not in by_account
    first = by_account["A90000001"]
    assert first["invoice_id"] == "INV9000000101"
    assert first["issue_date"] == AS_OF
    assert (first["billing_period_start"], first["billing_period_end"]) == (
        date(2023, 12, 31),
        date(2024, 1, 30),
    )
    assert first["due_date"] == date(2024, 2, 14)
    assert first["total_amount"] == first["recurring_amount"] == Decimal("29.85")
    assert first["tax_amount"] == Decimal("0.00") and first["currency"] == "USD"


def test_invoices_already_in_the_daily_file_are_kept(
    mapping: ImportMapping, export: Path, settings: Settings
) -> None:
    contract = get_contract("billing.invoices")
    path = landing.daily_file_path(settings.landing_path, contract, AS_OF)
    theirs = {
        "invoice_id": "INV0000000001",
        "account_id": "A00000001",
        "issue_date": AS_OF,
        "billing_period_start": date(2024, 1, 1),
        "billing_period_end": date(2024, 1, 30),
        "due_date": date(2024, 2, 14),
        "recurring_amount": Decimal("10.00"),
        "usage_amount": Decimal("0.00"),
        "tax_amount": Decimal("2.00"),
        "total_amount": Decimal("12.00"),
        "currency": "EUR",
    }
    write_csv(
        conform(pa.Table.from_pylist([theirs], schema=arrow_schema(contract)), contract), path
    )
    run_import(mapping, export, AS_OF, settings=settings)
    run_import(mapping, export, AS_OF, settings=settings)
    ids = read_contract_csv(path, "billing.invoices").column("invoice_id").to_pylist()
    assert ids.count("INV0000000001") == 1
    assert len(ids) == 1 + 6


# ---------------------------------------------------------------- whole-file problems


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        (IBM_HEADER + "\n", "no data rows"),
        ("customerID,gender\n0001-AAAAA,Female\n", "lacks the columns"),
    ],
)
def test_unusable_file_writes_nothing(
    mapping: ImportMapping, tmp_path: Path, settings: Settings, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError, match=message):
        run_import(mapping, path, AS_OF, settings=settings)
    assert not settings.home.exists()


def test_missing_file(mapping: ImportMapping, tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        run_import(mapping, tmp_path / "nope.csv", AS_OF, settings=settings)


# ---------------------------------------------------------------- mapping validation


def bundled() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "ibm_telco.yaml").read_text())
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(colour="blue"), "unknown key 'colour'"),
        (lambda m: m["targets"].update({"crm.wishes": {}}), "unknown target contract 'crm.wishes'"),
        (
            lambda m: m["targets"]["crm.customers"]["columns"].update(shoe_size=42),
            "crm.customers has no column 'shoe_size'",
        ),
        (
            lambda m: m["variables"]["tenure_months"].update(cast="roman"),
            "tenure_months.cast",
        ),
        (
            lambda m: m["targets"]["crm.customers"]["columns"].pop("region"),
            "gives no value for region",
        ),
        (
            lambda m: m["variables"]["is_churned"].update(value_map={True: True}),
            "quote keys",
        ),
        (
            lambda m: m["targets"]["crm.subscriptions"]["rows"][0].update(when="PhoneService ~ 1"),
            "is not of the form",
        ),
        (
            lambda m: m["targets"]["billing.invoices"]["columns"].update(
                invoice_id={"derive": "INV{customerID.upper}"}
            ),
            "plain names",
        ),
        (lambda m: m["targets"].pop("crm.customers"), "must include crm.customers"),
        (lambda m: m["input"].pop("key_column"), "input.key_column is missing"),
    ],
)
def test_invalid_mapping_is_one_clear_error(tmp_path: Path, change: Any, message: str) -> None:
    document = bundled()
    change(document)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(MappingError, match=message) as caught:
        load_mapping(path)
    assert "\n" not in str(caught.value)


def test_unreadable_mapping(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(path)
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "absent.yaml")


def test_bundled_mapping_by_name() -> None:
    mapping = load_mapping("ibm_telco")
    assert mapping.name == "ibm_telco"
    assert mapping.input.key_column == "customerID"
    assert "Churn" in mapping.input_columns()


# ---------------------------------------------------------------- the real IBM export

REAL_EXPORT = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ibm-telco-customer-churn.csv"
)


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_EXPORT.is_file(),
    reason=f"the public IBM Telco export is not at {REAL_EXPORT} (reference data is optional)",
)
def test_real_ibm_telco_export(mapping: ImportMapping, settings: Settings) -> None:
    started = time.perf_counter()
    result = run_import(mapping, REAL_EXPORT, AS_OF, settings=settings)
    seconds = time.perf_counter() - started
    assert result.rows_read == 7043
    assert result.rows_rejected == 0
    assert result.rows_imported == 7043
    db = crm(settings)
    statuses: dict[str, set[str]] = {}
    for line in db.read("subscriptions"):
        statuses.setdefault(line["customer_id"], set()).add(line["subscription_status"])
    assert len(statuses) == 7043  # every customer has at least one line
    assert sum(1 for s in statuses.values() if s == {"terminated"}) == 1869
    assert not any(len(s) > 1 for s in statuses.values())
    new = {c["customer_id"] for c in db.read("customers") if c["signup_date"] == AS_OF}
    blank_total = {
        r["customer_id"]
        for r in db.read("customer_attributes")
        if r["attribute_name"] == "total_charges" and r["value_number"] is None
    }
    assert len(blank_total) == 11
    assert blank_total == new
    print(f"\nreal IBM export: {result.rows_read} rows in {seconds:.1f} s")
