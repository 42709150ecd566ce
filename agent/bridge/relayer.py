"""The bridge relayer: watches L1 deposits and L2 withdrawals, attests them with k-of-n relayer
keys, and submits them to the other chain; finalizes matured withdrawals on L1.

One process may hold several relayer keys (the devnet does); a production set runs one key
per operator. Deposits are relayed once they are ``confirmations`` deep on L1 (1 = mined).
Every relay is simulated first; a message the contract refuses (replayed, under-signed,
wrong source) is journaled as ``BridgeMessageRejected`` and nothing is sent.

Run it:
  * in-process: ``RelayerThread(config).start()`` / ``.stop()`` (the devnet does this), or
    ``await Relayer(config).run(stop_event)`` inside an event loop;
  * as a process: ``python -m agent.bridge.relayer --l1 URL --l2 URL --escrow 0x.. --l2-bridge
    0x..`` with keys in ``AGENT_BRIDGE_RELAYER_KEYS`` (comma-separated) and
    ``AGENT_BRIDGE_SUBMITTER_KEY`` (never on the command line: argv is world-readable).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from agent.bridge.abi import escrow_abi, l2_abi
from agent.bridge.chainio import Chain, Sent
from agent.bridge.errors import BridgeRejectedError
from agent.bridge.events import (
    STREAM_RELAYER,
    BridgeMessageRejected,
    BridgeMessageRelayed,
    BridgeWithdrawalFinalized,
    Direction,
)
from agent.bridge.messages import Deposit, Withdrawal, attest, l1_domain, l2_domain, pack
from agent.chain.rpc import RpcClient
from agent.errors import AgentError, ChainError, ValidationError
from agent.journal.base import ANY, Store
from agent.signing import LocalSigner

_PENDING = 1  # BridgeEscrow.WithdrawalStatus.Pending


@dataclass(frozen=True, slots=True)
class RelayerConfig:
    l1_url: str
    l2_url: str
    escrow: str
    l2_bridge: str
    relayer_keys: tuple[str, ...] = field(repr=False)
    submitter_key: str = field(repr=False)
    confirmations: int = 1  # L1 depth of a deposit before it is relayed (1 = mined)
    l2_confirmations: int = 1  # L2 depth of a withdrawal before it is proven on L1
    poll_interval: float = 0.05
    l1_from_block: int = 0
    l2_from_block: int = 0
    max_scan_blocks: int = 2_000
    finalize_withdrawals: bool = True
    journal_path: str | None = None

    def __post_init__(self) -> None:
        if self.confirmations < 1 or self.l2_confirmations < 1:
            raise ValidationError(
                "confirmations", "must be >= 1", "1 relays as soon as the event is mined"
            )
        if not self.relayer_keys:
            raise ValidationError(
                "relayer_keys", "is empty", "give at least `threshold` relayer keys"
            )
        if self.poll_interval <= 0:
            raise ValidationError("poll_interval", f"{self.poll_interval} is not positive")
        for f in ("escrow", "l2_bridge"):
            try:
                object.__setattr__(self, f, to_checksum_address(getattr(self, f)))
            except ValueError:
                raise ValidationError(f, f"{getattr(self, f)!r} is not an address") from None


def config_for(
    l1_url: str,
    l2_url: str,
    l1: Any,
    l2: Any,
    relayer_keys: tuple[str, ...],
    submitter_key: str,
    **kw: Any,
) -> RelayerConfig:
    """A relayer config from the two chains' manifests (scan from their deployment blocks)."""
    return RelayerConfig(
        l1_url=l1_url,
        l2_url=l2_url,
        escrow=l1.address("BridgeEscrow"),
        l2_bridge=l2.address("BridgeL2"),
        relayer_keys=tuple(relayer_keys),
        submitter_key=submitter_key,
        **{"l1_from_block": l1.block, "l2_from_block": l2.block, **kw},
    )


@dataclass
class RelayerStats:
    deposits_relayed: int = 0
    withdrawals_proven: int = 0
    withdrawals_finalized: int = 0
    rejected: int = 0
    l1_cursor: int = 0
    l2_cursor: int = 0
    last_error: str = ""


class Relayer:
    """One relayer loop over an L1/L2 pair. ``step()`` does one pass; ``run()`` loops."""

    def __init__(self, config: RelayerConfig, journal: Store | None = None) -> None:
        self.config = config
        self.signers = [LocalSigner(k) for k in config.relayer_keys]
        self.submitter = LocalSigner(config.submitter_key)
        self.journal = journal
        self.stats = RelayerStats(l1_cursor=config.l1_from_block, l2_cursor=config.l2_from_block)
        self._l1rpc = RpcClient(config.l1_url, name="L1")
        self._l2rpc = RpcClient(config.l2_url, name="L2")
        self.l1 = Chain(self._l1rpc, "L1")
        self.l2 = Chain(self._l2rpc, "L2")
        self._escrow = escrow_abi()
        self._bridge = l2_abi()
        self._pending_withdrawals: dict[str, int] = {}  # id -> releaseAt (unix seconds)

    async def connect(self) -> Relayer:
        await self._l1rpc.connect()
        await self._l2rpc.connect()
        return self

    async def close(self) -> None:
        await self._l1rpc.close()
        await self._l2rpc.close()

    async def __aenter__(self) -> Relayer:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the loop --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
                self.stats.last_error = ""
            except (AgentError, OSError) as e:  # transient: log and retry the same range
                self.stats.last_error = str(e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.poll_interval)

    async def step(self) -> None:
        await self._scan_deposits()
        await self._scan_withdrawals()
        if self.config.finalize_withdrawals:
            await self._finalize_matured()

    async def _scan_deposits(self) -> None:
        head = await self.l1.head()
        last = min(
            head - self.config.confirmations + 1, self.stats.l1_cursor + self.config.max_scan_blocks
        )
        start = self.stats.l1_cursor
        if last < start:
            return
        topics = [self._escrow.topic("DepositInitiated")]
        for log in await self.l1.logs(self.config.escrow, topics, start, last):
            ev = self._escrow.decode_log(log)
            assert ev is not None
            d = Deposit.from_event(self.l1.chain_id, self.config.escrow, ev.args)
            await self._relay_deposit_once(d, ev.tx_hash)
        # proven withdrawals (ours or another relayer's) are tracked here for finalization
        for log in await self.l1.logs(
            self.config.escrow, [self._escrow.topic("WithdrawalProven")], start, last
        ):
            ev = self._escrow.decode_log(log)
            assert ev is not None
            self._pending_withdrawals["0x" + ev.args["id"].hex()] = int(ev.args["releaseAt"])
        self.stats.l1_cursor = last + 1

    async def _scan_withdrawals(self) -> None:
        head = await self.l2.head()
        last = min(
            head - self.config.l2_confirmations + 1,
            self.stats.l2_cursor + self.config.max_scan_blocks,
        )
        start = self.stats.l2_cursor
        if last < start:
            return
        topics = [self._bridge.topic("WithdrawalInitiated")]
        for log in await self.l2.logs(self.config.l2_bridge, topics, start, last):
            ev = self._bridge.decode_log(log)
            assert ev is not None
            w = Withdrawal.from_event(self.l2.chain_id, self.config.l2_bridge, ev.args)
            await self._prove_withdrawal_once(w, ev.tx_hash)
        self.stats.l2_cursor = last + 1

    async def _relay_deposit_once(self, d: Deposit, source_tx: str) -> None:
        done = await self.l2.call(
            self.config.l2_bridge,
            self._bridge.encode("processed", d.struct_hash),
            self._bridge,
            context="processed",
        )
        if self._bridge.decode_output("processed", done):
            return  # relayed before (restart, or another relayer was faster)
        # journaled by relay_deposit; a refused message is skipped, never retried in a loop
        with contextlib.suppress(BridgeRejectedError):
            await self.relay_deposit(d, source_tx)

    async def _prove_withdrawal_once(self, w: Withdrawal, source_tx: str) -> None:
        st = await self.l1.call(
            self.config.escrow,
            self._escrow.encode("withdrawals", w.struct_hash),
            self._escrow,
            context="withdrawals",
        )
        if self._escrow.decode_output("withdrawals", st)[4] != 0:
            return
        with contextlib.suppress(BridgeRejectedError):
            await self.prove_withdrawal(w, source_tx)

    # --- single messages (public: the CLI and tests drive these) ---------------------------
    async def relay_deposit(
        self, d: Deposit, source_tx: str = "", *, signers: list[LocalSigner] | None = None
    ) -> Sent:
        """Attest ``d`` with ``signers`` (default: all this relayer's keys) and mint it on L2."""
        atts = attest(
            l2_domain(self.l2.chain_id, self.config.l2_bridge), d, signers or self.signers
        )
        data = self._bridge.encode("finalizeDeposit", d.as_tuple(), pack(atts))
        try:
            sent = await self.l2.send(
                self.submitter,
                self.config.l2_bridge,
                data,
                self._bridge,
                context=f"deposit {d.id_hex}",
            )
        except BridgeRejectedError as e:
            await self._reject(Direction.DEPOSIT, d.id_hex, e, source_tx)
            raise
        self.stats.deposits_relayed += 1
        await self._journal(
            BridgeMessageRelayed(
                Direction.DEPOSIT, d.id_hex, source_tx, sent.tx_hash, d.token, d.recipient,
                d.amount, tuple(a.signer for a in atts),
            )
        )  # fmt: skip
        return sent

    async def prove_withdrawal(
        self, w: Withdrawal, source_tx: str = "", *, signers: list[LocalSigner] | None = None
    ) -> Sent:
        atts = attest(l1_domain(self.l1.chain_id, self.config.escrow), w, signers or self.signers)
        data = self._escrow.encode("proveWithdrawal", w.as_tuple(), pack(atts))
        try:
            sent = await self.l1.send(
                self.submitter,
                self.config.escrow,
                data,
                self._escrow,
                context=f"withdrawal {w.id_hex}",
            )
        except BridgeRejectedError as e:
            await self._reject(Direction.WITHDRAWAL, w.id_hex, e, source_tx)
            raise
        self.stats.withdrawals_proven += 1
        for log in sent.logs:
            ev = self._escrow.decode_log(log)
            if ev is not None and ev.event == "WithdrawalProven":
                self._pending_withdrawals[w.id_hex] = int(ev.args["releaseAt"])
        await self._journal(
            BridgeMessageRelayed(
                Direction.WITHDRAWAL, w.id_hex, source_tx, sent.tx_hash, w.token, w.recipient,
                w.amount, tuple(a.signer for a in atts),
            )
        )  # fmt: skip
        return sent

    async def _finalize_matured(self) -> None:
        if not self._pending_withdrawals:
            return
        now = await self.l1.timestamp()
        for wid, release_at in list(self._pending_withdrawals.items()):
            if release_at > now:
                continue
            raw = await self.l1.call(
                self.config.escrow,
                self._escrow.encode("withdrawals", bytes.fromhex(wid[2:])),
                self._escrow,
                context="withdrawals",
            )
            _token, recipient, amount, _rel, status = self._escrow.decode_output("withdrawals", raw)
            if status != _PENDING:
                del self._pending_withdrawals[wid]
                continue
            data = self._escrow.encode("finalizeWithdrawal", bytes.fromhex(wid[2:]))
            try:
                sent = await self.l1.send(
                    self.submitter,
                    self.config.escrow,
                    data,
                    self._escrow,
                    context=f"finalize {wid}",
                )
            except BridgeRejectedError as e:
                if e.code != "BRIDGE_CHALLENGE_PERIOD":  # too early by a block: retry later
                    del self._pending_withdrawals[wid]
                    await self._reject(Direction.WITHDRAWAL, wid, e, "")
                continue
            del self._pending_withdrawals[wid]
            self.stats.withdrawals_finalized += 1
            await self._journal(
                BridgeWithdrawalFinalized(wid, sent.tx_hash, to_checksum_address(recipient), amount)
            )

    async def _reject(self, direction: Direction, mid: str, e: AgentError, source_tx: str) -> None:
        self.stats.rejected += 1
        await self._journal(BridgeMessageRejected(direction, mid, e.code, e.message, source_tx))

    async def _journal(self, event: Any) -> None:
        if self.journal is not None:
            await self.journal.append_async(STREAM_RELAYER, ANY, [event])


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


# --- `python -m agent.bridge.relayer` ---------------------------------------------------------
ENV_RELAYER_KEYS = "AGENT_BRIDGE_RELAYER_KEYS"
ENV_SUBMITTER_KEY = "AGENT_BRIDGE_SUBMITTER_KEY"
READY_LINE = "bridge relayer ready"


def config_from_args(
    argv: list[str] | None = None, env: dict[str, str] | None = None
) -> RelayerConfig:
    import argparse
    import os

    p = argparse.ArgumentParser(
        prog="python -m agent.bridge.relayer", description=__doc__.split("\n")[0]
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
    a = p.parse_args(argv)
    e = os.environ if env is None else env
    keys = tuple(k.strip() for k in e.get(ENV_RELAYER_KEYS, "").split(",") if k.strip())
    if not keys:
        raise ValidationError(ENV_RELAYER_KEYS, "is not set", "export comma-separated relayer keys")
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
            print(READY_LINE, flush=True)
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
