"""``cems import``: a vendor export in, a summary out; bad input is one sentence and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.legacy_import import MAPPINGS_DIR
from data_contracts.settings import get_settings

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # so rich does not fold the summary table
HEADER = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
    "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
    "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
)
ROWS = [
    "0001-AAAAA,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,"
    "Month-to-month,Yes,Electronic check,29.85,29.85,No",
    "0002-BBBBB,Male,0,No,No,34,Yes,No,DSL,Yes,No,Yes,No,No,No,"
    "One year,No,Mailed check,56.95,1889.5,No",
    "0003-CCCCC,Male,0,No,No,2,Yes,No,DSL,Yes,Yes,No,No,No,No,"
    "Month-to-month,Yes,Mailed check,53.85,108.15,Yes",
    "0004-DDDDD,Female,1,No,No,45,Yes,Yes,Fiber optic,No,No,Yes,No,Yes,Yes,"
    "Two year,Yes,Bank transfer (automatic),104.80,4700.10,No",
    # rejected: Contract value the mapping does not know
    "0005-EEEEE,Female,0,No,No,5,Yes,No,DSL,No,No,No,No,No,No,"
    "Three year,Yes,Mailed check,45.00,225.0,No",
]


@pytest.fixture
def cems_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("CEMS_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "telco.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def write_mapping(tmp_path: Path, **changes: object) -> Path:
    document = yaml.safe_load((MAPPINGS_DIR / "ibm_telco.yaml").read_text(encoding="utf-8"))
    document.update(changes)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_help_describes_the_command(cems_home: Path) -> None:
    result = runner.invoke(app, ["import", "--help"], env=WIDE)
    assert result.exit_code == 0
    for option in ("--mapping", "--as-of", "--json"):
        assert option in result.output


def test_import_prints_a_summary(cems_home: Path, export: Path) -> None:
    result = runner.invoke(
        app, ["import", "--mapping", "ibm_telco", str(export), "--as-of", "2024-01-31"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for label in ("Rows read", "Rows imported", "Rows rejected", "crm.subscriptions"):
        assert label in out
    assert "rejects_20240131.csv" in out
    assert "1 rows were not imported" in out
    assert (cems_home / "sources" / "crm.db").is_file()


def test_json_summary_parses(cems_home: Path, export: Path) -> None:
    mapping = str(MAPPINGS_DIR / "ibm_telco.yaml")
    args = ["import", "--mapping", mapping, str(export), "--as-of", "2024-01-31", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 5
    assert summary["rows_imported"] == 4
    assert summary["rows_rejected"] == 1
    assert summary["rows_per_contract"]["crm.customers"] == 4
    assert summary["as_of"] == "2024-01-31"
    assert Path(summary["reject_report"]).is_file()
    assert all(Path(p).is_file() for p in summary["files_written"])


def test_as_of_defaults_to_the_mapping(cems_home: Path, export: Path, tmp_path: Path) -> None:
    mapping = write_mapping(tmp_path, as_of="2023-06-30")
    result = runner.invoke(app, ["import", "--mapping", str(mapping), str(export), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["as_of"] == "2023-06-30"


def bad_yaml(tmp_path: Path) -> str:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    return str(path)


def unknown_contract(tmp_path: Path) -> str:
    document = yaml.safe_load((MAPPINGS_DIR / "ibm_telco.yaml").read_text(encoding="utf-8"))
    document["targets"]["crm.wishes"] = {"columns": {}}
    path = tmp_path / "unknown_contract.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def unknown_column(tmp_path: Path) -> str:
    document = yaml.safe_load((MAPPINGS_DIR / "ibm_telco.yaml").read_text(encoding="utf-8"))
    document["targets"]["crm.accounts"]["columns"]["loyalty_tier"] = "gold"
    path = tmp_path / "unknown_column.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def short_file(tmp_path: Path) -> str:
    path = tmp_path / "short.csv"
    path.write_text("customerID,gender\n0001-AAAAA,Female\n", encoding="utf-8")
    return str(path)


def empty_file(tmp_path: Path) -> str:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    return str(path)


def header_only(tmp_path: Path) -> str:
    path = tmp_path / "header.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("build_args", "message"),
    [
        (lambda t, e: ["--mapping", "ibm_telco", str(t / "nope.csv")], "does not exist"),
        (lambda t, e: ["--mapping", str(t / "nope.yaml"), e], "does not exist"),
        (lambda t, e: ["--mapping", bad_yaml(t), e], "not valid YAML"),
        (lambda t, e: ["--mapping", unknown_contract(t), e], "unknown target contract"),
        (lambda t, e: ["--mapping", unknown_column(t), e], "no column 'loyalty_tier'"),
        (lambda t, e: ["--mapping", "ibm_telco", e, "--as-of", "31/01/2024"], "YYYY-MM-DD"),
        (lambda t, e: ["--mapping", "ibm_telco", short_file(t)], "lacks the columns"),
        (lambda t, e: ["--mapping", "ibm_telco", empty_file(t)], "is empty"),
        (lambda t, e: ["--mapping", "ibm_telco", header_only(t)], "no data rows"),
        (lambda t, e: [e], "--mapping"),
        (lambda t, e: ["--mapping", "ibm_telco"], "export file"),
    ],
    ids=[
        "missing-file",
        "missing-mapping",
        "invalid-yaml",
        "unknown-contract",
        "unknown-column",
        "bad-as-of",
        "missing-columns",
        "empty-file",
        "header-only",
        "no-mapping-option",
        "no-file-argument",
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cems_home: Path, export: Path, tmp_path: Path, build_args: object, message: str
) -> None:
    args = build_args(tmp_path, str(export))  # type: ignore[operator]
    result = runner.invoke(app, ["import", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error:")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not cems_home.exists(), "nothing may be written when the input is bad"
