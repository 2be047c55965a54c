"""``cems ml``: evaluate on a vendor export, train and score; bad input is one sentence."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.settings import get_settings

runner = CliRunner()
IBM_HEADER = [
    "customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure",
    "PhoneService", "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup",
    "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies", "Contract",
    "PaperlessBilling", "PaymentMethod", "MonthlyCharges", "TotalCharges", "Churn",
]  # fmt: skip
IBM_FILE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / ("ibm-telco-customer-churn.csv")
)
REFERENCE_AUC = 0.8435  # plain LightGBM on the raw columns, stratified 5-fold


def write_export(path: Path, customers: int = 400, seed: int = 4) -> int:
    """An export in the IBM layout where churn follows contract, tenure and a vendor-only
    column (TechSupport, which our contracts have no place for). Returns the churners."""
    rng = np.random.default_rng(seed)
    churners = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(IBM_HEADER)
        for n in range(customers):
            contract = rng.choice(["Month-to-month", "One year", "Two year"], p=[0.5, 0.3, 0.2])
            tenure = int(rng.integers(0, 72))
            internet = str(rng.choice(["DSL", "Fiber optic", "No"]))
            support = "No internet service" if internet == "No" else str(rng.choice(["Yes", "No"]))
            logit = (
                -1.5
                + 1.8 * (contract == "Month-to-month")
                - 0.03 * tenure
                + 1.0 * (support == "No")
            )
            churned = rng.random() < 1 / (1 + np.exp(-logit))
            churners += int(churned)
            monthly = round(20 + 30 * (internet == "Fiber optic") + rng.random() * 40, 2)
            total = "" if tenure == 0 else f"{monthly * tenure:.2f}"
            addon = "No internet service" if internet == "No" else "No"
            writer.writerow([
                f"{n:04d}-TEST", rng.choice(["Male", "Female"]), int(rng.random() < 0.15),
                rng.choice(["Yes", "No"]), rng.choice(["Yes", "No"]), tenure, "Yes",
                rng.choice(["Yes", "No"]), internet, addon, addon, addon, support, addon,
                addon, contract, rng.choice(["Yes", "No"]),
                rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)",
                            "Credit card (automatic)"]),
                f"{monthly:.2f}", total, "Yes" if churned else "No",
            ])  # fmt: skip
    return churners


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CEMS_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_evaluate_runs_the_pipeline_code_on_a_vendor_export(tmp_path: Path, home: Path) -> None:
    export = tmp_path / "vendor.csv"
    churners = write_export(export)
    result = runner.invoke(
        app,
        [
            "ml",
            "evaluate",
            "--dataset",
            str(export),
            "--mapping",
            "ibm_telco",
            "--folds",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"roc_auc_mean", "roc_auc_std", "pr_auc_mean", "folds", "rows", "positives"} <= set(
        summary
    )
    assert summary["rows"] == 400 and summary["positives"] == churners and summary["folds"] == 3
    assert len(summary["roc_auc_by_fold"]) == 3
    assert summary["roc_auc_mean"] > 0.7, summary
    # Vendor columns with no place in our contracts arrive as typed attributes and are used.
    assert {"attr_has_tech_support", "attr_total_charges", "has_month_to_month_contract"} <= set(
        summary["features"]
    )
    assert not home.exists(), "evaluation must not write into the operator's sources"


def test_evaluate_prints_a_readable_summary(tmp_path: Path, home: Path) -> None:
    export = tmp_path / "vendor.csv"
    write_export(export, customers=200)
    result = runner.invoke(
        app,
        ["ml", "evaluate", "--dataset", str(export), "--mapping", "ibm_telco", "--folds", "2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "200 customers" in result.stdout and "ROC AUC" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ml", "evaluate", "--dataset", "/no/such.csv", "--mapping", "ibm_telco"],
            "there is no file at /no/such.csv",
        ),
        (["ml", "score", "--as-of", "yesterday"], "--as-of must be a date like 2026-01-31"),
        (["ml", "score"], "no churn model is champion yet; train one first"),
        (["ml", "train"], "build the gold marts first"),
        (["ml", "promote", "--version", "9", "--reason", "rollback"], "there is no version 9"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(home: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_evaluate_rejects_an_unknown_mapping(tmp_path: Path, home: Path) -> None:
    export = tmp_path / "vendor.csv"
    write_export(export, customers=20)
    result = runner.invoke(app, ["ml", "evaluate", "--dataset", str(export), "--mapping", "nope"])
    assert result.exit_code == 2
    assert "cannot evaluate" in result.stderr


@pytest.mark.slow
def test_train_then_score_from_the_command_line(
    home: Path,
    churn_features: Callable[..., pd.DataFrame],
    publish_features: Callable[..., str],
) -> None:
    publish_features(
        get_settings(), churn_features(customers=2500, as_of_count=6, seed=9, strength=2.0)
    )
    trained = runner.invoke(app, ["ml", "train", "--json"])
    assert trained.exit_code == 0, trained.output
    document = json.loads(trained.stdout)
    assert document["promoted"] and document["metrics"]["roc_auc"] > 0.7
    scored = runner.invoke(app, ["ml", "score"], env={"COLUMNS": "200"})
    assert scored.exit_code == 0, scored.output
    text = " ".join(scored.stdout.split())
    assert "Scored 2,500 customers" in text and "Next best actions for" in text
    rollback = runner.invoke(app, ["ml", "promote", "--version", "1", "--reason", "test"])
    assert rollback.exit_code == 0 and "version 1" in rollback.stdout


@pytest.mark.skipif(not IBM_FILE.exists(), reason="../shared/data is not on this machine")
def test_real_ibm_telco_export_beats_the_reference(home: Path) -> None:
    result = runner.invoke(
        app, ["ml", "evaluate", "--dataset", str(IBM_FILE), "--mapping", "ibm_telco", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 7043 and summary["positives"] == 1869 and summary["folds"] == 5
    assert summary["roc_auc_mean"] >= REFERENCE_AUC, summary
