"""Shared CLI plumbing: run a command, turn the agent's errors into one line and an exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import typer
from rich.console import Console

from agent.errors import AgentError

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

EXIT_INPUT = 2  # bad input (argparse-style)
EXIT_FAILED = 1


def fail(message: str, code: int = EXIT_INPUT) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run(fn: Callable[[], T]) -> T:
    """Call ``fn``; an AgentError becomes one red line on stderr and a non-zero exit (its
    revert data, if any, decoded by name). Anything else is a bug of ours: one line too,
    with its type (AGENT_DEBUG=1 shows the traceback)."""
    from agent.errors import ValidationError

    try:
        return fn()
    except ValidationError as e:
        fail(str(e), EXIT_INPUT)
    except AgentError as e:
        fail(_with_revert(e), EXIT_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as e:
        if os.environ.get("AGENT_DEBUG"):
            raise
        fail(f"[INTERNAL_ERROR] {type(e).__name__}: {e} (a bug: AGENT_DEBUG=1 shows where)", 1)
    raise AssertionError("unreachable")


def _with_revert(e: AgentError) -> str:
    """The error's line, with raw revert data (``custom error 0x95e83831``, ``GS026``)
    replaced by its decoded name and arguments."""
    from agent.wallet.reverts import explain_error

    return explain_error(e)


def parse_address(field: str, value: str) -> str:
    """A 0x address for ``field`` (EIP-55 checked when mixed case), checksummed; else one
    line naming the field."""
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    from agent.errors import ValidationError

    if not isinstance(value, str) or not is_hex_address(value):
        raise ValidationError(field, f"{value!r} is not an address", "pass 0x + 40 hex digits")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise ValidationError(
            field,
            f"{value} has a wrong EIP-55 checksum (a typo?)",
            f"check it; the checksummed form of these digits is {to_checksum_address(value)}",
        )
    return to_checksum_address(value)


def parse_decimal(field: str, value: str, example: str, *, positive: bool = True) -> Decimal:
    """A finite Decimal for ``field`` (> 0 when ``positive``); else one line naming it."""
    from agent.errors import ValidationError

    try:
        d = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise ValidationError(
            field, f"{value!r} is not a number", f"e.g. {field} {example}"
        ) from None
    if not d.is_finite() or (positive and d <= 0):
        raise ValidationError(
            field, f"{value} must be a positive number", f"e.g. {field} {example}"
        )
    return d


def run_async(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return run(lambda: asyncio.run(coro_fn()))  # type: ignore[arg-type]
