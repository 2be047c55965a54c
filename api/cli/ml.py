"""``cems ml``: train and score the churn model, promote by hand, evaluate on a vendor export."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly

app = typer.Typer(help="Churn models: LightGBM, MLflow registry (@champion), nightly scores.")
console = Console(highlight=False)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option} must be a date like 2026-01-31, not {value!r}.") from None


@app.command("train")
@friendly
def train(
    tune_trials: Annotated[
        int,
        typer.Option(
            "--tune-trials", min=0, help="Optuna trials before the final fit (0: no tuning)."
        ),
    ] = 0,
    tune_minutes: Annotated[
        float, typer.Option("--tune-minutes", min=0.1, help="Time budget of the tuning.")
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train on fct_churn_features, log to MLflow, register @challenger, gate @champion."""
    from ml.jobs import train as run_training
    from ml.train import NotEnoughDataError, TrainConfig

    config = TrainConfig(tune_trials=tune_trials, tune_timeout_seconds=tune_minutes * 60)
    try:
        result = run_training(config=config)
    except (NotEnoughDataError, FileNotFoundError) as exc:
        raise UserError(f"cannot train: {exc}.") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    m = result.metrics
    console.print(
        f"Churn model v{result.model_version}: validated on {result.validation_rows:,} held-out "
        f"customers at {result.validation_as_of} ({result.validation_positives} churned), "
        f"trained on {result.training_rows:,} rows in {result.seconds:.0f} s."
    )
    console.print(
        f"  ROC AUC {m['roc_auc']:.3f}  PR AUC {m['pr_auc']:.3f}  Brier {m['brier']:.4f}  "
        f"top-decile lift {m['top_decile_lift']:.2f}  recall {m['top_decile_recall']:.0%}"
    )
    console.print(f"  Gate: {result.decision}.")
    console.print(f"  Strongest features: {', '.join(result.top_features[:5])}")


@app.command("score")
@friendly
def score(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="as_of date to score (default: the latest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score every active customer with models:/churn@champion; reasons, actions, drift."""
    from ml.jobs import NoChampionError
    from ml.jobs import score as run_scoring
    from ml.train import NotEnoughDataError

    try:
        result = run_scoring(as_of=_date(as_of, "--as-of"))
    except (NoChampionError, NotEnoughDataError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"cannot score: {exc}.") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    bands = ", ".join(f"{result.bands.get(b, 0):,} {b}" for b in ("high", "medium", "low"))
    console.print(
        f"Scored {result.customers:,} customers at {result.as_of} with churn v"
        f"{result.model_version} in {result.seconds:.0f} s: {bands}."
    )
    console.print(
        f"  Next best actions for {result.actions:,} at-risk customers, expected value "
        f"{result.expected_value:,.2f}: "
        + ", ".join(f"{c} {n:,}" for c, n in result.actions_by_code.items())
    )
    if result.baseline_as_of is None:
        console.print("  Drift: no earlier as_of date to compare with yet.")
    elif result.drifted:
        console.print(
            f"  [yellow]Drift over the threshold since {result.baseline_as_of}:[/] "
            + ", ".join(f"{n} (PSI {result.drift[n]:.2f})" for n in result.drifted)
        )
    else:
        console.print(
            f"  Drift: nothing over the threshold since {result.baseline_as_of} "
            f"(score PSI {result.drift.get('score', 0):.3f})."
        )


@app.command("promote")
@friendly
def promote(
    version: Annotated[str, typer.Option("--version", help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the version's tags).")],
) -> None:
    """Point @champion at a version by hand (a rollback), bypassing the gate."""
    from mlflow.exceptions import MlflowException

    from data_contracts.settings import get_settings
    from ml.register import promote as set_champion

    try:
        set_champion(version, get_settings(), reason)
    except MlflowException:
        raise UserError(f"there is no version {version} of the churn model.") from None
    console.print(f"churn@champion now points at version {version}.")


@app.command("evaluate")
@friendly
def evaluate(
    dataset: Annotated[
        Path, typer.Option("--dataset", help="Labelled customer export (CSV) of another vendor.")
    ],
    mapping: Annotated[
        str, typer.Option("--mapping", help="Legacy import mapping: a name or a YAML file.")
    ],
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Stratified folds.")] = 5,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Date the export was taken (default: the mapping's, else 2026-01-01)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Fold shuffling seed.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Stratified k-fold ROC AUC of the churn model on a vendor export, via the mapping."""
    from data_contracts.legacy_import import LegacyImportError
    from ml.evaluate import cross_validate_export
    from ml.train import NotEnoughDataError

    if not dataset.is_file():
        raise UserError(f"there is no file at {dataset}.")
    try:
        result = cross_validate_export(
            dataset, mapping, folds=folds, as_of=_date(as_of, "--as-of"), seed=seed
        )
    except (LegacyImportError, NotEnoughDataError, ValueError) as exc:
        raise UserError(f"cannot evaluate: {exc}") from None
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(
        f"{summary['rows']:,} customers ({summary['positives']:,} churned), "
        f"{summary['folds']}-fold stratified, {len(summary['features'])} features "
        f"({summary['rejected_rows']} rows rejected by the mapping):"
    )
    console.print(
        f"  ROC AUC {summary['roc_auc_mean']:.4f} ± {summary['roc_auc_std']:.4f}   "
        f"PR AUC {summary['pr_auc_mean']:.4f}   Brier {summary['brier_mean']:.4f}   "
        f"top-decile lift {summary['top_decile_lift_mean']:.2f}"
    )
