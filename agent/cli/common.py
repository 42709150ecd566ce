"""Shared CLI plumbing: run a command, turn the agent's errors into one line and an exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
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
    """Call ``fn``; an AgentError becomes one red line on stderr and a non-zero exit."""
    from agent.errors import ValidationError

    try:
        return fn()
    except ValidationError as e:
        fail(str(e), EXIT_INPUT)
    except AgentError as e:
        fail(str(e), EXIT_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    raise AssertionError("unreachable")


def run_async(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return run(lambda: asyncio.run(coro_fn()))  # type: ignore[arg-type]
