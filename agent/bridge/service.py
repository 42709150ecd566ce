"""Running the relayer: on its own thread (``RelayerThread``, for synchronous owners) or as a
process (``python -m agent.bridge.service``, what agent.bridge.process starts).

The process prints ``bridge relayer ready <address> <exchange URL>`` once both chains answered
and its exchange listens; keys come from the environment, never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from agent.bridge.relayer import Relayer, RelayerConfig, RelayerStats
from agent.errors import AgentError, ChainError, ValidationError
from agent.journal.base import Store


class RelayerThread:
    """The relayer on its own thread and event loop, for synchronous owners (the devnet).

    ``start()`` returns once both chains answered (or raises what went wrong); ``stop()``
    ends the loop and joins the thread."""

    def __init__(self, config: RelayerConfig, *, journal: Store | None = None) -> None:
        self.config = config
        self._journal = journal
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.relayer: Relayer | None = None

    @property
    def stats(self) -> RelayerStats:
        return self.relayer.stats if self.relayer else RelayerStats()

    def start(self, timeout: float = 30.0) -> RelayerThread:
        if self._thread is not None:
            return self
        journal = self._journal
        if journal is None and self.config.journal_path:
            from agent.journal import SqliteJournal

            journal = self._journal = SqliteJournal(Path(self.config.journal_path))
        self._thread = threading.Thread(
            target=self._main, args=(journal,), name="bridge-relayer", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ChainError(f"bridge relayer did not connect within {timeout}s")
        if self._error is not None:
            self._thread.join(5)
            self._thread = None
            raise self._error
        return self

    def _main(self, journal: Store | None) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.relayer = await Relayer(self.config, journal).connect()
            except BaseException as e:
                self._error = e
                self._ready.set()
                return
            self._ready.set()
            try:
                await self.relayer.run(self._stop)
            finally:
                await self.relayer.close()

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        t, self._thread = self._thread, None
        if t is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                self._loop.call_soon_threadsafe(self._stop.set)
        t.join(timeout)

    def __enter__(self) -> RelayerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- `python -m agent.bridge.service` ---------------------------------------------------------
ENV_RELAYER_KEYS = "AGENT_BRIDGE_RELAYER_KEYS"
ENV_SUBMITTER_KEY = "AGENT_BRIDGE_SUBMITTER_KEY"
READY_LINE = "bridge relayer ready"


def config_from_args(
    argv: list[str] | None = None, env: dict[str, str] | None = None
) -> RelayerConfig:
    import argparse
    import os

    p = argparse.ArgumentParser(
        prog="python -m agent.bridge.service", description="one bridge relayer"
    )
    p.add_argument("--l1", required=True, help="L1 RPC URL")
    p.add_argument("--l2", required=True, help="L2 RPC URL")
    p.add_argument("--escrow", required=True, help="BridgeEscrow address on L1")
    p.add_argument("--l2-bridge", required=True, help="BridgeL2 address on L2")
    p.add_argument("--confirmations", type=int, default=1, help="L1 depth before relaying")
    p.add_argument("--l2-confirmations", type=int, default=1)
    p.add_argument("--poll-interval", type=float, default=0.05, help="seconds")
    p.add_argument("--l1-from-block", type=int, default=0)
    p.add_argument("--l2-from-block", type=int, default=0)
    p.add_argument("--journal", default=None, help="SQLite journal path")
    p.add_argument("--listen", default=None, help="host:port of this relayer's exchange (0: any)")
    p.add_argument("--peer", action="append", default=[], help="another relayer's exchange URL")
    p.add_argument("--peers-dir", default=None, help="directory where relayers announce URLs")
    p.add_argument("--takeover-after", type=float, default=3.0, help="seconds (non-leaders)")
    a = p.parse_args(argv)
    e = os.environ if env is None else env
    keys = tuple(k.strip() for k in e.get(ENV_RELAYER_KEYS, "").split(",") if k.strip())
    if not keys:
        raise ValidationError(ENV_RELAYER_KEYS, "is not set", "export this relayer's key")
    submitter = e.get(ENV_SUBMITTER_KEY) or keys[0]
    return RelayerConfig(
        l1_url=a.l1,
        l2_url=a.l2,
        escrow=a.escrow,
        l2_bridge=a.l2_bridge,
        relayer_keys=keys,
        submitter_key=submitter,
        confirmations=a.confirmations,
        l2_confirmations=a.l2_confirmations,
        poll_interval=a.poll_interval,
        l1_from_block=a.l1_from_block,
        l2_from_block=a.l2_from_block,
        journal_path=a.journal,
        listen=a.listen,
        peers=tuple(a.peer),
        peers_dir=a.peers_dir,
        takeover_after=a.takeover_after,
    )


def main(argv: list[str] | None = None) -> int:
    import signal
    import sys

    try:
        config = config_from_args(argv)
    except AgentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    async def run() -> None:
        journal = None
        if config.journal_path:
            from agent.journal import SqliteJournal

            journal = SqliteJournal(Path(config.journal_path))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Relayer(config, journal) as relayer:
            print(f"{READY_LINE} {relayer.address} {relayer.url or '-'}", flush=True)
            await relayer.run(stop)
            print(f"bridge relayer stopped: {relayer.stats}", flush=True)
        if journal is not None:
            journal.close()

    try:
        asyncio.run(run())
    except AgentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
