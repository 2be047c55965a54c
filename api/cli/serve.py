"""``cems serve``: run the API with uvicorn (HTTPS when given a certificate)."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from api.cli.errors import UserError, friendly


def app_factory() -> object:
    """What uvicorn's workers import (``api.cli.serve:app_factory``)."""
    from api.main import create_app
    from data_contracts.settings import get_settings

    app = create_app()
    tune_collector(get_settings().api_gc_young_threshold)
    return app


def tune_collector(young_threshold: int) -> None:
    """Fit Python's cyclic garbage collector to a server worker (0: leave it as it is).

    With Python's defaults (a young collection every 700 allocations), the objects of the
    requests in flight outlive two young collections and are promoted to the oldest
    generation, where they die; a full collection then runs every second or two, and each
    walks every object the worker holds (about 215,000: modules, routes, schemas) for
    100-140 ms. Under the bench's load that was 15 % of a worker's CPU and most of its p99
    (docs/CAPACITY.md). So the objects built at start-up are frozen out of the collector
    (it never walks them again), and the youngest generation holds many requests' worth of
    allocations, so a request's objects die young. Only the process serving requests does
    this: tests and the CLI keep Python's defaults.
    """
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)


@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key of the certificate.")
    ] = None,
) -> None:
    """Serve the CEMS API (customer 360, billing, usage, sign-in)."""
    import uvicorn

    from api.db.migrate import ensure_schema
    from data_contracts.settings import get_settings

    if (tls_cert is None) != (tls_key is None):
        raise UserError("give both --tls-cert and --tls-key, or neither.")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise UserError(f"{path} does not exist.")
    settings = get_settings()
    if settings.environment == "production" and tls_cert is None:
        raise UserError(
            "production serves HTTPS only: pass --tls-cert and --tls-key "
            "(or terminate TLS in front and set CEMS_ENVIRONMENT accordingly)."
        )
    ensure_schema(settings)  # once, before the workers start
    if workers > 1:
        # Every worker writes its metrics here; /metrics merges them.
        metrics_dir = settings.home / "run" / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    scheme = "https" if tls_cert else "http"
    typer.echo(f"CEMS API on {scheme}://{host}:{port} (docs at {scheme}://{host}:{port}/docs)")
    uvicorn.run(
        "api.cli.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="warning",
        access_log=False,  # the API logs one JSON line per request itself
        proxy_headers=True,
    )
