"""EIP-712 quotes of the options market: hashing, signing, and verification by recomputing
the digest from the decoded fields (never trusting a hash or an address someone hands us).

Mirrors ``OptionsMarket.QUOTE_TYPEHASH`` and OpenZeppelin's EIP712 domain
(name "AgentOptions", version "1", chainId, verifyingContract).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from coincurve import PrivateKey, PublicKey
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from agent.errors import ValidationError
from agent.model import Side

QUOTE_TYPE = (
    "Quote(address maker,address taker,uint256 seriesId,uint8 side,uint256 price,"
    "uint256 size,uint64 expiry,uint256 nonce)"
)
QUOTE_TYPEHASH = keccak(QUOTE_TYPE.encode())
DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
DOMAIN_NAME = "AgentOptions"
DOMAIN_VERSION = "1"
ZERO_ADDRESS = "0x" + "00" * 20
QUOTE_ABI = "(address,address,uint256,uint8,uint256,uint256,uint64,uint256)"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class MakerSide(IntEnum):
    """The maker's side of a quote (the contract's ``Side`` enum)."""

    MAKER_BUYS = 0  # the taker sells: writes the options and receives the premium
    MAKER_SELLS = 1  # the taker buys: pays the premium and receives the longs

    @classmethod
    def for_taker(cls, taker_side: Side) -> MakerSide:
        return cls.MAKER_SELLS if taker_side is Side.BUY else cls.MAKER_BUYS

    @property
    def taker_side(self) -> Side:
        return Side.BUY if self is MakerSide.MAKER_SELLS else Side.SELL


@dataclass(frozen=True, slots=True)
class OptionQuote:
    maker: str
    taker: str
    series_id: int
    side: MakerSide
    price: int  # quote base units per whole underlying
    size: int  # underlying base units
    expiry: int  # unix seconds, last second it may fill
    nonce: int

    def as_tuple(self) -> tuple:
        return (
            to_checksum_address(self.maker), to_checksum_address(self.taker), self.series_id,
            int(self.side), self.price, self.size, self.expiry, self.nonce,
        )  # fmt: skip

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "address", "address", "uint256", "uint8", "uint256", "uint256",
                 "uint64", "uint256"],
                [QUOTE_TYPEHASH, *self.as_tuple()],
            )
        )  # fmt: skip

    def to_wire(self) -> dict[str, Any]:
        """JSON form: integers as decimal strings (they exceed 2**53)."""
        return {
            "maker": to_checksum_address(self.maker),
            "taker": to_checksum_address(self.taker),
            "seriesId": str(self.series_id),
            "side": int(self.side),
            "price": str(self.price),
            "size": str(self.size),
            "expiry": str(self.expiry),
            "nonce": str(self.nonce),
        }

    @classmethod
    def from_wire(cls, d: Any) -> OptionQuote:
        if not isinstance(d, dict):
            raise ValidationError("quote", f"is {type(d).__name__}, not an object")
        try:
            return cls(
                maker=to_checksum_address(d["maker"]),
                taker=to_checksum_address(d["taker"]),
                series_id=_uint("quote.seriesId", d["seriesId"]),
                side=MakerSide(int(d["side"])),
                price=_uint("quote.price", d["price"]),
                size=_uint("quote.size", d["size"]),
                expiry=_uint("quote.expiry", d["expiry"], 64),
                nonce=_uint("quote.nonce", d["nonce"]),
            )
        except KeyError as e:
            raise ValidationError(f"quote.{e.args[0]}", "is missing") from None
        except (ValueError, TypeError) as e:
            raise ValidationError("quote", f"malformed: {e}") from None


def _uint(field: str, v: Any, bits: int = 256) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValidationError(field, f"{v!r} is not an integer", "send a decimal string")
    n = int(v, 10) if isinstance(v, str) else v
    if not 0 <= n < 2**bits:
        raise ValidationError(field, f"{n} is outside uint{bits}")
    return n


def domain_separator(chain_id: int, market: str) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(DOMAIN_NAME.encode()), keccak(DOMAIN_VERSION.encode()),
             chain_id, to_checksum_address(market)],
        )
    )  # fmt: skip


def quote_digest(q: OptionQuote, chain_id: int, market: str) -> bytes:
    return keccak(b"\x19\x01" + domain_separator(chain_id, market) + q.struct_hash())


@dataclass(frozen=True, slots=True)
class SignedQuote:
    quote: OptionQuote
    signature: bytes  # r || s || v (v = 27/28)
    chain_id: int
    market: str

    def digest(self) -> bytes:
        return quote_digest(self.quote, self.chain_id, self.market)

    def to_wire(self) -> dict[str, Any]:
        return {
            "quote": self.quote.to_wire(),
            "signature": "0x" + self.signature.hex(),
            "chainId": self.chain_id,
            "market": to_checksum_address(self.market),
        }

    @classmethod
    def from_wire(cls, d: Any) -> SignedQuote:
        if not isinstance(d, dict):
            raise ValidationError("rfq response", f"is {type(d).__name__}, not an object")
        sig = d.get("signature")
        if not isinstance(sig, str) or not sig.startswith("0x"):
            raise ValidationError("signature", f"{sig!r} is not 0x-hex")
        try:
            raw = bytes.fromhex(sig[2:])
            market = to_checksum_address(d["market"])
            chain_id = int(d["chainId"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValidationError("rfq response", f"malformed: {e}") from None
        return cls(OptionQuote.from_wire(d.get("quote")), raw, chain_id, market)


def sign_quote(q: OptionQuote, key: str | bytes, chain_id: int, market: str) -> SignedQuote:
    raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else key
    sig = PrivateKey(raw).sign_recoverable(quote_digest(q, chain_id, market), hasher=None)
    return SignedQuote(q, sig[:64] + bytes((27 + sig[64],)), chain_id, market)


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The address that produced ``signature`` over ``digest``, or None if it is malformed.
    Refuses high-s signatures, as OpenZeppelin's ECDSA does, so a quote has one valid form."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    s = int.from_bytes(signature[32:64], "big")
    if s == 0 or s > SECP256K1_N // 2:
        return None
    try:
        pub = PublicKey.from_signature_and_message(
            signature[:64] + bytes((signature[64] - 27,)), digest, hasher=None
        )
    except Exception:  # coincurve raises a bare Exception for unrecoverable signatures
        return None
    return to_checksum_address(keccak(pub.format(compressed=False)[1:])[12:])
