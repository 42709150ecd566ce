"""The zero-knowledge pieces of Lindell's two-party ECDSA (CRYPTO 2017, ePrint 2017/552).

* ``commit`` / ``open_ok``: hash commitments H(tag, salt, data) with a 256-bit salt (the
  paper's ideal commitment functionality F_com, instantiated with SHA-256).
* ``DLogProof``: a Schnorr proof of knowledge of x with Q = x*G, made non-interactive with
  Fiat-Shamir, bound to a session id and a role (F_zk^{R_DL}). In key generation and signing
  party 1 commits to (point, proof) before party 2 sends its own: ``ComProve`` of the paper.
* ``key_proof`` / ``key_verify``: that the Paillier modulus N satisfies gcd(N, phi(N)) = 1,
  so Paillier is a bijection and party 2's homomorphic operations are sound. This is the
  non-interactive N-th-root proof (Gennaro-Micciancio-Rabin 1998, as in Goldberg et al.,
  "Efficient noninteractive certification of RSA moduli", 2019): the prover shows N-th roots
  of M hash-derived elements of Z_N, and the verifier also checks that N has no prime factor
  below ALPHA. A documented variant of the paper's interactive proof from Hazay et al.
* ``range_*``: the paper's Appendix A cut-and-choose proof that a Paillier ciphertext
  encrypts x in Z_q (x is drawn from [0, q/3); the proof has that slack), with T = 40
  repetitions (statistical error 2^-40, the paper's choice). The verifier commits to its
  challenge bits before seeing the prover's pairs, which makes the honest-verifier proof
  zero-knowledge against a malicious verifier.
* ``pdl_*``: Protocol 6.1, the proof that the Paillier ciphertext ckey encrypts the discrete
  log of Q1 (L_PDL): the verifier sends c' = a*ckey + b (+) Enc(b) with a commitment to
  (a, b) and Q' = a*Q1 + b*G; the prover decrypts, commits to alpha*G, the verifier opens
  (a, b), the prover checks alpha = a*x1 + b and opens; the verifier checks alpha*G = Q'.

All of it is unaudited (docs/signing.md).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from functools import reduce

import gmpy2
from gmpy2 import mpz

from agent.signing.threshold import ec
from agent.signing.threshold.paillier import PublicKey, SecretKey

KEY_PROOF_M = 11  # N-th roots shown (soundness 2^-128 with ALPHA, per Goldberg et al.)
ALPHA = 6370  # N must have no prime factor below this
RANGE_T = 40  # cut-and-choose repetitions of the range proof (Lindell 2017, Appendix A)
ELL = ec.Q // 3  # x1 is drawn from [0, q/3)

_PRIMORIAL = reduce(lambda a, b: a * b, [p for p in range(2, ALPHA) if gmpy2.is_prime(p)], 1)


# --- commitments ------------------------------------------------------------------------------
def commit(tag: str, data: bytes) -> tuple[bytes, bytes]:
    """(commitment, salt)."""
    salt = secrets.token_bytes(32)
    return ec.hash_to_int("com:" + tag, salt, data).to_bytes(32, "big"), salt


def open_ok(tag: str, commitment: bytes, salt: bytes, data: bytes) -> bool:
    want = ec.hash_to_int("com:" + tag, salt, data).to_bytes(32, "big")
    return len(salt) == 32 and hmac.compare_digest(want, commitment)


# --- Schnorr proof of knowledge of a discrete log ---------------------------------------------
@dataclass(frozen=True, slots=True)
class DLogProof:
    a: bytes  # k*G, compressed
    z: int

    def to_bytes(self) -> bytes:
        return self.a + self.z.to_bytes(32, "big")


def _dlog_challenge(ctx: bytes, q: bytes, a: bytes) -> int:
    return ec.hash_to_int("dlog", ctx, q, a) % ec.Q


def dlog_prove(x: int, ctx: bytes) -> DLogProof:
    k = ec.rand_scalar()
    a = ec.enc(ec.base_mul(k))
    e = _dlog_challenge(ctx, ec.enc(ec.base_mul(x)), a)
    return DLogProof(a, (k + e * x) % ec.Q)


def dlog_verify(q: ec.Point, proof: DLogProof, ctx: bytes) -> bool:
    """z*G == A + e*Q."""
    try:
        if not 0 < proof.z < ec.Q:
            return False
        a = ec.dec(proof.a)
        e = _dlog_challenge(ctx, ec.enc(q), proof.a)
        lhs = ec.base_mul(proof.z)
        rhs = ec.add(a, ec.mul(q, e)) if e else a
        return ec.enc(lhs) == ec.enc(rhs)
    except ValueError:  # a point at infinity on the way: not a valid proof
        return False


# --- Paillier key correctness: gcd(N, phi(N)) = 1 ----------------------------------------------
def _key_rhos(n: mpz, ctx: bytes) -> list[mpz]:
    nb = ec.int_bytes(int(n))
    out = []
    for i in range(KEY_PROOF_M):
        # expand to |N| + 128 bits so the reduction mod N is near-uniform
        words = (int(n).bit_length() + 128 + 255) // 256
        v = 0
        for j in range(words):
            v = (v << 256) | ec.hash_to_int(
                "nkey", ctx, nb, i.to_bytes(2, "big"), j.to_bytes(2, "big")
            )
        out.append(mpz(v) % n)
    return out


def key_prove(sk: SecretKey, ctx: bytes) -> list[int]:
    return [int(sk.nth_root(r)) for r in _key_rhos(sk.pub.n, ctx)]


def key_verify(n: int, sigmas: list[int], ctx: bytes) -> str | None:
    """None if N is a valid Paillier modulus per the proof, else the reason."""
    n_ = mpz(n)
    if n_.bit_length() < 2047:
        return f"N has {n_.bit_length()} bits, below 2047"
    if gmpy2.gcd(n_, _PRIMORIAL) != 1:
        return f"N has a prime factor below {ALPHA}"
    if gmpy2.is_square(n_):
        return "N is a perfect square"
    if len(sigmas) != KEY_PROOF_M:
        return f"the key proof has {len(sigmas)} roots, not {KEY_PROOF_M}"
    for rho, sigma in zip(_key_rhos(n_, ctx), sigmas, strict=True):
        if not 0 < sigma < n_ or gmpy2.powmod(mpz(sigma), n_, n_) != rho:
            return "an N-th root in the key proof is wrong"
    return None


# --- range proof: ckey encrypts x in Z_q (Appendix A) ------------------------------------------
@dataclass(frozen=True, slots=True)
class RangeSecrets:
    w1: list[int]
    r1: list[int]
    w2: list[int]
    r2: list[int]


def range_commit(sk: SecretKey) -> tuple[list[tuple[int, int]], RangeSecrets]:
    """Prover's first message: T pairs Enc(w1), Enc(w2) with {w1, w2} = {w, w - l}, w in [l, 2l),
    in random order (encrypted with the prover's CRT shortcut)."""
    w1s, r1s, w2s, r2s, pairs = [], [], [], [], []
    for _ in range(RANGE_T):
        w = ELL + secrets.randbelow(ELL)
        a, b = (w, w - ELL) if secrets.randbits(1) else (w - ELL, w)
        c1, r1 = sk.encrypt(a)
        c2, r2 = sk.encrypt(b)
        w1s.append(a)
        r1s.append(int(r1))
        w2s.append(b)
        r2s.append(int(r2))
        pairs.append((int(c1), int(c2)))
    return pairs, RangeSecrets(w1s, r1s, w2s, r2s)


def range_respond(
    pk: PublicKey, x: int, r: int, sec: RangeSecrets, challenge: list[int]
) -> list[dict[str, int]]:
    out: list[dict[str, int]] = []
    for i, e in enumerate(challenge):
        if e == 0:
            out.append({"w1": sec.w1[i], "r1": sec.r1[i], "w2": sec.w2[i], "r2": sec.r2[i]})
        else:
            w1, w2 = sec.w1[i], sec.w2[i]
            j = 1 if ELL <= x + w1 < 2 * ELL else 2
            w, rj = (w1, sec.r1[i]) if j == 1 else (w2, sec.r2[i])
            out.append({"j": j, "z": x + w, "r": int(mpz(r) * rj % pk.n)})
    return out


def range_verify(
    pk: PublicKey,
    c: int,
    pairs: list[tuple[int, int]],
    challenge: list[int],
    answers: list[dict[str, int]],
) -> str | None:
    if len(pairs) != RANGE_T or len(answers) != RANGE_T:
        return f"the range proof needs {RANGE_T} pairs and answers"
    for (c1, c2), e, a in zip(pairs, challenge, answers, strict=True):
        if not (pk.is_ciphertext(c1) and pk.is_ciphertext(c2)):
            return "a range-proof ciphertext is not in Z_N^2*"
        if e == 0:
            w1, w2 = a["w1"], a["w2"]
            lo, hi = (w1, w2) if w1 < w2 else (w2, w1)
            if not (ELL <= hi < 2 * ELL and lo == hi - ELL):
                return "a range-proof pair is not {w, w - q/3}"
            if pk.encrypt_with(w1, a["r1"]) != c1 or pk.encrypt_with(w2, a["r2"]) != c2:
                return "a range-proof pair does not open"
        else:
            z, j = a["z"], a["j"]
            if j not in (1, 2) or not ELL <= z < 2 * ELL:
                return "a range-proof answer is outside [q/3, 2q/3)"
            if not 0 < a["r"] < pk.n or pk.encrypt_with(z, a["r"]) != pk.add(
                c, c1 if j == 1 else c2
            ):
                return "a range-proof answer does not match the ciphertext"
    return None


# --- PDL: ckey encrypts log_G(Q1) (Protocol 6.1) -----------------------------------------------
@dataclass(frozen=True, slots=True)
class PdlVerifierState:
    a: int
    b: int
    salt: bytes
    q_prime: bytes


def _ab_bytes(a: int, b: int) -> bytes:
    return a.to_bytes(32, "big") + b.to_bytes(64, "big")


def pdl_challenge(
    pk: PublicKey, ckey: int, q1: ec.Point
) -> tuple[dict[str, object], PdlVerifierState]:
    """Verifier (party 2): c' = a (*) ckey (+) Enc(b), c'' = com(a, b), Q' = a*Q1 + b*G."""
    a = ec.rand_scalar()
    b = secrets.randbelow(ec.Q * ec.Q - 1) + 1
    c_prime = pk.add(pk.mul(ckey, a), pk.encrypt(b)[0])
    com, salt = commit("pdl-ab", _ab_bytes(a, b))
    qp = ec.add(ec.mul(q1, a), ec.base_mul(b % ec.Q)) if b % ec.Q else ec.mul(q1, a)
    st = PdlVerifierState(a, b, salt, ec.enc(qp))
    return {"c_prime": int(c_prime), "c_dprime": com, "q_prime": st.q_prime}, st


def pdl_prover_commit(sk: SecretKey, c_prime: int) -> tuple[int, bytes, bytes, bytes]:
    """Prover (party 1): alpha = Dec(c'), commit to alpha*G. Returns (alpha, Q^, com, salt)."""
    alpha = int(sk.decrypt(c_prime))
    qh = ec.enc(ec.base_mul(alpha % ec.Q))
    com, salt = commit("pdl-qhat", qh)
    return alpha, qh, com, salt


def pdl_prover_check(
    alpha: int, x1: int, a: int, b: int, c_dprime: bytes, salt: bytes
) -> str | None:
    """Before opening Q^: the verifier's (a, b) must open c'' and explain alpha."""
    if not (0 < a < ec.Q and 0 < b < ec.Q * ec.Q):
        return "PDL (a, b) out of range"
    if not open_ok("pdl-ab", c_dprime, salt, _ab_bytes(a, b)):
        return "PDL (a, b) does not open the verifier's commitment"
    if alpha != a * x1 + b:
        return "PDL c' is not a*ckey + b: the verifier cheated"
    return None


def pdl_verify(st: PdlVerifierState, q_hat: bytes, com: bytes, salt: bytes) -> str | None:
    if not open_ok("pdl-qhat", com, salt, q_hat):
        return "PDL Q^ does not open the prover's commitment"
    if not hmac.compare_digest(q_hat, st.q_prime):
        return "PDL Q^ != a*Q1 + b*G: ckey does not encrypt the discrete log of Q1"
    return None
