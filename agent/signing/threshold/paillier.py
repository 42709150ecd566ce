"""Paillier encryption (g = N + 1) over gmpy2: the additively homomorphic layer of Lindell's
two-party ECDSA. Party 1 holds the secret key; party 2 only ever sees N and ciphertexts.

    Enc(m; r) = (1 + m*N) * r^N  mod N^2          (g = 1 + N, so g^m = 1 + m*N)
    Dec(c)    = L(c^lambda mod N^2) * mu mod N,   L(u) = (u - 1) / N
    c1 (+) c2 = c1 * c2,   k (*) c = c^k          (mod N^2)

Decryption uses the CRT over p^2 and q^2 (about 4x faster than one exponent mod N^2).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import gmpy2
from gmpy2 import mpz

MIN_MODULUS_BITS = 2047  # N of two 1024-bit primes; Lindell's proof needs N > 2q^4 or so


def _random_prime(bits: int) -> mpz:
    while True:
        cand = (
            mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 1
        )  # top two bits: |N| = 2*bits
        p = gmpy2.next_prime(cand)
        if p.bit_length() == bits and gmpy2.is_prime(p, 50):
            return p


def random_unit(n: mpz) -> mpz:
    """A uniform element of Z_n^* (retry the negligible non-units)."""
    while True:
        r = mpz(secrets.randbelow(int(n) - 1) + 1)
        if gmpy2.gcd(r, n) == 1:
            return r


@dataclass(frozen=True, slots=True)
class PublicKey:
    n: mpz
    nn: mpz

    @classmethod
    def of(cls, n: int) -> PublicKey:
        n_ = mpz(n)
        return cls(n_, n_ * n_)

    def encrypt_with(self, m: int, r: int) -> mpz:
        """Enc(m; r): deterministic given the randomness (proofs open it)."""
        n, nn = self.n, self.nn
        return ((1 + mpz(m) % n * n) * gmpy2.powmod(mpz(r), n, nn)) % nn

    def encrypt(self, m: int) -> tuple[mpz, mpz]:
        r = random_unit(self.n)
        return self.encrypt_with(m, r), r

    def noise(self) -> mpz:
        """r^N mod N^2 for a fresh uniform r: the costly part of an encryption, independent
        of the plaintext, so a party can compute it ahead of time (NoisePool)."""
        return gmpy2.powmod(random_unit(self.n), self.n, self.nn)

    def encrypt_noise(self, m: int, noise: int) -> mpz:
        """Enc(m) with precomputed noise; each noise value must be used once only."""
        return ((1 + mpz(m) % self.n * self.n) * mpz(noise)) % self.nn

    def add(self, c1: int, c2: int) -> mpz:
        return (mpz(c1) * mpz(c2)) % self.nn

    def mul(self, c: int, k: int) -> mpz:
        return gmpy2.powmod(mpz(c), mpz(k), self.nn)

    def is_ciphertext(self, c: int) -> bool:
        """In Z_{N^2}^*: anything else is a malformed (or malicious) ciphertext."""
        return 0 < c < self.nn and gmpy2.gcd(mpz(c), self.n) == 1


@dataclass(frozen=True, slots=True)
class SecretKey:
    p: mpz
    q: mpz
    pub: PublicKey
    # CRT constants: decrypt mod p^2 and q^2 separately
    pp: mpz
    qq: mpz
    hp: mpz
    hq: mpz
    q_inv_p: mpz
    qq_inv_pp: mpz

    @classmethod
    def from_primes(cls, p: int, q: int) -> SecretKey:
        p_, q_ = mpz(p), mpz(q)
        if p_ == q_ or not (gmpy2.is_prime(p_, 30) and gmpy2.is_prime(q_, 30)):
            raise ValueError("p and q must be distinct primes")
        pub = PublicKey.of(int(p_ * q_))
        pp, qq = p_ * p_, q_ * q_
        g = pub.n + 1
        hp = gmpy2.invert((gmpy2.powmod(g, p_ - 1, pp) - 1) // p_, p_)
        hq = gmpy2.invert((gmpy2.powmod(g, q_ - 1, qq) - 1) // q_, q_)
        return cls(p_, q_, pub, pp, qq, hp, hq, gmpy2.invert(q_, p_), gmpy2.invert(qq, pp))

    @classmethod
    def generate(cls, bits: int = 2048) -> SecretKey:
        while True:
            p = _random_prime(bits // 2)
            q = _random_prime(bits // 2)
            # equal-size primes give gcd(N, phi(N)) = 1, the property the key proof shows
            if p != q and gmpy2.gcd(p * q, (p - 1) * (q - 1)) == 1:
                return cls.from_primes(int(p), int(q))

    def encrypt(self, m: int) -> tuple[mpz, mpz]:
        """Enc(m; r) with r^N computed by the CRT over p^2 and q^2 (the key holder's shortcut,
        about 3x faster than PublicKey.encrypt; same ciphertext for the same r)."""
        n = self.pub.n
        r = random_unit(n)
        # r^N mod p^2 needs only N mod (p(p-1)), the order of Z_{p^2}^*
        rp = gmpy2.powmod(r, n % (self.p * (self.p - 1)), self.pp)
        rq = gmpy2.powmod(r, n % (self.q * (self.q - 1)), self.qq)
        rn = rq + self.qq * ((rp - rq) * self.qq_inv_pp % self.pp)
        return (1 + mpz(m) % n * n) * rn % self.pub.nn, r

    @property
    def phi(self) -> mpz:
        return (self.p - 1) * (self.q - 1)

    def decrypt(self, c: int) -> mpz:
        c_ = mpz(c)
        mp = (gmpy2.powmod(c_ % self.pp, self.p - 1, self.pp) - 1) // self.p * self.hp % self.p
        mq = (gmpy2.powmod(c_ % self.qq, self.q - 1, self.qq) - 1) // self.q * self.hq % self.q
        # CRT: m = mq + q * ((mp - mq) * q^-1 mod p)
        return mq + self.q * ((mp - mq) * self.q_inv_p % self.p)

    def nth_root(self, x: int) -> mpz:
        """x^(N^-1 mod phi(N)) mod N: the N-th root the correct-key proof reveals."""
        d = gmpy2.invert(self.pub.n, self.phi)
        return gmpy2.powmod(mpz(x), d, self.pub.n)


class NoisePool:
    """Paillier noise (r^N mod N^2) computed ahead of time, each value handed out once.

    Party 2's one encryption per signature is most of its work; its randomness does not
    depend on the transaction, so the signer service computes it between sessions (offline
    phase) and a signature only multiplies (online phase). An empty pool computes inline."""

    def __init__(self, pub: PublicKey, size: int = 4) -> None:
        self.pub, self.size = pub, size
        self._ready: list[mpz] = []

    def take(self) -> mpz:
        return self._ready.pop() if self._ready else self.pub.noise()

    def refill(self, limit: int | None = None) -> int:
        """Top the pool up (at most ``limit`` values); returns how many were added."""
        added = 0
        while len(self._ready) < self.size and (limit is None or added < limit):
            self._ready.append(self.pub.noise())
            added += 1
        return added


class FixedBase:
    """base^k mod N^2 for k < 2^256 from a precomputed table (8-bit windows): 32
    multiplications instead of a 256-bit exponentiation, ~10x faster. Party 2 raises the
    same ckey to a fresh v in every signature; the table (about 4 MB) is built once."""

    WINDOW = 8
    BITS = 256

    def __init__(self, base: int, nn: int) -> None:
        self.nn = mpz(nn)
        rows = []
        g = mpz(base) % self.nn
        for _ in range(self.BITS // self.WINDOW):
            row = [mpz(1), g]
            for _ in range(2, 1 << self.WINDOW):
                row.append(row[-1] * g % self.nn)
            rows.append(row)
            g = row[-1] * g % self.nn  # g^(2^8): the next window's base
        self.rows = rows

    def pow(self, k: int) -> mpz:
        if not 0 <= k < 1 << self.BITS:
            raise ValueError("exponent out of the table's range")
        acc = mpz(1)
        nn = self.nn
        for row in self.rows:
            d = k & 0xFF
            if d:
                acc = acc * row[d] % nn
            k >>= 8
            if not k:
                break
        return acc
