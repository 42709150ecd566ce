"""What both stores' write paths share: a writer thread, group commit, and event loops
that commit their own large groups in place.

Appends from threads (``append``) are queued to the writer thread, which commits what it
finds queued as one group. Appends an event loop makes in one turn form one
:class:`LoopBatch`: a small one goes to the writer (a lone append never blocks its loop
for a commit); one of ``inline_min`` or more appends means the loop is saturated, and it
commits that group on its own thread (``_commit_inline``), which saves the hand-off between
threads (bench: journal.append vs journal.append_threaded). While any group of a loop is
with the writer, that loop's later groups follow it there: journal order = call order.

A store supplies the commit itself: ``_commit_group(reqs, retry)`` (on the writer thread)
and ``_commit_inline(batch)`` (on the loop's thread), and ``_label`` for messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from agent.errors import JournalError
from agent.journal.base import AppendRequest, AppendResult, LoopBatch, encode_request, resolve

_STOP = object()


@dataclass(slots=True)
class Retry:
    """A loop's group its in-place commit could not finish (e.g. a lost connection): the
    writer commits it alone, before anything that loop queued after it. ``state`` is the
    store's (e.g. a COMMIT in doubt, to look up before writing the group again)."""

    batch: LoopBatch
    state: Any = None


class ThreadedStore:
    """The write plumbing of :class:`agent.journal.sqlite.SqliteJournal` and
    :class:`agent.journal.postgres.PostgresJournal`; call ``_init_writer`` in ``__init__``."""

    registry: Any
    read_only: bool = False
    _thread_name = "journal-writer"

    def _init_writer(self, max_batch_events: int, loop_chunk: int, inline_min: int) -> None:
        self._max_batch = max_batch_events
        self._loop_chunk = loop_chunk
        self._inline_min = inline_min if inline_min > 0 else 1 << 62
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._wlock = threading.Lock()
        self._loop_batches: dict[asyncio.AbstractEventLoop, LoopBatch] = {}
        self.commits = 0  # transactions committed by this instance (group-commit telemetry)
        self.inline_commits = 0  # of which committed on the appending event loop's thread
        # one write connection, used by whoever holds _txn: the writer thread, or an event
        # loop committing its own large group in place (see _flush_loop_batch)
        self._txn = threading.Lock()
        # groups each loop handed to the writer and has not had answered yet: while any is
        # out, that loop's next group queues behind it (journal order = call order)
        self._handed: dict[asyncio.AbstractEventLoop, int] = {}
        self._closed = False

    # --- what a store provides ----------------------------------------------------------------
    def _label(self) -> str:  # pragma: no cover - every store defines it
        """What the journal is called in messages, e.g. "journal .state/journal.sqlite"."""
        raise NotImplementedError

    def _commit_group(
        self, reqs: list[AppendRequest], retry: Any = None
    ) -> list[AppendResult | Exception]:  # pragma: no cover - every store defines it
        """On the writer thread: commit one group, one outcome per request."""
        raise NotImplementedError

    def _commit_inline(self, batch: LoopBatch) -> None:  # pragma: no cover
        """On the loop's thread: commit ``batch`` and resolve it (or hand it over)."""
        raise NotImplementedError

    # --- appending ------------------------------------------------------------------------------
    def _encode(self, stream: str, expected: int, events: Sequence[Any]) -> AppendRequest:
        if self._closed:
            raise JournalError(f"{self._label()} is closed")
        if self.read_only:
            raise JournalError(f"{self._label()} was opened read-only")
        return encode_request(self.registry, stream, expected, events)

    def _submit(self, item: Any) -> None:
        if self._writer is None:
            with self._wlock:
                if self._writer is None:
                    t = threading.Thread(
                        target=self._write_loop, name=self._thread_name, daemon=True
                    )
                    t.start()
                    self._writer = t
        self._q.put(item)

    def append(self, stream: str, expected_version: int, events: Sequence[Any]) -> AppendResult:
        """Append ``events`` to ``stream``; returns once they are durable."""
        req = self._encode(stream, expected_version, events)
        req.future = Future()
        self._submit(req)
        return req.future.result()

    def append_async(
        self, stream: str, expected_version: int, events: Sequence[Any]
    ) -> asyncio.Future[AppendResult]:
        """Same as ``append``, awaited: ``await journal.append_async(...)``. Appends made in
        the same loop turn share one commit. A plain function returning the future (not a
        coroutine): at 50k appends/s a coroutine frame per append is measurable. Bad
        arguments raise here, at the call, and nothing is queued."""
        req = self._encode(stream, expected_version, events)
        loop = asyncio.get_running_loop()
        req.future = fut = loop.create_future()
        batch = self._loop_batches.get(loop)
        if batch is None:
            batch = self._loop_batches[loop] = LoopBatch(loop, [], 0)
            # runs after every task already ready this turn, so their appends join the batch
            loop.call_soon(self._flush_loop_batch, loop)
        batch.requests.append(req)
        batch.events += len(req.encoded)
        if len(batch.requests) >= self._loop_chunk:
            # hand over a full chunk now: the writer's commit (GIL released while it waits)
            # then overlaps with this loop encoding the next chunk
            self._flush_loop_batch(loop)
        return fut

    def _flush_loop_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._loop_batches.pop(loop, None)
        if batch is None:
            return
        if self._closed:  # closed within this loop turn: the writer is gone
            self._refuse_closed(batch)
            return
        if len(batch.requests) >= self._inline_min and not self._handed.get(loop):
            # A group this large means the loop makes appends faster than a commit takes:
            # it is saturated, and the thread hand-off (the writer waking on another core,
            # the requests' objects crossing between the cores, the answer waking the loop;
            # on PostgreSQL, each of the commit's waits on the server ending in re-taking
            # the GIL from this busy loop, up to a switch interval of 5 ms) costs more than
            # the commit blocks it. Small groups keep the writer.
            self._commit_inline(batch)
            return
        self._hand_over(batch)

    def _hand_over(self, item: LoopBatch | Retry) -> None:
        loop = item.loop if type(item) is LoopBatch else item.batch.loop
        self._handed[loop] = self._handed.get(loop, 0) + 1
        self._submit(item)

    def _refuse_closed(self, batch: LoopBatch) -> None:
        err = JournalError(f"{self._label()} was closed before these appends were written")
        resolve(batch.requests, [err] * len(batch.requests))

    # --- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        carry: Any = None
        while True:
            first = carry if carry is not None else self._q.get()
            carry = None
            if first is _STOP:
                break
            if type(first) is Retry:  # a group an event loop could not commit: alone, first
                reqs = first.batch.requests
                self._answer([first.batch], iter(self._commit_group(reqs, first.state)))
                continue
            items = [first]
            n = _size(first)
            while n < self._max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or type(nxt) is Retry:
                    carry = nxt
                    break
                items.append(nxt)
                n += _size(nxt)
            reqs = [r for it in items for r in (it.requests if type(it) is LoopBatch else (it,))]
            self._answer(items, iter(self._commit_group(reqs)))

    def _resolve_group(self, batch: LoopBatch, outcomes: list[AppendResult | Exception]) -> None:
        """On the batch's loop: the writer answered one of that loop's groups."""
        left = self._handed.get(batch.loop, 0) - 1
        if left > 0:
            self._handed[batch.loop] = left
        else:
            self._handed.pop(batch.loop, None)
        resolve(batch.requests, outcomes)

    def _answer(self, items: list[Any], outcomes: Iterator[AppendResult | Exception]) -> None:
        for it in items:
            if type(it) is LoopBatch:
                res = [next(outcomes) for _ in it.requests]
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    it.loop.call_soon_threadsafe(self._resolve_group, it, res)
            else:
                out = next(outcomes)
                if isinstance(out, Exception):
                    it.future.set_exception(out)
                else:
                    it.future.set_result(out)

    def _stop_writer(self) -> None:
        """Mark closed and let the writer finish what is queued (close() calls it first)."""
        self._closed = True
        if self._writer is not None:
            self._q.put(_STOP)
            self._writer.join()


def _size(item: Any) -> int:
    return item.events if type(item) is LoopBatch else len(item.encoded)
