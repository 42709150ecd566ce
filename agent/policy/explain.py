"""`agent policy explain`: which rule a raw transaction meets, each condition with the value it
saw and whether it holds, and the decision (the evaluator's, unchanged).

Arguments are decoded with the target's committed ABI (abis/, names as the contract has them)
when the target is known, else with the matching rule's signature from the policy file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from eth_abi import decode

from agent.policy.abis import lookup
from agent.policy.evaluator import (
    PolicyCall,
    PolicyContext,
    _condition,
    _Denied,
    _slippage,
    decode_batch,
    describe_function,
    evaluate,
)
from agent.policy.model import Policy


def _show(v: object) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def _decoded_args(policy: Policy, rule, call: PolicyCall) -> list[str]:  # type: ignore[no-untyped-def]
    data = call.data
    fn = lookup(policy.abis.get(call.to.lower()), data[:4] if len(data) >= 4 else b"\x00" * 4)
    try:
        if fn is not None:
            if not data:
                return []
            args = fn.decode(data)
            return [f"    {k} = {_show(v)}" for k, v in args.items()]
        if rule is None:
            return []
        types = [p.type.canonical for p in rule.sig.params]
        vals = decode(types, data[4:])
    except Exception as e:  # undecodable calldata is itself worth showing
        sig = fn.sig.canonical if fn is not None else rule.sig.canonical
        return [f"    (calldata does not decode as {sig}: {e})"]
    return [f"    {p.name} = {_show(v)}" for p, v in zip(rule.sig.params, vals, strict=True)]


def describe_calls(
    policy: Policy, calls: Sequence[Any], abis: Mapping[str, str] | None = None
) -> list[str]:
    """Every call decoded for people: ``[i] Name.fn(sig) (0xsel), value V wei`` and its
    arguments by the ABI's names (abis/). ``abis`` adds lower address -> ABI name for targets
    the policy does not know (the module and the Safe, for `policy apply`); a target without
    an ABI shows its selector and length, and says so."""
    known = {**policy.abis, **{k.lower(): v for k, v in (abis or {}).items()}}
    view = replace(policy, abis=known)
    lines: list[str] = []
    for i, c in enumerate(calls):
        data = bytes(c.data)
        sel = data[:4] if len(data) >= 4 else b"\x00" * 4
        head = f"[{i}] " if len(calls) > 1 else ""
        what = (
            describe_function(view, c.to, sel) if data else f"{view.name_of(c.to)} (plain transfer)"
        )
        lines.append(f"{head}{what}, value {int(getattr(c, 'value', 0))} wei, {len(data)} bytes")
        pc = PolicyCall(str(c.to), data, int(getattr(c, "value", 0)))
        lines += _decoded_args(view, None, pc)
    return lines


def explain_call(policy: Policy, call: PolicyCall, ctx: PolicyContext) -> list[str]:
    role_id = policy.operators.get(ctx.operator.lower())
    lines: list[str] = []
    calls = [call]
    if call.operation == 1 and policy.multisend and call.to.lower() == policy.multisend.lower():
        try:
            calls = decode_batch(call.data)
            lines.append(f"MultiSend batch of {len(calls)} calls, each checked as if sent alone:")
        except _Denied as e:
            lines.append(f"  malformed batch: {e.d.reason}")
            calls = []
    allowances = dict(ctx.allowances)
    for i, c in enumerate(calls):
        sel = c.data[:4] if len(c.data) >= 4 else b"\x00" * 4
        rule = policy.rules.get((role_id or -1, c.to.lower(), sel))
        head = f"[{i}] " if len(calls) > 1 else ""
        if rule is None:
            lines.append(
                f"{head}{describe_function(policy, c.to, sel)}: no rule grants it to this operator (denied)"
            )
            lines += _decoded_args(policy, None, c)
            continue
        lines.append(
            f"{head}{rule.label}  ({rule.sig.canonical}, value {c.value} <= {rule.max_value} wei: {'ok' if c.value <= rule.max_value else 'NO'})"
        )
        lines += _decoded_args(policy, rule, c)
        for cond in rule.conditions:
            try:
                _condition(policy, rule, cond, c.data, ctx, allowances)
                lines.append(f"    ok   {cond.source}{_check_note(rule, cond)}")
            except _Denied as e:
                lines.append(f"    FAIL {cond.source}: {e.d.reason}")
        if rule.slippage is not None and rule.checker is None:
            lines.append(_slippage_line(policy, rule, c, ctx))
    d = evaluate(policy, call, replace(ctx, allowances=dict(ctx.allowances)))
    if d.allowed:
        lines.append(f"decision: ALLOW ({d.rule})")
    else:
        lines.append(f"decision: DENY {d.code}: {d.reason}  [rule: {d.rule}]")
    return lines


def _check_note(rule, cond) -> str:  # type: ignore[no-untyped-def]
    """What an OP_CHECK condition that held has checked (the module checks it too)."""
    from agent.policy.model import CheckerKind, Op

    ck = rule.checker
    if cond.op != Op.CHECK or ck is None:
        return ""
    if ck.kind == CheckerKind.SWAP_PRICE:
        return (
            f" (on-chain too): the limit is within {ck.max_deviation_bps} bps of the oracle prices"
        )
    if ck.kind == CheckerKind.OPTIONS_FILL:
        return (
            " (on-chain too): makers, taker, series and premiums within the policy's bounds "
            f"(buy <= intrinsic + {ck.max_time_value_bps} bps of spot, sell >= intrinsic)"
        )
    return " (on-chain too): credited to the value guard net of the bridge fee"


def _slippage_line(policy: Policy, rule, call: PolicyCall, ctx: PolicyContext) -> str:  # type: ignore[no-untyped-def]
    role = policy.roles[rule.role_id]
    if role.max_slippage_bps is None:
        return "    slippage: the role sets no max_slippage_bps (not checked)"
    try:
        _slippage(policy, role, rule, call.data, ctx)
    except _Denied as e:
        return f"    FAIL slippage (off-chain): {e.d.reason}"
    except (IndexError, ValueError) as e:
        return f"    FAIL slippage (off-chain): calldata unreadable ({e})"
    bound = "maximum in" if rule.slippage.exact_out else "minimum out"
    return f"    ok   slippage (off-chain): {bound} within {role.max_slippage_bps} bps of the reference price"


# --------------------------------------------------------------------------- simulation
def _amount(manifest, asset: str, amount: int) -> str:  # type: ignore[no-untyped-def]
    """``+1.5 WETH`` for a token the manifest knows, else the raw base units and address."""
    from decimal import Decimal

    def human(decimals: int) -> str:
        v = format(Decimal(amount).scaleb(-decimals).normalize(), "f")
        return v if v.startswith("-") else "+" + v

    if asset == "ETH":
        return f"{human(18)} ETH"
    if manifest is not None:
        for t in manifest.tokens.values():
            if t.address.lower() == asset.lower():
                return f"{human(t.decimals)} {t.symbol}"
    return f"{amount:+d} base units of {asset}"


def simulation_lines(ev, manifest=None, *, live: bool = True) -> list[str]:  # type: ignore[no-untyped-def]
    """A simulation (an ``agent.oms.events.TxSimulated``, journaled or just made) for people:
    what the exact module call does to the Safe's assets and the verdict against what the
    intent allows. ``live``: its Deny ends the explanation as the decision (exit 1)."""
    how = "debug_traceCall" if ev.traced else "eth_call only, untraced"
    head = f"simulation ({how}, block {ev.block}"
    head += f", order {ev.client_order_id})" if ev.client_order_id else ")"
    lines = [head + f": {'ok' if ev.ok else 'reverts: ' + ev.error}, gas {ev.gas_used}"]
    if ev.warning:
        lines.append(f"    warning: {ev.warning}")
    for d in ev.deltas:
        lines.append(f"    Safe {_amount(manifest, d.asset, d.amount)}")
    for a in ev.approvals:
        lines.append(f"    approval {a.token} -> {a.spender}: {a.amount} left")
    if ev.traced and ev.ok and not ev.deltas:
        lines.append("    the Safe's balances do not change")
    lines.append(f"    expected: {ev.expected}")
    if ev.verdict == "allow":
        lines.append(f"    simulation: ALLOW ({ev.reason})")
    elif live:
        lines.append(f"decision: DENY {ev.code}: {ev.reason}  [rule: simulate]")
    else:
        lines.append(f"    simulation: DENY {ev.code}: {ev.reason} (nothing was signed)")
    return lines
