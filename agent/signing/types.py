"""Transactions as the signer sees them: an unsigned EIP-1559 request and its signed form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.errors import ValidationError

UINT256_MAX = 2**256 - 1
AccessList = tuple[tuple[str, tuple[str, ...]], ...]


def _addr_bytes(field_name: str, value: str) -> bytes:
    v = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        b = bytes.fromhex(v)
    except ValueError:
        b = b""
    if len(b) != 20:
        raise ValidationError(
            field_name, f"{value!r} is not a 20-byte hex address", "pass 0x + 40 hex digits"
        )
    return b


@dataclass(frozen=True, slots=True)
class TxRequest:
    """An unsigned EIP-1559 (type 2) transaction. Amounts are int wei; ``to=None`` deploys."""

    chain_id: int
    nonce: int
    to: str | None
    value: int = 0
    data: bytes = b""
    gas: int = 21_000
    max_fee_per_gas: int = 0
    max_priority_fee_per_gas: int = 0
    access_list: AccessList = ()

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field. Cheap: runs on every signature."""
        for name in (
            "chain_id",
            "nonce",
            "value",
            "gas",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
        ):
            v = getattr(self, name)
            if type(v) is not int or v < 0 or v > UINT256_MAX:
                raise ValidationError(
                    name, f"{v!r} is not an unsigned 256-bit integer", "pass an int >= 0"
                )
        if self.chain_id == 0:
            raise ValidationError("chain_id", "0 is not a chain id", "pass the chain's EIP-155 id")
        if self.nonce >= 2**64 - 1:
            raise ValidationError(
                "nonce", f"{self.nonce} exceeds 2^64-2 (EIP-2681)", "use a smaller nonce"
            )
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValidationError(
                "max_priority_fee_per_gas",
                f"{self.max_priority_fee_per_gas} exceeds max_fee_per_gas {self.max_fee_per_gas}",
                "lower the tip or raise the fee cap",
            )
        if self.gas < 21_000:
            raise ValidationError(
                "gas", f"{self.gas} is below the 21000 intrinsic gas", "pass gas >= 21000"
            )
        if not isinstance(self.data, bytes):
            raise ValidationError("data", f"{type(self.data).__name__} is not bytes", "pass bytes")
        if self.to is not None:
            _addr_bytes("to", self.to)

    def replace(self, **changes: Any) -> TxRequest:
        from dataclasses import replace

        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (ints as decimal strings where they can exceed 2^53)."""
        return {
            "chain_id": self.chain_id,
            "nonce": self.nonce,
            "to": self.to,
            "value": str(self.value),
            "data": "0x" + self.data.hex(),
            "gas": self.gas,
            "max_fee_per_gas": str(self.max_fee_per_gas),
            "max_priority_fee_per_gas": str(self.max_priority_fee_per_gas),
            "access_list": [[a, list(k)] for a, k in self.access_list],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TxRequest:
        data = d.get("data") or "0x"
        return cls(
            chain_id=int(d["chain_id"]),
            nonce=int(d["nonce"]),
            to=d.get("to"),
            value=int(d.get("value", 0)),
            data=bytes.fromhex(data[2:] if data.startswith("0x") else data),
            gas=int(d["gas"]),
            max_fee_per_gas=int(d["max_fee_per_gas"]),
            max_priority_fee_per_gas=int(d["max_priority_fee_per_gas"]),
            access_list=tuple((a, tuple(k)) for a, k in d.get("access_list", ())),
        )


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed type-2 transaction: ``raw`` is what eth_sendRawTransaction takes."""

    tx: TxRequest
    raw: bytes
    hash: bytes
    sender: str
    y_parity: int
    r: int
    s: int

    @property
    def raw_hex(self) -> str:
        return "0x" + self.raw.hex()

    @property
    def hash_hex(self) -> str:
        return "0x" + self.hash.hex()
