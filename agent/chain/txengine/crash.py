"""Crash-point hook for the kill -9 fault tests.

``AGENT_CRASH_AT=<point>`` (optionally ``AGENT_CRASH_AFTER=<k>``: on the k-th time the point is
reached, default 1) makes the process SIGKILL itself at that boundary: no ``finally``, no
atexit, no flush; exactly what a power cut or OOM kill looks like to the journal and the chain.
Read once at import, so the hot path pays one comparison.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_sign", "after_journal_append", "after_broadcast", "before_receipt_recorded")

_TARGET = os.environ.get("AGENT_CRASH_AT") or None
_AFTER = int(os.environ.get("AGENT_CRASH_AFTER", "1") or 1)
_hits = 0

if _TARGET is not None and _TARGET not in POINTS:
    raise SystemExit(
        f"AGENT_CRASH_AT={_TARGET!r} is not a crash point; use one of {', '.join(POINTS)}"
    )


def crash_point(name: str) -> None:
    global _hits
    if name != _TARGET:
        return
    _hits += 1
    if _hits >= _AFTER:
        os.kill(os.getpid(), signal.SIGKILL)
