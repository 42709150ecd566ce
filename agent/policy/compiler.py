"""Policy -> the PolicyModule configuration it implies; the diff between two configurations
as module calls (what `agent policy apply` wraps into one Safe transaction) and as lines a
person reads before signing."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import to_checksum_address

from agent.policy.model import Policy
from agent.wallet.multisend import Call

CondTuple = tuple[int, int, int, int]  # (op, word, aux, value)
ScopeKey = tuple[int, str, bytes]  # (role, lower target, selector)

SET_OPERATOR = fsel("setOperator(address,uint16)")
SET_SCOPE = fsel("setScope(uint16,address,bytes4,uint96,(uint8,uint16,uint32,uint256)[])")
REMOVE_SCOPE = fsel("removeScope(uint16,address,bytes4)")
SET_SET = fsel("setSet(uint32,bytes32[])")
SET_ALLOWANCE = fsel("setAllowance(uint32,uint96,uint32,uint96)")
SET_GUARDIAN = fsel("setGuardian(address)")
SET_MULTISEND = fsel("setMultiSend(address)")
SET_ORACLE = fsel("setOracle(address,address,uint8,uint32)")
SET_VALUE_GUARD = fsel("setValueGuard(address[],uint16,uint16,uint32)")
SET_COSIGNER = fsel("setCosigner(uint16,address)")
PAUSE = fsel("pause()")
UNPAUSE = fsel("unpause()")
ZERO = "0x" + "00" * 20

# OP_TOUCHES (module only, never denies): which tracked assets a call can move, so the value
# guard reads only those. Declared solely for the Uniswap routers of the deployment, whose
# swaps move exactly the path's first token out of the Safe and its last token in; any other
# call (or batch containing one) is measured on every tracked asset. See docs/policy.md.
OP_TOUCHES = 10
TOUCH_WORD, TOUCH_ARRAY, TOUCH_PATH = 0, 1, 2
_TOUCH_VENUES = frozenset({"SwapRouter", "UniswapV2Router02"})
_V3_SINGLE = frozenset(
    f"{f}((address,address,uint24,address,uint256,uint256,uint256,uint160))"
    for f in ("exactInputSingle", "exactOutputSingle")
)
_V3_PATH = frozenset(
    f"{f}((bytes,address,uint256,uint256,uint256))" for f in ("exactInput", "exactOutput")
)
_V2_ARRAY = frozenset(
    f"{f}(uint256,uint256,address[],address,uint256)"
    for f in ("swapExactTokensForTokens", "swapTokensForExactTokens")
)


@dataclass(frozen=True)
class ScopeCfg:
    max_value: int
    conditions: tuple[CondTuple, ...]


@dataclass(frozen=True)
class ModuleConfig:
    operators: dict[str, int] = field(default_factory=dict)
    scopes: dict[ScopeKey, ScopeCfg] = field(default_factory=dict)
    sets: dict[int, frozenset[int]] = field(default_factory=dict)
    allowances: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (cap, period)
    guardian: str = ZERO
    multisend: str = ZERO
    paused: bool = False
    oracles: dict[str, tuple[str, int, int]] = field(
        default_factory=dict
    )  # token -> (feed, dec, max_age)
    # (tracked tokens in order, max_loss_bps, budget_bps, period); () tracked = off
    value_guard: tuple[tuple[str, ...], int, int, int] = ((), 0, 0, 0)
    cosigners: dict[int, str] = field(default_factory=dict)  # role -> lower co-signer address


def compile_policy(policy: Policy) -> ModuleConfig:
    """The on-chain-expressible part of ``policy``. Rules marked offchain_only are granted
    target + selector + value cap only; acknowledged delegatecall rules are not granted."""
    scopes: dict[ScopeKey, ScopeCfg] = {}
    used_sets: set[int] = set()
    for key, r in policy.rules.items():
        if r.delegatecall:
            continue
        conds = (
            ()
            if r.offchain_only
            else tuple((int(c.op), c.word, c.aux, c.value) for c in r.conditions)
        )
        conds += _touches(r.target_name, r.sig.canonical, conds)
        used_sets |= {c[2] for c in conds if c[0] in (5, 7, 8)}
        if r.checker is not None and conds:
            used_sets |= {r.checker.counterparty_set, r.checker.asset_set} - {0}
        scopes[key] = ScopeCfg(r.max_value, conds)
    vg = policy.value_guard
    return ModuleConfig(
        operators=dict(policy.operators),
        scopes=scopes,
        sets={i: s.values for i, s in policy.sets.items() if i in used_sets and s.values},
        allowances={i: (a.cap, a.period) for i, a in policy.allowances.items()},
        guardian=(policy.guardian or ZERO).lower(),
        multisend=(policy.multisend or ZERO).lower(),
        paused=policy.kill_switch,
        oracles={t: (o.feed.lower(), o.decimals, o.max_age) for t, o in policy.oracles.items()},
        value_guard=(
            (tuple(a.lower() for a in vg.tracked), vg.max_loss_bps, vg.budget_bps, vg.period)
            if vg
            else ((), 0, 0, 0)
        ),
        cosigners={i: r.cosigner.lower() for i, r in policy.roles.items() if r.cosigner},
    )


def _touches(
    target_name: str, canonical: str, conds: tuple[CondTuple, ...]
) -> tuple[CondTuple, ...]:
    """The OP_TOUCHES declarations of a router swap: tokenIn/tokenOut words (V3 single), or the
    first and last token of the path whose length word an every_in_set condition (and with it
    the canonical-offset pins) already checks. Nothing for any other call."""
    if not conds or target_name not in _TOUCH_VENUES:
        return ()
    if canonical in _V3_SINGLE:
        return ((OP_TOUCHES, 0, TOUCH_WORD, 0), (OP_TOUCHES, 1, TOUCH_WORD, 0))
    kind, in_set = (
        (TOUCH_PATH, 8)
        if canonical in _V3_PATH
        else (TOUCH_ARRAY, 7)
        if canonical in _V2_ARRAY
        else (None, 0)
    )
    words = [c[1] for c in conds if c[0] == in_set]
    return ((OP_TOUCHES, words[0], kind, 0),) if kind is not None and len(words) == 1 else ()


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "+", "-", "~"
    text: str
    data: bytes  # module calldata


def diff(
    current: ModuleConfig, desired: ModuleConfig, policy: Policy | None = None
) -> list[Change]:
    """Changes that turn ``current`` into ``desired``, in a safe order: pause first, unpause last."""
    name = policy.name_of if policy else (lambda a: a)

    def role_name(r: int) -> str:
        return policy.roles[r].name if policy and r in policy.roles else str(r)

    out: list[Change] = []
    if desired.paused and not current.paused:
        out.append(Change("~", "pause the module (kill switch on)", PAUSE))
    for op, role in sorted(desired.operators.items()):
        if current.operators.get(op) != role:
            k = "~" if op in current.operators else "+"
            out.append(
                Change(
                    k,
                    f"operator {to_checksum_address(op)} -> role {role_name(role)}",
                    SET_OPERATOR + encode(["address", "uint16"], [op, role]),
                )
            )
    for op in sorted(set(current.operators) - set(desired.operators)):
        out.append(
            Change(
                "-",
                f"operator {to_checksum_address(op)} (role {role_name(current.operators[op])})",
                SET_OPERATOR + encode(["address", "uint16"], [op, 0]),
            )
        )
    for role in sorted(set(desired.cosigners) | set(current.cosigners)):
        want = desired.cosigners.get(role, ZERO)
        if current.cosigners.get(role, ZERO) != want:
            text = (
                f"role {role_name(role)} requires co-signer {to_checksum_address(want)}"
                if want != ZERO
                else f"role {role_name(role)} no longer requires a co-signer"
            )
            out.append(
                Change(
                    "-" if want == ZERO else ("~" if role in current.cosigners else "+"),
                    text,
                    SET_COSIGNER + encode(["uint16", "address"], [role, want]),
                )
            )
    for sid, vals in sorted(desired.sets.items()):
        if current.sets.get(sid) != vals:
            k = "~" if sid in current.sets else "+"
            members = ", ".join(
                name("0x" + v.to_bytes(20, "big").hex()) if v >= 2**100 else str(v)
                for v in sorted(vals)
            )
            out.append(
                Change(
                    k,
                    f"set {_set_name(policy, sid)} = {{{members}}}",
                    SET_SET
                    + encode(
                        ["uint32", "bytes32[]"],
                        [sid, [v.to_bytes(32, "big") for v in sorted(vals)]],
                    ),
                )
            )
    for sid in sorted(set(current.sets) - set(desired.sets)):
        out.append(
            Change(
                "-", f"set {sid} (emptied)", SET_SET + encode(["uint32", "bytes32[]"], [sid, []])
            )
        )
    for aid, (cap, period) in sorted(desired.allowances.items()):
        if current.allowances.get(aid) != (cap, period):
            k = "~" if aid in current.allowances else "+"
            a = policy.allowances.get(aid) if policy else None
            label = (
                f"{a.name} ({cap} {a.symbol} base units / {period}s)"
                if a
                else f"{aid} ({cap} / {period}s)"
            )
            out.append(
                Change(
                    k,
                    f"allowance {label}, balance reset to the cap",
                    SET_ALLOWANCE
                    + encode(["uint32", "uint96", "uint32", "uint96"], [aid, cap, period, cap]),
                )
            )
    for aid in sorted(set(current.allowances) - set(desired.allowances)):
        if current.allowances[aid] != (0, 0):
            out.append(
                Change(
                    "-",
                    f"allowance {aid} (cap set to 0)",
                    SET_ALLOWANCE
                    + encode(["uint32", "uint96", "uint32", "uint96"], [aid, 0, 0, 0]),
                )
            )
    for token, (feed, dec, age) in sorted(desired.oracles.items()):
        if current.oracles.get(token) != (feed, dec, age):
            k = "~" if token in current.oracles else "+"
            out.append(
                Change(
                    k,
                    f"oracle {name(token)} = {name(feed)} ({dec} decimals, max age {age}s)",
                    SET_ORACLE
                    + encode(["address", "address", "uint8", "uint32"], [token, feed, dec, age]),
                )
            )
    if desired.value_guard != current.value_guard:
        tracked, loss, budget, period = desired.value_guard
        text = (
            f"value guard: track {', '.join(name(t) for t in tracked)}; max loss {loss} bps per "
            f"execution, budget {budget} bps per {period}s window"
            if tracked
            else "value guard off"
        )
        out.append(
            Change(
                "~" if current.value_guard[0] else "+",
                text,
                SET_VALUE_GUARD
                + encode(
                    ["address[]", "uint16", "uint16", "uint32"],
                    [list(tracked), loss, budget, period],
                ),
            )
        )
    # removals after the value guard stopped tracking them
    for token in sorted(set(current.oracles) - set(desired.oracles)):
        out.append(
            Change(
                "-",
                f"oracle {name(token)} (removed)",
                SET_ORACLE + encode(["address", "address", "uint8", "uint32"], [token, ZERO, 0, 0]),
            )
        )
    for key, sc in sorted(desired.scopes.items()):
        if current.scopes.get(key) != sc:
            k = "~" if key in current.scopes else "+"
            out.append(
                Change(
                    k,
                    f"scope {_scope_label(policy, key)}: value <= {sc.max_value} wei, {len(sc.conditions)} conditions",
                    _set_scope(key, sc),
                )
            )
    for key in sorted(set(current.scopes) - set(desired.scopes)):
        role, target, sel = key
        out.append(
            Change(
                "-",
                f"scope {_scope_label(policy, key)}",
                REMOVE_SCOPE + encode(["uint16", "address", "bytes4"], [role, target, sel]),
            )
        )
    if desired.guardian != current.guardian:
        out.append(
            Change(
                "~",
                f"guardian {current.guardian} -> {desired.guardian}",
                SET_GUARDIAN + encode(["address"], [desired.guardian]),
            )
        )
    if desired.multisend != current.multisend:
        out.append(
            Change(
                "~",
                f"multisend {current.multisend} -> {desired.multisend}",
                SET_MULTISEND + encode(["address"], [desired.multisend]),
            )
        )
    if not desired.paused and current.paused:
        out.append(Change("~", "unpause the module", UNPAUSE))
    return out


def _set_scope(key: ScopeKey, sc: ScopeCfg) -> bytes:
    role, target, sel = key
    return SET_SCOPE + encode(
        ["uint16", "address", "bytes4", "uint96", "(uint8,uint16,uint32,uint256)[]"],
        [role, target, sel, sc.max_value, list(sc.conditions)],
    )


def _set_name(policy: Policy | None, sid: int) -> str:
    if policy and sid in policy.sets:
        return repr(policy.sets[sid].name)
    return str(sid)


def _scope_label(policy: Policy | None, key: ScopeKey) -> str:
    role, target, sel = key
    if policy:
        r = policy.rules.get(key)
        if r:
            return f"{policy.roles[role].name}: {r.target_name}.{r.sig.canonical}"
        return f"{policy.roles[role].name if role in policy.roles else role}: {policy.name_of(target)} 0x{sel.hex()}"
    return f"{role}: {target} 0x{sel.hex()}"


def module_calls(module: str, changes: list[Change]) -> list[Call]:
    return [Call(to_checksum_address(module), c.data) for c in changes]
