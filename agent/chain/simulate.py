"""Simulate before sign: trace exactly the call that will be signed and extract what it does
to the Safe's assets, then check that against what the intent expects.

    debug_traceCall(call, block, callTracer {withLog})          -> frames, logs, revert

(anvil, geth and reth serve it). From it:

* ERC-20 ``Transfer`` logs into and out of the account (WETH ``Deposit``/``Withdrawal``
  count as mints and burns to the account), net per token;
* the account's ETH balance change, from the value of every frame that moves ETH (CALL,
  CREATE, CREATE2, SELFDESTRUCT) to or from it, internal transfers too. The account is the
  Safe, never the sender, so no gas is charged to it and these frames are the whole change;
* the ``Approval`` logs the account emitted (spender and the allowance it leaves).

``prestate=True`` adds ``prestateTracer {diffMode}`` in the same JSON-RPC batch and takes
the ETH change from the balance diff instead (for an account that may also pay gas); one
trace is the default because the second one doubled the node's work on every signature.

Logs of frames that reverted are dropped with the frame: their effects were rolled back.

:func:`check` compares the deltas with an :class:`Expectation` (at most ``max_in`` of the
token paid, at least ``min_out`` of the token bought, no other asset leaving the account,
approvals only to known spenders and none left standing) and returns Allow or
Deny(SIMULATION_MISMATCH). A node without tracing: ``mode="trace"`` refuses
(SimulationUnavailableError, nothing is signed); ``mode="fallback"`` runs a bare eth_call
(a revert is still caught) and marks the result untraced, with a warning; ``mode="call"``
never traces (a node known not to), eth_call only, with the same warning.

:class:`SimulationGuard` is the pre-sign hook for the module executor (its ``guard``): it
simulates the module call the executor will sign, for the Safe, against the expectation
the caller registers for the order, or, without one, against the bounds the batch itself
sets (:func:`check_bounded`: no token leaves beyond what the calls approve). The policy
guard it wraps gets the simulated deltas for its value-guard pre-check (exact instead of
the calldata's worst case), and every simulation is journaled (``TxSimulated``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import ChainError, RpcError
from agent.model.decisions import Allow, Decision, Deny

log = logging.getLogger("agent.chain.simulate")

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
DEPOSIT = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"  # WETH9
WITHDRAWAL = "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"  # WETH9
ETH = "ETH"  # the key of native ETH in an Expectation

Mode = Literal["trace", "fallback", "call"]
MODES: tuple[str, ...] = ("trace", "fallback", "call")
_NO_TRACING = (
    "method not found",
    "not supported",
    "does not exist",
    "not available",
    "unknown method",
)


class SimulationUnavailableError(ChainError):
    """The node cannot trace calls and the configuration says refuse."""

    code = "SIMULATION_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class CallRequest:
    """Exactly what will be signed: ``sender`` calls ``to`` with ``data`` and ``value``."""

    sender: str
    to: str
    data: bytes
    value: int = 0
    gas: int | None = None

    def to_rpc(self) -> dict[str, Any]:
        c: dict[str, Any] = {"from": self.sender, "to": self.to, "data": "0x" + self.data.hex()}
        if self.value:
            c["value"] = hex(self.value)
        if self.gas:
            c["gas"] = hex(self.gas)
        return c


@dataclass(frozen=True, slots=True)
class Transfer:
    token: str
    src: str
    dst: str
    amount: int


@dataclass(frozen=True, slots=True)
class ApprovalChange:
    token: str
    spender: str
    amount: int  # the allowance the account leaves (the last Approval's value)


@dataclass(frozen=True, slots=True)
class AssetDeltas:
    """What the call does to ``account``: net token amounts (received minus paid, base
    units, lower-case token addresses), the ETH change, and approvals it leaves."""

    account: str
    eth: int
    tokens: Mapping[str, int]
    transfers: tuple[Transfer, ...]
    approvals: tuple[ApprovalChange, ...]

    def net(self, token: str) -> int:
        return self.eth if token == ETH else self.tokens.get(token.lower(), 0)


@dataclass(frozen=True, slots=True)
class Simulation:
    call: CallRequest
    block: str
    ok: bool
    error: str | None
    deltas: AssetDeltas | None  # None when untraced (eth_call fallback)
    traced: bool
    gas_used: int = 0
    warning: str | None = None


# --- pure extraction --------------------------------------------------------------------------
def _addr(topic: str) -> str:
    return "0x" + topic[-40:].lower()


def _logs(frame: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Logs of a call frame and its sub-calls in execution order, without reverted frames."""
    if frame.get("error"):
        return []
    own = sorted(frame.get("logs") or (), key=lambda lg: int(str(lg.get("position", "0")), 0))
    calls = list(frame.get("calls") or ())
    # interleave by position (the log's index among this frame's sub-calls) when present
    out: list[dict[str, Any]] = []
    i = 0
    for lg in own:
        pos = int(str(lg.get("position", len(calls))), 0)
        while i < min(pos, len(calls)):
            out.extend(_logs(calls[i]))
            i += 1
        out.append(lg)
    for c in calls[i:]:
        out.extend(_logs(c))
    return out


def _balance(entry: Mapping[str, Any] | None) -> int | None:
    if not entry or "balance" not in entry:
        return None
    return int(entry["balance"], 16)


_MOVES_ETH = frozenset({"CALL", "CREATE", "CREATE2", "SELFDESTRUCT"})


def eth_from_calls(frame: Mapping[str, Any], account: str) -> int:
    """The ETH ``account`` (lower-case) gains in a callTracer frame tree: the value of every
    frame that moves ETH into it minus every one out of it, reverted frames (and their
    sub-calls) dropped. DELEGATECALL and CALLCODE move nothing: their value stays in the
    caller's context; STATICCALL carries none."""
    if frame.get("error"):
        return 0
    total = 0
    if str(frame.get("type", "CALL")).upper() in _MOVES_ETH:
        v = frame.get("value")
        amount = int(v, 16) if isinstance(v, str) else int(v or 0)
        if amount:
            if str(frame.get("to") or "").lower() == account:
                total += amount
            if str(frame.get("from") or "").lower() == account:
                total -= amount
    for c in frame.get("calls") or ():
        total += eth_from_calls(c, account)
    return total


def extract_deltas(
    call_trace: Mapping[str, Any], prestate_diff: Mapping[str, Any] | None, account: str
) -> AssetDeltas:
    """The account's asset deltas from a callTracer (withLog) frame and, when given, a
    prestateTracer diffMode result (the ETH change then comes from the balance diff; without
    it, from the frames' values, :func:`eth_from_calls`). Pure: unit-tested on recorded
    traces."""
    me = account.lower()
    transfers: list[Transfer] = []
    approvals: dict[tuple[str, str], int] = {}
    net: dict[str, int] = {}
    for lg in _logs(call_trace):
        topics = [str(t).lower() for t in lg.get("topics") or ()]
        if not topics:
            continue
        token = str(lg["address"]).lower()
        data = str(lg.get("data") or "0x")
        amount = int(data, 16) if len(data) > 2 else 0
        t0 = topics[0]
        if t0 == TRANSFER and len(topics) == 3:  # 4 topics: ERC-721, not an amount
            src, dst = _addr(topics[1]), _addr(topics[2])
            transfers.append(Transfer(token, src, dst, amount))
            if dst == me:
                net[token] = net.get(token, 0) + amount
            if src == me:
                net[token] = net.get(token, 0) - amount
        elif t0 == APPROVAL and len(topics) == 3 and _addr(topics[1]) == me:
            approvals[(token, _addr(topics[2]))] = amount
        elif t0 in (DEPOSIT, WITHDRAWAL) and len(topics) == 2 and _addr(topics[1]) == me:
            sign = 1 if t0 == DEPOSIT else -1
            net[token] = net.get(token, 0) + sign * amount
    if prestate_diff is None:
        eth = eth_from_calls(call_trace, me)
    else:
        pre = {k.lower(): v for k, v in (prestate_diff.get("pre") or {}).items()}
        post = {k.lower(): v for k, v in (prestate_diff.get("post") or {}).items()}
        before = _balance(pre.get(me))
        after = _balance(post.get(me))
        eth = 0 if after is None else after - (before or 0)
    return AssetDeltas(
        me,
        eth,
        {t: v for t, v in net.items() if v},
        tuple(transfers),
        tuple(ApprovalChange(t, s, a) for (t, s), a in approvals.items()),
    )


# --- the node ---------------------------------------------------------------------------------
def _no_tracing(e: RpcError) -> bool:
    m = str(e).lower()
    return e.rpc_code == -32601 or any(n in m for n in _NO_TRACING)


async def simulate(
    rpc: Any,
    call: CallRequest,
    account: str,
    *,
    block: str | int | Mapping[str, Any] = "latest",
    mode: Mode = "trace",
    prestate: bool = False,
    at_time: int | None = None,
) -> Simulation:
    """Trace ``call`` at ``block`` (a tag, a number, or an EIP-1898 ``{"blockHash": ..}``
    object: the exact block a caller decided at) and extract ``account``'s deltas (see the
    module doc). ``at_time``: run it with this block timestamp (``blockOverrides``) on that
    block's state: the time the transaction is signed for, not the last block's, which may
    be long past on a chain that mines on demand (an allowance that has refilled since,
    a deadline)."""
    blk: Any = hex(block) if isinstance(block, int) else block
    if mode == "call":
        return await _fallback(rpc, call, blk)
    req = call.to_rpc()
    over = {} if at_time is None else {"blockOverrides": {"time": hex(at_time)}}
    traces = [("debug_traceCall", [req, blk, {**_CALL_TRACER, **over}])]
    if prestate:
        traces.append(("debug_traceCall", [req, blk, {**_PRESTATE_TRACER, **over}]))
    answers = await rpc.batch(traces)
    calls, diff = answers[0], answers[1] if prestate else None
    for a in answers:
        if isinstance(a, RpcError) and _no_tracing(a):
            if mode == "trace":
                raise SimulationUnavailableError(
                    f"the node at {getattr(rpc, 'url', '?')} cannot trace calls ({a.message}); "
                    "nothing was signed: use a node with debug_traceCall, or set the "
                    "simulation mode to fallback to accept a bare eth_call"
                )
            return await _fallback(rpc, call, blk)
        if isinstance(a, BaseException):
            raise a
    err = calls.get("error")
    if err:
        reason = calls.get("revertReason") or _decoded(calls.get("output")) or err
        return Simulation(call, _tag(blk), False, str(reason), None, True, _gas(calls))
    return Simulation(
        call, _tag(blk), True, None, extract_deltas(calls, diff, account), True, _gas(calls)
    )


_CALL_TRACER = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
_PRESTATE_TRACER = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}


def _tag(blk: Any) -> str:
    """The block as journaled: the tag or number, or the hash of an EIP-1898 object."""
    return str(blk.get("blockHash") or blk.get("blockNumber")) if isinstance(blk, Mapping) else blk


def _decoded(output: Any) -> str | None:
    """A custom error's name and arguments (PolicyViolation(...), GS013, a Panic)."""
    from agent.wallet.reverts import decode_revert

    return decode_revert(output) if isinstance(output, str) else None


def _gas(frame: Mapping[str, Any]) -> int:
    g = frame.get("gasUsed")
    return int(g, 16) if isinstance(g, str) else int(g or 0)


async def _fallback(rpc: Any, call: CallRequest, blk: Any) -> Simulation:
    warning = "the node cannot trace: simulated with eth_call only (asset deltas unchecked)"
    log.warning(warning)
    try:
        await rpc.call("eth_call", [call.to_rpc(), blk])
    except RpcError as e:
        return Simulation(call, _tag(blk), False, e.message, None, False, warning=warning)
    return Simulation(call, _tag(blk), True, None, None, False, warning=warning)


# --- the check --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Expectation:
    """What the intent allows: pay at most ``max_in`` of ``token_in``, receive at least
    ``min_out`` of ``token_out`` (base units; ``ETH`` for native ETH, slippage already
    applied by the caller). ``spenders`` may be approved during the call but no allowance
    may be left; every other asset of the account must not decrease."""

    token_in: str
    max_in: int
    token_out: str
    min_out: int
    spenders: frozenset[str] = field(default_factory=frozenset)

    def key(self, token: str) -> str:
        return token if token == ETH else token.lower()


def _deny(reason: str) -> Deny:
    return Deny("SIMULATION_MISMATCH", reason, "simulate")


def check(sim: Simulation, exp: Expectation) -> Decision:
    """Allow, or Deny with SIMULATION_REVERTED / SIMULATION_MISMATCH and what differed."""
    if not sim.ok:
        return Deny(
            "SIMULATION_REVERTED", f"the call reverts in simulation: {sim.error}", "simulate"
        )
    if sim.deltas is None:
        return Allow("simulate", sim.warning or "untraced")
    d = sim.deltas
    tin, tout = exp.key(exp.token_in), exp.key(exp.token_out)
    paid = -d.net(tin)
    got = d.net(tout)
    if paid > exp.max_in:
        return _deny(
            f"the Safe would pay {paid} of {exp.token_in}, above the intent's {exp.max_in}"
        )
    if got < exp.min_out:
        return _deny(
            f"the Safe would receive {got} of {exp.token_out}, below the intent's {exp.min_out}"
        )
    others = [(t, v) for t, v in d.tokens.items() if t not in (tin, tout) and v < 0]
    if d.eth < 0 and ETH not in (tin, tout):
        others.append((ETH, d.eth))
    if others:
        t, v = others[0]
        return _deny(f"the Safe would lose {-v} of {t}, which the intent does not trade")
    spenders = {s.lower() for s in exp.spenders}
    for a in d.approvals:
        if a.spender not in spenders:
            return _deny(f"the call approves {a.spender} on {a.token}, not a venue of the intent")
        if a.amount:
            return _deny(f"the call leaves an allowance of {a.amount} to {a.spender} on {a.token}")
    return Allow("simulate", f"paid {paid} {exp.token_in}, received {got} {exp.token_out}")


APPROVE = bytes.fromhex("095ea7b3")  # approve(address,uint256)


def check_bounded(sim: Simulation, calls: Sequence[Any]) -> Decision:
    """The check without an intent: what the batch itself grants bounds what may leave the
    Safe. Each token may leave only up to the amounts the calls approve of it, ETH up to the
    calls' values; approvals go only to the spenders the calls name and none may be left;
    and a batch that pays something must receive something."""
    if not sim.ok:
        return Deny(
            "SIMULATION_REVERTED", f"the call reverts in simulation: {sim.error}", "simulate"
        )
    if sim.deltas is None:
        return Allow("simulate", sim.warning or "untraced")
    bound: dict[str, int] = {}
    spenders: set[str] = set()
    eth = 0
    for c in calls:
        eth += int(getattr(c, "value", 0))
        data = bytes(getattr(c, "data", b""))
        if data[:4] == APPROVE and len(data) == 68:
            token, amount = str(c.to).lower(), int.from_bytes(data[36:68], "big")
            spenders.add("0x" + data[16:36].hex())
            bound[token] = bound.get(token, 0) + amount
    d = sim.deltas
    for token, v in d.tokens.items():
        if v < 0 and -v > bound.get(token, 0):
            return _deny(
                f"the Safe would pay {-v} of {token}, above the {bound.get(token, 0)} the calls approve"
            )
    if d.eth < 0 and -d.eth > eth:
        return _deny(f"the Safe would pay {-d.eth} wei, above the calls' value {eth}")
    for a in d.approvals:
        if a.spender not in spenders:
            return _deny(f"the call approves {a.spender} on {a.token}, which no call names")
        if a.amount:
            return _deny(f"the call leaves an allowance of {a.amount} to {a.spender} on {a.token}")
    pays = d.eth < 0 or any(v < 0 for v in d.tokens.values())
    gets = d.eth > 0 or any(v > 0 for v in d.tokens.values())
    if pays and not gets:
        return _deny("the Safe would pay and receive nothing (is the recipient someone else?)")
    return Allow("simulate", "within the batch's own approvals")


ZERO = "0x" + "00" * 20  # native ETH in the policy's deltas (agent.policy.checkers)


def policy_deltas(d: AssetDeltas) -> dict[str, int]:
    """The deltas as the policy guard's value-guard pre-check reads them (token -> signed
    base units, native ETH under the zero address)."""
    out = dict(d.tokens)
    if d.eth:
        out[ZERO] = d.eth
    return out


def _key(calldata: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(calldata)


class SimulationGuard:
    """The executor's pre-sign hook (agent.wallet.executor.PreSignCheck): simulate the
    module call for ``calls`` from the operator, for the Safe, and check it against the
    expectation registered for exactly those calls with :meth:`expect` (or, registered
    without calls, for the next check). Without an expectation the batch's own approvals
    bound what may leave (:func:`check_bounded`).

    Order: simulate; the ``inner`` guard (the policy) with the simulated deltas, whose Deny
    wins (it names the rule); then the simulation's own verdict. ``journal``: every
    simulation is appended as ``TxSimulated`` on ``sim-<client id>`` (agent.oms.events)."""

    def __init__(
        self,
        rpc: Any,
        *,
        operator: str,
        module: str,
        multisend: str,
        safe: str,
        mode: Mode = "trace",
        inner: Any = None,
        journal: Any = None,
        chain_id: int = 0,
        clock: Any = None,
    ) -> None:
        """``inner``: a PreSignCheck consulted on every call (the policy guard). ``clock``
        (default time.time): the block time the call is simulated at (now: when it is
        signed), as the policy guard judges it."""
        if mode not in MODES:
            from agent.errors import ValidationError

            raise ValidationError(
                "simulation",
                f"{mode!r} is not a mode",
                "use trace (refuse without tracing), fallback (eth_call if the node cannot "
                "trace) or call (eth_call only)",
            )
        self.rpc, self.operator, self.module = rpc, operator, module
        self.multisend, self.safe, self.mode = multisend, safe, mode
        self.inner = inner
        self.journal, self.chain_id = journal, chain_id
        if clock is None:
            import time

            clock = time.time
        self.clock = clock
        self._inner_deltas = _takes_deltas(inner)
        self._next: tuple[Expectation, str] | None = None
        self._by_call: dict[bytes, tuple[Expectation, str]] = {}
        self.last: Simulation | None = None  # for journaling / `policy explain`
        self.last_decision: Decision | None = None

    def expect(
        self, exp: Expectation, calls: Sequence[Any] | None = None, client_order_id: str = ""
    ) -> None:
        """Register what the intent allows for ``calls`` (consumed by their check); without
        ``calls``, for the next check, whatever it is."""
        if calls is None:
            self._next = (exp, client_order_id)
            return
        from agent.wallet.module import module_calldata

        self._by_call[_key(module_calldata(list(calls), self.multisend))] = (exp, client_order_id)

    def forget(self, calls: Sequence[Any]) -> None:
        """Drop an expectation that was never checked (the caller did not get to execute)."""
        from agent.wallet.module import module_calldata

        self._by_call.pop(_key(module_calldata(list(calls), self.multisend)), None)

    async def check(self, calls: Sequence[Any]) -> Decision:
        from agent.wallet.module import module_calldata

        data = module_calldata(list(calls), self.multisend)
        registered = self._by_call.pop(_key(data), None)
        if registered is None:
            registered, self._next = self._next, None
        exp, cid = registered if registered is not None else (None, "")
        call = CallRequest(self.operator, self.module, data)
        try:
            sim = await simulate(
                self.rpc, call, self.safe, mode=self.mode, at_time=int(self.clock())
            )
        except SimulationUnavailableError as e:
            return Deny(e.code, e.message, "simulate")
        self.last = sim
        verdict = check_bounded(sim, calls) if exp is None else check(sim, exp)
        self.last_decision = verdict
        await self._journal(cid, sim, verdict, exp)
        if self.inner is not None:
            if self._inner_deltas and sim.deltas is not None:
                first = await self.inner.check(calls, deltas=policy_deltas(sim.deltas))
            else:
                first = await self.inner.check(calls)
            if not first.allowed:
                return first
        return verdict

    async def _journal(
        self, cid: str, sim: Simulation, verdict: Decision, exp: Expectation | None
    ) -> None:
        if self.journal is None:
            return
        from agent.oms.events import sim_stream

        ev = simulated_event(
            cid, self.chain_id, self.safe, self.module, sim, verdict, describe_expectation(exp)
        )
        append = getattr(self.journal, "append_async", None)
        if append is not None:
            await append(sim_stream(cid, self.chain_id, self.safe), -1, [ev])
        else:
            self.journal.append(sim_stream(cid, self.chain_id, self.safe), -1, [ev])


def simulated_event(
    cid: str,
    chain_id: int,
    safe: str,
    module: str,
    sim: Simulation,
    verdict: Decision,
    expected: str,
) -> Any:
    """The journal record of one simulation (agent.oms.events.TxSimulated)."""
    from agent.oms.events import SimApproval, SimDelta, TxSimulated

    d = sim.deltas
    deltas: tuple[SimDelta, ...] = ()
    approvals: tuple[SimApproval, ...] = ()
    if d is not None:
        deltas = tuple(SimDelta(t, v) for t, v in sorted(d.tokens.items()))
        if d.eth:
            deltas += (SimDelta(ETH, d.eth),)
        approvals = tuple(SimApproval(a.token, a.spender, a.amount) for a in d.approvals)
    return TxSimulated(
        client_order_id=cid, chain_id=chain_id, safe=safe.lower(), module=module.lower(),
        calldata_hash="0x" + _key(sim.call.data).hex(), block=sim.block, traced=sim.traced,
        ok=sim.ok, verdict="allow" if verdict.allowed else "deny",
        code=getattr(verdict, "code", ""), reason=getattr(verdict, "reason", "") or getattr(verdict, "note", ""),
        expected=expected, error=sim.error or "", warning=sim.warning or "",
        gas_used=sim.gas_used, deltas=deltas, approvals=approvals,
    )  # fmt: skip


def describe_expectation(exp: Expectation | None) -> str:
    if exp is None:
        return "the batch's own approvals"
    return (
        f"pay at most {exp.max_in} of {exp.token_in}, receive at least {exp.min_out} of "
        f"{exp.token_out}"
    )


def _takes_deltas(inner: Any) -> bool:
    import inspect

    if inner is None:
        return False
    try:
        return "deltas" in inspect.signature(inner.check).parameters
    except (TypeError, ValueError):
        return False
