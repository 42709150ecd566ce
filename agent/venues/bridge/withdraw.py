"""L2 -> L1 withdrawals for the bridge venue (a mixin of :class:`BridgeVenue`).

A withdrawal is ``ChildOrder(coid, Spot(SYM, SYM), Side.BUY, size)``: buy back the L1 asset
with its bridged L2 representation. Its life:
  1. initiate: the L2 Safe calls ``BridgeL2.withdraw(bridged token, L1 Safe, size)`` through
     its module (the L2 executor); the burn emits ``WithdrawalInitiated`` (id, fee, net);
  2. the relayers attest it (k-of-n) and prove it on L1: ``WithdrawalProven`` with releaseAt;
  3. the challenge period passes on L1's clock;
  4. finalize: anyone calls ``BridgeEscrow.finalizeWithdrawal(id)`` (the relayers do; with
     ``finalize_withdrawals=True`` the venue also does, through the L1 Safe's module, so a fund
     does not depend on relayers for its own money) -> FILLED.
Tracking reads the escrow's record of the id (status, releaseAt), never memory; reconciliation
(open_orders, fills_since) reads both chains.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from agent.bridge.errors import BridgeError
from agent.bridge.events import (
    BridgeTransferCompleted,
    BridgeTransferInitiated,
    BridgeTransferProven,
    BridgeTransferRejected,
)
from agent.errors import ChainError, RpcError, TransactionFailedError, ValidationError
from agent.model import Fill, Side, Spot
from agent.venues.base import (
    ChildOrder,
    OrderStatusReport,
    VenueEvent,
    VenueEventKind,
    VenueOrderRef,
    VenueOrderState,
)
from agent.venues.bridge.cost import BridgeCostModel, BridgeDirection, BridgeEstimate
from agent.wallet.multisend import Call

# BridgeEscrow.WithdrawalStatus
NONE, PENDING, FINALIZED, CHALLENGED = 0, 1, 2, 3


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


class WithdrawalsMixin:
    """Needs the BridgeVenue's attributes; ``l2_executor`` set to trade this direction."""

    l2_executor: Any
    l2_safe: str
    l1_recipient: str
    withdraw_cost: BridgeCostModel
    finalize_withdrawals: bool

    def _need_l2(self) -> None:
        if self.l2_executor is None:
            raise ValidationError(
                "side", "buy (L2 -> L1 withdrawal) needs the L2 Safe's executor",
                "pass l2_executor=, l2_safe= and l1_recipient= to BridgeVenue",
            )  # fmt: skip

    async def _connect_withdrawals(self) -> None:
        """The L2 bridge's fee and L1's challenge period (quotes work without an executor)."""
        fee_bps, challenge = await asyncio.gather(
            self.call_view_l2(self.bridge, "feeBps"),
            self.call_view(self.escrow, "challengePeriod"),
        )
        self.withdraw_cost = replace(
            self.withdraw_cost, fee_bps=int(fee_bps), challenge_period=int(challenge)
        )

    def estimate_withdrawal(self, symbol: str, size: Decimal) -> BridgeEstimate:
        """Fee, output and time (including the challenge period) of an L2 -> L1 withdrawal."""
        from agent.venues.bridge.venue import _to_base

        t, _ = self.route(symbol)
        return self.withdraw_cost.estimate(_to_base(t, size), BridgeDirection.WITHDRAWAL)

    async def _submit_withdrawal(self, child: ChildOrder) -> VenueOrderRef:
        from agent.venues.bridge.venue import BridgeTransfer, _show, _to_base

        try:
            self._need_l2()
            t, l2_token = self._resolve_route(child)
            amount = _to_base(t, child.size)
            est = self.withdraw_cost.estimate(amount, BridgeDirection.WITHDRAWAL)
            bal = int(await self.call_view_l2(l2_token, "balanceOf", self.l2_safe, abi=self._token))
            if bal < amount:
                raise ValidationError(
                    "size", f"the L2 Safe holds {t.symbol}.b {_show(t, bal)}, {_show(t, amount)} asked",
                    "bridge less, or deposit to the L2 Safe first",
                )  # fmt: skip
        except ValidationError as e:  # refused before anything is signed: journal the attempt
            await self._journal(BridgeTransferRejected(child.client_order_id, e.code, str(e)))
            raise
        data = self._bridge.encode("withdraw", l2_token, self.l1_recipient, amount)
        submitted = time.monotonic()
        ex = await self._execute(self.l2_executor, [Call(self.bridge, data)], child.client_order_id)
        mid, fee, net = self._withdrawal_from_logs(ex.logs)
        if net != est.amount_out or fee != est.fee:
            raise BridgeError(
                f"withdrawal {mid}: contract charged fee {fee} (net {net}), quoted {est.fee} "
                f"(net {est.amount_out}); refresh the venue (connect())"
            )
        tr = BridgeTransfer(
            child.client_order_id, mid, t.symbol, amount, fee, net, ex.tx_hash,
            VenueOrderState.OPEN, submitted, direction=BridgeDirection.WITHDRAWAL,
        )  # fmt: skip
        self._transfers[child.client_order_id] = tr
        self._done[child.client_order_id] = asyncio.Event()
        self._proven[child.client_order_id] = asyncio.Event()
        ref = VenueOrderRef(self.id, child.client_order_id, ex.tx_hash)
        await self._journal(
            BridgeTransferInitiated(
                child.client_order_id, mid, ex.tx_hash, t.address, amount, net, fee
            )
        )
        self._events.put_nowait(VenueEvent(VenueEventKind.ACK, ref))
        task = asyncio.get_running_loop().create_task(self._track_withdrawal(child.client_order_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ref

    def _resolve_route(self, child: ChildOrder) -> tuple[Any, str]:
        inst = child.instrument
        if not isinstance(inst, Spot) or inst.base.upper() != inst.quote.upper():
            raise ValidationError(
                "instrument", f"{inst!r} is not a bridge hop", "use Spot('USDC', 'USDC')"
            )
        return self.route(inst.base)

    def _withdrawal_from_logs(self, logs: Any) -> tuple[str, int, int]:
        for log in logs:
            if log["address"].lower() != self.bridge.lower():
                continue
            ev = self._bridge.decode_log(log)
            if ev is not None and ev.event == "WithdrawalInitiated":
                return "0x" + ev.args["id"].hex(), int(ev.args["fee"]), int(ev.args["amount"])
        raise BridgeError(
            "the L2 Safe's transaction emitted no WithdrawalInitiated: nothing left L2"
        )

    async def withdrawal_status(self, message_id: str) -> tuple[int, int]:
        """(status, releaseAt) of a withdrawal as the L1 escrow records it."""
        rec = await self.call_view(self.escrow, "withdrawals", bytes.fromhex(message_id[2:]))
        return int(rec[4]), int(rec[3])

    async def _track_withdrawal(self, coid: str) -> None:
        tr = self._transfers[coid]
        proven = False
        tried_at = -1.0  # monotonic time of our last finalize attempt
        while True:
            try:
                status, release_at = await self.withdrawal_status(tr.message_id)
                if status != NONE and not proven:
                    proven = True
                    tr = replace(tr, release_at=release_at)
                    self._transfers[coid] = tr
                    await self._journal(BridgeTransferProven(coid, tr.message_id, release_at))
                    self._proven[coid].set()
                if status in (FINALIZED, CHALLENGED):
                    break
                now = time.monotonic()
                if status == PENDING and self.finalize_withdrawals and now - tried_at > 1.0:
                    blk = await self.l1_rpc.get_block("latest")
                    if int(blk["timestamp"], 16) >= release_at:
                        tried_at = now  # at most once a second; a relayer may win the race
                        await self._finalize(tr)
            except (ChainError, RpcError):
                pass  # a node hiccup (or lost race to finalize): keep tracking; wait() bounds it
            await asyncio.sleep(self.poll_interval)  # polling L1 for proof and release
        state = VenueOrderState.FILLED if status == FINALIZED else VenueOrderState.REJECTED
        dest_tx = await self._finalized_tx(tr.message_id) if status == FINALIZED else None
        done = replace(tr, state=state, dest_tx=dest_tx, completed_at=time.monotonic())
        self._transfers[coid] = done
        ref = VenueOrderRef(self.id, coid, tr.source_tx)
        if state is VenueOrderState.FILLED:
            self._events.put_nowait(VenueEvent(VenueEventKind.FILL, ref, fill=self._fill(done)))
        else:
            self._events.put_nowait(VenueEvent(VenueEventKind.REJECT, ref))
        await self._journal(
            BridgeTransferCompleted(
                coid, tr.message_id, dest_tx or "", done.amount_out if dest_tx else 0,
                int((done.elapsed or 0) * 1000),
            )
        )  # fmt: skip
        self._done[coid].set()

    async def wait_proven(self, ref: VenueOrderRef | str, timeout: float = 60.0) -> Any:
        """Until the relayers proved the withdrawal on L1 (its challenge period started)."""
        from agent.bridge.errors import BridgeTimeoutError

        coid = ref if isinstance(ref, str) else ref.client_order_id
        if coid not in self._proven:
            raise ValidationError("ref", f"unknown withdrawal {coid!r}", "submit it first")
        try:
            await asyncio.wait_for(self._proven[coid].wait(), timeout)
        except TimeoutError:
            tr = self._transfers[coid]
            raise BridgeTimeoutError(
                f"withdrawal {tr.message_id} (L2 tx {tr.source_tx}) not proven on L1 after "
                f"{timeout}s; are the relayers running?"
            ) from None
        return self._transfers[coid]

    async def _finalize(self, tr: Any) -> None:
        data = self._escrow.encode("finalizeWithdrawal", bytes.fromhex(tr.message_id[2:]))
        # a relayer may finalize in the same block: the next status read shows it either way
        with contextlib.suppress(TransactionFailedError):
            await self.executor.execute(
                [Call(self.escrow, data)], client_order_id=f"{tr.client_order_id}:finalize"
            )

    async def _finalized_tx(self, message_id: str) -> str | None:
        logs = await self.l1_rpc.call(
            "eth_getLogs",
            [{
                "address": self.escrow, "topics": [self._escrow.topic("WithdrawalFinalized"), message_id],
                "fromBlock": hex(self.l1_from_block), "toBlock": "latest",
            }],
        )  # fmt: skip
        return logs[0]["transactionHash"] if logs else None

    # --- reconciliation --------------------------------------------------------------------
    async def open_withdrawals(self) -> list[OrderStatusReport]:
        """The L2 Safe's withdrawals the L1 escrow has not released (or stopped)."""
        if self.l2_executor is None:
            return []
        logs = await self.l2_rpc.call(
            "eth_getLogs",
            [{
                "address": self.bridge,
                "topics": [self._bridge.topic("WithdrawalInitiated"), None, None, _topic(self.l2_safe)],
                "fromBlock": hex(self.l2_from_block), "toBlock": "latest",
            }],
        )  # fmt: skip
        out = []
        for log in logs:
            ev = self._bridge.decode_log(log)
            if ev is None:
                continue
            mid = "0x" + ev.args["id"].hex()
            status, _ = await self.withdrawal_status(mid)
            if status in (NONE, PENDING):
                rep = self._report(ev.args, ev.tx_hash, VenueOrderState.OPEN)
                out.append(replace(rep, side=Side.BUY))
        return out

    async def withdrawal_fills_since(self, start: int) -> tuple[list[Fill], int]:
        """Releases on L1 to our L1 recipient from L1 block ``start``; (fills, next block)."""
        head = await self.l1_rpc.block_number()
        if self.l2_executor is None or head < start:
            return [], max(start, head + 1)
        logs = await self.l1_rpc.call(
            "eth_getLogs",
            [{
                "address": self.escrow,
                "topics": [self._escrow.topic("WithdrawalFinalized"), None, None, _topic(self.l1_recipient)],
                "fromBlock": hex(start), "toBlock": hex(head),
            }],
        )  # fmt: skip
        fills = []
        for log in logs:
            ev = self._escrow.decode_log(log)
            if ev is None:
                continue
            mid = "0x" + ev.args["id"].hex()
            src = await self.l2_rpc.call(
                "eth_getLogs",
                [{
                    "address": self.bridge, "topics": [self._bridge.topic("WithdrawalInitiated"), mid],
                    "fromBlock": hex(self.l2_from_block), "toBlock": "latest",
                }],
            )  # fmt: skip
            if not src:
                continue  # not one of ours (another sender paid to our Safe)
            sev = self._bridge.decode_log(src[0])
            fee = int(sev.args["fee"]) if sev else 0
            sym = self._symbol_of_l1(ev.args["token"])
            amount = int(ev.args["amount"])
            fills.append(
                Fill(
                    venue=self.id, order_id=src[0]["transactionHash"], trade_id=ev.tx_hash,
                    asset_in=f"{sym}@{self.l2.name}", asset_out=f"{sym}@{self.l1.name}",
                    amount_in=amount + fee, amount_out=amount, fee=fee, fee_asset=sym,
                )
            )  # fmt: skip
        return fills, head + 1

    def _symbol_of_l1(self, token: str) -> str:
        for t in self.l1.tokens.values():
            if t.address.lower() == token.lower():
                return t.symbol
        return token

    async def call_view_l2(self, to: str, fn: str, *args: Any, abi: Any = None) -> Any:
        """Read a view function on L2 (the L2 bridge's ABI unless ``abi`` is given)."""
        abi = abi or self._bridge
        raw = await self.l2_rpc.call(
            "eth_call", [{"to": to, "data": "0x" + abi.encode(fn, *args).hex()}, "latest"]
        )
        return abi.decode_output(fn, raw)
