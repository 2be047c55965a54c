"""How good a churn model is: metrics, plots, and k-fold evaluation on a vendor export.

The metrics are the ones retention teams plan with: ROC AUC and PR AUC (ranking), the
Brier score (are the probabilities right?), and the top decile's lift and recall (if we call
the riskiest 10 %, how many more churners do we reach than at random, and what share of
all churners is that?).

:func:`cross_validate_export` is ``cems ml evaluate``: a labelled customer export from
another vendor goes through the legacy import mapping (in memory) and
:func:`ml.features.snapshot_features`, then stratified k-fold runs :func:`ml.train.fit`,
the same code that trains the nightly model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.features import LABEL, feature_set, snapshot_features
from ml.train import ChurnModel, TrainConfig, fit


def metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, top-decile lift and recall."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    probability = np.asarray(probability, dtype="float64")
    order = np.argsort(-probability, kind="stable")
    top = order[: max(1, int(np.ceil(len(order) * 0.1)))]
    base_rate = y.mean() if len(y) else 0.0
    top_rate = y[top].mean() if len(top) else 0.0
    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "pr_auc": float(average_precision_score(y, probability)),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": float(top_rate / base_rate) if base_rate else float("nan"),
        "top_decile_recall": float(y[top].sum() / y.sum()) if y.sum() else float("nan"),
        "positive_rate": float(base_rate),
    }


def calibration_plot(y: np.ndarray, probability: np.ndarray, path: Path) -> Path:
    """Reliability diagram: mean predicted vs observed churn rate by predicted decile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame({"y": np.asarray(y, dtype=int), "p": probability})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), 10, labels=False)
    grouped = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"))
    figure, axis = plt.subplots(figsize=(5, 5))
    top = max(float(grouped.max().max()), 0.01) * 1.1
    axis.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect")
    axis.plot(grouped["predicted"], grouped["observed"], marker="o", label="model")
    axis.set_xlabel("predicted churn probability (decile mean)")
    axis.set_ylabel("observed churn rate")
    axis.set_title("Calibration on the validation window")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def importance_plot(model: ChurnModel, path: Path, top: int = 20) -> Path:
    """Horizontal bar chart of the features' total gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = model.importance().head(top).iloc[::-1]
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(table) + 1.5))
    axis.barh(table["feature"], table["gain"])
    axis.set_xlabel("total gain")
    axis.set_title("Feature importance")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


@dataclass(frozen=True)
class ExportEvaluation:
    rows: int
    positives: int
    folds: int
    fold_metrics: list[dict[str, float]]
    features: list[str]
    rejected_rows: int

    def summary(self) -> dict[str, Any]:
        def stat(name: str) -> tuple[float, float]:
            values = np.array([m[name] for m in self.fold_metrics])
            return float(values.mean()), float(values.std())

        auc_mean, auc_std = stat("roc_auc")
        pr_mean, pr_std = stat("pr_auc")
        brier_mean, _ = stat("brier")
        lift_mean, _ = stat("top_decile_lift")
        return {
            "roc_auc_mean": round(auc_mean, 4),
            "roc_auc_std": round(auc_std, 4),
            "pr_auc_mean": round(pr_mean, 4),
            "pr_auc_std": round(pr_std, 4),
            "brier_mean": round(brier_mean, 4),
            "top_decile_lift_mean": round(lift_mean, 3),
            "folds": self.folds,
            "rows": self.rows,
            "positives": self.positives,
            "rejected_rows": self.rejected_rows,
            "features": self.features,
            "roc_auc_by_fold": [round(m["roc_auc"], 4) for m in self.fold_metrics],
        }


def cross_validate_export(
    dataset: Path,
    mapping: str | Path,
    folds: int = 5,
    as_of: date | None = None,
    config: TrainConfig | None = None,
    seed: int = 42,
) -> ExportEvaluation:
    """Stratified k-fold ROC AUC of the churn model on a labelled vendor export."""
    from sklearn.model_selection import StratifiedKFold

    from data_contracts.legacy_import import load_mapping, map_file

    loaded = load_mapping(mapping)
    as_of = as_of or loaded.as_of or date(2026, 1, 1)
    mapped = map_file(loaded, dataset, as_of)
    frame = snapshot_features(mapped.tables, as_of).reset_index(drop=True)
    features = feature_set(frame.drop(columns=[LABEL]))
    y = frame[LABEL].astype(int).to_numpy()
    positives = int(y.sum())
    if positives < folds or len(y) - positives < folds:
        raise ValueError(
            f"the export has {positives} churned and {len(y) - positives} retained customers; "
            f"{folds}-fold evaluation needs at least {folds} of each"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results = []
    for train_index, test_index in splitter.split(frame, y):
        model = fit(frame.iloc[train_index], features, config)
        probability = model.predict_proba(frame.iloc[test_index])
        results.append(metrics(y[test_index], probability))
    return ExportEvaluation(
        rows=len(y),
        positives=positives,
        folds=folds,
        fold_metrics=results,
        features=[f.name for f in features],
        rejected_rows=len(mapped.rejects),
    )
