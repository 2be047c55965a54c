"""The MLflow registry: log a trained model, make it ``@challenger``, and promote it to
``@champion`` only if it beats the champion on the same validation window.

Scoring, the API and anything else load ``models:/churn@champion`` and never a version
number, so promotion is one alias move and a rollback is another (``cems ml promote
--version N`` is the manual override, audited in the version's tags).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from data_contracts.settings import Settings
from ml.train import ChurnModel

log = logging.getLogger(__name__)

MODEL_NAME = "churn"
CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "churn"
MONITORING_EXPERIMENT = "churn-monitoring"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
# A challenger must beat the champion's validation ROC AUC by at least this much.
MIN_IMPROVEMENT = 0.0


@contextmanager
def tracking(settings: Settings) -> Iterator[Any]:
    """Point MLflow at the settings' tracking store; yield a client."""
    import mlflow
    from mlflow import MlflowClient

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    try:
        yield MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def experiment_id(client: Any, name: str, settings: Settings) -> str:
    """The experiment's id, created with its artifacts under the settings' root."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{settings.mlflow_artifact_root.rstrip('/')}/{name}"
    return str(client.create_experiment(name, artifact_location=location))


class ChurnPyfunc(PythonModel):
    """The pyfunc wrapper: ``predict`` returns calibrated churn probabilities, so anyone
    who loads ``models:/churn@champion`` with ``mlflow.pyfunc`` gets the real number."""

    def __init__(self, model: ChurnModel) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return pd.Series(self.model.predict_proba(model_input), name="churn_probability")


def input_example(model: ChurnModel, frame: pd.DataFrame) -> pd.DataFrame:
    """A few feature rows as the model's callers send them (strings, numbers, booleans)."""
    example = frame[model.feature_names].head(5).copy()
    for feature in model.features:
        column = example[feature.name]
        if feature.kind == "categorical":
            example[feature.name] = column.astype("string").astype(object)
        else:
            example[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
    return example.reset_index(drop=True)


def log_model(model: ChurnModel, frame: pd.DataFrame) -> str:
    """Log the model (signature and input example included) in the active run; its URI."""
    import lightgbm
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    example = input_example(model, frame)
    signature = infer_signature(example, model.predict_proba(example))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ChurnPyfunc(model),
        signature=signature,
        input_example=example,
        pip_requirements=[
            f"lightgbm=={lightgbm.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"mlflow=={mlflow.__version__}",
        ],
        metadata={"features": model.feature_names, "band_thresholds": model.band_thresholds},
    )
    return str(info.model_uri)


def load(uri: str, settings: Settings) -> ChurnModel:
    """The :class:`ChurnModel` behind a registry URI (``models:/churn@champion``)."""
    import mlflow.pyfunc

    with tracking(settings):
        loaded = mlflow.pyfunc.load_model(uri)
    return loaded.unwrap_python_model().model  # type: ignore[no-any-return]


def champion_version(settings: Settings) -> str | None:
    """The version the ``champion`` alias points at, or None before the first promotion."""
    from mlflow.exceptions import MlflowException

    with tracking(settings) as client:
        try:
            return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
        except MlflowException:
            return None


@dataclass(frozen=True)
class GateDecision:
    version: str
    promoted: bool
    challenger_roc_auc: float
    champion_version_before: str | None
    champion_roc_auc_before: float | None
    reason: str


def register_and_gate(
    model_uri: str,
    model: ChurnModel,
    validation: pd.DataFrame,
    challenger_roc_auc: float,
    settings: Settings,
    run_id: str | None = None,
) -> GateDecision:
    """Register the model as ``@challenger``; move ``@champion`` to it only if it beats the
    current champion's ROC AUC on ``validation`` (the same rows, scored now by both)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from ml.evaluate import metrics

    with tracking(settings) as client:
        registered = mlflow.register_model(model_uri, MODEL_NAME)
        version = str(registered.version)
        client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
        try:
            before = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
        except MlflowException:
            before = None
    champion_auc: float | None = None
    if before is None:
        promoted, reason = True, "first model: promoted to champion"
    else:
        champion = load(CHAMPION_URI, settings)
        y = validation["is_churned_in_label_window"].astype(int).to_numpy()
        champion_auc = metrics(y, champion.predict_proba(validation))["roc_auc"]
        promoted = challenger_roc_auc > champion_auc + MIN_IMPROVEMENT
        comparison = (
            f"ROC AUC {challenger_roc_auc:.4f} vs champion v{before.version} {champion_auc:.4f}"
        )
        reason = (
            f"beats the champion on the same validation window ({comparison}): promoted"
            if promoted
            else f"does not beat the champion on the same validation window ({comparison}): "
            "stays challenger"
        )
    with tracking(settings) as client:
        if promoted:
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        client.set_model_version_tag(MODEL_NAME, version, "gate", reason)
        client.set_model_version_tag(
            MODEL_NAME, version, "validation_roc_auc", f"{challenger_roc_auc:.6f}"
        )
        if run_id:
            client.set_tag(run_id, "gate", reason)
    log.info("churn model v%s: %s", version, reason)
    return GateDecision(
        version=version,
        promoted=promoted,
        challenger_roc_auc=challenger_roc_auc,
        champion_version_before=str(before.version) if before is not None else None,
        champion_roc_auc_before=champion_auc,
        reason=reason,
    )


def promote(version: str, settings: Settings, reason: str) -> None:
    """Point ``@champion`` at ``version`` by hand (a rollback), recording why."""
    with tracking(settings) as client:
        client.get_model_version(MODEL_NAME, version)  # raises if it does not exist
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        client.set_model_version_tag(MODEL_NAME, version, "manual_promotion", reason)
