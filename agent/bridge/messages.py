"""The two bridge messages, their EIP-712 hashes, and k-of-n relayer attestations.

Mirrors contracts/bridge/BridgeMessages.sol and RelayerVerifier.sol exactly: the struct hash
is the message id on both chains; the digest relayers sign is bound to the destination
contract (its EIP-712 domain), and signatures are packed r||s||v in ascending signer order.
Pure functions: no I/O, testable without a chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from eth_abi import encode
from eth_utils import to_checksum_address

from agent.errors import ValidationError
from agent.signing import LocalSigner, keccak256

DEPOSIT_TYPE = (
    "Deposit(uint256 sourceChainId,address escrow,address token,address sender,"
    "address recipient,uint256 amount,uint256 nonce)"
)
WITHDRAWAL_TYPE = (
    "Withdrawal(uint256 sourceChainId,address source,address token,address sender,"
    "address recipient,uint256 amount,uint256 nonce)"
)
DEPOSIT_TYPEHASH = keccak256(DEPOSIT_TYPE.encode())
WITHDRAWAL_TYPEHASH = keccak256(WITHDRAWAL_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# EIP-712 names of the two contracts (constructor arguments of RelayerVerifier).
L1_DOMAIN_NAME = "AgentBridgeEscrow"
L2_DOMAIN_NAME = "AgentBridgeL2"
DOMAIN_VERSION = "1"
SIGNATURE_LENGTH = 65
_UINT256_MAX = 2**256 - 1


def _address(field: str, value: str) -> str:
    try:
        return to_checksum_address(value)
    except (ValueError, TypeError):
        raise ValidationError(field, f"{value!r} is not an address", "pass 0x + 40 hex") from None


def _uint(field: str, value: int) -> int:
    if type(value) is not int or not 0 <= value <= _UINT256_MAX:
        raise ValidationError(field, f"{value!r} is not a uint256", "pass an int >= 0")
    return value


@dataclass(frozen=True, slots=True)
class _Message:
    source_chain_id: int
    source: str  # the escrow (deposit) or the L2 bridge (withdrawal)
    token: str  # always the L1 token
    sender: str
    recipient: str
    amount: int  # net of the bridge fee, base units
    nonce: int

    TYPEHASH = b""

    def __post_init__(self) -> None:
        for f in ("source_chain_id", "amount", "nonce"):
            _uint(f, getattr(self, f))
        for f in ("source", "token", "sender", "recipient"):
            object.__setattr__(self, f, _address(f, getattr(self, f)))

    @property
    def struct_hash(self) -> bytes:
        """EIP-712 struct hash; also the message id the contracts store."""
        return keccak256(
            encode(
                [
                    "bytes32",
                    "uint256",
                    "address",
                    "address",
                    "address",
                    "address",
                    "uint256",
                    "uint256",
                ],
                [
                    self.TYPEHASH,
                    self.source_chain_id,
                    self.source,
                    self.token,
                    self.sender,
                    self.recipient,
                    self.amount,
                    self.nonce,
                ],
            )
        )

    @property
    def id_hex(self) -> str:
        return "0x" + self.struct_hash.hex()

    def as_tuple(self) -> tuple[int, str, str, str, str, int, int]:
        """The ABI tuple the contracts take (field order of the Solidity struct)."""
        return (
            self.source_chain_id,
            self.source,
            self.token,
            self.sender,
            self.recipient,
            self.amount,
            self.nonce,
        )

    @classmethod
    def from_event(cls, chain_id: int, source: str, args: Mapping[str, Any]) -> Self:
        """From the source contract's event (``DepositInitiated`` / ``WithdrawalInitiated``,
        which carry the same fields) emitted by ``source`` on chain ``chain_id``."""
        return cls(
            chain_id, source, args["token"], args["sender"], args["recipient"],
            int(args["amount"]), int(args["nonce"]),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deposit(_Message):
    """An L1 -> L2 deposit (source: the L1 escrow) as its ``DepositInitiated`` describes it."""

    TYPEHASH = DEPOSIT_TYPEHASH


@dataclass(frozen=True, slots=True)
class Withdrawal(_Message):
    """An L2 -> L1 withdrawal (source: the L2 bridge) as its ``WithdrawalInitiated`` says."""

    TYPEHASH = WITHDRAWAL_TYPEHASH


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of a destination contract."""

    name: str
    chain_id: int
    verifying_contract: str
    version: str = DOMAIN_VERSION

    @property
    def separator(self) -> bytes:
        return keccak256(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    _DOMAIN_TYPEHASH,
                    keccak256(self.name.encode()),
                    keccak256(self.version.encode()),
                    self.chain_id,
                    _address("verifying_contract", self.verifying_contract),
                ],
            )
        )

    def digest(self, message: _Message) -> bytes:
        return keccak256(b"\x19\x01" + self.separator + message.struct_hash)


def l2_domain(chain_id: int, l2_bridge: str) -> Domain:
    """Where deposits are verified."""
    return Domain(L2_DOMAIN_NAME, chain_id, l2_bridge)


def l1_domain(chain_id: int, escrow: str) -> Domain:
    """Where withdrawals are verified."""
    return Domain(L1_DOMAIN_NAME, chain_id, escrow)


@dataclass(frozen=True, slots=True)
class Attestation:
    """One relayer's signature over one message digest."""

    signer: str
    signature: bytes


def attest(domain: Domain, message: _Message, signers: Iterable[LocalSigner]) -> list[Attestation]:
    digest = domain.digest(message)
    return [Attestation(s.address, s.sign_digest(digest)) for s in signers]


def pack(attestations: Sequence[Attestation]) -> bytes:
    """Concatenate signatures in strictly ascending signer order, as the contract requires.

    A duplicate signer is dropped rather than sent: the contract would refuse the whole
    message for it."""
    seen: dict[int, bytes] = {}
    for a in attestations:
        if len(a.signature) != SIGNATURE_LENGTH:
            raise ValidationError(
                "signature", f"{len(a.signature)} bytes from {a.signer}", "pass 65-byte r||s||v"
            )
        seen.setdefault(int(a.signer, 16), a.signature)
    return b"".join(sig for _, sig in sorted(seen.items()))


def recover_signers(domain: Domain, message: _Message, packed: bytes) -> list[str]:
    """The addresses that signed ``packed`` (off-chain mirror of the contract's check)."""
    import coincurve

    from agent.signing.eip1559 import address_of

    if len(packed) % SIGNATURE_LENGTH:
        raise ValidationError("signatures", f"{len(packed)} bytes is not a multiple of 65")
    digest = domain.digest(message)
    out = []
    for o in range(0, len(packed), SIGNATURE_LENGTH):
        sig = packed[o : o + SIGNATURE_LENGTH]
        v = sig[64] - 27 if sig[64] >= 27 else sig[64]
        pub = coincurve.PublicKey.from_signature_and_message(
            sig[:64] + bytes((v,)), digest, hasher=None
        )
        out.append(address_of(pub.format(compressed=False)))
    return out
