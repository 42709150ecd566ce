"""Two-party signing of Lindell's protocol (Protocol 3.3) over an EIP-1559 transaction.

    P1 -> P2  sg1  sid, key id, the transaction, com(R1, proof)      P1: k1, R1 = k1*G
    P2 -> P1  sg2  R2, proof                                          P2: k2, R2 = k2*G
    P1 -> P2  sg3  open(R1, proof)
    P2 -> P1  sg4  c3 = Enc(rho*q + k2^-1 * m) (+) (k2^-1 * r * x2) (*) ckey
    P1: s = k1^-1 * Dec(c3) mod q, low-s normalised; verify (r, s) against Q; y parity of R

Party 2 is given the transaction, not a digest: it decodes and validates the fields and
recomputes the digest itself, so it knows what it signs and can refuse it (``approve``);
it never signs a hash it was handed (typed data likewise: it gets the EIP-712 message and
hashes it). Party 1 verifies the signature against the joint key
before returning it: a faulty party 2 yields TssBadProofError, never a bad transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import coincurve

from agent.errors import AgentError, ValidationError
from agent.signing import rlp
from agent.signing.eip1559 import encode_fields, keccak256
from agent.signing.protocol import TypedData
from agent.signing.threshold import ec, zk
from agent.signing.threshold.errors import TssBadMessageError, TssBadProofError
from agent.signing.threshold.keygen import proof_json, proof_of
from agent.signing.threshold.paillier import FixedBase, NoisePool
from agent.signing.threshold.share import P1Share, P2Share
from agent.signing.threshold.wire import expect, get_bytes, get_int, get_obj, get_point, hx
from agent.signing.types import SignedTx, TxRequest

Approve = Callable[["TxRequest | TypedData"], None]  # raises an AgentError to refuse


def digest_of(payload: TxRequest | TypedData) -> bytes:
    """The 32-byte hash an ECDSA signature covers: the EIP-1559 signing digest of a
    transaction, or the EIP-712 digest of typed data."""
    if isinstance(payload, TxRequest):
        payload.validate()
        fields = encode_fields(payload)
        return keccak256(b"\x02" + rlp.list_header(len(fields)) + fields)
    from eth_account.messages import encode_typed_data

    try:
        msg = encode_typed_data(full_message=payload)
    except Exception as e:
        raise ValidationError(
            "typed_data", f"not valid EIP-712 ({e})", "pass types, primaryType, domain, message"
        ) from e
    return keccak256(b"\x19" + msg.version + msg.header + msg.body)


def payload_json(payload: TxRequest | TypedData) -> dict[str, Any]:
    if isinstance(payload, TxRequest):
        return {"tx": payload.to_json()}
    return {"typed": payload}


def payload_of(msg: dict[str, Any]) -> TxRequest | TypedData:
    """The transaction or typed data of an sg1 message, decoded and validated."""
    try:
        if "tx" in msg:
            tx = TxRequest.from_json(get_obj(msg, "tx"))
            tx.validate()
            return tx
        typed = get_obj(msg, "typed")
        digest_of(typed)
        return typed
    except AgentError as e:
        raise TssBadMessageError(f"tx: {e.message}") from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise TssBadMessageError(f"tx: not a transaction ({type(e).__name__}: {e})") from e


def _ctx(sid: bytes, what: str, key_id: str) -> bytes:
    return b"lindell17/" + what.encode() + b"/" + key_id.encode() + b"/" + sid


class SignP1:
    def __init__(self, share: P1Share, payload: TxRequest | TypedData) -> None:
        self.share, self.payload = share, payload
        self.digest = digest_of(payload)
        self.sid = secrets.token_bytes(16)
        self.k1 = ec.rand_scalar()
        self.r1 = ec.enc(ec.base_mul(self.k1))
        self.pf = zk.dlog_prove(self.k1, _ctx(self.sid, "sg-p1", share.key_id))
        self.com, self.salt = zk.commit("sg-r1", self.r1 + self.pf.to_bytes())
        self.step = 1

    def sg1(self) -> dict[str, Any]:
        return {
            "t": "sg1", "sid": self.sid.hex(), "key_id": self.share.key_id,
            **payload_json(self.payload), "com": self.com.hex(),
        }  # fmt: skip

    def on_sg2(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(1)
        expect(msg, "sg2")
        r2 = get_point(msg, "r2")
        if not zk.dlog_verify(r2, proof_of(msg, "pf"), _ctx(self.sid, "sg-p2", self.share.key_id)):
            raise TssBadProofError("party 2's proof of knowledge of k2 does not verify")
        self.big_r = ec.mul(r2, self.k1)
        return {"t": "sg3", "r1": self.r1.hex(), "pf": proof_json(self.pf), "salt": self.salt.hex()}

    def on_sg4(self, msg: dict[str, Any]) -> tuple[int, int, int]:
        """(r, s, y_parity), verified against the joint key."""
        self._step(2)
        expect(msg, "sg4")
        sk = self.share.paillier
        c3 = get_int(msg, "c3", 1, int(sk.pub.nn))
        if not sk.pub.is_ciphertext(c3):
            raise TssBadMessageError("c3: not a Paillier ciphertext")
        r = ec.x_of(self.big_r) % ec.Q
        s = pow(self.k1, -1, ec.Q) * int(sk.decrypt(c3)) % ec.Q
        y = ec.y_parity(self.big_r)
        if ec.x_of(self.big_r) >= ec.Q or r == 0 or s == 0:  # probability ~2^-128
            raise TssBadProofError("degenerate signature (r >= q or s = 0); sign again")
        if s > ec.Q // 2:  # EIP-2 low-s; negating s mirrors R, so flip the parity
            s, y = ec.Q - s, y ^ 1
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y,))
        try:
            pub = coincurve.PublicKey.from_signature_and_message(sig, self.digest, hasher=None)
            ok = pub.format(compressed=True) == self.share.public_key
        except Exception:
            ok = False
        if not ok:
            raise TssBadProofError(
                "the joint signature does not verify against the joint key: party 2 is "
                "faulty or malicious; nothing was signed"
            )
        return r, s, y

    def _step(self, n: int) -> None:
        if self.step != n:
            raise TssBadMessageError(f"message out of order (at step {self.step})")
        self.step += 1


class SignP2:
    def __init__(
        self,
        share: P2Share,
        approve: Approve | None = None,
        noise: NoisePool | None = None,
        ckey_pow: FixedBase | None = None,
    ) -> None:
        self.share, self.approve = share, approve
        self.noise = noise
        self.ckey_pow = ckey_pow  # FixedBase of ckey, if the caller keeps one
        self.step = 1

    def on_sg1(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(1)
        expect(msg, "sg1")
        self.sid = get_bytes(msg, "sid", 16)
        if msg.get("key_id") != self.share.key_id:
            raise TssBadMessageError(
                f"key_id: this party holds key {self.share.key_id}, not {str(msg.get('key_id'))[:40]}"
            )
        self.com = get_bytes(msg, "com", 32)
        payload = payload_of(msg)
        self.digest = digest_of(payload)  # recomputed here from the decoded fields
        if self.approve is not None:
            self.approve(payload)  # raises to refuse (its AgentError's code goes to party 1)
        self.payload = payload
        self.m = int.from_bytes(self.digest, "big")
        self.k2 = ec.rand_scalar()
        pf = zk.dlog_prove(self.k2, _ctx(self.sid, "sg-p2", self.share.key_id))
        return {"t": "sg2", "r2": ec.enc(ec.base_mul(self.k2)).hex(), "pf": proof_json(pf)}

    def on_sg3(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(2)
        expect(msg, "sg3")
        r1 = get_point(msg, "r1")
        pf = proof_of(msg, "pf")
        if not zk.open_ok(
            "sg-r1", self.com, get_bytes(msg, "salt", 32), ec.enc(r1) + pf.to_bytes()
        ):
            raise TssBadProofError("party 1's (R1, proof) does not open its commitment")
        if not zk.dlog_verify(r1, pf, _ctx(self.sid, "sg-p1", self.share.key_id)):
            raise TssBadProofError("party 1's proof of knowledge of k1 does not verify")
        q = ec.Q
        r = ec.x_of(ec.mul(r1, self.k2)) % q
        k2_inv = pow(self.k2, -1, q)
        pk = self.share.paillier
        rho = secrets.randbelow(q * q)
        # fresh randomness is essential here, not decoration: party 1 can take N-th roots,
        # and the noise is what hides v (hence x2) in the randomness part of c3
        noise = self.noise.take() if self.noise is not None else pk.noise()
        c1 = pk.encrypt_noise(rho * q + k2_inv * (self.m % q) % q, noise)
        v = k2_inv * r * self.share.x2 % q
        c2 = self.ckey_pow.pow(v) if self.ckey_pow is not None else pk.mul(self.share.ckey, v)
        c3 = pk.add(c1, c2)
        return {"t": "sg4", "c3": hx(c3)}

    def _step(self, n: int) -> None:
        if self.step != n:
            raise TssBadMessageError(f"message out of order (at step {self.step})")
        self.step += 1


def signed_tx(share: P1Share, tx: TxRequest, r: int, s: int, y: int) -> SignedTx:
    """The raw type-2 envelope of a joint signature (the same bytes a local key would make
    for the same (r, s, y))."""
    fields = encode_fields(tx)
    body = fields + rlp.encode_uint(y) + rlp.encode_uint(r) + rlp.encode_uint(s)
    raw = b"\x02" + rlp.list_header(len(body)) + body
    return SignedTx(tx=tx, raw=raw, hash=keccak256(raw), sender=share.address, y_parity=y, r=r, s=s)
