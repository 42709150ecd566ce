"""Revert data for people: the one decoder of what our contracts and Safe revert with.

``custom error 0x95e83831`` becomes ``PolicyModule.PolicyViolation(status=FUNCTION_NOT_ALLOWED
(5), word=0x...)``; ``GS026`` becomes ``Safe GS026: invalid owner provided (a signature
is not from an owner, or signatures are not sorted by owner address)``. Custom errors come
from the committed ABIs (abis/*.json, every contract of ours that declares errors), Safe's
codes from its 1.4.1 sources; ``Error(string)`` and ``Panic(uint256)`` are decoded too.
Used wherever a revert is shown: the CLI's error line, the executor's refusals.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

# Safe 1.4.1's require() codes (contracts/**/*.sol of @safe-global/safe-contracts@1.4.1)
SAFE_ERRORS: dict[str, str] = {
    "GS000": "could not finish initialization",
    "GS001": "threshold needs to be defined",
    "GS002": "a module setup call's target is not a contract",
    "GS010": "not enough gas to execute the Safe transaction",
    "GS011": "could not pay gas costs with ether",
    "GS012": "could not pay gas costs with token",
    "GS013": "Safe transaction failed when gasPrice and safeTxGas were 0",
    "GS020": "signatures data too short",
    "GS021": "invalid contract signature location: inside static part",
    "GS022": "invalid contract signature location: length not present",
    "GS023": "invalid contract signature location: data not complete",
    "GS024": "invalid contract signature provided",
    "GS025": "hash has not been approved",
    "GS026": "invalid owner provided (a signature is not from an owner, or the signatures "
    "are not sorted by owner address)",
    "GS027": "data hash does not match the signed data",
    "GS030": "only owners can approve a hash",
    "GS031": "method can only be called from this Safe",
    "GS100": "modules have already been initialized",
    "GS101": "invalid module address provided",
    "GS102": "module has already been added",
    "GS103": "invalid prevModule, module pair provided",
    "GS104": "method can only be called from an enabled module",
    "GS105": "invalid starting point for fetching paginated modules",
    "GS106": "invalid page size for fetching paginated modules",
    "GS200": "owners have already been set up",
    "GS201": "threshold cannot exceed owner count",
    "GS202": "threshold needs to be greater than 0",
    "GS203": "invalid owner address provided",
    "GS204": "address is already an owner",
    "GS205": "invalid prevOwner, owner pair provided",
    "GS300": "guard does not implement IERC165",
    "GS400": "fallback handler cannot be set to self",
}
PANICS = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialized function",
}
ERROR_STRING = selector("Error(string)")
PANIC = selector("Panic(uint256)")
_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")
_CUSTOM = re.compile(r"custom error (0x)?([0-9a-fA-F]{8})(?:[:,]?\s*(0x)?([0-9a-fA-F]*))?")
_GS = re.compile(r"\bGS\d{3}\b")


@dataclass(frozen=True, slots=True)
class CustomError:
    contract: str
    name: str
    params: tuple[tuple[str, str], ...]  # (type, name)

    @property
    def types(self) -> list[str]:
        return [t for t, _ in self.params]


def _canonical(p: dict[str, Any]) -> str:
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in p["components"]) + ")" + t[5:]
    return t


@cache
def custom_errors() -> dict[bytes, CustomError]:
    """selector -> the error, for every ``error`` in the committed ABIs."""
    from agent.policy.abis import ABI_DIR  # the one place the ABIs live

    out: dict[bytes, CustomError] = {}
    # an error several contracts declare (the policy checkers revert with the module's
    # PolicyViolation) is named after the module, where it is defined
    for f in sorted(ABI_DIR.glob("*.json"), key=lambda f: (f.stem != "PolicyModule", f.stem)):
        try:
            abi = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        for item in abi if isinstance(abi, list) else abi.get("abi", []):
            if item.get("type") != "error":
                continue
            params = tuple((_canonical(p), p.get("name") or f"arg{i}")
                           for i, p in enumerate(item.get("inputs", [])))  # fmt: skip
            sig = f"{item['name']}({','.join(t for t, _ in params)})"
            out.setdefault(selector(sig), CustomError(f.stem, item["name"], params))
    return out


def _arg(err: CustomError, name: str, typ: str, value: Any) -> str:
    text = "0x" + value.hex() if isinstance(value, bytes) else str(value)
    if err.name == "PolicyViolation" and name == "status":
        from agent.policy.model import Status

        try:
            return f"{name}={Status(value).name} ({value})"
        except ValueError:
            return f"{name}={value} (unknown status)"
    return f"{name}={text}"


def decode_revert(data: bytes | str | None) -> str | None:
    """Revert data (bytes or 0x hex) -> ``Contract.Error(name=value, ...)``, the reason of
    ``Error(string)`` (a Safe code explained), the meaning of a ``Panic``, or None."""
    if data is None:
        return None
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return None
    if len(data) < 4:
        return None
    sel, body = data[:4], data[4:]
    try:
        if sel == ERROR_STRING:
            (reason,) = decode(["string"], body)
            return explain_safe_code(reason) or f"reverted: {reason!r}"
        if sel == PANIC:
            (code,) = decode(["uint256"], body)
            return f"panic 0x{code:02x}: {PANICS.get(code, 'unknown panic')}"
        err = custom_errors().get(sel)
        if err is None:
            return None
        vals = decode(err.types, body) if err.params else ()
    except Exception:  # short or garbled data: say which error, without its arguments
        err = custom_errors().get(sel)
        return f"{err.contract}.{err.name}(<undecodable arguments>)" if err else None
    args = ", ".join(_arg(err, n, t, v) for (t, n), v in zip(err.params, vals, strict=True))
    return f"{err.contract}.{err.name}({args})"


def explain_safe_code(text: str) -> str | None:
    m = _GS.search(text)
    if m is None or m.group(0) not in SAFE_ERRORS:
        return None
    return f"Safe {m.group(0)}: {SAFE_ERRORS[m.group(0)]}"


def revert_data_of(error: BaseException) -> str | None:
    """The revert data an RPC error carries (``data``, or ``data.data`` as some nodes nest
    it), else None."""
    data = getattr(error, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


def explain(message: str, data: str | bytes | None = None) -> str:
    """``message`` with its raw revert replaced by (or followed by) the decoded form."""
    decoded = decode_revert(data) if data is not None else None
    if decoded is None:
        m = _CUSTOM.search(message)
        if m is not None:
            decoded = decode_revert(m.group(2) + (m.group(4) or ""))
            if decoded is not None:
                return message[: m.start()] + decoded + message[m.end() :]
    if decoded is None:
        decoded = explain_safe_code(message)
        if decoded is not None:
            m = _GS.search(message)
            assert m is not None
            return message[: m.start()] + decoded + message[m.end() :]
        return message
    cut = _CUSTOM.search(message) or _HEX.search(message)
    if cut is not None:
        return message[: cut.start()] + decoded + message[cut.end() :]
    return f"{message}: {decoded}"


def explain_error(error: BaseException) -> str:
    """``str(error)`` with any revert in it decoded (what the CLI prints)."""
    return explain(str(error), revert_data_of(error))


def violation_code(data: str | bytes | None) -> str | None:
    """``POLICY_<STATUS>`` for PolicyModule's PolicyViolation revert data (the code the
    off-chain evaluator uses for the same rule), else None."""
    from agent.policy.onchain import decode_violation

    try:
        v = decode_violation(data)
    except ValueError:  # a status this build does not know
        return "POLICY_VIOLATION"
    return v[0].code if v is not None else None


def would_revert(error: BaseException) -> Exception | None:
    """The typed, decoded error for an RPC error that is a revert (eth_call/estimateGas),
    else None: code POLICY_<STATUS> for the module's refusals, TX_WOULD_REVERT otherwise."""
    from agent.errors import WouldRevertError

    data = revert_data_of(error)
    text = str(getattr(error, "message", "") or error)
    if data is None and "revert" not in text:
        return None
    if data is None:
        m = _CUSTOM.search(text)
        data = "0x" + m.group(2) + (m.group(4) or "") if m else None
    out = WouldRevertError(
        explain(text, data) + "; nothing was signed",
        rpc_code=getattr(error, "rpc_code", None),
        data=data,
    )
    code = violation_code(data)
    if code is not None:
        out.code = code
    return out
