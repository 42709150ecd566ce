"""Which grants are swaps, option fills and bridge deposits, the checker each compiles to, and
the refusals of those that lack a bound (POLICY_UNSAFE unless acknowledged); also run without a
manifest by ``agent policy validate`` (:func:`check_document`)."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from agent.errors import ValidationError
from agent.policy.abi import FunctionSig, parse_signature
from agent.policy.errors import PolicyFileError, UnsafePolicyError
from agent.policy.model import Checker, CheckerKind, Condition, Op
from agent.policy.schema import PolicyDoc, RoleSpec, RuleSpec, find_line

NATIVE = "0x0000000000000000000000000000000000000000"
# What the SwapPriceChecker decodes (V2 Router02 and the world's V3 SwapRouter, deadline in
# the struct); any other swap-like function has no on-chain price bound.
PRICED_SWAPS = frozenset(
    {
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)",
        "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
        "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
        "exactInput((bytes,address,uint256,uint256,uint256))",
        "exactOutput((bytes,address,uint256,uint256,uint256))",
    }
)
FILL_QUOTES = (
    "fillQuotes(((address,address,uint256,uint8,uint256,uint256,uint64,uint256),bytes,uint256)[])"
)
BRIDGE_DEPOSIT = "deposit(address,address,uint256)"


def is_swap(name: str) -> bool:
    """A function that trades one token for another (priced or not)."""
    n = name.lower()
    return n.startswith(("swap", "exactinput", "exactoutput"))


def check_address(s: str, field: str) -> str:
    """``s`` if it is a 0x address whose mixed case (if any) is a valid EIP-55 checksum."""
    if s != s.lower() and s[2:] != s[2:].upper() and to_checksum_address(s) != s:
        raise ValidationError(
            field,
            f"{s} has a bad EIP-55 checksum (a typo, or a different address)",
            f"check the address; written all lower-case it is {s.lower()}",
        )
    return s


def checker_for(
    self: Any,
    spec: RuleSpec,
    sig: FunctionSig,
    target: str,
    conds: list[Condition],
    loc: tuple[Any, ...],
    role: RoleSpec | None,
) -> Checker | None:
    """The rule's OP_CHECK, and the refusals of swap / options grants that lack one
    (``self``: the resolver, agent.policy.resolve._Resolver)."""
    acks = set(spec.acknowledge)
    canon = sig.canonical
    swap, fill = is_swap(sig.name), canon == FILL_QUOTES
    if spec.options is not None and not fill:
        raise self.err(
            (*loc, "options"),
            f"options bounds apply to OptionsMarket.fillQuotes, not {sig.name}",
            "remove `options` from this rule",
        )
    if (swap or fill) and self.value_guard is None and "no-value-guard" not in acks:
        raise self.err(
            (*loc, "function"),
            f"grants {sig.name} but the policy has no [value_guard]: a stolen key loses up to the allowances",
            'add [value_guard] (see docs/policy.md), or acknowledge = ["no-value-guard"]',
            unsafe=True,
        )
    if spec.offchain_only:
        return None
    if swap:
        bps = role.max_slippage_bps if role else None
        if canon not in PRICED_SWAPS:
            if "no-price-bound" in acks:
                return None
            raise self.err(
                (*loc, "function"),
                f"{sig.name} has no on-chain price bound (the SwapPriceChecker decodes V2 swapExact/ForExact and V3 exactInput/Output[Single] only)",
                'grant one of those instead, or acknowledge = ["no-price-bound"]',
                unsafe=True,
            )
        if bps is None or not self.oracles:
            if "no-price-bound" in acks:
                return None
            why = "the role sets no max_slippage_bps" if bps is None else "[oracles] is empty"
            raise self.err(
                (*loc, "function"),
                f"swap {sig.name} has no price bound ({why}): amountOutMin = 1 would be signed",
                "set the role's max_slippage_bps and the tokens' [oracles], or acknowledge = [\"no-price-bound\"]",
                unsafe=True,
            )
        return Checker(
            CheckerKind.SWAP_PRICE,
            self._checker_address(CheckerKind.SWAP_PRICE, (*loc, "function")),
            bps,
            max_deviation_bps=bps,
        )
    if fill:
        o = spec.options
        if o is None:
            if "no-counterparty-set" in acks:
                return None
            raise self.err(
                (*loc, "function"),
                "fillQuotes without `options`: any maker, series and premium would be filled",
                'add options = { counterparties = "<set>", assets = "<set>", max_time_value_bps = ..., min_expiry = "1d", max_expiry = "120d" }, or acknowledge = ["no-counterparty-set"]',
                unsafe=True,
            )
        ol = (*loc, "options")
        cp = self._set_ref(o.counterparties, (*ol, "counterparties"))
        assets = self._set_ref(o.assets, (*ol, "assets"))
        if o.max_days and o.max_days < o.min_days:
            raise self.err((*ol, "max_expiry"), "is before min_expiry")
        for tok in self.sets[assets].values:
            a = "0x" + tok.to_bytes(20, "big").hex()
            if a not in self.oracles:
                raise self.err(
                    (*ol, "assets"),
                    f"{self.names.get(a, a)} in set {o.assets!r} has no oracle: its series could never be priced",
                    "add it to [oracles] or remove it from the set",
                )
        param = (
            cp | (assets << 32) | (o.max_time_value_bps << 64) | (o.min_days << 80)
            | (o.max_days << 88)
        )  # fmt: skip
        return Checker(
            CheckerKind.OPTIONS_FILL,
            self._checker_address(CheckerKind.OPTIONS_FILL, ol),
            param,
            counterparty_set=cp,
            asset_set=assets,
            max_time_value_bps=o.max_time_value_bps,
            min_days=o.min_days,
            max_days=o.max_days,
        )
    if (
        canon == BRIDGE_DEPOSIT
        and self.value_guard is not None
        and "BridgeEscrow"
        in [n for n, a in self.m.contracts.items() if a.lower() == target.lower()]
    ):
        # The checker credits the deposit as value kept (it lands in the fund's own L2
        # Safe); that is only true when the recipient is pinned.
        if not any(
            c.param == sig.params[1].name and c.op in (Op.IN_SET, Op.EQ, Op.IS_SAFE) for c in conds
        ):
            raise self.err(
                (*loc, "where"),
                f"bridge deposits are credited by the value guard, so {sig.params[1].name} must be pinned to the fund's own L2 Safe",
                f'add where.{sig.params[1].name} = {{ in_set = "bridge_recipients" }}',
                unsafe=True,
            )
        return Checker(
            CheckerKind.BRIDGE_DEPOSIT,
            self._checker_address(CheckerKind.BRIDGE_DEPOSIT, (*loc, "function")),
            0,
        )
    return None


def check_document(doc: PolicyDoc, text: str = "", file: str = "<policy>") -> None:
    """The refusals that need no manifest (``agent policy validate`` without one): the
    signatures parse, value_guard.assets have [oracles], swaps have a price bound, fills an
    ``options`` section, and either kind a [value_guard], unless acknowledged."""

    def err(loc: tuple[Any, ...], problem: str, fix: str, unsafe: bool = True) -> PolicyFileError:
        field = ""
        for x in loc:
            field += f"[{x}]" if isinstance(x, int) else (("." if field else "") + str(x))
        cls = UnsafePolicyError if unsafe else PolicyFileError
        return cls(file, find_line(text, loc), field, problem, fix)

    oracles = {k.upper() for k in doc.oracles}
    if doc.value_guard:
        for a in doc.value_guard.assets:
            if a.upper() not in oracles:
                raise err(
                    ("value_guard", "assets"),
                    f"{a} has no oracle (it could not be valued)",
                    f"add [oracles] {a} = {{ feed = ..., decimals = ..., max_age = ... }}",
                    unsafe=False,
                )
    for ri, r in enumerate(doc.roles):
        for ui, spec in enumerate(r.rules):
            loc = ("roles", ri, "rules", ui)
            try:
                sig = parse_signature(spec.function, "function")
            except ValidationError as e:
                raise err((*loc, "function"), e.problem, e.fix, unsafe=False) from None
            acks = set(spec.acknowledge)
            swap, fill = is_swap(sig.name), sig.canonical == FILL_QUOTES
            if (swap or fill) and doc.value_guard is None and "no-value-guard" not in acks:
                raise err(
                    (*loc, "function"),
                    f"grants {sig.name} but the policy has no [value_guard]",
                    'add [value_guard], or acknowledge = ["no-value-guard"]',
                )
            if spec.offchain_only:
                continue
            if swap and "no-price-bound" not in acks:
                if sig.canonical not in PRICED_SWAPS:
                    raise err(
                        (*loc, "function"),
                        f"{sig.name} has no on-chain price bound (not a swap the SwapPriceChecker decodes)",
                        'grant a V2 swapExact/ForExact or V3 exactInput/Output[Single], or acknowledge = ["no-price-bound"]',
                    )
                if r.max_slippage_bps is None or not oracles:
                    raise err(
                        (*loc, "function"),
                        f"swap {sig.name} has no price bound (max_slippage_bps and [oracles] are needed)",
                        'set the role\'s max_slippage_bps and [oracles], or acknowledge = ["no-price-bound"]',
                    )
            if fill and spec.options is None and "no-counterparty-set" not in acks:
                raise err(
                    (*loc, "function"),
                    "fillQuotes without `options`: any maker, series and premium would be filled",
                    'add options = { counterparties = ..., assets = ..., max_time_value_bps = ... }, or acknowledge = ["no-counterparty-set"]',
                )
