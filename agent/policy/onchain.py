"""The PolicyModule on a chain: its artifact, deployment, reading its configuration back,
allowance state for the evaluator's context, and decoding its revert data."""

from __future__ import annotations

import json
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import to_checksum_address

from agent.chain.devnet import rpc_call
from agent.chain.toolchain import REPO_ROOT
from agent.errors import ArtifactError
from agent.policy.allowance import AllowanceState
from agent.policy.compiler import ZERO, ModuleConfig, ScopeCfg
from agent.policy.model import Status
from agent.wallet.module import EXECUTE, execute_calldata  # the one encoder of module calls

__all__ = [
    "EXECUTE",
    "REPO",
    "VIOLATION_SELECTOR",
    "ModuleReader",
    "decode_violation",
    "deploy_code",
    "execute_calldata",
    "module_artifact",
]

REPO = REPO_ROOT  # run-time resources: the checkout or the wheel's package data
VIOLATION_SELECTOR = fsel("PolicyViolation(uint8,bytes32)")


def module_artifact() -> dict[str, Any]:
    """Forge's JSON for PolicyModule: the shared build (out/) or this area's (out-policy/)."""
    for out in ("out", "out-policy"):
        p = REPO / out / "PolicyModule.sol" / "PolicyModule.json"
        if p.exists():
            return json.loads(p.read_text())
    raise ArtifactError(
        "PolicyModule artifact not built: run scripts/setup (forge build) or "
        "FOUNDRY_OUT=out-policy forge build contracts/policy"
    )


def deploy_code(safe: str, multisend: str) -> bytes:
    art = module_artifact()
    code = art["bytecode"]["object"] if isinstance(art["bytecode"], dict) else art["bytecode"]
    return bytes.fromhex(code.removeprefix("0x")) + encode(
        ["address", "address"], [safe, multisend]
    )


def decode_violation(revert_data: str | bytes | None) -> tuple[Status, bytes] | None:
    """(status, offending word) from PolicyViolation revert data, else None."""
    if revert_data is None:
        return None
    raw = (
        bytes.fromhex(revert_data.removeprefix("0x"))
        if isinstance(revert_data, str)
        else revert_data
    )
    if raw[:4] != VIOLATION_SELECTOR or len(raw) < 68:
        return None
    status, word = decode(["uint8", "bytes32"], raw[4:68])
    return Status(status), word


class ModuleReader:
    """eth_call view functions of one deployed module."""

    def __init__(self, rpc_url: str, module: str):
        self.url, self.module = rpc_url, to_checksum_address(module)

    def call(
        self,
        sig: str,
        out: list[str],
        types: list[str] | None = None,
        args: list[Any] | None = None,
        block: str = "latest",
    ) -> Any:
        data = fsel(sig) + (encode(types, args) if types else b"")
        raw = rpc_call(
            self.url, "eth_call", [{"to": self.module, "data": "0x" + data.hex()}, block]
        )
        vals = decode(out, bytes.fromhex(raw[2:]))
        return vals[0] if len(vals) == 1 else vals

    def config(self) -> ModuleConfig:
        ops, roles = self.call("operators()", ["address[]", "uint16[]"])
        keys = self.call("scopeKeys()", ["bytes32[]"])
        scopes: dict[tuple[int, str, bytes], ScopeCfg] = {}
        for k in keys:
            s, conds = self.call(
                "getScope(bytes32)",
                ["(bool,uint8,uint96,uint16,bytes4,address)", "(uint8,uint16,uint32,uint256)[]"],
                ["bytes32"],
                [k],
            )
            if not s[0]:
                continue
            scopes[(s[3], s[5].lower(), bytes(s[4]))] = ScopeCfg(
                s[2], tuple(tuple(c) for c in conds)
            )
        sets = {}
        for sid in self.call("setIds()", ["uint32[]"]):
            vals = self.call("setValues(uint32)", ["bytes32[]"], ["uint32"], [sid])
            if vals:
                sets[sid] = frozenset(int.from_bytes(v, "big") for v in vals)
        allowances = {}
        for aid in self.call("allowanceIds()", ["uint32[]"]):
            _bal, cap, period, _last = self.call(
                "allowances(uint32)", ["uint96", "uint96", "uint32", "uint32"], ["uint32"], [aid]
            )
            allowances[aid] = (cap, period)
        tokens, feeds, decs, ages = self.call(
            "oracles()", ["address[]", "address[]", "uint8[]", "uint32[]"]
        )
        oracles = {
            t.lower(): (f.lower(), d, a)
            for t, f, d, a in zip(tokens, feeds, decs, ages, strict=True)
            if int(f, 16)
        }
        tracked, loss, budget, period, *_window = self.value_guard()
        c_roles, c_signers = self.call("cosigners()", ["uint16[]", "address[]"])
        return ModuleConfig(
            oracles=oracles,
            value_guard=(tuple(t.lower() for t in tracked), loss, budget, period)
            if tracked
            else ((), 0, 0, 0),
            operators={o.lower(): r for o, r in zip(ops, roles, strict=True) if r},
            scopes=scopes,
            sets=sets,
            allowances=allowances,
            guardian=self.call("guardian()", ["address"]).lower(),
            multisend=(self.call("multiSend()", ["address"]) or ZERO).lower(),
            paused=self.call("paused()", ["bool"]),
            cosigners={r: a.lower() for r, a in zip(c_roles, c_signers, strict=True) if int(a, 16)},
        )

    def allowance_states(self, block: str = "latest") -> dict[int, AllowanceState]:
        out = {}
        for aid in self.call("allowanceIds()", ["uint32[]"], block=block):
            bal, cap, period, last = self.call(
                "allowances(uint32)",
                ["uint96", "uint96", "uint32", "uint32"],
                ["uint32"],
                [aid],
                block=block,
            )
            out[aid] = AllowanceState(bal, cap, period, last)
        return out

    def paused(self) -> bool:
        return bool(self.call("paused()", ["bool"]))

    def value_guard(self, block: str = "latest") -> tuple[Any, ...]:
        """(tracked, maxLossBps, budgetBps, period, windowStart, windowBase, windowLoss)."""
        return tuple(
            self.call(
                "valueGuard()",
                ["address[]", "uint16", "uint16", "uint32", "uint64", "uint256", "uint256"],
                block=block,
            )
        )


# ------------------------------------------------------------------ readings for the guard
_LATEST = fsel("latestRoundData()")
_DECIMALS = fsel("decimals()")
_BALANCE_OF = fsel("balanceOf(address)")
_VALUE_GUARD = fsel("valueGuard()")
_SERIES = fsel("series(uint256)")
_NONCE_BITMAP = fsel("nonceBitmap(address,uint256)")
_WITHDRAWALS = fsel("withdrawals(bytes32)")
_FEE_FOR = fsel("feeFor(uint256)")
_DEPOSIT = fsel("deposit(address,address,uint256)")
_PAUSED = fsel("paused()")
_SERIES_T = (
    "((address,address,address,address,uint128,uint128,uint64,bool),uint64,uint128,bool,uint256)"
)
_VG_T = ["address[]", "uint16", "uint16", "uint32", "uint64", "uint256", "uint256"]


class ChainState:
    """What the off-chain mirrors of the oracle-priced rules need, read from the chain at
    each check in ONE JSON-RPC batch (agent.chain.rpc.RpcClient): every oracle's latest round
    and decimals, the module's value-guard window, the Safe's tracked balances, and for the
    calls at hand the options series, quote nonces and bridge withdrawals they name."""

    def __init__(self, rpc: Any, policy: Any) -> None:
        self.rpc, self.policy = rpc, policy
        self.paused: bool | None = None  # the module's pause flag as of the last read()

    async def read(self, calls: list[Any]) -> dict[str, Any]:
        from agent.policy.checkers import SEL_FILL, FeedRead, SeriesInfo, Window, decode_fills
        from agent.policy.evaluator import FINALIZE_WITHDRAWAL

        p = self.policy
        reqs: list[tuple[str, Any]] = []

        def ecall(to: str, data: bytes) -> int:
            reqs.append(("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]))
            return len(reqs) - 1

        feeds = {
            t: (ecall(o.feed, _LATEST), ecall(o.feed, _DECIMALS)) for t, o in p.oracles.items()
        }
        vg_i = ecall(p.module, _VALUE_GUARD) if p.module and p.value_guard else None
        # the pause flag at each check, not only at start: a guardian's pause() since then
        # denies PAUSED off-chain instead of a revert at gas estimation
        paused_i = ecall(p.module, _PAUSED) if p.module else None
        bal: dict[str, int] = {}
        for t in p.value_guard.tracked if p.value_guard else ():
            if int(t, 16) == 0:
                reqs.append(("eth_getBalance", [p.safe, "latest"]))
                bal[t.lower()] = len(reqs) - 1
            else:
                bal[t.lower()] = ecall(t, _BALANCE_OF + encode(["address"], [p.safe]))
        series: dict[int, tuple[int, str]] = {}
        nonces: dict[tuple[str, int], int] = {}
        wds: dict[str, int] = {}
        fees: dict[int, int] = {}
        for c in calls:
            data = bytes(c.data)
            if data[:4] == SEL_FILL:
                try:
                    fills = decode_fills(data)
                except (ValueError, IndexError):
                    continue
                for f in fills:
                    if f.series_id not in series:
                        sid = encode(["uint256"], [f.series_id])
                        series[f.series_id] = (ecall(c.to, _SERIES + sid), c.to)
                    nb = encode(["address", "uint256"], [f.maker, f.nonce >> 8])
                    nonces[(f.maker, f.nonce)] = ecall(c.to, _NONCE_BITMAP + nb)
            elif data[:4] == FINALIZE_WITHDRAWAL and len(data) >= 36:
                wds["0x" + data[4:36].hex()] = ecall(c.to, _WITHDRAWALS + data[4:36])
            elif data[:4] == _DEPOSIT and len(data) >= 100:
                fees[int.from_bytes(data[68:100], "big")] = ecall(c.to, _FEE_FOR + data[68:100])
        got = await self.rpc.batch(reqs) if reqs else []

        def raw(i: int) -> bytes | None:
            r = got[i]
            if isinstance(r, Exception) or not isinstance(r, str):
                return None
            return bytes.fromhex(r[2:])

        out_feeds: dict[str, Any] = {}
        for t, (li, di) in feeds.items():
            try:
                b = raw(li) or b""
                if len(b) != 160:
                    raise ValueError("latestRoundData is not 5 words")
                rid, answer, _s, updated, answered = decode(
                    ["uint256", "int256", "uint256", "uint256", "uint256"], b
                )
                d = raw(di) or b""
                if len(d) != 32:
                    raise ValueError("decimals is not one word")
                dec = int.from_bytes(d, "big")
                out_feeds[t] = FeedRead(answer, updated, dec, rid, answered)
            except Exception:  # reverted or garbled: the module denies FEED_INVALID
                out_feeds[t] = None
        window = None
        if vg_i is not None and (b := raw(vg_i)):
            _tr, _l, _b, _p, start, base, loss = decode(_VG_T, b)
            window = Window(start, base, loss)
        balances: dict[str, int] = {}
        for t, i in bal.items():
            r = got[i]
            if isinstance(r, str):
                balances[t] = (
                    int(r, 16)
                    if int(t, 16) == 0
                    else int.from_bytes(bytes.fromhex(r[2:]) or b"\0", "big")
                )
        out_series: dict[int, Any] = {}
        for sid, (i, _market) in series.items():
            b = raw(i)
            if b is None:
                continue
            (st,) = decode([_SERIES_T], b)
            terms, unit, _px, settled, _coll = st
            out_series[sid] = SeriesInfo(
                terms[0].lower(), terms[1].lower(), terms[2].lower(), terms[3].lower(),
                terms[4], terms[5], terms[6], terms[7], unit, settled,
            )  # fmt: skip
        used = set()
        for (maker, nonce), i in nonces.items():
            b = raw(i)
            if b and int.from_bytes(b[:32], "big") >> (nonce & 0xFF) & 1:
                used.add((maker, nonce))
        withdrawals: dict[str, tuple[int, int]] = {}
        for wid, i in wds.items():
            b = raw(i)
            if b and len(b) >= 160:
                _tok, _rcpt, _amt, release, status = decode(
                    ["address", "address", "uint256", "uint64", "uint8"], b[:160]
                )
                withdrawals[wid] = (status, release)
        bridge_fees = {}
        for amount, i in fees.items():
            b = raw(i)
            if b and len(b) >= 32:
                bridge_fees[amount] = int.from_bytes(b[:32], "big")
        self.paused = None  # unreadable: the caller keeps the last known flag
        if paused_i is not None and (b := raw(paused_i)) and len(b) == 32:
            self.paused = bool(int.from_bytes(b, "big"))
        return {
            "feeds": out_feeds, "window": window, "balances": balances, "series": out_series,
            "used_nonces": frozenset(used), "withdrawals": withdrawals, "bridge_fees": bridge_fees,
        }  # fmt: skip
