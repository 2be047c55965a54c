"""`cems pipeline ...`: run the lakehouse pipeline steps by hand (the DAGs call the same code)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli.errors import UserError, friendly
from data_contracts.settings import Settings, get_settings

if TYPE_CHECKING:
    from spark_jobs.pipeline import NightlyRun
    from spark_jobs.quality import QualityResult

app = typer.Typer(
    help="Run the pipeline: landing into the lakehouse, or the whole nightly run.",
    no_args_is_help=True,
)
console = Console()


class Source(StrEnum):
    crm = "crm"
    billing = "billing"
    telemetry = "telemetry"
    interactions = "interactions"
    all = "all"


@app.command("land")
@friendly
def land(
    source: Annotated[Source, typer.Option(help="Which source system to land.")] = Source.all,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the reconciliation and quality results as JSON only."),
    ] = False,
    quality: Annotated[
        bool,
        typer.Option(help="Validate the silver tables that changed with their quality suites."),
    ] = True,
) -> None:
    """Land new source data into bronze and silver, quarantining rows that break their contract.

    Prints a reconciliation per contract (rows received = rows in silver + quarantined +
    duplicates removed), then validates the silver tables that changed with their Great
    Expectations suites. Exits 1 if a batch breaks more rows than its error budget allows
    or a silver table fails its suite.
    """
    from spark_jobs.batches import ErrorBudgetError
    from spark_jobs.jars import JarsMissingError
    from spark_jobs.pipeline import SOURCES, QualityGateError, landed_contracts, quality_gate
    from spark_jobs.pipeline import land as run_land

    sources = list(SOURCES) if source is Source.all else [source.value]
    results: list[QualityResult] = []
    failure: str | None = None
    try:
        reports = run_land(sources)
        changed = landed_contracts(reports)
        if quality and changed:
            try:
                results = quality_gate(changed)
            except QualityGateError as exc:
                results, failure = exc.results, str(exc)
    except JarsMissingError as exc:
        raise UserError(str(exc)) from None
    except ErrorBudgetError as exc:
        console.print(f"[bold red]Error budget exceeded:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        document = {
            "reconciliation": [r.to_dict() for r in reports],
            "quality": [quality_summary(r) for r in results],
        }
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
        if failure:
            raise typer.Exit(1)
        return
    table = Table(title="Landing reconciliation")
    for column in (
        "Contract",
        "Batch",
        "Received",
        "Silver",
        "Quarantined",
        "Duplicates",
        "Balanced",
    ):
        table.add_column(column, justify="left" if column == "Contract" else "right")
    for r in reports:
        table.add_row(
            r.contract,
            str(r.batch_id),
            f"{r.received:,}",
            f"{r.silver:,}",
            f"{r.quarantined_total:,}",
            f"{r.duplicates:,}",
            "yes" if r.balanced else "[red]NO[/]",
        )
    console.print(table)
    if not reports:
        console.print("Nothing new to land.")
    for r in reports:
        for reason, count in sorted(r.quarantined.items()):
            console.print(f"  {r.contract}: {count:,} quarantined: {reason}")
    if results:
        passed = sum(r.success for r in results)
        console.print(
            f"Quality: {passed} of {len(results)} silver tables passed their suites; "
            f"data docs: {results[0].data_docs}"
        )
    if failure:
        console.print(f"[bold red]Quality gate failed:[/] {failure}")
        raise typer.Exit(1)


@app.command("quality")
@friendly
def quality(
    contract: Annotated[
        list[str] | None,
        typer.Option(help="Contract to validate (repeatable; default: every landed table)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON only.")
    ] = False,
) -> None:
    """Validate silver with the Great Expectations suites generated from the contracts.

    Stores the results (Delta table and data docs) and exits 1 if any suite fails.
    """
    from data_contracts.loader import ContractError, get_contract
    from spark_jobs.pipeline import QualityGateError, quality_gate

    for name in contract or []:
        try:
            get_contract(name)
        except ContractError:
            raise UserError(
                f"there is no contract named {name!r}; `cems contracts list` shows them."
            ) from None
    failure: str | None = None
    try:
        results = quality_gate([get_contract(n).name for n in contract] if contract else None)
    except QualityGateError as exc:
        results, failure = exc.results, str(exc)
    if as_json:
        typer.echo(json.dumps([quality_summary(r) for r in results], indent=2, sort_keys=True))
    else:
        for r in results:
            mark = "[green]passed[/]" if r.success else "[red]FAILED[/]"
            checks = f"{r.successful}/{r.evaluated} expectations"
            console.print(f"{r.contract:<40} {r.rows:>12,} rows  {checks}  {mark}")
        if results:
            console.print(f"Data docs: {results[0].data_docs}")
        else:
            console.print("No silver tables to validate yet; run `cems pipeline land` first.")
    if failure:
        if not as_json:
            console.print(f"[bold red]Quality gate failed:[/] {failure}")
        raise typer.Exit(1)


def quality_summary(result: QualityResult) -> dict[str, object]:
    """One contract's quality run as plain JSON (failed expectations named)."""
    return {
        "contract": result.contract,
        "run_id": result.run_id,
        "rows": result.rows,
        "success": result.success,
        **result.statistics,
        "failed": [
            {"expectation_type": o.expectation_type, "column": o.column} for o in result.failed
        ],
    }


class Target(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


@app.command("run")
@friendly
def run(
    customers: Annotated[
        int, typer.Option(min=1, max=50_000_000, help="Customers in the synthetic operator.")
    ] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of activity.")] = 30,
    kpi_days: Annotated[
        int, typer.Option(min=1, help="Days of per-minute cell KPIs (the last N days).")
    ] = 3,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the synthetic operator.")] = 7,
    target: Annotated[
        Target | None, typer.Option(help="dbt target for the marts (default: CEMS_DBT_TARGET).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run summary as JSON only.")
    ] = False,
) -> None:
    """Generate an operator and run the nightly pipeline end to end on this machine.

    Generates the synthetic operator, lands every source into bronze and silver, runs the
    quality gate, builds the gold marts with dbt, trains the churn model (registered, gated
    to @champion), scores every active customer, refreshes the customer 360 with the scores
    and prints what was built: tables and row counts, model metrics, quality results,
    quarantine counts and where to look next. Derived state from a
    different generation is cleared first; the same generation is kept, so a re-run lands
    nothing twice.
    """
    if kpi_days > days:
        raise UserError(f"--kpi-days ({kpi_days}) cannot exceed --days ({days}); lower it.")
    from data_contracts.synthetic.config import GeneratorConfig
    from data_contracts.synthetic.generate import generate as run_generate
    from ml.jobs import nightly as nightly_ml
    from spark_jobs.batches import ErrorBudgetError
    from spark_jobs.jars import JarsMissingError
    from spark_jobs.marts import MartsBuildError
    from spark_jobs.pipeline import (
        QualityGateError,
        StaleLakehouseError,
        generation_id,
        prepare_for,
        run_nightly,
    )

    settings = get_settings()
    started = time.perf_counter()

    def say(message: str) -> None:
        if not as_json:
            console.print(message)

    say(f"[bold]Generating[/] {customers:,} customers x {days} days (seed {seed}) ...")
    try:
        run_generate(
            GeneratorConfig(customers=customers, days=days, seed=seed, kpi_days=kpi_days),
            settings,
        )
    except OSError as exc:
        raise UserError(f"could not write the generated data ({exc.strerror or exc}).") from exc
    generated_seconds = time.perf_counter() - started
    generation = generation_id(settings)
    assert generation is not None  # generate() always writes the manifest
    try:
        if prepare_for(settings, generation):
            say("Cleared the lakehouse and warehouse of the previous, different operator.")
        steps = {
            "land": "Landing",
            "quality": "Quality gate",
            "marts": "Building gold marts",
            "ml": "Training and scoring the churn model",
            "rescored": "Refreshing the customer 360 and retention segments with the scores",
        }
        result = run_nightly(
            settings,
            target.value if target else None,
            on_step=lambda step: say(f"[bold]{steps[step]}[/] ..."),
            score=lambda s: nightly_ml(s, force_train=True),
        )
    except (StaleLakehouseError, JarsMissingError) as exc:
        raise UserError(str(exc)) from None
    except (ErrorBudgetError, QualityGateError, MartsBuildError) as exc:
        console.print(f"[bold red]Pipeline stopped:[/] {exc}")
        raise typer.Exit(1) from None
    say("[bold]Publishing to the API's serving tables[/] ...")
    from api.serving.publish import PublishError
    from api.serving.publish import publish as publish_serving

    try:
        served = publish_serving(settings)
    except PublishError as exc:
        console.print(f"[bold red]Pipeline stopped:[/] {exc}; the previous version keeps serving.")
        raise typer.Exit(1) from None
    result.seconds = {"generate": generated_seconds, **result.seconds, "serve": served.seconds}
    summary = run_summary(settings, result)
    summary["serving"] = served.to_dict()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
        return
    print_run_summary(summary)


def run_summary(settings: Settings, result: NightlyRun) -> dict[str, object]:
    """Everything the run built, as plain data (also what `--json` prints)."""
    quarantined: dict[str, int] = {}
    for r in result.reports:
        if r.quarantined_total:
            quarantined[r.contract] = quarantined.get(r.contract, 0) + r.quarantined_total
    marts = result.marts
    if marts is not None and result.rescored is not None:
        marts = replace(
            marts,
            models={**marts.models, **result.rescored.models},
            tests_passed=marts.tests_passed + result.rescored.tests_passed,
        )
    return {
        "home": str(settings.home),
        "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
        "landing": [r.to_dict() for r in result.reports],
        "quarantined": quarantined,
        "quality": [quality_summary(q) for q in result.quality],
        "marts": None
        if marts is None
        else {
            "target": marts.target,
            "models": marts.models,
            "tests_passed": marts.tests_passed,
            "tests_failed": marts.tests_failed,
            "gold_paths": marts.gold_paths,
        },
        "ml": None if result.ml is None else result.ml.to_dict(),
        "warehouse": settings.warehouse_path,
        "next": {
            "data docs": str(settings.home / "quality" / "data_docs" / "index.html"),
            "Airflow UI": "cems airflow standalone  (then http://localhost:8080)",
            "MLflow UI": f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}",
            "DuckDB": f"duckdb -readonly {settings.warehouse_path}",
            "API": "cems users demo && cems serve  (then http://127.0.0.1:8000/docs)",
        },
    }


def print_run_summary(summary: dict[str, Any]) -> None:
    marts = summary["marts"]
    if marts:
        table = Table(title=f"Gold marts ({marts['target']})")
        table.add_column("Model")
        table.add_column("Rows", justify="right")
        for name, rows in sorted(marts["models"].items()):
            table.add_row(name, f"{rows:,}")
        console.print(table)
        console.print(
            f"dbt tests: {marts['tests_passed']:,} passed, {marts['tests_failed']:,} failed."
        )
    ml = summary.get("ml")
    if ml:
        print_ml_summary(ml)
    landing = Table(title="Landing")
    for column in ("Contract", "Received", "Silver", "Quarantined", "Duplicates"):
        landing.add_column(column, justify="left" if column == "Contract" else "right")
    for r in summary["landing"]:
        landing.add_row(
            r["contract"],
            f"{r['received']:,}",
            f"{r['silver']:,}",
            f"{r['quarantined_total']:,}",
            f"{r['duplicates']:,}",
        )
    console.print(landing)
    quality = summary["quality"]
    passed = sum(1 for q in quality if q["success"])
    console.print(f"Quality: {passed} of {len(quality)} silver tables passed their suites.")
    serving = summary.get("serving")
    if serving:
        console.print(
            f"API serving tables: version {serving['version']} as of {serving['as_of_date']} "
            f"({serving['row_counts'].get('dim_customers', 0):,} customers)."
        )
    seconds = ", ".join(f"{k} {v:,.0f} s" for k, v in summary["seconds"].items())
    console.print(f"[bold green]Done[/] ({seconds}). Next:")
    for what, how in summary["next"].items():
        console.print(f"  {what:<10} {how}")


def print_ml_summary(ml: dict[str, Any]) -> None:
    trained = ml["trained"]
    if trained:
        m = trained["metrics"]
        console.print(
            f"Churn model v{trained['model_version']}: ROC AUC {m['roc_auc']:.3f}, PR AUC "
            f"{m['pr_auc']:.3f}, top-decile lift {m['top_decile_lift']:.2f} on "
            f"{trained['validation_rows']:,} held-out customers at "
            f"{trained['validation_as_of']}; {trained['decision']}."
        )
    else:
        console.print(f"Churn model not trained: {ml['train_skipped']}.")
    scored = ml["scored"]
    if scored:
        bands = ", ".join(f"{scored['bands'].get(b, 0):,} {b}" for b in ("high", "medium", "low"))
        console.print(
            f"Scored {scored['customers']:,} customers at {scored['as_of']} ({bands}); "
            f"{scored['actions']:,} next best actions, expected value "
            f"{scored['expected_value']:,.2f}."
        )
        if scored["drifted"]:
            console.print(f"[yellow]Drift over the threshold:[/] {', '.join(scored['drifted'])}")
    else:
        console.print(f"No churn scores: {ml['score_skipped']}.")
