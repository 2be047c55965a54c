"""Training on gold fct_churn_features, MLflow logging, and the @champion gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml.features import LABEL, feature_set
from ml.train import HOLDOUT_SHARE, NotEnoughDataError, TrainConfig, customer_bucket, time_split

pytestmark = pytest.mark.slow


def test_time_split_never_shares_a_customer_or_trains_on_the_validation_date(
    churn_features: Callable[..., pd.DataFrame],
) -> None:
    frame = churn_features(customers=3000, as_of_count=7, seed=1)
    split = time_split(frame)
    assert split.validation_as_of == max(frame.loc[frame.is_label_window_complete, "as_of_date"])
    assert set(split.validation["as_of_date"]) == {split.validation_as_of}
    assert max(split.train["as_of_date"]) < split.validation_as_of
    assert not set(split.train["customer_id"]) & set(split.validation["customer_id"])
    assert split.train["is_label_window_complete"].all()
    share = len(set(split.validation["customer_id"])) / frame["customer_id"].nunique()
    assert abs(share - HOLDOUT_SHARE) < 0.04
    # The holdout is fixed per customer: the same customers next week, never trained on.
    again = customer_bucket(pd.Series(sorted(set(split.validation["customer_id"]))))
    assert (again < HOLDOUT_SHARE).all()


def test_too_little_history_is_one_clear_sentence(
    churn_features: Callable[..., pd.DataFrame],
) -> None:
    frame = churn_features(customers=200, as_of_count=5, seed=2)
    with pytest.raises(NotEnoughDataError, match=r"churned customers .* at least 20"):
        time_split(frame)
    with pytest.raises(NotEnoughDataError, match="no as_of date has a complete label window"):
        time_split(frame.assign(is_label_window_complete=False))


def test_first_model_is_champion_and_learns_the_planted_causes(trained: Any) -> None:
    result = trained.first
    assert result.promoted and result.model_version == "1"
    assert result.decision == "first model: promoted to champion"
    assert result.metrics["roc_auc"] > 0.7, result.metrics
    assert result.metrics["top_decile_lift"] > 2
    assert 0 < result.metrics["brier"] < 0.25
    planted = {
        "has_month_to_month_contract",
        "tickets_unresolved_over_48h_at_as_of",
        "failed_payments_in_window",
        "had_price_rise_in_window",
        "tenure_days",
    }
    assert planted <= set(result.top_features[:8]), result.top_features


def test_probabilities_are_calibrated(trained: Any) -> None:
    from ml.register import CHAMPION_URI, load

    model = load(CHAMPION_URI, trained.settings)
    labelled = trained.frame[trained.frame.is_label_window_complete]
    probability = model.predict_proba(labelled)
    observed = labelled[LABEL].mean()
    assert abs(probability.mean() - observed) < 0.25 * observed  # no class-weight inflation


def test_mlflow_has_metrics_plots_signature_and_input_example(trained: Any) -> None:
    import mlflow

    from ml.register import CHAMPION_URI, tracking

    with tracking(trained.settings) as client:
        run = client.get_run(trained.first.run_id)
        assert {"roc_auc", "pr_auc", "brier", "top_decile_lift", "top_decile_recall"} <= set(
            run.data.metrics
        )
        assert run.data.params["validation_as_of"] == trained.first.validation_as_of.isoformat()
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
        assert {
            "evaluation/calibration.png",
            "evaluation/feature_importance.png",
            "evaluation/feature_importance.csv",
        } <= artifacts
        info = mlflow.models.get_model_info(CHAMPION_URI)
        assert info.signature is not None
        assert "tenure_days" in info.signature.inputs.input_names()
        assert info.saved_input_example_info is not None
        # What any MLflow consumer gets from the alias: calibrated probabilities.
        pyfunc = mlflow.pyfunc.load_model(CHAMPION_URI)
        example = trained.frame.head(20)[info.signature.inputs.input_names()]
        example = example.astype(
            {c: "float64" for c in example.columns if example[c].dtype != object}
        )
        predicted = np.asarray(pyfunc.predict(example))
        assert ((predicted > 0) & (predicted < 1)).all()


def test_a_worse_model_never_becomes_champion(trained_copy: Any) -> None:
    from ml.jobs import train
    from ml.register import CHALLENGER, CHAMPION, MODEL_NAME, tracking

    trained = trained_copy

    crippled = TrainConfig(num_leaves=2, max_rounds=2, early_stopping_rounds=1, learning_rate=0.01)
    worse = train(trained.settings, crippled)
    assert worse.metrics["roc_auc"] < trained.first.metrics["roc_auc"]
    assert not worse.promoted
    assert "does not beat the champion on the same validation window" in worse.decision
    with tracking(trained.settings) as client:
        assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
        challenger = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
        assert str(challenger.version) == worse.model_version
        tags = client.get_model_version(MODEL_NAME, worse.model_version).tags
        assert tags["gate"] == worse.decision


def test_every_evaluation_is_kept_for_model_quality_over_time(trained: Any) -> None:
    from deltalake import DeltaTable

    from data_contracts.gold import table_path

    rows = DeltaTable(table_path(trained.settings, "churn_model_evaluations")).to_pandas()
    first = rows[rows.model_version == "1"].iloc[0]
    assert first.is_promoted and first.roc_auc == pytest.approx(
        trained.first.metrics["roc_auc"], abs=1e-4
    )
    assert len(rows) >= 1


def test_feature_set_keeps_known_columns_and_types_attributes(
    churn_features: Callable[..., pd.DataFrame],
) -> None:
    frame = churn_features(customers=50, as_of_count=5, seed=3)
    frame["attr_is_senior_citizen"] = pd.array([True, False] * 25 * 5, dtype="boolean")
    frame["attr_internet_service"] = "DSL"
    frame["attr_total_charges"] = 12.5
    kinds = {f.name: f.kind for f in feature_set(frame.drop(columns=[LABEL]))}
    assert kinds["tenure_days"] == "numeric"
    assert kinds["has_month_to_month_contract"] == "boolean"
    assert kinds["region"] == "categorical"
    assert kinds["attr_is_senior_citizen"] == "boolean"
    assert kinds["attr_internet_service"] == "categorical"
    assert kinds["attr_total_charges"] == "numeric"
    assert "churn_feature_id" not in kinds and "label_window_days" not in kinds
    assert LABEL not in kinds


def test_scoring_encodes_categories_as_training_did(trained: Any) -> None:
    from ml.register import CHAMPION_URI, load

    model = load(CHAMPION_URI, trained.settings)
    rows = trained.frame.head(3).copy()
    baseline = model.predict_proba(rows)
    rows["region"] = ["atlantis", "north", "north"]  # never seen in training
    matrix = model.matrix(rows)
    assert list(matrix["region"].cat.categories) == model.categories["region"]
    assert pd.isna(matrix["region"].iloc[0])
    assert np.isfinite(model.predict_proba(rows)).all()
    assert model.predict_proba(trained.frame.head(3)) == pytest.approx(baseline)


def test_tuning_runs_within_its_budget(trained: Any) -> None:
    from ml.train import fit

    split = time_split(trained.frame)
    features = feature_set(split.train.drop(columns=[LABEL]))
    tuned = fit(split.train, features, TrainConfig(tune_trials=3, tune_timeout_seconds=60))
    assert tuned.best_iteration >= 1
    default = TrainConfig().params(1, 1)
    tuned_keys = (
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "feature_fraction",
        "lambda_l2",
    )
    assert any(tuned.params[k] != default[k] for k in tuned_keys)
