"""Settlement, exercise and collateral redemption of option series, as the Safe.

Each action is checked against the chain BEFORE anything is signed, with the contract's own
rules (OptionsMarket.settle/exercise/redeem), so a refusal is a typed error naming the
problem and the fix, is journaled (``OptionsSettlementRejected``), and nothing is sent:
  * settle: the series exists, the chain's clock is past expiry, the feed's latest round was
    observed at or after expiry, within the market's ``maxFeedAge``, and is positive;
  * exercise: the series is settled and the Safe holds the longs it exercises;
  * redeem: the series is settled and the Safe has a short or collateral in it.
A revert the pre-checks did not foresee (the chain moved in between) is caught by the
executor's gas estimate and mapped to the contract's custom error, also journaled.

The calls go through ``executor.execute(calls, *, client_order_id=...)`` (the Safe's one
module executor, agent.wallet.executor.ModuleExecutor); :meth:`OptionsSettlement.collect`
puts settle + exercise + redeem of a series in ONE Safe transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from eth_utils import to_checksum_address

from agent.bridge.abi import ContractAbi
from agent.errors import RpcError
from agent.journal import ANY, Store
from agent.venues.options import calldata
from agent.venues.options.deploy import artifact
from agent.venues.options.errors import SettlementRefusedError, UnknownSeriesError
from agent.venues.options.events import (
    OptionsExercised,
    OptionsRedeemed,
    OptionsSeriesSettled,
    OptionsSettlementRejected,
)
from agent.venues.options.series import SeriesTerms, payoff
from agent.wallet.multisend import Call

_ROUND = ["uint80", "int256", "uint256", "uint256", "uint80"]
# contract custom error -> (our code, what to do)
_REVERTS: dict[str, tuple[str, str]] = {
    "SeriesNotExpired": ("OPTIONS_NOT_EXPIRED", "wait until the series expires"),
    "StalePrice": ("OPTIONS_STALE_FEED", "the feed must report a price at or after expiry"),
    "InvalidPrice": ("OPTIONS_BAD_FEED_PRICE", "the feed's answer must be positive"),
    "NotSettled": ("OPTIONS_NOT_SETTLED", "settle the series first"),
    "AlreadySettled": ("OPTIONS_ALREADY_SETTLED", "the series is settled already"),
    "UnknownSeries": ("SERIES_UNKNOWN", "list the series first"),
    "InvalidAmount": ("OPTIONS_NOTHING_TO_CLAIM", "the Safe has no position to claim"),
}


class Executor(Protocol):
    async def execute(self, calls: list[Call], *, client_order_id: str | None = None) -> Any: ...


@cache
def market_abi() -> ContractAbi:
    return ContractAbi(artifact("OptionsMarket").abi_list)


@dataclass(frozen=True, slots=True)
class SeriesState:
    terms: SeriesTerms
    settled: bool
    settlement_price: int  # quote base units per whole underlying; 0 until settled
    collateral: int  # all collateral the market holds for the series


@dataclass(frozen=True, slots=True)
class Position:
    long: int  # ERC-1155 balance, underlying base units
    short: int
    collateral: int  # posted by this writer


@dataclass(frozen=True, slots=True)
class SettlementResult:
    series_id: int
    tx_hash: str  # "" when nothing had to be sent (already settled)
    price: int = 0
    exercised: int = 0  # longs burned
    exercise_payout: int = 0
    redeemed_short: int = 0
    redeem_payout: int = 0
    gas_used: int = 0


class OptionsSettlement:
    def __init__(
        self,
        *,
        rpc: Any,  # agent.chain.rpc.RpcClient of the market's chain
        executor: Executor,
        market: str,
        safe: str,
        journal: Store | None = None,
    ) -> None:
        self.rpc = rpc
        self.executor = executor
        self.market = to_checksum_address(market)
        self.safe = to_checksum_address(safe)
        self.journal = journal
        self.abi = market_abi()

    # --- reads -----------------------------------------------------------------------------
    async def _call(self, to: str, data: bytes) -> str:
        return await self.rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])

    async def state(self, series_id: int) -> SeriesState:
        raw = await self._call(self.market, self.abi.encode("series", series_id))
        terms, unit, price, settled, collateral = self.abi.decode_output("series", raw)
        if unit == 0:
            raise UnknownSeriesError(
                "series", f"{series_id:#x} is not listed on the market {self.market}",
                "list it first (createSeries)", code="SERIES_UNKNOWN",
            )  # fmt: skip
        u, q, c, feed, strike, cap, expiry, is_call = terms
        t = SeriesTerms(
            to_checksum_address(u), to_checksum_address(q), to_checksum_address(c),
            to_checksum_address(feed), strike, cap, expiry, is_call, len(str(unit)) - 1,
        )  # fmt: skip
        return SeriesState(t, settled, price, collateral)

    async def position(self, series_id: int) -> Position:
        long_, short, coll = await asyncio.gather(
            self._call(self.market, calldata.balance_of_1155(self.safe, series_id)),
            self._call(self.market, self.abi.encode("shortOf", series_id, self.safe)),
            self._call(self.market, self.abi.encode("collateralOf", series_id, self.safe)),
        )
        return Position(
            int(long_, 16), self.abi.decode_output("shortOf", short),
            self.abi.decode_output("collateralOf", coll),
        )  # fmt: skip

    async def _now(self) -> int:
        blk = await self.rpc.get_block("latest")
        return int(blk["timestamp"], 16)

    # --- pre-checks (pure given the reads) --------------------------------------------------
    async def _check_settle(self, st: SeriesState) -> str | None:
        """None if settle would succeed now; else the refusal (code set on the raise)."""
        t = st.terms
        now, max_age, rd = await asyncio.gather(
            self._now(),
            self._call(self.market, self.abi.encode("maxFeedAge")),
            self._call(t.feed, _sel("latestRoundData()")),
        )
        if now < t.expiry:
            raise self._refusal(
                "settle", t.series_id, "OPTIONS_NOT_EXPIRED",
                f"series {t.series_id:#x} expires at {t.expiry}, the chain's clock is {now} "
                f"({t.expiry - now}s to go); wait until expiry",
            )  # fmt: skip
        from eth_abi import decode

        round_id, answer, _s, updated_at, answered_in = decode(_ROUND, bytes.fromhex(rd[2:]))
        age = self.abi.decode_output("maxFeedAge", max_age)
        if updated_at < t.expiry or now - updated_at > age or answered_in < round_id:
            raise self._refusal(
                "settle", t.series_id, "OPTIONS_STALE_FEED",
                f"feed {t.feed} last updated at {updated_at}; settlement needs a round observed "
                f"at or after expiry {t.expiry} and at most {age}s old (now {now}); push a fresh "
                "price to the feed",
            )  # fmt: skip
        if answer <= 0:
            raise self._refusal(
                "settle", t.series_id, "OPTIONS_BAD_FEED_PRICE",
                f"feed {t.feed} answers {answer}; a settlement price must be positive",
            )  # fmt: skip
        return None

    def _refusal(self, action: str, sid: int, code: str, reason: str) -> SettlementRefusedError:
        self._journal(OptionsSettlementRejected(action, self.safe, sid, code, reason))
        return SettlementRefusedError(action, reason, code=code)

    # --- actions ---------------------------------------------------------------------------
    async def _load(self, action: str, sid: int) -> tuple[SeriesState, Position]:
        try:
            return await asyncio.gather(self.state(sid), self.position(sid))
        except UnknownSeriesError as e:
            self._journal(OptionsSettlementRejected(action, self.safe, sid, e.code, e.problem))
            raise

    def _need_settled(self, action: str, st: SeriesState) -> None:
        if not st.settled:
            sid = st.terms.series_id
            raise self._refusal(
                action, sid, "OPTIONS_NOT_SETTLED",
                f"series {sid:#x} is not settled yet; settle it first (after expiry)",
            )  # fmt: skip

    async def settle(self, series: SeriesTerms | int) -> SettlementResult:
        """Fix the settlement price from the feed (idempotent: a settled series sends nothing)."""
        sid = _sid(series)
        st, _pos = await self._load("settle", sid)
        if st.settled:
            return SettlementResult(sid, "", st.settlement_price)
        await self._check_settle(st)
        return await self._send("settle", st, [Call(self.market, calldata.settle(sid))])

    async def exercise(
        self, series: SeriesTerms | int, amount: int | None = None
    ) -> SettlementResult:
        """Burn ``amount`` (default: all) of the Safe's settled longs for their payoff."""
        sid = _sid(series)
        st, pos = await self._load("exercise", sid)
        self._need_settled("exercise", st)
        want = pos.long if amount is None else amount
        if not 0 < want <= pos.long:
            code = "OPTIONS_NOTHING_TO_CLAIM" if pos.long == 0 else "INVALID_INPUT"
            raise self._refusal(
                "exercise", sid, code,
                f"amount {want} to exercise, the Safe holds {pos.long} longs of {sid:#x}; "
                f"exercise between 1 and {pos.long}",
            )  # fmt: skip
        return await self._send("exercise", st, [Call(self.market, calldata.exercise(sid, want))])

    async def redeem(self, series: SeriesTerms | int) -> SettlementResult:
        """Take back the Safe's collateral minus what its short owes, after settlement."""
        sid = _sid(series)
        st, pos = await self._load("redeem", sid)
        self._need_settled("redeem", st)
        if pos.short == 0 and pos.collateral == 0:
            raise self._refusal(
                "redeem", sid, "OPTIONS_NOTHING_TO_CLAIM",
                f"the Safe has no short and no collateral in series {sid:#x}",
            )  # fmt: skip
        return await self._send("redeem", st, [Call(self.market, calldata.redeem(sid))])

    async def collect(self, series: SeriesTerms | int) -> SettlementResult:
        """Settle (if needed), exercise all the Safe's longs and redeem its collateral, in ONE
        Safe transaction; a refused settle raises and nothing is sent."""
        sid = _sid(series)
        st, pos = await self._load("collect", sid)
        calls: list[Call] = []
        if not st.settled:
            await self._check_settle(st)
            calls.append(Call(self.market, calldata.settle(sid)))
        if pos.long > 0:
            calls.append(Call(self.market, calldata.exercise(sid, pos.long)))
        if pos.short > 0 or pos.collateral > 0:
            calls.append(Call(self.market, calldata.redeem(sid)))
        if not calls:
            return SettlementResult(sid, "", st.settlement_price)
        return await self._send("collect", st, calls)

    async def _send(self, action: str, st: SeriesState, calls: list[Call]) -> SettlementResult:
        sid = st.terms.series_id
        try:
            ex = await self.executor.execute(calls, client_order_id=f"{action}:{sid:#x}")
        except RpcError as e:  # the gas estimate reverted: nothing was signed or sent
            name = self.abi.decode_error(_revert_data(e))
            code, fix = _REVERTS.get(name[0] if name else "", ("OPTIONS_REVERTED", "see the log"))
            shown = f"{name[0]}{name[1]}" if name else e.message
            raise self._refusal(action, sid, code, f"the market refuses: {shown}; {fix}") from e
        return self._result(sid, ex, st.settlement_price)

    def _result(self, sid: int, ex: Any, price: int) -> SettlementResult:
        out: dict[str, int] = {"price": price}
        for log in ex.logs:
            if to_checksum_address(log["address"]) != self.market:
                continue
            ev = self.abi.decode_log(log)
            if ev is None or int(ev.args.get("id", -1)) != sid:
                continue
            if ev.event == "Settled":
                out["price"] = int(ev.args["price"])
                self._journal(OptionsSeriesSettled(self.safe, sid, out["price"], ex.tx_hash))
            elif ev.event == "Exercised" and ev.args["holder"] == self.safe:
                out["exercised"], out["exercise_payout"] = ev.args["amount"], ev.args["payout"]
                self._journal(
                    OptionsExercised(
                        self.safe, sid, ev.args["amount"], ev.args["payout"], ex.tx_hash
                    )
                )
            elif ev.event == "Redeemed" and ev.args["writer"] == self.safe:
                out["redeemed_short"], out["redeem_payout"] = ev.args["amount"], ev.args["payout"]
                self._journal(
                    OptionsRedeemed(
                        self.safe, sid, ev.args["amount"], ev.args["payout"], ex.tx_hash
                    )
                )
        return SettlementResult(sid, ex.tx_hash, gas_used=ex.gas_used, **out)

    @staticmethod
    def expected(terms: SeriesTerms, price: int, pos: Position) -> tuple[int, int]:
        """(exercise payout of all longs, redeem payout) at ``price``, as the contract rounds."""
        owed = payoff(terms, price, pos.short, round_up=True)
        return payoff(terms, price, pos.long, round_up=False), pos.collateral - owed

    def _journal(self, event: object) -> None:
        if self.journal is not None:
            self.journal.append(f"options:{self.safe}", ANY, [event])


def _sid(series: SeriesTerms | int) -> int:
    return series if isinstance(series, int) else series.series_id


def _sel(sig: str) -> bytes:
    from eth_utils import function_signature_to_4byte_selector

    return function_signature_to_4byte_selector(sig)


def _revert_data(e: RpcError) -> str | None:
    d = getattr(e, "data", None)
    if isinstance(d, dict):
        d = d.get("data")
    return d if isinstance(d, str) and d.startswith("0x") else None


__all__: Sequence[str] = (
    "OptionsSettlement", "Position", "SeriesState", "SettlementResult",
)  # fmt: skip
