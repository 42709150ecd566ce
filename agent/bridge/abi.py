"""ABI work for the bridge contracts: call encoding, output/event/error decoding.

The ABIs come from our forge build through agent.deploy.artifacts (the single loader), so a
contract change cannot drift from what the agent encodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import to_checksum_address

from agent.deploy.artifacts import load
from agent.errors import VenuePayloadError
from agent.signing import keccak256

ESCROW = "BridgeEscrow"
L2_BRIDGE = "BridgeL2"
BRIDGED_TOKEN = "BridgedToken"


def abi_type(o: dict[str, Any]) -> str:
    t = o["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in o["components"]) + ")" + t[5:]
    return t


@dataclass(frozen=True, slots=True)
class _Fn:
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DecodedLog:
    event: str
    args: dict[str, Any]
    address: str
    block: int
    tx_hash: str
    log_index: int


class ContractAbi:
    """Encoder/decoder for one contract's ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.fns: dict[str, _Fn] = {}
        self.events: dict[str, _Event] = {}
        self.errors: dict[bytes, tuple[str, tuple[str, ...]]] = {}
        for e in abi:
            kind = e.get("type")
            if kind == "function":
                ins = tuple(abi_type(i) for i in e["inputs"])
                sel = keccak256(f"{e['name']}({','.join(ins)})".encode())[:4]
                self.fns[e["name"]] = _Fn(sel, ins, tuple(abi_type(o) for o in e["outputs"]))
            elif kind == "event":
                ins = [(i["name"], abi_type(i)) for i in e["inputs"]]
                topic = keccak256(f"{e['name']}({','.join(t for _, t in ins)})".encode())
                self.events[e["name"]] = _Event(
                    e["name"],
                    topic,
                    tuple(p for p, i in zip(ins, e["inputs"], strict=True) if i["indexed"]),
                    tuple(p for p, i in zip(ins, e["inputs"], strict=True) if not i["indexed"]),
                )
            elif kind == "error":
                ins = tuple(abi_type(i) for i in e["inputs"])
                sel = keccak256(f"{e['name']}({','.join(ins)})".encode())[:4]
                self.errors[sel] = (e["name"], ins)
        self._by_topic = {ev.topic: ev for ev in self.events.values()}

    def encode(self, fn: str, *args: Any) -> bytes:
        f = self.fns[fn]
        return f.selector + encode(list(f.inputs), list(args))

    def decode_output(self, fn: str, data: str | bytes) -> Any:
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else data
        vals = decode(list(self.fns[fn].outputs), raw)
        return vals[0] if len(vals) == 1 else vals

    def topic(self, event: str) -> str:
        return "0x" + self.events[event].topic.hex()

    def decode_log(self, log: dict[str, Any]) -> DecodedLog | None:
        """Decode an eth_getLogs entry; None for an event this ABI does not declare."""
        topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
        ev = self._by_topic.get(topics[0]) if topics else None
        if ev is None:
            return None
        try:
            args: dict[str, Any] = {}
            for (name, typ), t in zip(ev.indexed, topics[1:], strict=True):
                args[name] = decode([typ], t)[0]
            vals = decode([t for _, t in ev.data], bytes.fromhex(log["data"][2:]))
            args.update({name: v for (name, _), v in zip(ev.data, vals, strict=True)})
        except Exception as e:  # a log that claims our topic but does not decode
            raise VenuePayloadError(f"{ev.name} log does not decode: {e}") from e
        for k, v in args.items():
            if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
                args[k] = to_checksum_address(v)
        return DecodedLog(
            ev.name,
            args,
            to_checksum_address(log["address"]),
            int(log["blockNumber"], 16),
            log["transactionHash"],
            int(log["logIndex"], 16),
        )

    def decode_error(self, data: str | bytes | None) -> tuple[str, tuple[Any, ...]] | None:
        """(name, args) of a custom-error revert payload, or None if it is not one of ours."""
        if not data:
            return None
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else data
        hit = self.errors.get(raw[:4])
        if hit is None:
            return None
        name, types = hit
        try:
            return name, tuple(decode(list(types), raw[4:]))
        except Exception:
            return None


@cache
def contract_abi(name: str) -> ContractAbi:
    return ContractAbi(load(name).abi_list)


def escrow_abi() -> ContractAbi:
    return contract_abi(ESCROW)


def l2_abi() -> ContractAbi:
    return contract_abi(L2_BRIDGE)


def token_abi() -> ContractAbi:
    return contract_abi(BRIDGED_TOKEN)
