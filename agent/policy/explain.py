"""`agent policy explain`: which rule a raw transaction meets, each condition with the value it
saw and whether it holds, and the decision (the evaluator's, unchanged)."""

from __future__ import annotations

from dataclasses import replace

from eth_abi import decode

from agent.policy.evaluator import (
    PolicyCall,
    PolicyContext,
    _condition,
    _Denied,
    decode_batch,
    evaluate,
)
from agent.policy.model import Policy


def _decoded_args(rule, data: bytes) -> list[str]:  # type: ignore[no-untyped-def]
    try:
        types = [p.type.canonical for p in rule.sig.params]
        vals = decode(types, data[4:])
    except Exception as e:  # undecodable calldata is itself worth showing
        return [f"    (calldata does not decode as {rule.sig.canonical}: {e})"]
    return [f"    {p.name} = {v!r}" for p, v in zip(rule.sig.params, vals, strict=True)]


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
                f"{head}{policy.name_of(c.to)} 0x{sel.hex()}: no rule grants it to this operator (denied)"
            )
            continue
        lines.append(
            f"{head}{rule.label}  ({rule.sig.canonical}, value {c.value} <= {rule.max_value} wei: {'ok' if c.value <= rule.max_value else 'NO'})"
        )
        lines += _decoded_args(rule, c.data)
        for cond in rule.conditions:
            try:
                _condition(policy, rule, cond, c.data, ctx, allowances)
                lines.append(f"    ok   {cond.source}")
            except _Denied as e:
                lines.append(f"    FAIL {cond.source}: {e.d.reason}")
        if rule.slippage is not None:
            lines.append("    slippage checked off-chain against the context's reference prices")
    d = evaluate(policy, call, replace(ctx, allowances=dict(ctx.allowances)))
    if d.allowed:
        lines.append(f"decision: ALLOW ({d.rule})")
    else:
        lines.append(f"decision: DENY {d.code}: {d.reason}  [rule: {d.rule}]")
    return lines
