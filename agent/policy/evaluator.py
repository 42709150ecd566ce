"""The off-chain evaluator: (policy, call or MultiSend batch, context) -> Allow | Deny.

The on-chain part mirrors PolicyModule._check word for word and in the same order (so a Deny
carries the status the module would revert with); the off-chain-only rules (kill switch,
chains, trading hours, second signer, denylist, slippage) run around it. Pure: no I/O, no
clock; the context carries time, allowance state and reference prices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.model.decisions import Allow, Decision, Deny
from agent.policy.abi import Location
from agent.policy.abis import lookup
from agent.policy.allowance import AllowanceState
from agent.policy.checkers import (
    SEL_FILL,
    FeedRead,
    SeriesInfo,
    Violation,
    Window,
    check,
    decode_fills,
    plain_deltas,
    value_guard,
)
from agent.policy.model import Condition, Op, Policy, Role, Rule, Status

MULTISEND_SELECTOR = bytes.fromhex("8d80ff0a")
FINALIZE_WITHDRAWAL = bytes.fromhex("10dce426")  # BridgeEscrow.finalizeWithdrawal(bytes32)
WITHDRAWAL_PENDING = 1  # BridgeEscrow.WithdrawalStatus.Pending
_ZERO_SEL = b"\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class PolicyCall:
    """One call the Safe would make: operation 0 = call, 1 = delegatecall."""

    to: str
    data: bytes = b""
    value: int = 0
    operation: int = 0


@dataclass(frozen=True)
class PolicyContext:
    operator: str
    chain_id: int
    now: int  # unix seconds of the block the call would land in
    allowances: Mapping[int, AllowanceState] = field(default_factory=dict)
    prices_usd: Mapping[str, Decimal] = field(default_factory=dict)  # lower-case token -> USD
    notional_usd: Decimal | None = None
    second_signer: bool = False
    paused: bool = False  # the module's on-chain pause flag, when known
    # On-chain readings for the oracle-priced rules (PolicyGuard reads them at each check):
    feeds: Mapping[str, FeedRead | None] = field(default_factory=dict)  # lower token -> round
    series: Mapping[int, SeriesInfo] = field(default_factory=dict)  # OptionsMarket.series(id)
    window: Window | None = None  # valueGuard()'s window; None skips the value-guard pre-check
    balances: Mapping[str, int] = field(default_factory=dict)  # lower token -> the Safe's balance
    # Expected balance changes of the whole execution (lower token -> signed base units, e.g.
    # from a simulation); None: the worst case the calldata allows (min out, max in, ...).
    deltas: Mapping[str, int] | None = None
    used_nonces: frozenset[tuple[str, int]] = frozenset()  # (lower maker, nonce) already used
    withdrawals: Mapping[str, tuple[int, int]] = field(
        default_factory=dict
    )  # id -> (status, releaseAt)
    bridge_fees: Mapping[int, int] = field(default_factory=dict)  # deposit amount -> feeFor(amount)


class _Acc:
    """What one execution's calls add up to, for the value guard: checker credits and the
    worst-case balance changes."""

    __slots__ = ("credit", "deltas")

    def __init__(self) -> None:
        self.credit = 0
        self.deltas: dict[str, int] = {}

    def add(self, changes: Any) -> None:
        for t, d in changes:
            self.deltas[t] = self.deltas.get(t, 0) + d


class _Denied(Exception):
    def __init__(self, d: Deny):
        self.d = d


def _deny(status: Status | str, rule: str, reason: str) -> _Denied:
    code = status if isinstance(status, str) else status.code
    return _Denied(Deny(code, reason, rule))


def _as_call(c: Any) -> PolicyCall:
    if isinstance(c, PolicyCall):
        return c
    return PolicyCall(
        c.to, bytes(c.data), int(getattr(c, "value", 0)), int(getattr(c, "operation", 0))
    )


def evaluate(policy: Policy, call_or_batch: Any, ctx: PolicyContext) -> Decision:
    """Allow, or Deny(code, reason, rule). ``call_or_batch``: a PolicyCall (or anything with
    to/data/value[/operation]), a delegatecall to MultiSendCallOnly, or a sequence of calls
    (evaluated as the MultiSend batch that would carry them)."""
    try:
        return _evaluate(policy, call_or_batch, ctx, dict(ctx.allowances))
    except _Denied as e:
        return e.d


def evaluate_spending(
    policy: Policy, call_or_batch: Any, ctx: PolicyContext
) -> tuple[Decision, dict[int, AllowanceState]]:
    """Like :func:`evaluate`, plus the allowance states after the call(s) as the module would
    leave them (unchanged on a Deny: the module reverts, nothing is spent)."""
    allowances = dict(ctx.allowances)
    try:
        return _evaluate(policy, call_or_batch, ctx, allowances), allowances
    except _Denied as e:
        return e.d, dict(ctx.allowances)


def _evaluate(
    policy: Policy, call_or_batch: Any, ctx: PolicyContext, allowances: dict[int, AllowanceState]
) -> Decision:
    role_id = policy.operators.get(ctx.operator.lower())
    if role_id is None:
        raise _deny(
            Status.NOT_OPERATOR,
            "operators",
            f"{ctx.operator} has no role in policy {policy.name!r}; add it to a role's operators",
        )
    if policy.kill_switch:
        raise _deny(
            "POLICY_KILL_SWITCH",
            "kill_switch",
            "the policy's kill switch is on; the owners must turn it off",
        )
    if ctx.paused:
        raise _deny(
            Status.PAUSED,
            "kill_switch",
            "the module is paused on-chain; the Safe's owners must unpause it",
        )
    role = policy.roles[role_id]
    _offchain_role_checks(role, ctx)
    acc = _Acc()
    decision = _calls(policy, role, role_id, call_or_batch, ctx, allowances, acc)
    if policy.value_guard is not None and ctx.window is not None:
        deltas = acc.deltas if ctx.deltas is None else ctx.deltas
        try:
            value_guard(policy, ctx.feeds, ctx.now, ctx.window, ctx.balances, deltas, acc.credit)
        except Violation as v:
            raise _deny(v.status, "value_guard", v.reason) from None
    return decision


def _calls(
    policy: Policy,
    role: Role,
    role_id: int,
    call_or_batch: Any,
    ctx: PolicyContext,
    allowances: dict[int, AllowanceState],
    acc: _Acc,
) -> Decision:
    if isinstance(call_or_batch, Sequence) and not isinstance(call_or_batch, (str, bytes)):
        calls = [_as_call(c) for c in call_or_batch]
        if not role.multisend:
            raise _deny(
                Status.DELEGATECALL_NOT_ALLOWED,
                f"roles[{role.name}].multisend",
                "this role may not send batches; send the calls one by one",
            )
        labels = [_check(policy, role, c, ctx, allowances, acc) for c in calls]
        return Allow(rule="; ".join(labels), note=f"batch of {len(calls)}")
    call = _as_call(call_or_batch)
    if call.operation == 0:
        return Allow(rule=_check(policy, role, call, ctx, allowances, acc))
    if call.operation == 1 and policy.multisend and call.to.lower() == policy.multisend.lower():
        if not role.multisend:
            raise _deny(
                Status.DELEGATECALL_NOT_ALLOWED,
                f"roles[{role.name}].multisend",
                "this role may not send batches",
            )
        if call.value:
            raise _deny(
                Status.VALUE_TOO_HIGH,
                "multisend",
                "a MultiSend delegatecall carries no value; put value on the inner calls",
            )
        inner = decode_batch(call.data)
        labels = [_check(policy, role, c, ctx, allowances, acc) for c in inner]
        return Allow(rule="; ".join(labels), note=f"batch of {len(inner)}")
    if call.operation == 1:
        rule = policy.rules.get(
            (role_id, call.to.lower(), call.data[:4] if len(call.data) >= 4 else _ZERO_SEL)
        )
        if rule is not None and rule.delegatecall:
            _check(
                policy, role, PolicyCall(call.to, call.data, call.value), ctx, allowances, _Acc()
            )
            return Allow(
                rule=rule.label, note="acknowledged delegatecall: the on-chain module refuses it"
            )
    raise _deny(
        Status.DELEGATECALL_NOT_ALLOWED,
        "delegatecall",
        f"delegatecall to {policy.name_of(call.to)} is refused; only MultiSendCallOnly batches may be delegatecalled",
    )


def decode_batch(data: bytes) -> list[PolicyCall]:
    """multiSend(bytes) calldata -> calls, with the module's strictness (canonical offset)."""
    if len(data) < 68 or data[:4] != MULTISEND_SELECTOR:
        raise _deny(Status.MALFORMED, "multisend", "not multiSend(bytes) calldata")
    if int.from_bytes(data[4:36], "big") != 32:
        raise _deny(
            Status.MALFORMED, "multisend", "non-canonical multiSend encoding (offset != 32)"
        )
    n = int.from_bytes(data[36:68], "big")
    if n > len(data) - 68:
        raise _deny(Status.MALFORMED, "multisend", "multiSend length overruns the calldata")
    txs, out, i = data[68 : 68 + n], [], 0
    while i < n:
        if n - i < 85:
            raise _deny(Status.MALFORMED, "multisend", f"batch entry at byte {i} is truncated")
        op = txs[i]
        to = "0x" + txs[i + 1 : i + 21].hex()
        value = int.from_bytes(txs[i + 21 : i + 53], "big")
        dlen = int.from_bytes(txs[i + 53 : i + 85], "big")
        if dlen > n - i - 85:
            raise _deny(
                Status.MALFORMED, "multisend", f"batch entry at byte {i} overruns the batch"
            )
        if op != 0:
            raise _deny(
                Status.DELEGATECALL_NOT_ALLOWED,
                "multisend",
                f"batch entry to {to} is a delegatecall",
            )
        out.append(PolicyCall(to, bytes(txs[i + 85 : i + 85 + dlen]), value))
        i += 85 + dlen
    return out


def _offchain_role_checks(role: Role, ctx: PolicyContext) -> None:
    if role.chains and ctx.chain_id not in role.chains:
        raise _deny(
            "POLICY_CHAIN_NOT_ALLOWED",
            f"roles[{role.name}].chains",
            f"chain {ctx.chain_id} is not among {sorted(role.chains)} for role {role.name}",
        )
    if role.hours is not None:
        t = dt.datetime.fromtimestamp(ctx.now, dt.UTC)
        minute = t.hour * 60 + t.minute
        if (
            t.weekday() not in role.hours.days
            or not role.hours.start_min <= minute < role.hours.end_min
        ):
            raise _deny(
                "POLICY_OUTSIDE_TRADING_HOURS",
                f"roles[{role.name}].trading_hours",
                f"{t:%a %H:%M} UTC is outside the role's trading hours; wait or ask the owners",
            )
    limit = role.second_signer_above_usd
    if (
        limit is not None
        and not ctx.second_signer
        and (ctx.notional_usd is None or ctx.notional_usd > limit)
    ):
        raise _deny(
            "POLICY_SECOND_SIGNER_REQUIRED",
            f"roles[{role.name}].second_signer_above_usd",
            f"notional {ctx.notional_usd if ctx.notional_usd is not None else 'unknown'} USD is above {limit}; a second human signer must approve",
        )


def describe_function(policy: Policy, to: str, sel: bytes) -> str:
    """``SwapRouter.multicall(uint256,bytes[]) (0x5ae401dc)`` from abis/, for people; only
    called on the deny and explain paths."""
    abi = policy.abis.get(to.lower())
    fn = lookup(abi, sel)
    name = policy.name_of(to)
    if fn is not None:
        return f"{name}.{fn.sig.canonical} (0x{sel.hex()})"
    if abi is not None:
        return f"{name} selector 0x{sel.hex()} (not a function of abis/{abi}.json)"
    return f"{name} selector 0x{sel.hex()} (no ABI for this target)"


def _word(data: bytes, w: int) -> int:
    return int.from_bytes(data[4 + 32 * w : 36 + 32 * w], "big")


def _check(
    policy: Policy,
    role: Role,
    call: PolicyCall,
    ctx: PolicyContext,
    allowances: dict[int, AllowanceState],
    acc: _Acc | None = None,
) -> str:
    to, data = call.to.lower(), call.data
    if policy.module and to == policy.module.lower():
        raise _deny(
            Status.FUNCTION_NOT_ALLOWED,
            "module",
            "the policy module is never a target (it would let the operator reconfigure it)",
        )
    n = len(data)
    if n >= 4:
        sel = data[:4]
    elif n == 0:
        sel = _ZERO_SEL
    else:
        raise _deny(
            Status.CALLDATA_TOO_SHORT,
            "calldata",
            f"{n} bytes of calldata is neither empty nor a selector",
        )
    rule = policy.rules.get((role.id, to, sel))
    if rule is None:
        raise _deny(
            Status.FUNCTION_NOT_ALLOWED,
            f"roles[{role.name}]",
            f"{describe_function(policy, call.to, sel)} is not allowed for role {role.name}; unknown targets and functions are denied",
        )
    if call.value > rule.max_value:
        raise _deny(
            Status.VALUE_TOO_HIGH,
            f"{rule.label}.max_value",
            f"value {call.value} wei is above the cap {rule.max_value} wei",
        )
    for c in rule.conditions:
        _condition(policy, rule, c, data, ctx, allowances, acc)
    _screen(policy, rule, call)
    if rule.slippage is not None and rule.checker is None:
        # with a SwapPriceChecker the same bound is the oracle-priced condition above
        _slippage(policy, role, rule, data, ctx)
    sel4 = data[:4]
    if sel4 == SEL_FILL and ctx.used_nonces:
        _fresh_quotes(rule, data, ctx)
    elif sel4 == FINALIZE_WITHDRAWAL and ctx.withdrawals:
        _proven(rule, data, ctx)
    if acc is not None and (rule.checker is None or rule.offchain_only):
        acc.add(plain_deltas(policy, to, data, call.value))
    return rule.label


def _fresh_quotes(rule: Rule, data: bytes, ctx: PolicyContext) -> None:
    try:
        fills = decode_fills(data)
    except (ValueError, IndexError):
        return  # the checker (or the market) refuses it on its own terms
    for i, f in enumerate(fills):
        if (f.maker, f.nonce) in ctx.used_nonces:
            raise _deny(
                "POLICY_QUOTE_NONCE_USED",
                rule.label,
                f"order {i}: maker {f.maker}'s quote nonce {f.nonce} is already used (a replay); ask for a fresh quote",
            )


def _proven(rule: Rule, data: bytes, ctx: PolicyContext) -> None:
    wid = "0x" + data[4:36].hex()
    got = ctx.withdrawals.get(wid)
    if got is None:
        return
    status, release_at = got
    if status != WITHDRAWAL_PENDING:
        what = {0: "was never proven", 2: "is already finalized (a replay)", 3: "was challenged"}
        raise _deny(
            "POLICY_WITHDRAWAL_NOT_PROVEN",
            rule.label,
            f"withdrawal {wid} {what.get(status, f'has status {status}')}; nothing to finalize",
        )
    if ctx.now < release_at:
        raise _deny(
            "POLICY_WITHDRAWAL_NOT_PROVEN",
            rule.label,
            f"withdrawal {wid} is in its challenge period until {release_at}",
        )


def _condition(
    policy: Policy,
    rule: Rule,
    c: Condition,
    data: bytes,
    ctx: PolicyContext,
    allowances: dict[int, AllowanceState],
    acc: _Acc | None = None,
) -> None:
    if c.op == Op.CHECK:
        ck = rule.checker
        assert ck is not None
        try:
            got = check(
                policy, ck, rule.target, data, ctx.feeds, ctx.series, ctx.now, ctx.bridge_fees
            )
        except Violation as v:
            raise _deny(v.status, f"{rule.label}.{c.source}", v.reason) from None
        if acc is not None:
            acc.credit += got.credit
            acc.add(got.deltas)
        return
    end = 36 + 32 * c.word
    if len(data) < end:
        raise _deny(
            Status.CALLDATA_TOO_SHORT,
            f"{rule.label}.{c.source}",
            f"calldata ends before {c.param} (word {c.word})",
        )
    w = int.from_bytes(data[end - 32 : end], "big")
    op = c.op
    if op == Op.EQ:
        if w != c.value:
            raise _deny(
                Status.PARAM_NOT_EQUAL,
                f"{rule.label}.{c.source}",
                f"{c.param} is {_show(policy, w)}, must be {_show(policy, c.value)}",
            )
    elif op == Op.IS_SAFE:
        if w != int(policy.safe, 16):
            raise _deny(
                Status.PARAM_NOT_SAFE,
                f"{rule.label}.{c.source}",
                f"{c.param} is {_show(policy, w)}, must be the Safe {policy.safe}",
            )
    elif op == Op.LE:
        if w > c.value:
            raise _deny(
                Status.PARAM_TOO_HIGH,
                f"{rule.label}.{c.source}",
                f"{c.param} = {w} is above the limit {c.value}",
            )
    elif op == Op.GE:
        if w < c.value:
            raise _deny(
                Status.PARAM_TOO_LOW,
                f"{rule.label}.{c.source}",
                f"{c.param} = {w} is below the floor {c.value}",
            )
    elif op == Op.IN_SET:
        if w not in policy.sets[c.aux].values:
            raise _deny(
                Status.PARAM_NOT_IN_SET,
                f"{rule.label}.{c.source}",
                f"{c.param} = {_show(policy, w)} is not in set {policy.sets[c.aux].name!r}",
            )
    elif op == Op.ALLOWANCE:
        a = policy.allowances[c.aux]
        state = allowances.get(c.aux) or AllowanceState(a.cap, a.cap, a.period, ctx.now)
        after = state.spend(w, ctx.now)
        if after is None:
            left = state.refilled(ctx.now)
            raise _deny(
                Status.ALLOWANCE_EXCEEDED,
                f"{rule.label}.{c.source}",
                f"{c.param} = {w} exceeds allowance {a.name!r}: {left.balance} of {a.cap} {a.symbol} base units left; it refills to the cap at {left.last_refill + a.period}"
                if a.period
                else f"{c.param} = {w} exceeds allowance {a.name!r} ({left.balance} left, never refills)",
            )
        allowances[c.aux] = after
    elif op == Op.ARRAY_IN_SET:
        members = policy.sets[c.aux].values
        if w == 0 or w > (len(data) - end) // 32:
            raise _deny(Status.MALFORMED, f"{rule.label}.{c.source}", f"{c.param} has length {w}")
        for k in range(w):
            el = int.from_bytes(data[end + 32 * k : end + 32 * k + 32], "big")
            if el not in members:
                raise _deny(
                    Status.PATH_NOT_IN_SET,
                    f"{rule.label}.{c.source}",
                    f"{c.param}[{k}] = {_show(policy, el)} is not in set {policy.sets[c.aux].name!r}",
                )
    else:  # PATH_IN_SET
        members = policy.sets[c.aux].values
        if w < 43 or (w - 20) % 23 or w > len(data) - end:
            raise _deny(
                Status.MALFORMED,
                f"{rule.label}.{c.source}",
                f"{c.param} is not a Uniswap V3 path ({w} bytes)",
            )
        for p in range(0, w - 19, 23):
            el = int.from_bytes(data[end + p : end + p + 20], "big")
            if el not in members:
                raise _deny(
                    Status.PATH_NOT_IN_SET,
                    f"{rule.label}.{c.source}",
                    f"{c.param} hop token {_show(policy, el)} is not in set {policy.sets[c.aux].name!r}",
                )


def _show(policy: Policy, w: int) -> str:
    if 0 < w < 2**160 and w > 2**100:
        a = "0x" + w.to_bytes(20, "big").hex()
        n = policy.names.get(a)
        return f"{a} ({n})" if n else a
    return str(w)


def _screen(policy: Policy, rule: Rule, call: PolicyCall) -> None:
    deny = policy.denylist
    if not deny:
        return
    if call.to.lower() in deny:
        raise _deny(
            "POLICY_COUNTERPARTY_DENYLISTED",
            "screening.denylist",
            f"target {call.to} is on the denylist",
        )
    for name, w in rule.address_words:
        a = "0x" + call.data[16 + 32 * w : 36 + 32 * w].hex()
        if a in deny:
            raise _deny(
                "POLICY_COUNTERPARTY_DENYLISTED",
                "screening.denylist",
                f"{name} = {a} is on the denylist",
            )


def _read_token(data: bytes, where: Location | str, end: int) -> str:
    if isinstance(where, str):
        return where.lower()
    if where.kind == "word":
        return "0x" + data[16 + 32 * where.word : 36 + 32 * where.word].hex()
    base = 36 + 32 * where.word
    n = _word(data, where.word)
    if where.kind == "address_array":
        k = 0 if end == 0 else n - 1
        return "0x" + data[base + 32 * k + 12 : base + 32 * k + 32].hex()
    p = 0 if end == 0 else n - 20
    return "0x" + data[base + p : base + p + 20].hex()


def _slippage(policy: Policy, role: Role, rule: Rule, data: bytes, ctx: PolicyContext) -> None:
    s = rule.slippage
    assert s is not None
    if role.max_slippage_bps is None:
        return
    t_in = _read_token(data, s.token_in, s.token_in_end)
    t_out = _read_token(data, s.token_out, s.token_out_end)
    p_in, p_out = ctx.prices_usd.get(t_in), ctx.prices_usd.get(t_out)
    if not p_in or not p_out or p_in < 0 or p_out < 0:  # missing, zero or negative
        raise _deny(
            "POLICY_NO_REFERENCE_PRICE",
            f"{rule.label}.slippage",
            f"no usable reference price for {policy.name_of(t_out if p_in and p_in > 0 else t_in)}; refusing a swap it cannot bound",
        )
    d_in, d_out = _decimals(policy, t_in), _decimals(policy, t_out)
    amount, bound = _word(data, s.amount_in.word), _word(data, s.min_out.word)
    bps = role.max_slippage_bps
    # Exact, in integers: base units of out per base unit of in at the reference price is
    # rn / rd; comparisons are cross-multiplied (cheaper than Fractions on the hot path).
    pin_n, pin_d = p_in.as_integer_ratio()
    pout_n, pout_d = p_out.as_integer_ratio()
    rn, rd = pin_n * pout_d * 10**d_out, pin_d * pout_n * 10**d_in
    if s.exact_out:
        if bound * rn * 10_000 > amount * rd * (10_000 + bps):
            ceiling = amount * rd * (10_000 + bps) // (rn * 10_000)
            raise _deny(
                "POLICY_SLIPPAGE_TOO_HIGH",
                f"roles[{role.name}].max_slippage_bps",
                f"maximum in {bound} is above {ceiling} ({bps} bps over the reference price); lower the maximum",
            )
        return
    if bound * rd * 10_000 < amount * rn * (10_000 - bps):
        floor = amount * rn * (10_000 - bps) // (rd * 10_000)
        raise _deny(
            "POLICY_SLIPPAGE_TOO_HIGH",
            f"roles[{role.name}].max_slippage_bps",
            f"minimum out {bound} is below {floor} ({bps} bps under the reference price); raise the minimum",
        )


def _decimals(policy: Policy, token: str) -> int:
    return policy.decimals.get(token, 18)
