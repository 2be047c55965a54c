"""Nightly scoring with the champion: idempotent, readable reasons, actions, drift."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from data_contracts.gold import REASON_SLOTS, table_path
from ml.features import BY_NAME
from ml.recommend import ACTIONS, AT_RISK_BANDS, expected_value

pytestmark = pytest.mark.slow

PLANTED = {
    "has_month_to_month_contract",
    "tickets_unresolved_over_48h_at_as_of",
    "failed_payments_in_window",
    "had_price_rise_in_window",
    "tenure_days",
}


def _rows(settings: Any, name: str) -> pd.DataFrame:
    return DeltaTable(table_path(settings, name)).to_pandas()


@pytest.fixture(scope="module")
def scored(trained: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Score the latest as_of twice in a private copy of the trained home."""
    import shutil

    from data_contracts.settings import Settings
    from ml.jobs import score

    home = tmp_path_factory.mktemp("ml-score") / "home"
    shutil.copytree(trained.settings.home, home)
    settings = Settings(home=home)
    first = score(settings)
    scores_once = _rows(settings, "churn_scores")
    actions_once = _rows(settings, "retention_actions")
    second = score(settings)
    return {
        "settings": settings,
        "frame": trained.frame,
        "first": first,
        "second": second,
        "scores_once": scores_once,
        "actions_once": actions_once,
        "scores": _rows(settings, "churn_scores"),
        "actions": _rows(settings, "retention_actions"),
    }


def test_every_active_customer_is_scored_once_and_a_rerun_changes_nothing(
    scored: dict[str, Any],
) -> None:
    frame, first, scores = scored["frame"], scored["first"], scored["scores"]
    latest = max(frame["as_of_date"])
    assert first.as_of == latest and first.model_version == "1"
    assert first.customers == int((frame["as_of_date"] == latest).sum())
    assert len(scores) == first.customers  # the second run replaced, not appended
    assert scores["customer_id"].is_unique
    assert set(scores["as_of_date"]) == {latest}
    once = scored["scores_once"].set_index("customer_id").sort_index()
    twice = scores.set_index("customer_id").sort_index()
    assert np.allclose(once["churn_probability"], twice["churn_probability"])
    assert (once["risk_band"] == twice["risk_band"]).all()
    assert len(scored["actions"]) == len(scored["actions_once"]) == first.actions
    assert scored["second"].bands == first.bands
    assert set(scores["risk_band"]) <= {"high", "medium", "low"}
    assert 0.05 < first.bands["high"] / first.customers < 0.2


def test_reasons_are_sentences_an_agent_can_read(scored: dict[str, Any]) -> None:
    scores = scored["scores"]
    frame = scored["frame"]
    latest = frame[frame["as_of_date"] == max(frame["as_of_date"])].set_index("customer_id")
    high = scores[scores["risk_band"] == "high"]
    assert high["reason_1"].notna().all()
    for slot in range(1, REASON_SLOTS + 1):
        texts = scores[f"reason_{slot}"].dropna()
        codes = scores.loc[texts.index, f"reason_{slot}_code"]
        assert set(codes) <= set(BY_NAME), "every reason names a known feature"
        assert not texts.str.contains("_").any(), "no column names in what agents read"
    # The words carry the customer's own value.
    row = high.iloc[0]
    feature = BY_NAME[row["reason_1_code"]]
    assert row["reason_1"] == feature.describe(latest.loc[row["customer_id"], feature.name])
    month_to_month = scores[scores["reason_1_code"] == "has_month_to_month_contract"]
    assert (month_to_month["reason_1"] == "on a month-to-month contract (no commitment)").all()


def test_the_planted_causes_are_the_top_reasons(scored: dict[str, Any]) -> None:
    scores = scored["scores"]
    at_risk = scores[scores["risk_band"] == "high"]
    codes = pd.concat([at_risk[f"reason_{s}_code"] for s in range(1, REASON_SLOTS + 1)])
    top = codes.value_counts().head(6).index
    assert len(PLANTED & set(top)) >= 4, codes.value_counts().head(8)


def test_next_best_actions_are_for_customers_at_risk_and_pay_for_themselves(
    scored: dict[str, Any],
) -> None:
    actions, scores = scored["actions"], scored["scores"]
    at_risk = set(scores.loc[scores["risk_band"].isin(AT_RISK_BANDS), "customer_id"])
    assert set(actions["customer_id"]) == at_risk
    assert set(actions["action_code"]) <= set(ACTIONS)
    for row in actions.itertuples():
        action = ACTIONS[row.action_code]
        if row.action_code == "monitor":
            assert row.expected_value == 0
        else:
            value = expected_value(action, row.churn_probability, row.annual_value)
            assert row.expected_value == pytest.approx(value, abs=0.01) and value > 0
        assert f"Churn risk {row.churn_probability:.0%}" in row.reasoning
    assert scored["first"].expected_value == pytest.approx(
        actions["expected_value"].sum(), abs=0.05
    )


def test_drift_is_stored_and_a_shifted_feature_is_flagged(
    trained_copy: Any, publish_features: Callable[..., str]
) -> None:
    from ml.jobs import score
    from ml.register import MONITORING_EXPERIMENT, tracking

    settings, frame = trained_copy.settings, trained_copy.frame
    latest = max(frame["as_of_date"])
    calm = score(settings)
    assert calm.baseline_as_of == sorted(set(frame["as_of_date"]))[-2]
    assert calm.drifted == []
    drift = _rows(settings, "churn_drift")
    assert set(drift["name"]) == set(calm.drift) and "score" in set(drift["name"])
    assert (drift.loc[drift["kind"] == "feature", "psi"] < 0.1).all()

    shifted = frame.copy()
    now = shifted["as_of_date"] == latest
    shifted.loc[now, "failed_payments_in_window"] += 3  # a billing incident tonight
    publish_features(settings, shifted)
    alarmed = score(settings)
    assert "failed_payments_in_window" in alarmed.drifted
    assert "score" in alarmed.drifted  # the incident moves the scores too
    drift = _rows(settings, "churn_drift")
    assert len(drift) == len(alarmed.drift)  # replaced for this as_of, not appended
    flagged = drift.set_index("name").loc["failed_payments_in_window"]
    assert bool(flagged["is_drifted"]) and flagged["psi"] > flagged["threshold"]
    with tracking(settings) as client:
        experiment = client.get_experiment_by_name(MONITORING_EXPERIMENT)
        runs = client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])
        assert runs[0].data.metrics["psi_failed_payments_in_window"] > 0.2
        assert "failed_payments_in_window" in runs[0].data.tags["drifted"]


def test_scoring_before_any_champion_says_what_to_do(tmp_path: Any) -> None:
    from data_contracts.settings import Settings
    from ml.jobs import NoChampionError, score

    with pytest.raises(NoChampionError, match="train one first"):
        score(Settings(home=tmp_path))
