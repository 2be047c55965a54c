"""`make bench`: train and score the churn model on 1,000,000 customers; wall time and peak memory.

Writes a synthetic gold ``fct_churn_features`` (the columns and types dbt publishes, with the
planted churn causes of ``tests/conftest.py``'s builder) for BENCH_CUSTOMERS customers
(default 1,000,000) at BENCH_AS_OF weekly as_of dates (default 7: the last four have an
incomplete 30-day label window, as in the mart, so three are labelled) into a fresh CEMS_HOME
(.cems/bench-ml, removed at the end unless BENCH_KEEP_HOME is set). Then four steps, each in
its own process so each peak resident memory is its own (the kernel's high-water mark of the
process, read with ``os.wait4``):

1. ``ml.jobs.train``: read gold, time split, fit (early stopping, Platt calibration),
   evaluate, MLflow log, register, alias gate;
2. ``ml.jobs.score``: latest as_of from gold, predict, reasons (TreeSHAP), next best actions,
   drift against the previous as_of, Delta writes, MLflow drift run;
3. baseline, same run and same rows: a plain ``lightgbm.train`` on the training rows
   ``ml.jobs.train`` uses, with the reference settings (300 trees, learning rate 0.03, 15
   leaves; no early stopping, no calibration, no MLflow);
4. baseline: a plain ``booster.predict`` of that booster over the rows ``ml.jobs.score`` scores.

"step" times are the call alone (``ml.jobs.train``/``ml.jobs.score`` against
``lightgbm.train``/``booster.predict``); "process" times add start-up, imports and, for the
baselines, loading the same rows. There is no target in the issue: the figures are reported.

    .venv/bin/python tests/bench/bench_ml.py
    BENCH_CUSTOMERS=20000 .venv/bin/python tests/bench/bench_ml.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / ".cems" / "bench-ml"
LAST_AS_OF = date(2026, 3, 1)
INCOMPLETE_AS_OF = 4  # the last four weekly as_of dates have no complete 30-day label yet
BASELINE_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "seed": 7,
    "verbose": -1,
}
BASELINE_TREES = 300


# ---------------------------------------------------------------- synthetic gold


def _batches(customers: int, as_of_count: int, seed: int) -> Iterator[Any]:
    """One record batch per as_of date, shaped like gold ``fct_churn_features``.

    The label is ``ml.synthetic.planted_churn_logit``, as in ``tests/conftest.py`` (month-to-month,
    tickets unresolved over 48 hours, failed payments, a price rise and short tenure raise
    churn; a bundle lowers it); the other mart columns are plausible noise, so the model is
    as wide as the real one.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from ml.synthetic import planted_churn_logit

    rng = np.random.default_rng(seed)
    n = customers
    ids = pa.array(np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 8)))

    def pick(values: list[str], p: list[float] | None = None) -> Any:
        return pa.array(np.asarray(values)[rng.choice(len(values), n, p=p)])

    segment = pick(["consumer", "sme", "enterprise"], [0.8, 0.15, 0.05])
    region = pick(["north", "south", "east", "west", "central"])
    urbanicity = pick(["urban", "suburban", "rural"])
    signup_age = rng.integers(10, 2000, n)
    m2m = rng.random(n) < 0.45
    products = rng.integers(1, 4, n)
    contract_end = rng.integers(0, 700, n).astype("float64")
    monthly = np.round(rng.gamma(4, 12, n), 2)
    cell_measured = rng.random(n) >= 0.03
    money = pa.decimal128(14, 2)
    for step in range(as_of_count):
        as_of = LAST_AS_OF - timedelta(days=7 * (as_of_count - 1 - step))
        tenure = signup_age + 7 * step
        unresolved = rng.poisson(0.08, n)
        failed = rng.poisson(0.05, n)
        price_rise = rng.random(n) < 0.12
        logit = planted_churn_logit(m2m, unresolved, failed, price_rise, tenure, products)
        churned = rng.random(n) < 1 / (1 + np.exp(-logit))
        data_gb = rng.gamma(2, 5, n)
        last_week = data_gb * rng.beta(2, 6, n)
        columns = {
            "churn_feature_id": pc.binary_join_element_wise(ids, as_of.isoformat(), "|"),
            "customer_id": ids,
            "as_of_date": pa.array(np.full(n, np.datetime64(as_of, "D")), pa.date32()),
            "customer_type": segment,
            "region": region,
            "urbanicity": urbanicity,
            "is_profile_known_at_as_of": pa.array(np.ones(n, dtype=bool)),
            "tenure_days": pa.array(tenure),
            "active_subscription_count": pa.array(products),
            "has_mobile": pa.array(np.ones(n, dtype=bool)),
            "has_broadband": pa.array(products >= 2),
            "has_tv": pa.array(products >= 3),
            "has_month_to_month_contract": pa.array(m2m),
            "days_to_nearest_contract_end": pa.array(
                np.maximum(contract_end - 7 * step, 0), mask=m2m
            ),
            "had_price_rise_in_window": pa.array(price_rise),
            "monthly_value": pc.cast(pa.array(monthly), money, safe=False),
            "data_gb_in_window": pa.array(data_gb),
            "voice_minutes_in_window": pa.array(rng.gamma(2, 80, n)),
            "usage_days_in_window": pa.array(rng.binomial(28, 0.85, n)),
            "roaming_subscription_days_in_window": pa.array(rng.poisson(0.3, n)),
            "data_gb_last_trend_days": pa.array(last_week),
            "data_gb_prior_trend_days": pa.array(data_gb * rng.beta(2, 6, n)),
            "tickets_opened_in_window": pa.array(unresolved + rng.poisson(0.1, n)),
            "open_tickets_at_as_of": pa.array(unresolved + rng.poisson(0.02, n)),
            "tickets_unresolved_over_48h_at_as_of": pa.array(unresolved),
            "network_tickets_in_window": pa.array(rng.poisson(0.03, n)),
            "complaints_in_window": pa.array(rng.poisson(0.02, n)),
            "outage_reports_in_window": pa.array(rng.poisson(0.02, n)),
            "cancel_requests_in_window": pa.array(rng.poisson(0.01, n)),
            "plan_change_views_in_window": pa.array(rng.poisson(0.1, n)),
            "events_in_window": pa.array(rng.poisson(6, n)),
            "failed_payments_in_window": pa.array(failed),
            "late_payments_in_window": pa.array(rng.poisson(0.05, n)),
            "invoiced_amount_in_window": pc.cast(
                pa.array(np.round(monthly * rng.uniform(0.9, 1.1, n), 2)), money, safe=False
            ),
            "home_cell_availability_pct": pa.array(100 - rng.gamma(1, 0.5, n), mask=~cell_measured),
            "home_cell_dropped_call_rate": pa.array(rng.beta(1, 200, n), mask=~cell_measured),
            "home_cell_outage_minutes": pa.array(rng.poisson(5, n)),
            "is_churned_in_label_window": pa.array(churned),
            "is_label_window_complete": pa.array(np.full(n, step < as_of_count - INCOMPLETE_AS_OF)),
            "label_window_days": pa.array(np.full(n, 30, dtype="int32")),
        }
        yield pa.RecordBatch.from_pydict(columns)


def _publish(customers: int, as_of_count: int) -> tuple[int, list[date]]:
    """Write the synthetic mart where dbt publishes it, in one commit; rows and dates."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from data_contracts.settings import Settings
    from ml.features import features_path

    batches = _batches(customers, as_of_count, seed=7)
    first = next(batches)
    rows = first.num_rows

    def every() -> Iterator[Any]:
        nonlocal rows
        yield first
        for batch in batches:
            rows += batch.num_rows
            yield batch

    reader = pa.RecordBatchReader.from_batches(first.schema, every())
    write_deltalake(
        features_path(Settings(home=HOME)), reader, mode="overwrite", schema_mode="overwrite"
    )
    dates = [LAST_AS_OF - timedelta(days=7 * k) for k in reversed(range(as_of_count))]
    return rows, dates


# ---------------------------------------------------------------- steps (child processes)


def _timed(owner: Any, name: str, phases: dict[str, float], label: str) -> None:
    """Wrap ``owner.name`` (a module's function or a class's method) so the seconds spent in
    it add up in ``phases[label]``. A label starting with spaces is part of the phase above
    it ("of which"). The callers import these names when they run, so the wrappers apply."""
    original: Callable[..., Any] = getattr(owner, name)
    phases[label] = 0.0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)


def _step_train() -> dict[str, Any]:
    import lightgbm

    import ml.evaluate
    import ml.jobs
    import ml.register
    import ml.train
    from data_contracts.settings import Settings

    phases: dict[str, float] = {}
    _timed(ml.jobs, "read_features", phases, "read gold (labelled rows)")
    _timed(ml.jobs, "time_split", phases, "time split")
    _timed(ml.jobs, "fit", phases, "fit (trees, early stopping, Platt)")
    _timed(ml.train, "customer_bucket", phases, "  of which, hashing customer ids (split, fit)")
    _timed(lightgbm, "train", phases, "  of which, lightgbm.train")
    _timed(ml.evaluate, "metrics", phases, "validation metrics")
    _timed(ml.register, "experiment_id", phases, "MLflow store + experiment")
    _timed(ml.evaluate, "calibration_plot", phases, "calibration plot")
    _timed(ml.evaluate, "importance_plot", phases, "importance plot")
    _timed(ml.register, "log_model", phases, "MLflow log_model")
    _timed(ml.register, "register_and_gate", phases, "register + gate")
    _timed(ml.jobs, "_append_evaluation", phases, "append churn_model_evaluations")
    started = time.perf_counter()
    result = ml.jobs.train(Settings(home=HOME))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": result.training_rows,
        "validation_rows": result.validation_rows,
        "roc_auc": result.metrics["roc_auc"],
        "trees": result.best_iteration,
        "promoted": result.promoted,
        "phases": phases,
    }


def _step_score() -> dict[str, Any]:
    import ml.jobs
    import ml.monitor
    import ml.predict
    import ml.recommend
    import ml.register
    import ml.train
    from data_contracts.settings import Settings

    phases: dict[str, float] = {}
    _timed(ml.register, "champion_version", phases, "MLflow store + champion alias")
    _timed(ml.register, "load", phases, "load champion")
    _timed(ml.jobs, "as_of_dates", phases, "list as_of dates")
    _timed(ml.jobs, "read_features", phases, "read gold (latest + previous as_of)")
    _timed(ml.predict, "score_frame", phases, "score_frame (predict + reasons)")
    _timed(ml.predict, "top_reasons", phases, "  of which, reasons")
    _timed(ml.train.ChurnModel, "contributions", phases, "    of which, TreeSHAP")
    _timed(ml.recommend, "recommend", phases, "recommend (next best action)")
    _timed(ml.predict, "replace_partition", phases, "Delta writes (3 tables)")
    _timed(ml.monitor, "feature_drift", phases, "feature drift (PSI)")
    _timed(ml.jobs, "_log_drift", phases, "MLflow drift run")
    started = time.perf_counter()
    result = ml.jobs.score(Settings(home=HOME))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": result.customers,
        "actions": result.actions,
        "phases": phases,
    }


def _step_baseline_train() -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from data_contracts.settings import Settings
    from ml.features import LABEL, categories_of, feature_set, model_matrix, read_features
    from ml.train import time_split

    split = time_split(read_features(Settings(home=HOME), labelled_only=True))
    features = feature_set(split.train.drop(columns=[LABEL]))
    x = model_matrix(split.train, features)
    y = split.train[LABEL].astype(int).to_numpy()
    started = time.perf_counter()
    booster = lgb.train(BASELINE_PARAMS, lgb.Dataset(x, y), num_boost_round=BASELINE_TREES)
    seconds = time.perf_counter() - started
    categories = categories_of(x)
    validation = model_matrix(split.validation, features, categories)
    auc = roc_auc_score(split.validation[LABEL].astype(int), booster.predict(validation))
    booster.save_model(str(HOME / "baseline-model.txt"))
    (HOME / "baseline-model.json").write_text(
        json.dumps({"features": [f.name for f in features], "categories": categories})
    )
    return {"seconds": seconds, "rows": len(x), "roc_auc": float(auc), "trees": BASELINE_TREES}


def _step_baseline_score(as_of: str) -> dict[str, Any]:
    import lightgbm as lgb

    from data_contracts.settings import Settings
    from ml.features import BY_NAME, model_matrix, read_features

    saved = json.loads((HOME / "baseline-model.json").read_text())
    booster = lgb.Booster(model_file=str(HOME / "baseline-model.txt"))
    frame = read_features(Settings(home=HOME), as_of=date.fromisoformat(as_of))
    x = model_matrix(frame, [BY_NAME[name] for name in saved["features"]], saved["categories"])
    started = time.perf_counter()
    booster.predict(x)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(x)}


def _child(step: str, *args: str) -> None:
    steps: dict[str, Callable[..., dict[str, Any]]] = {
        "train": _step_train,
        "score": _step_score,
        "baseline-train": _step_baseline_train,
        "baseline-score": _step_baseline_score,
    }
    print("BENCH_RESULT " + json.dumps(steps[step](*args)), flush=True)


# ---------------------------------------------------------------- the parent


def _measure(env: dict[str, str], step: str, *args: str) -> dict[str, Any]:
    """Run one step in a fresh process; its result plus process wall time and peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--step", step, *args]
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        sys.exit(f"step {step} failed (exit {proc.returncode}):\n{text[-5000:]}")
    line = next(x for x in text.splitlines() if x.startswith("BENCH_RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
    result["process_seconds"] = wall
    result["peak_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def _row(label: str, ours: float, base: float, fmt: str, ratio: bool = True) -> None:
    times = f"{'':>14}"
    if ratio and base:
        times = f"{ours / base:>13.{1 if ours >= base else 2}f}x"
    print(f"{label:34}{ours:>16{fmt}}{base:>16{fmt}}{times}")


def _section(title: str, ours: dict[str, Any], base: dict[str, Any]) -> None:
    print(title)
    _row("  rows", ours["rows"], base["rows"], ",.0f", ratio=False)
    _row("  wall time, step (s)", ours["seconds"], base["seconds"], ".1f")
    _row("  wall time, process (s)", ours["process_seconds"], base["process_seconds"], ".1f")
    _row("  rows / s, step", ours["rows"] / ours["seconds"], base["rows"] / base["seconds"], ",.0f")
    _row("  peak RSS, process (MB)", ours["peak_mb"], base["peak_mb"], ",.0f")


def _phases(title: str, result: dict[str, Any], rest_label: str = "everything else") -> None:
    phases: dict[str, float] = result["phases"]
    print(f"\n{title} ({result['seconds']:.1f} s):")
    for name, seconds in phases.items():
        print(f"  {name:44}{seconds:>8.1f} s{seconds / result['seconds']:>7.0%}")
    rest = result["seconds"] - sum(v for k, v in phases.items() if not k.startswith(" "))
    print(f"  {rest_label:44}{rest:>8.1f} s{rest / result['seconds']:>7.0%}")


def main() -> None:
    customers = int(os.environ.get("BENCH_CUSTOMERS", "1000000"))
    as_of_count = int(os.environ.get("BENCH_AS_OF", "7"))
    if as_of_count < INCOMPLETE_AS_OF + 2:
        sys.exit(f"BENCH_AS_OF must be at least {INCOMPLETE_AS_OF + 2} (two labelled as_of dates)")
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    env = {**os.environ, "CEMS_HOME": str(HOME)}
    print(
        f"Writing gold fct_churn_features: {customers:,} customers x {as_of_count} weekly "
        f"as_of dates into {HOME} ...",
        flush=True,
    )
    started = time.perf_counter()
    rows, dates = _publish(customers, as_of_count)
    print(f"  {rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)

    print("ml.jobs.train ...", flush=True)
    train = _measure(env, "train")
    print("ml.jobs.score ...", flush=True)
    score = _measure(env, "score")
    print(f"baseline: lightgbm.train, {BASELINE_TREES} trees ...", flush=True)
    base_train = _measure(env, "baseline-train")
    print("baseline: booster.predict ...", flush=True)
    base_score = _measure(env, "baseline-score", dates[-1].isoformat())

    print()
    print(f"{'':34}{'ours':>16}{'baseline':>16}{'ours/baseline':>14}")
    _section(
        f"train: ml.jobs.train vs lightgbm.train ({BASELINE_TREES} trees, lr 0.03, 15 leaves)",
        train,
        base_train,
    )
    _row("  trees used", train["trees"], base_train["trees"], ",.0f", ratio=False)
    _row("  validation ROC AUC", train["roc_auc"], base_train["roc_auc"], ".4f", ratio=False)
    _section("score: ml.jobs.score vs booster.predict", score, base_score)
    _phases(
        "where ml.jobs.train spends its time",
        train,
        "everything else (MLflow client, run, params)",
    )
    _phases("where ml.jobs.score spends its time", score)

    full_size = customers >= 1_000_000
    peak = max(train["peak_mb"], score["peak_mb"]) / 1024
    print(
        f"\n{customers:,} customers ({rows:,} feature rows; {train['rows']:,} training, "
        f"{train['validation_rows']:,} validation, {score['rows']:,} scored): train "
        f"{train['seconds'] / 60:.1f} min, score {score['seconds'] / 60:.1f} min, peak "
        f"{peak:.2f} GiB; validation ROC AUC {train['roc_auc']:.4f}"
        + ("" if full_size else " (reduced size: indicative only)")
    )
    if not os.environ.get("BENCH_KEEP_HOME"):
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--step":
        _child(sys.argv[2], *sys.argv[3:])
    else:
        main()
