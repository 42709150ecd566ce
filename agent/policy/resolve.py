"""Written policy -> resolved :class:`Policy`: names through the deployment manifest, human
amounts to base units, parameter paths to word positions, and the safety refusals."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from agent.deploy.manifest import Manifest
from agent.errors import ValidationError
from agent.policy.abi import FunctionSig, Location, parse_signature
from agent.policy.abis import abi_name, functions, lookup
from agent.policy.errors import PolicyFileError, UnsafePolicyError
from agent.policy.grants import NATIVE, check_address, checker_for
from agent.policy.model import (
    CHECKER_NAMES,
    AllowanceDef,
    CheckerKind,
    Condition,
    Hours,
    Op,
    Oracle,
    Policy,
    Role,
    Rule,
    SetDef,
    Slippage,
    ValueGuard,
)
from agent.policy.schema import PolicyDoc, RoleSpec, RuleSpec, find_line, read_policy_file
from agent.policy.screening import load_address_list

_ADDR = re.compile(r"^0x[0-9a-fA-F]{40}$")
_AMOUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s+([A-Za-z][A-Za-z0-9]*)\s*$")
APPROVALS = {"approve(address,uint256)", "increaseAllowance(address,uint256)"}
UNLIMITED = 2**255  # an approval cap at or above this is "unlimited" for every practical token
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
COUNTERPARTY_SET = "counterparties"


def stable_id(kind: str, name: str) -> int:
    """Set and allowance ids derive from names so re-applying a policy does not reshuffle them."""
    return int.from_bytes(keccak(text=f"{kind}:{name}")[:4], "big") or 1


class _Resolver:
    def __init__(self, doc: PolicyDoc, manifest: Manifest, text: str, file: str, base: Path):
        self.doc, self.m, self.text, self.file, self.base = doc, manifest, text, file, base
        self.names: dict[str, str] = {}

    def err(
        self, loc: tuple[Any, ...], problem: str, fix: str = "", unsafe: bool = False
    ) -> PolicyFileError:
        field = ""
        for x in loc:
            field += f"[{x}]" if isinstance(x, int) else (("." if field else "") + str(x))
        cls = UnsafePolicyError if unsafe else PolicyFileError
        return cls(self.file, find_line(self.text, loc), field, problem, fix)

    def address(self, name: str, loc: tuple[Any, ...]) -> str:
        s = str(name).strip()
        if _ADDR.match(s):
            self.checksum(s, loc)
            return to_checksum_address(s)
        if s.lower() == "safe":
            return self.safe
        if s.lower() == "module" and self.module:
            return self.module
        if s.upper() in self.m.tokens:
            a = to_checksum_address(self.m.tokens[s.upper()].address)
        elif s in self.m.contracts:
            a = to_checksum_address(self.m.contracts[s])
        else:
            raise self.err(
                loc,
                f"{s!r} is neither an address nor a name in the {self.m.name} manifest",
                f"use 0x..., 'safe', a token ({', '.join(sorted(self.m.tokens))}) or a contract "
                f"({', '.join(sorted(self.m.contracts))})",
            )
        self.names.setdefault(a.lower(), s)
        return a

    def checksum(self, s: str, loc: tuple[Any, ...]) -> None:
        try:
            check_address(s, "")
        except ValidationError as e:
            raise self.err(loc, e.problem, e.fix) from None

    def amount(self, v: Any, loc: tuple[Any, ...], as_address: bool = False) -> int:
        if isinstance(v, bool):
            raise self.err(loc, "a boolean is not a value here")
        if isinstance(v, int):
            return v
        s = str(v).strip()
        if as_address:
            return int(self.address(s, loc), 16)
        m = _AMOUNT.match(s)
        if m:
            sym = m.group(2).upper()
            dec = 18 if sym in ("ETH", "NATIVE") else None
            if dec is None:
                if sym not in self.m.tokens:
                    raise self.err(
                        loc,
                        f"unknown token {sym!r} in amount {s!r}",
                        f"known: {', '.join(sorted(self.m.tokens))}",
                    )
                dec = self.m.tokens[sym].decimals
            q = Decimal(m.group(1).replace("_", "")) * (Decimal(10) ** dec)
            if q != q.to_integral_value():
                raise self.err(loc, f"{s!r} has more decimals than {sym} ({dec})")
            return int(q)
        if re.fullmatch(r"0x[0-9a-fA-F]+", s):
            return int(s, 16)
        if re.fullmatch(r"[0-9][0-9_]*", s):
            return int(s.replace("_", ""))
        return int(self.address(s, loc), 16)

    # -------------------------------------------------------------------------- main
    def run(self) -> Policy:
        d = self.doc
        self.safe = to_checksum_address(d.safe) if _ADDR.match(d.safe) else None  # type: ignore[assignment]
        if self.safe is None:
            raise self.err(
                ("safe",), f"{d.safe!r} is not an address", "put the Safe's 0x address here"
            )
        self.checksum(d.safe, ("safe",))
        self.names[self.safe.lower()] = "safe"
        self.abis = _abi_map(self.m, self.safe)
        self.module: str | None = None
        module = self.address(d.module, ("module",)) if d.module else None
        self.module = module
        guardian = self.address(d.guardian, ("guardian",)) if d.guardian else None
        multisend = self.m.contracts.get("MultiSendCallOnly")
        multisend = to_checksum_address(multisend) if multisend else None
        if multisend:
            self.names[multisend.lower()] = "MultiSendCallOnly"
        if module:
            self.names[module.lower()] = "module"
            self.abis[module.lower()] = "PolicyModule"

        deny = allow = frozenset()
        if d.screening.denylist:
            deny = load_address_list(self.base / d.screening.denylist, "screening.denylist")
        if d.screening.allowlist:
            allow = load_address_list(self.base / d.screening.allowlist, "screening.allowlist")

        self.sets: dict[int, SetDef] = {}
        self.set_ids: dict[str, int] = {}
        for name, vals in d.sets.items():
            self._add_set(
                name,
                [
                    self.amount(
                        v, ("sets", name), as_address=isinstance(v, str) and not v.strip().isdigit()
                    )
                    for v in vals
                ],
            )
        allowances: dict[int, AllowanceDef] = {}
        self.allowance_ids: dict[str, int] = {}
        for name, a in d.allowances.items():
            loc = ("allowances", name)
            tok = self.address(a.token, (*loc, "token"))
            info = next(
                (t for t in self.m.tokens.values() if t.address.lower() == tok.lower()), None
            )
            if info is None:
                raise self.err((*loc, "token"), f"{a.token!r} is not a token in the manifest")
            cap = a.amount * (Decimal(10) ** info.decimals)
            if cap != cap.to_integral_value() or cap >= 2**96:
                raise self.err(
                    (*loc, "amount"),
                    f"{a.amount} {info.symbol} is not representable on-chain (base units < 2^96)",
                )
            aid = stable_id("allowance", name)
            allowances[aid] = AllowanceDef(
                aid, name, tok, info.symbol, info.decimals, int(cap), a.period_seconds
            )
            self.allowance_ids[name] = aid

        self.oracles = self._oracles()
        self.value_guard = self._value_guard(allowances)
        roles: dict[int, Role] = {}
        operators: dict[str, int] = {}
        rules: dict[tuple[int, str, bytes], Rule] = {}
        self.allow = allow
        for ri, r in enumerate(d.roles):
            loc = ("roles", ri)
            if r.id in roles:
                raise self.err(
                    (*loc, "id"), f"role id {r.id} is used twice", "give each role its own id"
                )
            ops = frozenset(self.address(o, (*loc, "operators")).lower() for o in r.operators)
            for o in ops:
                if o in operators:
                    raise self.err(
                        (*loc, "operators"),
                        f"operator {o} is in two roles",
                        "an operator has one role",
                    )
                operators[o] = r.id
            hours = None
            if r.trading_hours:
                h = r.trading_hours
                hm = [int(x[:2]) * 60 + int(x[3:]) for x in (h.start, h.end)]
                hours = Hours(frozenset(DAYS.index(x) for x in h.days), hm[0], hm[1])
            roles[r.id] = Role(
                r.id,
                r.name,
                ops,
                frozenset(r.chains),
                r.multisend,
                r.max_slippage_bps,
                r.second_signer_above_usd,
                hours,
                self.address(r.requires_cosigner, (*loc, "requires_cosigner"))
                if r.requires_cosigner
                else None,
            )
            for ui, spec in enumerate(r.rules):
                rule = self._rule(
                    r.id,
                    f"roles[{r.name}].rules[{ui}]",
                    spec,
                    (*loc, "rules", ui),
                    multisend,
                    module,
                    r,
                )
                key = (r.id, rule.target.lower(), rule.selector)
                if key in rules:
                    raise self.err(
                        (*loc, "rules", ui, "function"),
                        f"{rule.target_name}.{rule.sig.canonical} is already granted to this role by {rules[key].label}",
                        "merge the two rules: one rule per target and function",
                    )
                rules[key] = rule
        return Policy(
            name=d.name, chain_id=self.m.chain_id, safe=self.safe, module=module, guardian=guardian,
            multisend=multisend, kill_switch=d.kill_switch, roles=roles, operators=operators,
            rules=rules, sets=self.sets, allowances=allowances, denylist=deny, allowlist=allow,
            source=self.file, names=dict(self.names),
            decimals={t.address.lower(): t.decimals for t in self.m.tokens.values()},
            symbols={t.address.lower(): t.symbol for t in self.m.tokens.values()},
            abis=self.abis, oracles=self.oracles, value_guard=self.value_guard,
        )  # fmt: skip

    # ----------------------------------------------------------------- oracles, guard
    def _token(self, sym: str, loc: tuple[Any, ...]) -> tuple[str, str, int]:
        """(checksummed address, symbol, decimals) of a token symbol; ETH = native."""
        s = sym.strip().upper()
        if s in ("ETH", "NATIVE"):
            return NATIVE, "ETH", 18
        if s not in self.m.tokens:
            raise self.err(
                loc,
                f"{sym!r} is not a token of the {self.m.name} manifest",
                f"known: ETH, {', '.join(sorted(self.m.tokens))}",
            )
        t = self.m.tokens[s]
        return to_checksum_address(t.address), t.symbol, t.decimals

    def _oracles(self) -> dict[str, Oracle]:
        out: dict[str, Oracle] = {}
        for sym, o in self.doc.oracles.items():
            loc = ("oracles", sym)
            token, symbol, dec = self._token(sym, loc)
            feed = self.address(o.feed, (*loc, "feed"))
            if token.lower() in out:
                raise self.err(loc, f"{symbol} has two feeds", "keep one entry per token")
            out[token.lower()] = Oracle(
                token, symbol, feed, o.feed, o.decimals, o.max_age_seconds, dec
            )
            self.names.setdefault(feed.lower(), o.feed)
        return out

    def _value_guard(self, allowances: dict[int, AllowanceDef]) -> ValueGuard | None:
        vg = self.doc.value_guard
        if vg is None:
            return None
        tracked: list[str] = []
        for i, sym in enumerate(vg.assets):
            loc = ("value_guard", "assets")
            token, symbol, _ = self._token(sym, loc)
            if token.lower() not in self.oracles:
                raise self.err(
                    loc,
                    f"value_guard.assets[{i}] {symbol} has no oracle (it could not be valued)",
                    f"add [oracles] {symbol} = {{ feed = ..., decimals = ..., max_age = ... }}",
                )
            if token in tracked:
                raise self.err(loc, f"{symbol} is listed twice")
            tracked.append(token)
        for a in allowances.values():
            if a.token not in tracked:
                raise self.err(
                    ("allowances", a.name, "token"),
                    f"{a.symbol} can be spent (allowance {a.name!r}) but the value guard does not track it",
                    f"add {a.symbol!r} to value_guard.assets: an untracked asset leaves the Safe unseen",
                    unsafe=True,
                )
        return ValueGuard(tuple(tracked), vg.max_loss_bps, vg.budget_bps, vg.period_seconds)

    def _checker_address(self, kind: CheckerKind, loc: tuple[Any, ...]) -> str:
        name = CHECKER_NAMES[kind]
        a = self.m.contracts.get(name)
        if a is None:
            raise self.err(
                loc,
                f"this rule needs the {name} contract, which the {self.m.name} manifest does not name",
                "redeploy the world (`agent devnet up`) or add the checker's address to the manifest",
            )
        a = to_checksum_address(a)
        self.names.setdefault(a.lower(), name)
        return a

    def _add_set(self, name: str, values: list[int]) -> int:
        sid = stable_id("set", name)
        self.sets[sid] = SetDef(sid, name, frozenset(values))
        self.set_ids[name] = sid
        return sid

    def _set_ref(self, name: str, loc: tuple[Any, ...]) -> int:
        if name not in self.set_ids:
            raise self.err(
                loc,
                f"no set named {name!r}",
                f"define it under [sets]; known: {', '.join(self.set_ids) or 'none'}",
            )
        return self.set_ids[name]

    def _rule(
        self,
        role_id: int,
        label: str,
        spec: RuleSpec,
        loc: tuple[Any, ...],
        multisend: str | None,
        module: str | None,
        role: RoleSpec | None = None,
    ) -> Rule:
        target = self.address(spec.target, (*loc, "target"))
        try:
            sig: FunctionSig = parse_signature(spec.function, "function")
        except ValidationError as e:
            raise self.err((*loc, "function"), e.problem, e.fix) from None
        name = spec.target
        label = f"{label} {name}.{sig.name}"
        acks = set(spec.acknowledge)
        if target.lower() == (module or "").lower():
            raise self.err(
                (*loc, "target"),
                "the policy module itself can never be a target",
                "remove this rule",
                unsafe=True,
            )
        if target == self.safe and "calls-safe" not in acks:
            raise self.err(
                (*loc, "target"),
                "grants calls to the Safe itself (owners, modules, guards)",
                'add acknowledge = ["calls-safe"] if you really mean it',
                unsafe=True,
            )
        if spec.delegatecall and target != multisend and "delegatecall" not in acks:
            raise self.err(
                (*loc, "delegatecall"),
                f"delegatecall to {name} can rewrite the Safe's storage",
                'only MultiSendCallOnly is safe; add acknowledge = ["delegatecall"] to accept (the on-chain module still refuses)',
                unsafe=True,
            )
        abi = self.abis.get(target.lower())
        if abi is not None and lookup(abi, sig.selector) is None:
            known = sorted({f.sig.name for f in functions(abi).values()})
            raise self.err(
                (*loc, "function"),
                f"{name} has no function {sig.canonical} in abis/{abi}.json",
                f"check the signature's types; its functions: {', '.join(known[:12])}"
                + (", ..." if len(known) > 12 else ""),
            )
        conds: list[Condition] = []
        pins: dict[int, int] = {}
        for path, c in spec.where.items():
            cl = (*loc, "where", path)
            try:
                where: Location = sig.locate(path, "where")
            except ValidationError as e:
                raise self.err(cl, e.problem, e.fix) from None
            for w, v in where.pins:
                pins[w] = v
            op, arg = c.op, c.arg
            src = f"where.{path}.{op}"
            is_addr = where.type.is_address
            if where.kind != "word" and op != "every_in_set":
                raise self.err(
                    cl,
                    f"{path} is {where.type.canonical}; only every_in_set applies",
                    'use every_in_set = "<set>"',
                )
            if op == "eq":
                conds.append(
                    Condition(Op.EQ, where.word, 0, self.amount(arg, cl, is_addr), path, src)
                )
            elif op in ("le", "ge"):
                if not where.type.is_uint:
                    raise self.err(
                        cl, f"{op} compares unsigned integers; {path} is {where.type.canonical}"
                    )
                conds.append(
                    Condition(
                        Op.LE if op == "le" else Op.GE,
                        where.word,
                        0,
                        self.amount(arg, cl),
                        path,
                        src,
                    )
                )
            elif op == "is_safe":
                conds.append(Condition(Op.IS_SAFE, where.word, 0, 0, path, src))
            elif op == "in_set":
                conds.append(Condition(Op.IN_SET, where.word, self._set_ref(arg, cl), 0, path, src))
            elif op == "one_of":
                sid = self._add_set(f"{label}:{path}", [self.amount(v, cl, is_addr) for v in arg])
                conds.append(Condition(Op.IN_SET, where.word, sid, 0, path, src))
            elif op == "counterparty":
                if not self.allow:
                    raise self.err(
                        cl,
                        "counterparty needs an allowlist",
                        'set [screening] allowlist = "<file>"',
                    )
                sid = self.set_ids.get(COUNTERPARTY_SET) or self._add_set(
                    COUNTERPARTY_SET, [int(a, 16) for a in self.allow] + [int(self.safe, 16)]
                )
                conds.append(Condition(Op.IN_SET, where.word, sid, 0, path, src))
            elif op == "allowance":
                if arg not in self.allowance_ids:
                    raise self.err(
                        cl,
                        f"no allowance named {arg!r}",
                        f"define it under [allowances]; known: {', '.join(self.allowance_ids) or 'none'}",
                    )
                conds.append(
                    Condition(Op.ALLOWANCE, where.word, self.allowance_ids[arg], 0, path, src)
                )
            elif op == "every_in_set":
                if where.kind == "word":
                    raise self.err(cl, f"{path} is a single value", "use in_set for single values")
                o = Op.ARRAY_IN_SET if where.kind == "address_array" else Op.PATH_IN_SET
                conds.append(Condition(o, where.word, self._set_ref(arg, cl), 0, path, src))
        # Canonical-offset pins first: they decide where every later word is read.
        pinned = [
            Condition(Op.EQ, w, 0, v, f"offset word {w}", "canonical ABI offset")
            for w, v in sorted(pins.items())
        ]
        if sig.canonical in APPROVALS:
            amount_path = sig.params[1].name
            limited = any(
                ((c.op == Op.LE and c.value < UNLIMITED) or c.op == Op.ALLOWANCE)
                and c.param == amount_path
                for c in conds
            )
            if not limited and "unlimited-approval" not in acks:
                raise self.err(
                    (*loc, "where"),
                    f"{name}.{sig.name} grants an unlimited approval ({amount_path} has no le/allowance cap below 2^255)",
                    f'add where.{amount_path} = {{ le = "<amount> <TOKEN>" }}, or acknowledge = ["unlimited-approval"]',
                    unsafe=True,
                )
        max_value = int(spec.max_value * 10**18)
        if max_value != spec.max_value * 10**18 or max_value >= 2**96:
            raise self.err(
                (*loc, "max_value"), f"{spec.max_value} ETH is not representable (wei < 2^96)"
            )
        addr_words = tuple(
            (p.name, i) for i, p in enumerate(_flat_static(sig)) if p.type.is_address
        )
        slip = self._slippage(spec, sig, (*loc, "slippage")) if spec.slippage else None
        checker = checker_for(self, spec, sig, target, conds, loc, role)
        if checker is not None:
            # Last: the module evaluates conditions in order, so every word condition (and its
            # status) comes before the checker's.
            conds.append(
                Condition(Op.CHECK, 0, 0, checker.value, "(checker)", CHECKER_NAMES[checker.kind])
            )
        return Rule(
            role_id,
            label,
            target,
            name,
            sig,
            max_value,
            (*pinned, *conds),
            addr_words,
            slip,
            spec.delegatecall,
            spec.offchain_only,
            checker,
        )

    def _slippage(self, spec: RuleSpec, sig: FunctionSig, loc: tuple[Any, ...]) -> Slippage:
        s = spec.slippage
        assert s is not None

        def loc_of(path: str, key: str) -> tuple[Location | str, int]:
            end = 0
            m = re.fullmatch(r"(.+)\[(0|-1)\]", path)
            if m:
                path, end = m.group(1), int(m.group(2))
            if (
                "." not in path
                and path not in [p.name for p in sig.params]
                and key.startswith("token")
            ):
                return self.address(path, (*loc, key)), 0
            try:
                return sig.locate(path, "slippage"), end
            except ValidationError as e:
                raise self.err((*loc, key), e.problem, e.fix) from None

        exact_out = s.amount_out is not None
        if exact_out:
            ai, _ = loc_of(s.amount_out or "", "amount_out")
            mo, _ = loc_of(s.max_in or "", "max_in")
        else:
            ai, _ = loc_of(s.amount_in or "", "amount_in")
            mo, _ = loc_of(s.min_out or "", "min_out")
        ti, te = loc_of(s.token_in, "token_in")
        to, toe = loc_of(s.token_out, "token_out")
        assert isinstance(ai, Location) and isinstance(mo, Location)
        return Slippage(ai, mo, ti, te, to, toe, exact_out)


def _abi_map(m: Manifest, safe: str) -> dict[str, str]:
    """Lower address -> the abis/ file its code answers to, for every address the manifest
    names (contracts and tokens) and the Safe."""
    by_addr: dict[str, list[str]] = {}
    for n, a in m.contracts.items():
        by_addr.setdefault(a.lower(), []).append(n)
    tokens = {t.address.lower() for t in m.tokens.values()}
    out: dict[str, str] = {}
    for a in set(by_addr) | tokens:
        name = abi_name(by_addr.get(a, []), a in tokens)
        if name:
            out[a] = name
    out[safe.lower()] = "Safe"
    return out


def _flat_static(sig: FunctionSig) -> list[Any]:
    """Top-level head words in order, static tuples inlined (same indexes as Location.word)."""
    out: list[Any] = []

    def walk(params: Any) -> None:
        for p in params:
            if p.type.base == "tuple" and not p.type.dynamic and not p.type.dims:
                walk(p.type.components)
            else:
                out.extend([p] * p.type.head_words)

    walk(sig.params)
    return out


def resolve(
    doc: PolicyDoc,
    manifest: Manifest,
    *,
    text: str = "",
    file: str = "<policy>",
    base_dir: Path | None = None,
) -> Policy:
    return _Resolver(doc, manifest, text, file, base_dir or Path.cwd()).run()


def load_policy(path: str | Path, manifest: Manifest) -> Policy:
    """Read, validate and resolve a policy file against a deployment manifest.

    Raises PolicyFileError (file, line, field) for malformed input and UnsafePolicyError for a
    dangerous grant without its acknowledgement.
    """
    p = Path(path)
    doc, text = read_policy_file(p)
    return resolve(doc, manifest, text=text, file=str(p), base_dir=p.parent)
