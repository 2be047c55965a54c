"""The entry points the CLI (``cems ml ...``) and the nightly DAG share: train, score.

``train`` reads ``fct_churn_features`` from gold, splits it by time (``ml.train``), fits,
evaluates on the validation window, logs everything to MLflow (parameters, metrics,
calibration and importance plots, the model with its signature and input example), then
registers the model as ``@challenger`` and lets the gate decide on ``@champion``
(``ml.register``). Each evaluation is also appended to gold ``churn_model_evaluations``
so analysts can chart model quality over time.

``score`` loads ``models:/churn@champion``, scores every customer active at the ``as_of``
date (the latest by default), writes ``churn_scores`` and ``retention_actions`` for that
date (replacing any earlier run of the same date) and the drift of every feature and of the
score against the previous ``as_of`` (``churn_drift``, and a run in the
``churn-monitoring`` MLflow experiment). Drift over the threshold is logged as a warning and
returned, so the DAG can alert on it.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from data_contracts.gold import (
    CHURN_DRIFT,
    CHURN_MODEL_EVALUATIONS,
    ensure_tables,
    table_path,
)
from data_contracts.settings import Settings, get_settings
from ml.features import LABEL, as_of_dates, feature_set, read_features
from ml.train import NotEnoughDataError, TrainConfig, fit, time_split

log = logging.getLogger(__name__)


class NoChampionError(RuntimeError):
    """Scoring was asked for before any model became champion."""


@dataclass(frozen=True)
class TrainResult:
    model_version: str
    promoted: bool
    decision: str
    run_id: str
    validation_as_of: date
    training_rows: int
    training_positives: int
    validation_rows: int
    validation_positives: int
    best_iteration: int
    metrics: dict[str, float]
    top_features: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["validation_as_of"] = self.validation_as_of.isoformat()
        return data


def train(settings: Settings | None = None, config: TrainConfig | None = None) -> TrainResult:
    """Train, evaluate, log and register a churn model; the gate decides on promotion."""
    import time

    import mlflow

    from ml.evaluate import calibration_plot, importance_plot, metrics
    from ml.register import EXPERIMENT, experiment_id, log_model, register_and_gate, tracking

    settings = settings or get_settings()
    config = config or TrainConfig()
    started = time.perf_counter()
    frame = read_features(settings, labelled_only=True)
    split = time_split(frame)
    features = feature_set(split.train.drop(columns=[LABEL]))
    model = fit(split.train, features, config)
    y_val = split.validation[LABEL].astype(int).to_numpy()
    probability = model.predict_proba(split.validation)
    scores = metrics(y_val, probability)

    with tracking(settings) as client:
        experiment = experiment_id(client, EXPERIMENT, settings)
        with mlflow.start_run(
            experiment_id=experiment, run_name=f"churn {split.validation_as_of}"
        ) as run:
            mlflow.log_params(
                {
                    **asdict(config),
                    "validation_as_of": split.validation_as_of.isoformat(),
                    "training_rows": len(split.train),
                    "training_positives": int(split.train[LABEL].sum()),
                    "validation_rows": len(split.validation),
                    "validation_positives": int(y_val.sum()),
                    "features": len(features),
                    "best_iteration": model.best_iteration,
                    "platt_a": round(model.platt[0], 6),
                    "platt_b": round(model.platt[1], 6),
                }
            )
            mlflow.log_metrics({k: v for k, v in scores.items() if np.isfinite(v)})
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder)
                calibration_plot(y_val, probability, out / "calibration.png")
                importance_plot(model, out / "feature_importance.png")
                model.importance().to_csv(out / "feature_importance.csv", index=False)
                mlflow.log_artifacts(str(out), artifact_path="evaluation")
            model_uri = log_model(model, split.train)
            run_id = run.info.run_id
    decision = register_and_gate(
        model_uri, model, split.validation, scores["roc_auc"], settings, run_id=run_id
    )
    _append_evaluation(settings, decision, split.validation_as_of, y_val, scores)
    return TrainResult(
        model_version=decision.version,
        promoted=decision.promoted,
        decision=decision.reason,
        run_id=run_id,
        validation_as_of=split.validation_as_of,
        training_rows=len(split.train),
        training_positives=int(split.train[LABEL].sum()),
        validation_rows=len(split.validation),
        validation_positives=int(y_val.sum()),
        best_iteration=model.best_iteration,
        metrics={k: round(v, 4) for k, v in scores.items()},
        top_features=model.importance()["feature"].head(10).tolist(),
        seconds=round(time.perf_counter() - started, 1),
    )


def _append_evaluation(
    settings: Settings,
    decision: Any,
    validation_as_of: date,
    y: np.ndarray,
    scores: dict[str, float],
) -> None:
    from deltalake import write_deltalake

    ensure_tables(settings)
    row = {
        "evaluated_at": datetime.now(UTC),
        "model_version": decision.version,
        "validation_as_of_date": validation_as_of,
        "validation_rows": len(y),
        "validation_positives": int(y.sum()),
        "roc_auc": scores["roc_auc"],
        "pr_auc": scores["pr_auc"],
        "brier": scores["brier"],
        "top_decile_lift": scores["top_decile_lift"],
        "top_decile_recall": scores["top_decile_recall"],
        "champion_version_before": decision.champion_version_before,
        "champion_roc_auc_before": decision.champion_roc_auc_before,
        "is_promoted": decision.promoted,
        "decision": decision.reason,
    }
    table = pa.Table.from_pylist([row], schema=CHURN_MODEL_EVALUATIONS)
    write_deltalake(table_path(settings, "churn_model_evaluations"), table, mode="append")


@dataclass(frozen=True)
class ScoreResult:
    as_of: date
    model_version: str
    customers: int
    bands: dict[str, int]
    actions: int
    actions_by_code: dict[str, int]
    expected_value: float
    baseline_as_of: date | None
    drift: dict[str, float] = field(default_factory=dict)
    drifted: list[str] = field(default_factory=list)
    top_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["baseline_as_of"] = self.baseline_as_of.isoformat() if self.baseline_as_of else None
        return data


def score(settings: Settings | None = None, as_of: date | None = None) -> ScoreResult:
    """Score every customer at ``as_of`` (default: the latest) with ``@champion``."""
    import time

    from ml.monitor import PSI_THRESHOLD, feature_drift, numeric_psi
    from ml.predict import replace_partition, score_frame
    from ml.recommend import recommend
    from ml.register import CHAMPION_URI, champion_version, load

    settings = settings or get_settings()
    started = time.perf_counter()
    version = champion_version(settings)
    if version is None:
        raise NoChampionError("no churn model is champion yet; train one first (cems ml train)")
    model = load(CHAMPION_URI, settings)
    dates = as_of_dates(settings)
    if not dates:
        raise NotEnoughDataError("fct_churn_features is empty; nothing to score")
    as_of = as_of or dates[-1]
    if as_of not in dates:
        raise ValueError(
            f"fct_churn_features has no rows for {as_of}; its as_of dates run from "
            f"{dates[0]} to {dates[-1]}"
        )
    frame = read_features(settings, as_of=as_of)
    table, reasons, probability = score_frame(model, frame, version)
    paths = ensure_tables(settings)
    replace_partition(paths["churn_scores"], table, as_of)

    scored = frame[["customer_id", "as_of_date", "monthly_value"]].copy()
    scored["churn_probability"] = probability
    scored["risk_band"] = table.column("risk_band").to_pylist()
    actions = recommend(scored, reasons, version)
    replace_partition(paths["retention_actions"], actions, as_of)

    earlier = [d for d in dates if d < as_of]
    baseline_as_of = earlier[-1] if earlier else None
    drift: dict[str, float] = {}
    if baseline_as_of is not None:
        baseline = read_features(settings, as_of=baseline_as_of)
        drift = feature_drift(model.features, baseline, frame)
        drift["score"] = numeric_psi(model.predict_proba(baseline), probability)
        rows = [
            {
                "as_of_date": as_of,
                "baseline_as_of_date": baseline_as_of,
                "kind": "score" if name == "score" else "feature",
                "name": name,
                "psi": value,
                "threshold": PSI_THRESHOLD,
                "is_drifted": value > PSI_THRESHOLD,
                "model_version": version,
            }
            for name, value in sorted(drift.items())
        ]
        replace_partition(
            paths["churn_drift"], pa.Table.from_pylist(rows, schema=CHURN_DRIFT), as_of
        )
        _log_drift(settings, as_of, baseline_as_of, version, drift)
    drifted = sorted(name for name, value in drift.items() if value > PSI_THRESHOLD)
    for name in drifted:
        log.warning(
            "churn drift: %s has PSI %.3f between %s and %s (threshold %.2f)",
            name,
            drift[name],
            baseline_as_of,
            as_of,
            PSI_THRESHOLD,
        )
    bands = Counter(table.column("risk_band").to_pylist())
    codes = Counter(actions.column("action_code").to_pylist())
    reason_codes = Counter(c for c in table.column("reason_1_code").to_pylist() if c)
    return ScoreResult(
        as_of=as_of,
        model_version=version,
        customers=table.num_rows,
        bands=dict(bands),
        actions=actions.num_rows,
        actions_by_code=dict(sorted(codes.items())),
        expected_value=round(float(sum(actions.column("expected_value").to_pylist())), 2),
        baseline_as_of=baseline_as_of,
        drift={k: round(v, 4) for k, v in drift.items()},
        drifted=drifted,
        top_reasons=dict(reason_codes.most_common(5)),
        seconds=round(time.perf_counter() - started, 1),
    )


def _log_drift(
    settings: Settings, as_of: date, baseline: date, version: str, drift: dict[str, float]
) -> None:
    import mlflow

    from ml.monitor import PSI_THRESHOLD
    from ml.register import MONITORING_EXPERIMENT, experiment_id, tracking

    with tracking(settings) as client:
        experiment = experiment_id(client, MONITORING_EXPERIMENT, settings)
        with mlflow.start_run(experiment_id=experiment, run_name=f"drift {as_of}"):
            mlflow.set_tags(
                {
                    "as_of": as_of.isoformat(),
                    "baseline_as_of": baseline.isoformat(),
                    "model_version": version,
                    "drifted": ",".join(k for k, v in drift.items() if v > PSI_THRESHOLD),
                }
            )
            mlflow.log_metrics({f"psi_{name}": value for name, value in drift.items()})


@dataclass(frozen=True)
class NightlyMl:
    """What the nightly ML step did: trained (or why not), scored (or why not)."""

    trained: TrainResult | None
    train_skipped: str | None
    scored: ScoreResult | None
    score_skipped: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trained": self.trained.to_dict() if self.trained else None,
            "train_skipped": self.train_skipped,
            "scored": self.scored.to_dict() if self.scored else None,
            "score_skipped": self.score_skipped,
        }


def training_due(settings: Settings, day: date) -> tuple[bool, str]:
    """Train on the weekly training day (``ml_train_weekday``) or when there is no champion."""
    from ml.register import champion_version

    if champion_version(settings) is None:
        return True, "no champion yet"
    if day.weekday() == settings.ml_train_weekday:
        return True, "weekly retraining day"
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    return False, f"models retrain weekly on {names[settings.ml_train_weekday]}s"


def nightly(
    settings: Settings | None = None, day: date | None = None, force_train: bool = False
) -> NightlyMl:
    """Train when due (weekly, or with no champion; always with ``force_train``), then
    score with the champion.

    Too little labelled history is not a failure: training is skipped with the reason, and
    scoring runs if an earlier champion exists.
    """
    settings = settings or get_settings()
    day = day or datetime.now(UTC).date()
    trained: TrainResult | None = None
    due, why = (True, "asked for") if force_train else training_due(settings, day)
    train_skipped: str | None = None if due else why
    if due:
        try:
            trained = train(settings)
        except NotEnoughDataError as exc:
            train_skipped = str(exc)
    try:
        return NightlyMl(trained, train_skipped, score(settings), None)
    except NoChampionError as exc:
        return NightlyMl(trained, train_skipped, None, str(exc))
