"""Distributed key generation of Lindell's two-party ECDSA (Protocol 3.2), as two state
machines that take a message and return the next one (no I/O: the transport drives them).

    P1 -> P2  kg1  sid, com(Q1, proof1)                      P1: x1 in [1, q/3), Q1 = x1*G
    P2 -> P1  kg2  Q2, proof2                                P2: x2 in [1, q),   Q2 = x2*G
    P1 -> P2  kg3  open(Q1, proof1), N, ckey = Enc(x1), key proof of N
    P2 -> P1  kg4  com(range challenge), PDL c', c'', Q'
    P1 -> P2  kg5  range-proof pairs, com(Q^)
    P2 -> P1  kg6  range challenge (opened), PDL (a, b) (opened)
    P1 -> P2  kg7  range-proof answers, open(Q^)
    P2 -> P1  kg8  key id, address                           both: Q = x1*x2*G

Every incoming field is checked (wire.get_*): a malformed message raises TssBadMessageError,
a proof that fails TssBadProofError. A party returns its share only after every check passed;
the caller writes it then.
"""

from __future__ import annotations

import secrets
from typing import Any

from agent.signing.threshold import ec, zk
from agent.signing.threshold.errors import TssBadMessageError, TssBadProofError
from agent.signing.threshold.paillier import PublicKey, SecretKey
from agent.signing.threshold.share import P1Share, P2Share, joint_address, key_id_of
from agent.signing.threshold.wire import (
    as_int,
    expect,
    get_bytes,
    get_int,
    get_list,
    get_obj,
    get_point,
    hx,
)

_BIG = 1 << 4200  # bound for Paillier numbers on the wire (N^2 < 2^4100 for |N| <= 2050)


def proof_json(p: zk.DLogProof) -> dict[str, str]:
    return {"a": p.a.hex(), "z": hx(p.z)}


def proof_of(msg: dict[str, Any], field: str) -> zk.DLogProof:
    o = get_obj(msg, field)
    get_point(o, "a")
    return zk.DLogProof(get_bytes(o, "a", 33), get_int(o, "z", 1, ec.Q))


def _ctx(sid: bytes, what: str) -> bytes:
    return b"lindell17/" + what.encode() + b"/" + sid


def _check(reason: str | None) -> None:
    if reason is not None:
        raise TssBadProofError(reason)


class KeygenP1:
    def __init__(self, *, paillier: SecretKey | None = None, paillier_bits: int = 2048) -> None:
        self.sid = secrets.token_bytes(16)
        self.x1 = ec.rand_scalar(zk.ELL)
        self.q1 = ec.enc(ec.base_mul(self.x1))
        self.pf1 = zk.dlog_prove(self.x1, _ctx(self.sid, "kg-p1"))
        self.com, self.salt = zk.commit("kg-q1", self.q1 + self.pf1.to_bytes())
        self.sk = paillier or SecretKey.generate(paillier_bits)
        self.step = 1

    def kg1(self) -> dict[str, Any]:
        return {"t": "kg1", "sid": self.sid.hex(), "com": self.com.hex()}

    def on_kg2(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(1)
        expect(msg, "kg2")
        q2 = get_point(msg, "q2")
        if not zk.dlog_verify(q2, proof_of(msg, "pf2"), _ctx(self.sid, "kg-p2")):
            raise TssBadProofError("party 2's proof of knowledge of x2 does not verify")
        self.q2 = ec.enc(q2)
        pk = self.sk.pub
        self.ckey, self.r_ckey = self.sk.encrypt(self.x1)
        self.sigmas = zk.key_prove(self.sk, _ctx(self.sid, "kg-nkey"))
        return {
            "t": "kg3", "q1": self.q1.hex(), "pf1": proof_json(self.pf1), "salt": self.salt.hex(),
            "n": hx(pk.n), "ckey": hx(self.ckey), "nkey": [hx(s) for s in self.sigmas],
        }  # fmt: skip

    def on_kg4(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(2)
        expect(msg, "kg4")
        self.rcom = get_bytes(msg, "rcom", 32)
        c_prime = get_int(msg, "c_prime", 1, int(self.sk.pub.nn))
        if not self.sk.pub.is_ciphertext(c_prime):
            raise TssBadMessageError("c_prime: not a Paillier ciphertext")
        self.c_dprime = get_bytes(msg, "c_dprime", 32)
        get_point(msg, "q_prime")
        self.alpha, self.qh, qh_com, self.qh_salt = zk.pdl_prover_commit(self.sk, c_prime)
        self.pairs, self.rsec = zk.range_commit(self.sk)
        return {
            "t": "kg5",
            "pairs": [[hx(a), hx(b)] for a, b in self.pairs],
            "qh_com": qh_com.hex(),
        }

    def on_kg6(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(3)
        expect(msg, "kg6")
        e = list(get_bytes(msg, "e", zk.RANGE_T))
        if any(b > 1 for b in e):
            raise TssBadMessageError("e: challenge bits must be 0 or 1")
        e_salt = get_bytes(msg, "e_salt", 32)
        if not zk.open_ok("kg-range-e", self.rcom, e_salt, bytes(e)):
            raise TssBadProofError("party 2's range challenge does not open its commitment")
        a = get_int(msg, "a", 1, ec.Q)
        b = get_int(msg, "b", 1, ec.Q * ec.Q)
        _check(
            zk.pdl_prover_check(
                self.alpha, self.x1, a, b, self.c_dprime, get_bytes(msg, "ab_salt", 32)
            )
        )
        answers = zk.range_respond(self.sk.pub, self.x1, int(self.r_ckey), self.rsec, e)
        return {
            "t": "kg7",
            "answers": [{k: hx(v) for k, v in a.items()} for a in answers],
            "qh": self.qh.hex(),
            "qh_salt": self.qh_salt.hex(),
        }

    def on_kg8(self, msg: dict[str, Any]) -> P1Share:
        self._step(4)
        expect(msg, "kg8")
        q = ec.mul(ec.dec(self.q2), self.x1)
        n = int(self.sk.pub.n)
        key_id = key_id_of(self.q1, self.q2, n, int(self.ckey))
        address = joint_address(q)
        if msg.get("key_id") != key_id or msg.get("address") != address:
            raise TssBadProofError("party 2 derived another joint key; the ceremony failed")
        return P1Share(
            self.x1, self.q1, self.q2, ec.enc(q), self.sk, int(self.ckey), key_id, address
        )

    def _step(self, n: int) -> None:
        if self.step != n:
            raise TssBadMessageError(f"message out of order (at step {self.step})")
        self.step += 1


class KeygenP2:
    def __init__(self) -> None:
        self.x2 = ec.rand_scalar()
        self.q2 = ec.enc(ec.base_mul(self.x2))
        self.step = 1

    def on_kg1(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(1)
        expect(msg, "kg1")
        self.sid = get_bytes(msg, "sid", 16)
        self.com = get_bytes(msg, "com", 32)
        pf2 = zk.dlog_prove(self.x2, _ctx(self.sid, "kg-p2"))
        return {"t": "kg2", "q2": self.q2.hex(), "pf2": proof_json(pf2)}

    def on_kg3(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(2)
        expect(msg, "kg3")
        q1 = get_point(msg, "q1")
        pf1 = proof_of(msg, "pf1")
        self.q1 = ec.enc(q1)
        if not zk.open_ok("kg-q1", self.com, get_bytes(msg, "salt", 32), self.q1 + pf1.to_bytes()):
            raise TssBadProofError("party 1's (Q1, proof) does not open its commitment")
        if not zk.dlog_verify(q1, pf1, _ctx(self.sid, "kg-p1")):
            raise TssBadProofError("party 1's proof of knowledge of x1 does not verify")
        n = get_int(msg, "n", 1, 1 << 2050)
        sigmas = [
            as_int(v, f"nkey[{i}]", 1, n)
            for i, v in enumerate(get_list(msg, "nkey", zk.KEY_PROOF_M))
        ]
        _check(zk.key_verify(n, sigmas, _ctx(self.sid, "kg-nkey")))
        self.pk = PublicKey.of(n)
        self.ckey = get_int(msg, "ckey", 1, int(self.pk.nn))
        if not self.pk.is_ciphertext(self.ckey):
            raise TssBadMessageError("ckey: not a Paillier ciphertext")
        self.e = [secrets.randbits(1) for _ in range(zk.RANGE_T)]
        self.rcom, self.e_salt = zk.commit("kg-range-e", bytes(self.e))
        pdl_msg, self.pdl = zk.pdl_challenge(self.pk, self.ckey, q1)
        return {
            "t": "kg4", "rcom": self.rcom.hex(), "c_prime": hx(pdl_msg["c_prime"]),  # type: ignore[arg-type]
            "c_dprime": pdl_msg["c_dprime"].hex(), "q_prime": pdl_msg["q_prime"].hex(),  # type: ignore[attr-defined]
        }  # fmt: skip

    def on_kg5(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._step(3)
        expect(msg, "kg5")
        nn = int(self.pk.nn)
        self.pairs = []
        for i, pr in enumerate(get_list(msg, "pairs", zk.RANGE_T)):
            if not isinstance(pr, list) or len(pr) != 2:
                raise TssBadMessageError(f"pairs[{i}]: not a pair")
            self.pairs.append(
                (as_int(pr[0], f"pairs[{i}][0]", 1, nn), as_int(pr[1], f"pairs[{i}][1]", 1, nn))
            )
        self.qh_com = get_bytes(msg, "qh_com", 32)
        return {
            "t": "kg6", "e": bytes(self.e).hex(), "e_salt": self.e_salt.hex(), "a": hx(self.pdl.a),
            "b": hx(self.pdl.b), "ab_salt": self.pdl.salt.hex(),
        }  # fmt: skip

    def on_kg7(self, msg: dict[str, Any]) -> tuple[P2Share, dict[str, Any]]:
        self._step(4)
        expect(msg, "kg7")
        answers = []
        for i, (e, a) in enumerate(zip(self.e, get_list(msg, "answers", zk.RANGE_T), strict=True)):
            if not isinstance(a, dict):
                raise TssBadMessageError(f"answers[{i}]: not an object")
            keys = ("w1", "r1", "w2", "r2") if e == 0 else ("j", "z", "r")
            answers.append({k: as_int(a.get(k), f"answers[{i}].{k}", 0, _BIG) for k in keys})
        _check(zk.range_verify(self.pk, self.ckey, self.pairs, self.e, answers))
        _check(
            zk.pdl_verify(
                self.pdl, get_bytes(msg, "qh", 33), self.qh_com, get_bytes(msg, "qh_salt", 32)
            )
        )
        q = ec.mul(ec.dec(self.q1), self.x2)
        key_id = key_id_of(self.q1, self.q2, int(self.pk.n), self.ckey)
        address = joint_address(q)
        share = P2Share(self.x2, self.q1, self.q2, ec.enc(q), self.pk, self.ckey, key_id, address)
        return share, {"t": "kg8", "key_id": key_id, "address": address}

    def _step(self, n: int) -> None:
        if self.step != n:
            raise TssBadMessageError(f"message out of order (at step {self.step})")
        self.step += 1
