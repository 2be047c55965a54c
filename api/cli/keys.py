"""``cems keys``: encryption keys of the operational database (status, rotation)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli.errors import UserError, friendly

app = typer.Typer(help="Encryption at rest: key status and rotation.")


@app.command("status")
@friendly
def status() -> None:
    """List the data keys, the key-encryption key wrapping each, and the values each holds."""
    from api.crypto.rotation import status as key_status
    from data_contracts.settings import get_settings

    typer.echo(json.dumps(key_status(get_settings()), indent=2))


@app.command("rotate")
@friendly
def rotate(
    reencrypt: Annotated[
        bool,
        typer.Option(
            "--reencrypt/--no-reencrypt",
            help="Also rewrite every encrypted value under the new data key and retire the "
            "old ones (otherwise only new writes use it).",
        ),
    ] = False,
) -> None:
    """Make a new key-encryption key, rewrap every data key with it, start a new data key."""
    from api.crypto.providers import KeyProviderError
    from api.crypto.rotation import rotate as rotate_keys
    from data_contracts.settings import get_settings

    try:
        result = rotate_keys(get_settings(), reencrypt=reencrypt)
    except KeyProviderError as exc:
        raise UserError(f"{exc}.") from None
    typer.echo(json.dumps(result.to_dict(), indent=2))
