"""The bridge relayer: watches L1 deposits and L2 withdrawals, attests them, gathers k-of-n
relayer signatures, and submits them to the other chain; finalizes matured withdrawals on L1.

A production set runs n relayers, one key each, as separate processes (``RelayerSet`` in
agent.bridge.process starts them on the devnet). Each relayer signs only what it saw itself
on the source chain, ``confirmations`` deep (1 = mined), and gathers the other signatures from
its peers over a small local HTTP exchange (agent.bridge.exchange), checking each one before
counting it. Once it holds ``threshold`` signatures, the relayer with the lowest address among
the signers submits at once; the others wait ``takeover_after`` seconds and submit only if
the message is still not done (the leader died). A relayer holding several keys (tests,
``RelayerThread``) reaches quorum on its own.

Every submission is simulated first; a message the contract refuses (replayed, under-signed,
wrong source) is journaled as ``BridgeMessageRejected``, nothing is sent, and it is never
retried in a loop. Too few signatures is not a refusal: the message waits for its quorum.

Run it:
  * in-process: ``agent.bridge.service.RelayerThread(config).start()`` / ``.stop()``, or
    ``await Relayer(config).run(stop_event)`` inside an event loop;
  * as a process: ``python -m agent.bridge.service --l1 URL --l2 URL --escrow 0x.. --l2-bridge
    0x.. --listen 127.0.0.1:0 --peers-dir DIR`` with its key in ``AGENT_BRIDGE_RELAYER_KEYS``
    (never on the command line: argv is world-readable).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from agent.bridge.abi import ContractAbi, escrow_abi, l2_abi
from agent.bridge.chainio import Chain, Sent
from agent.bridge.errors import BridgeRejectedError
from agent.bridge.events import (
    STREAM_RELAYER,
    BridgeMessageRejected,
    BridgeMessageRelayed,
    BridgeWithdrawalFinalized,
    Direction,
)
from agent.bridge.exchange import AttestationBook, ExchangeServer, Peers
from agent.bridge.messages import (
    Attestation,
    Deposit,
    Domain,
    Withdrawal,
    _Message,
    attest,
    l1_domain,
    l2_domain,
    pack,
    recover_signers,
)
from agent.chain.rpc import RpcClient
from agent.errors import AgentError, ValidationError
from agent.journal.base import ANY, Store
from agent.signing import LocalSigner

_PENDING = 1  # BridgeEscrow.WithdrawalStatus.Pending


@dataclass(frozen=True, slots=True)
class RelayerConfig:
    l1_url: str
    l2_url: str
    escrow: str
    l2_bridge: str
    relayer_keys: tuple[str, ...] = field(repr=False)  # this relayer's own key (one, normally)
    submitter_key: str = field(default="", repr=False)  # pays for submissions; default: own key
    confirmations: int = 1  # L1 depth of a deposit before it is relayed (1 = mined)
    l2_confirmations: int = 1  # L2 depth of a withdrawal before it is proven on L1
    poll_interval: float = 0.05
    l1_from_block: int = 0
    l2_from_block: int = 0
    max_scan_blocks: int = 2_000
    finalize_withdrawals: bool = True
    journal_path: str | None = None
    listen: str | None = None  # "host:port" of this relayer's exchange (port 0: any free one)
    peers: tuple[str, ...] = ()  # other relayers' exchange URLs
    peers_dir: str | None = None  # shared directory where relayers announce their URLs
    takeover_after: float = 3.0  # seconds a non-leader waits, with quorum, before submitting

    def __post_init__(self) -> None:
        if self.confirmations < 1 or self.l2_confirmations < 1:
            raise ValidationError(
                "confirmations", "must be >= 1", "1 relays as soon as the event is mined"
            )
        if not self.relayer_keys:
            raise ValidationError("relayer_keys", "is empty", "give this relayer's key")
        if not self.submitter_key:
            object.__setattr__(self, "submitter_key", self.relayer_keys[0])
        if self.poll_interval <= 0:
            raise ValidationError("poll_interval", f"{self.poll_interval} is not positive")
        if self.takeover_after < 0:
            raise ValidationError("takeover_after", f"{self.takeover_after} < 0", "pass seconds")
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
    submitter_key: str = "",
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
    bad_peer_signatures: int = 0
    l1_cursor: int = 0
    l2_cursor: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class _Route:
    """One direction: where its messages are submitted and how to tell they are done."""

    direction: Direction
    dest: Chain
    address: str
    abi: ContractAbi
    submit_fn: str  # finalizeDeposit / proveWithdrawal
    domain: Domain


@dataclass
class _Pending:
    route: _Route
    message: _Message
    source_tx: str
    rounds: int = 0
    signatures: int = 0
    quorum_at: float | None = None  # monotonic time we first held `threshold` signatures


def _scratch_journal() -> Store:
    import tempfile
    from pathlib import Path

    from agent.journal import SqliteJournal

    return SqliteJournal(Path(tempfile.mkdtemp(prefix="relayer-")) / "tx.sqlite")


class Relayer:
    """One relayer over an L1/L2 pair. ``step()`` does one pass; ``run()`` loops."""

    def __init__(self, config: RelayerConfig, journal: Store | None = None) -> None:
        self.config = config
        self.signers = [LocalSigner(k) for k in config.relayer_keys]
        self.submitter = LocalSigner(config.submitter_key)
        self.address = self.signers[0].address
        self.journal = journal
        self.stats = RelayerStats(l1_cursor=config.l1_from_block, l2_cursor=config.l2_from_block)
        self._l1rpc = RpcClient(config.l1_url, name="L1")
        self._l2rpc = RpcClient(config.l2_url, name="L2")
        # the submitter's sends go through a TxEngine per chain (its own journal stream
        # tx-<chain>-<submitter>); without a journal of the relayer's, a throwaway one on disk
        # still makes them write-ahead
        tx_journal = journal if journal is not None else _scratch_journal()
        self.l1 = Chain(self._l1rpc, "L1", journal=tx_journal)
        self.l2 = Chain(self._l2rpc, "L2", journal=tx_journal)
        self._escrow = escrow_abi()
        self._bridge = l2_abi()
        self.book = AttestationBook()
        self.peers = Peers(config.peers, config.peers_dir)
        self.server: ExchangeServer | None = None
        self.url = ""
        self.threshold: dict[Direction, int] = {}
        self._routes: dict[Direction, _Route] = {}
        self._pending: dict[str, _Pending] = {}  # message id -> waiting for quorum / its turn
        self._is_relayer: dict[tuple[str, str], bool] = {}
        self._pending_withdrawals: dict[str, int] = {}  # id -> releaseAt (unix seconds)

    async def connect(self) -> Relayer:
        await self._l1rpc.connect()
        await self._l2rpc.connect()
        c = self.config
        self._routes = {
            Direction.DEPOSIT: _Route(
                Direction.DEPOSIT, self.l2, c.l2_bridge, self._bridge, "finalizeDeposit",
                l2_domain(self.l2.chain_id, c.l2_bridge),
            ),
            Direction.WITHDRAWAL: _Route(
                Direction.WITHDRAWAL, self.l1, c.escrow, self._escrow, "proveWithdrawal",
                l1_domain(self.l1.chain_id, c.escrow),
            ),
        }  # fmt: skip
        for d, r in self._routes.items():
            raw = await r.dest.call(
                r.address, r.abi.encode("threshold"), r.abi, context="threshold"
            )
            self.threshold[d] = int(r.abi.decode_output("threshold", raw))
        if c.listen is not None:
            host, _, port = c.listen.rpartition(":")
            self.server = ExchangeServer(
                self.book, self.status, host=host or "127.0.0.1", port=int(port or 0)
            )
            self.url = await self.server.start()
            self.peers.publish(self.address, self.url)
        return self

    async def close(self) -> None:
        await self.l1.close()
        await self.l2.close()
        if self.server is not None:
            await self.server.stop()
        await self.peers.close()
        await self._l1rpc.close()
        await self._l2rpc.close()

    async def __aenter__(self) -> Relayer:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def status(self) -> dict[str, Any]:
        """What this relayer waits for (served at ``GET /status``)."""
        return {
            "address": self.address,
            "url": self.url,
            "threshold": {str(d): k for d, k in self.threshold.items()},
            "pending": [
                {
                    "id": mid,
                    "direction": str(p.route.direction),
                    "signatures": p.signatures,
                    "rounds": p.rounds,
                }
                for mid, p in self._pending.items()
            ],
            "stats": asdict(self.stats),
        }

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
        await self._advance()
        if self.config.finalize_withdrawals:
            await self._finalize_matured()

    async def _scan(self, chain: Chain, cursor: int, depth: int) -> tuple[int, int] | None:
        head = await chain.head()
        last = min(head - depth + 1, cursor + self.config.max_scan_blocks)
        return None if last < cursor else (cursor, last)

    async def _scan_deposits(self) -> None:
        rng = await self._scan(self.l1, self.stats.l1_cursor, self.config.confirmations)
        if rng is None:
            return
        escrow = self.config.escrow
        for log in await self.l1.logs(escrow, [self._escrow.topic("DepositInitiated")], *rng):
            ev = self._escrow.decode_log(log)
            assert ev is not None
            await self._observe(
                Direction.DEPOSIT, Deposit.from_event(self.l1.chain_id, escrow, ev.args), ev.tx_hash
            )
        # proven withdrawals (ours or another relayer's) are tracked here for finalization
        for log in await self.l1.logs(escrow, [self._escrow.topic("WithdrawalProven")], *rng):
            ev = self._escrow.decode_log(log)
            assert ev is not None
            self._pending_withdrawals["0x" + ev.args["id"].hex()] = int(ev.args["releaseAt"])
        self.stats.l1_cursor = rng[1] + 1

    async def _scan_withdrawals(self) -> None:
        rng = await self._scan(self.l2, self.stats.l2_cursor, self.config.l2_confirmations)
        if rng is None:
            return
        bridge = self.config.l2_bridge
        for log in await self.l2.logs(bridge, [self._bridge.topic("WithdrawalInitiated")], *rng):
            ev = self._bridge.decode_log(log)
            assert ev is not None
            w = Withdrawal.from_event(self.l2.chain_id, bridge, ev.args)
            await self._observe(Direction.WITHDRAWAL, w, ev.tx_hash)
        self.stats.l2_cursor = rng[1] + 1

    async def _observe(self, direction: Direction, m: _Message, source_tx: str) -> None:
        """Seen on the source chain at our depth: sign it, serve the signature, and queue it."""
        if m.id_hex in self._pending or await self._done(direction, m):
            return  # relayed before (restart, or another relayer was faster)
        route = self._routes[direction]
        self.book.add(m.id_hex, attest(route.domain, m, self.signers))
        self._pending[m.id_hex] = _Pending(route, m, source_tx)

    async def _done(self, direction: Direction, m: _Message) -> bool:
        r = self._routes[direction]
        if direction is Direction.DEPOSIT:
            raw = await r.dest.call(
                r.address, r.abi.encode("processed", m.struct_hash), r.abi, context="processed"
            )
            return bool(r.abi.decode_output("processed", raw))
        raw = await r.dest.call(
            r.address, r.abi.encode("withdrawals", m.struct_hash), r.abi, context="withdrawals"
        )
        return r.abi.decode_output("withdrawals", raw)[4] != 0

    async def _advance(self) -> None:
        """Gather signatures for waiting messages; submit those with quorum, in turn."""
        for mid, p in list(self._pending.items()):
            if await self._done(p.route.direction, p.message):
                del self._pending[mid]
                continue
            p.rounds += 1
            atts = self.book.get(mid)
            k = self.threshold[p.route.direction]
            if len(atts) < k:
                atts += await self._verified(p.route, p.message, await self.peers.fetch(mid))
            signers = {a.signer for a in atts}
            p.signatures = len(signers)
            if p.signatures < k:
                continue  # wait for more relayers to see it (or to come back)
            now = time.monotonic()
            p.quorum_at = p.quorum_at or now
            leader = min(signers, key=lambda a: int(a, 16)) in {s.address for s in self.signers}
            if not leader and now - p.quorum_at < self.config.takeover_after:
                continue
            del self._pending[mid]
            # journaled by _submit; a refused message is dropped, never retried in a loop
            with contextlib.suppress(BridgeRejectedError):
                await self._submit(p.route, p.message, p.source_tx, atts)

    async def _verified(
        self, route: _Route, m: _Message, atts: list[Attestation]
    ) -> list[Attestation]:
        """Peers' attestations whose signature recovers to their claimed signer, a relayer of
        the destination contract; the rest are counted as bad and dropped."""
        out = []
        for a in atts:
            try:
                (who,) = recover_signers(route.domain, m, a.signature)
            except Exception:  # garbage bytes from a broken peer
                who = ""
            ok = who.lower() == a.signer.lower() and await self._relayer(route, who)
            if ok:
                out.append(Attestation(who, a.signature))
            else:
                self.stats.bad_peer_signatures += 1
        return out

    async def _relayer(self, route: _Route, who: str) -> bool:
        key = (route.address, who)
        if key not in self._is_relayer:
            raw = await route.dest.call(
                route.address, route.abi.encode("isRelayer", who), route.abi, context="isRelayer"
            )
            self._is_relayer[key] = bool(route.abi.decode_output("isRelayer", raw))
        return self._is_relayer[key]

    # --- single messages (public: the CLI and tests drive these) ---------------------------
    async def relay_deposit(
        self, d: Deposit, source_tx: str = "", *, signers: list[LocalSigner] | None = None
    ) -> Sent:
        """Attest ``d`` with ``signers`` (default: this relayer's keys) and mint it on L2."""
        route = self._routes[Direction.DEPOSIT]
        return await self._submit(
            route, d, source_tx, attest(route.domain, d, signers or self.signers)
        )

    async def prove_withdrawal(
        self, w: Withdrawal, source_tx: str = "", *, signers: list[LocalSigner] | None = None
    ) -> Sent:
        """Attest ``w`` with ``signers`` (default: this relayer's keys) and prove it on L1."""
        route = self._routes[Direction.WITHDRAWAL]
        return await self._submit(
            route, w, source_tx, attest(route.domain, w, signers or self.signers)
        )

    async def _submit(
        self, route: _Route, m: _Message, source_tx: str, atts: list[Attestation]
    ) -> Sent:
        data = route.abi.encode(route.submit_fn, m.as_tuple(), pack(atts))
        try:
            sent = await route.dest.send(
                self.submitter, route.address, data, route.abi,
                context=f"{route.direction} {m.id_hex}",
            )  # fmt: skip
        except BridgeRejectedError as e:
            await self._reject(route.direction, m.id_hex, e, source_tx)
            raise
        # Journal first, then count: a stats figure seen in /status is already durable.
        await self._journal(
            BridgeMessageRelayed(
                route.direction, m.id_hex, source_tx, sent.tx_hash, m.token, m.recipient,
                m.amount, tuple(sorted({a.signer for a in atts}, key=lambda a: int(a, 16))),
            )
        )  # fmt: skip
        if route.direction is Direction.DEPOSIT:
            self.stats.deposits_relayed += 1
        else:
            self.stats.withdrawals_proven += 1
            for log in sent.logs:
                ev = self._escrow.decode_log(log)
                if ev is not None and ev.event == "WithdrawalProven":
                    self._pending_withdrawals[m.id_hex] = int(ev.args["releaseAt"])
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
