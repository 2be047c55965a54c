"""Locust load for bench_capacity.py (run by it; every knob comes from the environment).

BENCH_MODE=mix: each request is, at random, 70 % a support agent's customer 360 of a random
customer among all BENCH_CUSTOMERS, 20 % a signed-in customer's own profile (/api/v1/me) and
10 % that customer's billing transactions. BENCH_MODE=health: GET /health only.

BENCH_USER_RATE=0: closed loop, no think time (each user sends its next request as soon as
the answer arrives); >0: each user paces itself to that many requests per second.

Only requests that complete inside the measurement window (BENCH_WARMUP seconds after the
test starts, for BENCH_DURATION seconds) are recorded; the latencies and error counts go to
BENCH_OUT as JSON, and the window's start and end are marked in BENCH_OUT + ".start/.end" so
the bench can measure CPU over exactly that window.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, constant_throughput, events, task

MODE = os.environ.get("BENCH_MODE", "mix")
RATE = float(os.environ.get("BENCH_USER_RATE", "0"))
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "1"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "8"))
DURATION = float(os.environ.get("BENCH_DURATION", "30"))
OUT = Path(os.environ.get("BENCH_OUT", "/tmp/bench-capacity-samples.json"))
TOKENS: dict[str, list[Any]] = (
    json.loads(Path(os.environ["BENCH_TOKENS"]).read_text())
    if os.environ.get("BENCH_TOKENS")
    else {"agents": [], "customers": []}
)
AGENTS = [{"Authorization": f"Bearer {t}"} for t in TOKENS["agents"]]
SELF = [(c, {"Authorization": f"Bearer {t}"}) for c, t in TOKENS["customers"]]

_window = {"start": float("inf"), "end": float("inf")}
_latency: dict[str, list[float]] = {}
_errors: dict[str, int] = {}
_error_kinds: dict[str, int] = {}


def _mark(name: str) -> None:
    _window[name] = time.time()
    Path(f"{OUT}.{name}").write_text(str(_window[name]))


@events.test_start.add_listener
def _on_start(**_kw: Any) -> None:
    gevent.spawn_later(WARMUP, _mark, "start")
    gevent.spawn_later(WARMUP + DURATION, _mark, "end")


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: Any, **_kw: Any) -> None:
    now = time.time()
    if not _window["start"] <= now < _window["end"]:
        return
    if exception is not None:
        _errors[name] = _errors.get(name, 0) + 1
        kind = type(exception).__name__ + ": " + str(exception)[:80]
        _error_kinds[kind] = _error_kinds.get(kind, 0) + 1
    else:
        _latency.setdefault(name, []).append(response_time)


@events.quitting.add_listener
def _on_quit(**_kw: Any) -> None:
    OUT.write_text(
        json.dumps(
            {
                "seconds": DURATION,
                "latency_ms": _latency,
                "errors": _errors,
                "error_kinds": _error_kinds,
            }
        )
    )


class ApiUser(FastHttpUser):
    wait_time = constant(0) if RATE <= 0 else constant_throughput(RATE)
    network_timeout = 60.0
    connection_timeout = 60.0

    @task
    def request(self) -> None:
        if MODE == "health":
            self.client.get("/health", name="health")
            return
        draw = random.random()
        if draw < 0.7:
            customer = f"C{random.randrange(CUSTOMERS):08d}"
            self.client.get(
                f"/api/v1/customers/{customer}/360",
                headers=random.choice(AGENTS),
                name="customer-360",
            )
        elif draw < 0.9:
            _own, headers = random.choice(SELF)
            self.client.get("/api/v1/me", headers=headers, name="me")
        else:
            own, headers = random.choice(SELF)
            self.client.get(
                f"/api/v1/customers/{own}/transactions",
                headers=headers,
                name="me-transactions",
            )
