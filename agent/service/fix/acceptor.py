"""The FIX acceptor: a TCP server, one ``Connection`` per client, sessions persisted in the
journal, application messages into an ``OrderEntry``, updates back as ExecutionReports.

Updates the client did not cause (fills, cancels by the agent, a venue's rejection) are
found by following the journal every ``poll_s`` while the session is logged on; after a
reconnect or a restart the session continues from the last update it reported (kept with
each sent ExecutionReport), so none is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from agent.errors import AgentError
from agent.journal.base import Store
from agent.service.fix.app import APP_TYPES, FixApp
from agent.service.fix.orderentry import OrderEntry
from agent.service.fix.session import Connection, SessionConfig
from agent.service.fix.store import SessionStore

log = logging.getLogger("agent.fix")


class FixAcceptor:
    def __init__(
        self,
        journal: Store,
        entry: OrderEntry,
        sessions: Sequence[SessionConfig],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_s: float = 0.05,
    ) -> None:
        self.journal = journal
        self.app = FixApp(entry)
        self.host, self.port = host, port
        self.poll_s = poll_s
        self._sessions = {
            (c.sender_comp_id, c.target_comp_id): (c, SessionStore(journal, c.key))
            for c in sessions
        }
        self._server: asyncio.Server | None = None
        self._active: dict[str, Connection] = {}  # one live connection per session
        self._conns: set[Connection] = set()
        self._serving: set[asyncio.Task[None]] = set()  # one per connection
        self._tasks: set[asyncio.Task[None]] = set()  # followers of logged-on sessions
        self._wake: set[asyncio.Event] = set()  # one per follower: notify() skips its wait

    def sessions(self) -> list[SessionStore]:
        return [store for _, store in self._sessions.values()]

    async def start(self) -> int:
        """Listen; returns the port (``port=0`` picks a free one)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("fix: listening on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection; a message being processed finishes
        first (its journal appends complete), so nothing is left half-done."""
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        for c in list(self._conns):
            c.writer.close()
        if self._serving:
            await asyncio.wait(list(self._serving), timeout=10)
        for _, store in self._sessions.values():
            await store.settle()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, self._sessions, self.app.handle, APP_TYPES)
        conn.on_logon = self._logged_on
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        self._conns.add(conn)
        try:
            await conn.run()
        finally:
            self._serving.discard(task)
            self._conns.discard(conn)
            if conn.cfg is not None and self._active.get(conn.cfg.key) is conn:
                del self._active[conn.cfg.key]

    def _logged_on(self, conn: Connection) -> None:
        assert conn.cfg is not None
        old = self._active.get(conn.cfg.key)
        if old is not None and old is not conn:  # a second logon takes the session over
            old.writer.close()
        self._active[conn.cfg.key] = conn
        t = asyncio.get_running_loop().create_task(self._follow(conn))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def notify(self) -> None:
        """Something was journaled in this process (a fill): report it now, not at the next
        poll. Other processes' events are still found by polling."""
        for ev in self._wake:
            ev.set()

    async def _follow(self, conn: Connection) -> None:
        """Report what happened to the client's orders while nobody asked (fills...)."""
        wake = asyncio.Event()
        self._wake.add(wake)
        try:
            while not conn.writer.is_closing():
                try:
                    await self.app.flush(conn)
                except (ConnectionError, RuntimeError):
                    return
                except AgentError as e:  # the journal is unreachable: try again in a while
                    log.warning("fix: cannot report updates yet: %s", e)
                    await asyncio.sleep(1.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await wake.wait()
                wake.clear()
        finally:
            self._wake.discard(wake)
