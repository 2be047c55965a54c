"""``cems serve``: run the API with uvicorn (HTTPS when given a certificate)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from api.cli.errors import UserError, friendly


def app_factory() -> object:
    """What uvicorn's workers import (``api.cli.serve:app_factory``)."""
    from api.main import create_app

    return create_app()


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
