"""The committed ABIs (abis/<Name>.json): which contract a target is, and its functions.

A target address is resolved to a contract name through the deployment manifest (the
policy keeps ``contracts``: address -> manifest name, and ``symbols`` for tokens), then to
the ABI file of that name; the dev world's ERC-20s share DevToken's ABI. Loading and
parsing happen once per file (cached), so the signing path pays a dict lookup.

What the ABIs are used for:
- ``load_policy`` refuses a rule whose function is not in its target's ABI (a typo in a
  signature would otherwise grant a selector nobody calls, and deny the real one);
- the evaluator names the function of a denied selector ("SwapRouter.multicall(...)");
- ``explain`` decodes calldata with the ABI's own parameter names;
- :class:`agent.policy.guard.PolicyGuard` refuses calldata whose length cannot be the
  ABI encoding of the function it names.

Matching stays on the policy file's signatures: an ABI never grants anything, and a target
with no ABI (a raw address) is checked by its rules alone. Unknown targets and selectors are
denied by the evaluator, never allowed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from eth_abi import decode

from agent.chain.toolchain import REPO_ROOT
from agent.policy.abi import FunctionSig, parse_signature

ABI_DIR = REPO_ROOT / "abis"  # the checkout's or the wheel's package data
TOKEN_ABI = "DevToken"  # the dev world's ERC-20s; WETH has its own (WETH9)
RECEIVE = b"\x00" * 4
# manifest names that are instances of a differently named contract
ALIASES = (("PriceFeed", "DevPriceFeed"),)


@dataclass(frozen=True)
class AbiFunction:
    contract: str  # the ABI file's name
    sig: FunctionSig  # with the ABI's parameter names
    payable: bool

    @cached_property
    def types(self) -> list[str]:
        return [p.type.canonical for p in self.sig.params]

    @cached_property
    def dynamic(self) -> bool:
        return any(p.type.dynamic for p in self.sig.params)

    @cached_property
    def head_bytes(self) -> int:
        return 4 + 32 * sum(p.type.head_words for p in self.sig.params)

    @property
    def label(self) -> str:
        return f"{self.contract}.{self.sig.canonical}"

    def fits(self, data: bytes) -> bool:
        """Can ``data`` be this function's ABI encoding? Static functions have exactly one
        length; dynamic ones at least their head."""
        if self.sig.selector == RECEIVE:
            return not data
        n = len(data)
        return n >= self.head_bytes if self.dynamic else n == self.head_bytes

    def decode(self, data: bytes) -> dict[str, Any]:
        """Argument name -> value (tuples as dicts of their fields)."""
        vals = decode(self.types, data[4:])
        return {p.name: _named(p, v) for p, v in zip(self.sig.params, vals, strict=True)}


def _named(p: Any, v: Any) -> Any:
    t = p.type
    if t.base == "tuple" and not t.dims:
        return {c.name: _named(c, x) for c, x in zip(t.components, v, strict=True)}
    return v


def _param_text(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        inner = ",".join(_param_text(c) for c in inp.get("components", []))
        t = f"({inner}){t[len('tuple') :]}"
    name = inp.get("name") or ""
    return f"{t} {name}".strip()


@cache
def functions(contract: str) -> dict[bytes, AbiFunction]:
    """Selector -> function of abis/<contract>.json ({} when there is no such file).
    A payable receive() or fallback() appears under the empty-calldata selector 0x00000000."""
    p = ABI_DIR / f"{contract}.json"
    if not p.exists():
        return {}
    out: dict[bytes, AbiFunction] = {}
    for item in json.loads(p.read_text()):
        kind = item.get("type")
        payable = item.get("stateMutability") == "payable" or bool(item.get("payable"))
        if kind == "function":
            text = f"{item['name']}({','.join(_param_text(i) for i in item.get('inputs', []))})"
            sig = parse_signature(text, f"abis/{contract}.json")
            out[sig.selector] = AbiFunction(contract, sig, payable)
        elif kind in ("receive", "fallback") and payable:
            out[RECEIVE] = AbiFunction(contract, parse_signature("receive()"), True)
    return out


def abi_name(names: list[str], is_token: bool) -> str | None:
    """The ABI file for a target known under ``names`` (manifest contract names)."""
    for n in names:
        if (ABI_DIR / f"{n}.json").exists():
            return n
        for prefix, contract in ALIASES:
            if n.startswith(prefix) and (ABI_DIR / f"{contract}.json").exists():
                return contract
    if is_token and (ABI_DIR / f"{TOKEN_ABI}.json").exists():
        return TOKEN_ABI
    return None


def lookup(contract: str | None, selector: bytes) -> AbiFunction | None:
    return functions(contract).get(selector) if contract else None
