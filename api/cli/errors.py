"""How the CLI reports bad input: one sentence, exit code 2, no traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from data_contracts.loader import ContractError

P = ParamSpec("P")
R = TypeVar("R")

USAGE_EXIT_CODE = 2
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """Bad input from the person at the keyboard; the message says what to do."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into one readable sentence and exit code 2."""
    try:
        yield
    except (UserError, ContractError) as exc:
        stderr.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(USAGE_EXIT_CODE) from None
    except KeyboardInterrupt:
        stderr.print("[bold red]Interrupted:[/] nothing was published; run the command again.")
        raise typer.Exit(130) from None


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`user_errors` for command functions."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with user_errors():
            return func(*args, **kwargs)

    return wrapper
