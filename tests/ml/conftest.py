"""A trained churn model in its own CEMS_HOME, shared by the ML tests of one session."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data_contracts.settings import Settings


@dataclass(frozen=True)
class Trained:
    settings: Settings
    frame: pd.DataFrame
    first: Any  # ml.jobs.TrainResult of the first training run


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    churn_features: Callable[..., pd.DataFrame],
    publish_features: Callable[..., str],
) -> Trained:
    """3,000 synthetic customers x 7 weekly as_of dates in gold, and a first model trained
    on them (it becomes champion: there is none before it)."""
    from ml.jobs import train

    settings = Settings(home=tmp_path_factory.mktemp("ml-train"))
    frame = churn_features(customers=3000, as_of_count=7, seed=1, strength=2.0)
    publish_features(settings, frame)
    return Trained(settings, frame, train(settings))


@pytest.fixture
def trained_copy(trained: Trained, tmp_path: Path) -> Trained:
    """A private copy of the trained home (registry, artifacts, gold) for one test."""
    home = tmp_path / "home"
    shutil.copytree(trained.settings.home, home)
    return Trained(Settings(home=home), trained.frame, trained.first)
