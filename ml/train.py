"""Training: a time-based split of ``fct_churn_features`` and a calibrated LightGBM.

The split (:func:`time_split`) holds out a fixed fifth of customers (by a hash of their id,
so the same customers are held out every week and never trained on) and validates on them at
the latest ``as_of`` whose label window is complete; training takes the other customers at
earlier ``as_of`` dates. So no customer is in both sets and nothing is trained on a date at
or after the validation date: the model is judged the way it is used, on later data about
customers it has not seen.

:func:`fit` is the same for every dataset (the pipeline's features or a vendor export in
``cems ml evaluate``): LightGBM with native categoricals, a regularised shallow-tree
default, class weighting by the square root of the imbalance, early stopping on a customer
slice of the training data, then Platt scaling on that slice so probabilities are
calibrated (a monotone map: rankings and AUC are unchanged). Optuna tuning is optional
(``tune_trials``), within a time budget.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.features import (
    LABEL,
    LABEL_COMPLETE,
    Feature,
    categories_of,
    model_matrix,
)

log = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.2  # customers held out for validation, by hash of the id
EARLY_STOP_SHARE = 0.15  # of the training customers: early stopping and calibration
MIN_POSITIVES = 20  # per set; fewer cannot train or judge a model


class NotEnoughDataError(ValueError):
    """The features cannot support a fair training run; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    """LightGBM settings. The defaults are shallow, regularised trees with a slow learning
    rate and early stopping: on the IBM Telco export they beat the reference (see README)."""

    learning_rate: float = 0.02
    num_leaves: int = 7
    min_child_samples: int = 50
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 5.0
    cat_smooth: float = 20.0
    max_rounds: int = 3000
    early_stopping_rounds: int = 100
    balance_classes: bool = True  # scale_pos_weight = sqrt(negatives / positives)
    seed: int = 7
    threads: int = 0  # 0: LightGBM's default (all cores)
    tune_trials: int = 0  # Optuna trials; 0 = no tuning
    tune_timeout_seconds: float = 600.0

    def params(self, positives: int, negatives: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": self.min_child_samples,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if self.threads:
            params["num_threads"] = self.threads
        if self.balance_classes and positives:
            params["scale_pos_weight"] = math.sqrt(negatives / positives)
        return params


@dataclass
class ChurnModel:
    """A fitted churn model: the booster, what it reads, and how to calibrate its output."""

    booster: lgb.Booster
    features: list[Feature]
    categories: dict[str, list[str]]
    platt: tuple[float, float]  # p = sigmoid(a * margin + b)
    best_iteration: int
    params: dict[str, Any]
    band_thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        return model_matrix(frame, self.features, self.categories)

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(
            self.booster.predict(
                self.matrix(frame), num_iteration=self.best_iteration, raw_score=True
            ),
            dtype="float64",
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        a, b = self.platt
        return _sigmoid(a * self.margin(frame) + b)

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the margin (TreeSHAP), rows x features (no bias)."""
        values = self.booster.predict(
            self.matrix(frame), num_iteration=self.best_iteration, pred_contrib=True
        )
        return np.asarray(values, dtype="float64")[:, :-1]

    def band(self, probability: np.ndarray) -> np.ndarray:
        high = self.band_thresholds.get("high", 1.0)
        medium = self.band_thresholds.get("medium", 1.0)
        return np.where(
            probability >= high, "high", np.where(probability >= medium, "medium", "low")
        )

    def importance(self) -> pd.DataFrame:
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        split = self.booster.feature_importance("split", iteration=self.best_iteration)
        table = pd.DataFrame({"feature": self.feature_names, "gain": gain, "splits": split})
        return table.sort_values("gain", ascending=False, ignore_index=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype="float64")


def customer_bucket(customer_ids: pd.Series, salt: str = "cems-churn") -> np.ndarray:
    """A stable number in [0, 1) per customer id (the same on every run and machine)."""
    codes, unique = pd.factorize(pd.Series(customer_ids).astype(str))
    buckets = np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{salt}:{c}".encode(), digest_size=8).digest(), "big")
            / 2**64
            for c in unique
        ]
    )
    return np.asarray(buckets[codes], dtype="float64")


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    validation_as_of: date


def time_split(frame: pd.DataFrame) -> Split:
    """Train on earlier ``as_of`` dates, validate on held-out customers at the latest
    complete one. Raises :class:`NotEnoughDataError` when either side is too thin."""
    labelled = frame[frame[LABEL_COMPLETE].astype(bool)]
    if labelled.empty:
        raise NotEnoughDataError(
            "no as_of date has a complete label window yet; the features need more history "
            "than the churn label window"
        )
    validation_as_of = max(labelled["as_of_date"])
    holdout = customer_bucket(labelled["customer_id"]) < HOLDOUT_SHARE
    at_validation = (labelled["as_of_date"] == validation_as_of).to_numpy()
    earlier = (labelled["as_of_date"] < validation_as_of).to_numpy()
    split = Split(
        train=labelled[earlier & ~holdout],
        validation=labelled[at_validation & holdout],
        validation_as_of=validation_as_of,
    )
    for name, part in (("training", split.train), ("validation", split.validation)):
        positives = int(part[LABEL].sum())
        if positives < MIN_POSITIVES:
            raise NotEnoughDataError(
                f"the {name} set has {positives} churned customers (of {len(part):,} rows); "
                f"at least {MIN_POSITIVES} are needed: generate more customers or days"
            )
    return split


def fit(
    frame: pd.DataFrame,
    features: list[Feature],
    config: TrainConfig | None = None,
) -> ChurnModel:
    """Fit the calibrated model on ``frame`` (rows with ``LABEL``). A slice of customers
    (by hash) serves early stopping and calibration; the rest trains the trees."""
    config = config or TrainConfig()
    y = frame[LABEL].astype(int).to_numpy()
    stop = customer_bucket(frame["customer_id"], salt="cems-early-stop") < EARLY_STOP_SHARE
    if y[stop].sum() == 0 or y[~stop].sum() == 0:
        raise NotEnoughDataError("too few churned customers to train and calibrate a model")
    full = model_matrix(frame, features)
    categories = categories_of(full)
    x_fit, y_fit = full[~stop], y[~stop]
    x_stop, y_stop = full[stop], y[stop]
    if config.tune_trials:
        config = tune(x_fit, y_fit, x_stop, y_stop, config)
    params = config.params(int(y_fit.sum()), int((1 - y_fit).sum()))
    booster = lgb.train(
        params,
        lgb.Dataset(x_fit, y_fit),
        num_boost_round=config.max_rounds,
        valid_sets=[lgb.Dataset(x_stop, y_stop)],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    margin = np.asarray(booster.predict(x_stop, num_iteration=best, raw_score=True))
    model = ChurnModel(booster, list(features), categories, _platt(margin, y_stop), best, params)
    probability = model.predict_proba(frame[stop])
    model.band_thresholds = {
        "high": float(np.quantile(probability, 0.9)),
        "medium": float(np.quantile(probability, 0.7)),
    }
    return model


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: a one-feature logistic regression of the label on the margin."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=1e6, max_iter=1000)
    regression.fit(margin.reshape(-1, 1), y)
    return float(regression.coef_[0, 0]), float(regression.intercept_[0])


def tune(
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    x_stop: pd.DataFrame,
    y_stop: np.ndarray,
    config: TrainConfig,
) -> TrainConfig:
    """Optuna search over tree shape and regularisation, scored by early-stopping AUC."""
    import optuna
    from sklearn.metrics import roc_auc_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fit_set = lgb.Dataset(x_fit, y_fit, free_raw_data=False)
    stop_set = lgb.Dataset(x_stop, y_stop, free_raw_data=False)

    def objective(trial: optuna.Trial) -> float:
        candidate = replace(
            config,
            learning_rate=trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            num_leaves=trial.suggest_int("num_leaves", 3, 63, log=True),
            min_child_samples=trial.suggest_int("min_child_samples", 10, 200, log=True),
            feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
            lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 50.0, log=True),
        )
        params = candidate.params(int(y_fit.sum()), int((1 - y_fit).sum()))
        booster = lgb.train(
            params,
            fit_set,
            num_boost_round=config.max_rounds,
            valid_sets=[stop_set],
            callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
        return float(
            roc_auc_score(y_stop, booster.predict(x_stop, num_iteration=booster.best_iteration))
        )

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    study.optimize(objective, n_trials=config.tune_trials, timeout=config.tune_timeout_seconds)
    best = study.best_params
    log.info("Optuna: best early-stopping AUC %.4f with %s", study.best_value, best)
    return replace(config, tune_trials=0, **best)
