"""Paillier (homomorphisms, CRT paths) and the zero-knowledge pieces: each accepts what is
true and refuses what is false."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.signing.threshold import ec, zk
from agent.signing.threshold.paillier import NoisePool, PublicKey, SecretKey

Q = ec.Q


@settings(max_examples=30, deadline=None)
@given(a=st.integers(0, 2**300), b=st.integers(0, 2**300), k=st.integers(0, 2**256))
def test_homomorphisms(paillier_key, a, b, k):
    sk = paillier_key
    pk = sk.pub
    ca, _ = pk.encrypt(a)
    cb, _ = sk.encrypt(b)  # the key holder's CRT encryption decrypts the same way
    assert sk.decrypt(ca) == a
    assert sk.decrypt(pk.add(ca, cb)) == a + b
    assert sk.decrypt(pk.mul(ca, k)) == a * k % pk.n


def test_crt_encryption_equals_public_encryption(paillier_key):
    c, r = paillier_key.encrypt(123)
    assert c == paillier_key.pub.encrypt_with(123, r)


def test_noise_pool_hands_out_each_value_once(paillier_key):
    pool = NoisePool(paillier_key.pub, size=3)
    assert pool.refill() == 3 and pool.refill() == 0
    got = [pool.take() for _ in range(4)]  # the 4th is computed inline
    assert len(set(map(int, got))) == 4
    assert paillier_key.decrypt(paillier_key.pub.encrypt_noise(7, got[0])) == 7


def test_from_primes_refuses_non_primes():
    with pytest.raises(ValueError):
        SecretKey.from_primes(15, 17)


def test_dlog_proof_binds_point_and_context():
    x = ec.rand_scalar()
    pf = zk.dlog_prove(x, b"ctx-a")
    q = ec.base_mul(x)
    assert zk.dlog_verify(q, pf, b"ctx-a")
    assert not zk.dlog_verify(q, pf, b"ctx-b")  # replayed in another session
    assert not zk.dlog_verify(ec.base_mul(x + 1), pf, b"ctx-a")
    assert not zk.dlog_verify(q, zk.DLogProof(pf.a, (pf.z + 1) % Q), b"ctx-a")
    assert not zk.dlog_verify(q, zk.DLogProof(pf.a, 0), b"ctx-a")


def test_commitment_opens_only_to_its_data():
    com, salt = zk.commit("t", b"data")
    assert zk.open_ok("t", com, salt, b"data")
    assert not zk.open_ok("t", com, salt, b"date")
    assert not zk.open_ok("u", com, salt, b"data")
    assert not zk.open_ok("t", com, bytes(32), b"data")


def test_key_proof_accepts_a_real_key_and_refuses_bad_moduli(paillier_key):
    sk = paillier_key
    n = int(sk.pub.n)
    sig = zk.key_prove(sk, b"s")
    assert zk.key_verify(n, sig, b"s") is None
    assert "N-th root" in zk.key_verify(n, sig, b"other-session")
    assert zk.key_verify(n, sig[:-1], b"s") is not None
    # a small factor is caught outright, a short modulus too
    bad = int(gmpy2.next_prime(2**1030)) * int(gmpy2.next_prime(2**1020)) * 7
    assert "prime factor below" in zk.key_verify(bad, sig, b"s")
    assert "bits" in zk.key_verify(2**1024 + 1, sig, b"s")


def test_key_proof_refuses_a_modulus_sharing_a_factor_with_phi():
    """N = p^2 * q has p | phi(N): no N-th roots exist for most elements, so no honest proof;
    a prover that sends roots made with the wrong exponent is caught."""
    p = int(gmpy2.next_prime(2**700 + 12345))
    q = int(gmpy2.next_prime(2**650 + 999))
    n = p * p * q
    phi = p * (p - 1) * (q - 1)
    rhos = zk._key_rhos(gmpy2.mpz(n), b"s")
    # the best a cheater can do without N-th roots: any exponent, e.g. the inverse mod phi/p
    d = int(gmpy2.invert(n, phi // p)) if gmpy2.gcd(n, phi // p) == 1 else 1
    fake = [int(gmpy2.powmod(r, d, n)) for r in rhos]
    assert zk.key_verify(n, fake, b"s") is not None


@pytest.mark.parametrize("x", [0, 1, zk.ELL - 1])
def test_range_proof_accepts_x_below_q_over_3(paillier_key, x):
    sk = paillier_key
    c, r = sk.encrypt(x)
    pairs, sec = zk.range_commit(sk)
    e = [i % 2 for i in range(zk.RANGE_T)]
    ans = zk.range_respond(sk.pub, x, int(r), sec, e)
    assert zk.range_verify(sk.pub, int(c), pairs, e, ans) is None


def test_range_proof_refuses_x_out_of_range(paillier_key):
    """x = 2q/3 + 5: for a pair challenged with e=1 no answer lands in [q/3, 2q/3), and the
    honest responder's answer is refused."""
    sk = paillier_key
    x = 2 * zk.ELL + 5
    c, r = sk.encrypt(x)
    pairs, sec = zk.range_commit(sk)
    e = [1] * zk.RANGE_T
    ans = zk.range_respond(sk.pub, x, int(r), sec, e)
    assert "outside" in zk.range_verify(sk.pub, int(c), pairs, e, ans)


def test_range_proof_refuses_a_bad_opening(paillier_key):
    sk = paillier_key
    c, r = sk.encrypt(5)
    pairs, sec = zk.range_commit(sk)
    e = [0] * zk.RANGE_T
    ans = zk.range_respond(sk.pub, 5, int(r), sec, e)
    ans[3] = dict(ans[3], r1=ans[3]["r1"] + 1)
    assert "does not open" in zk.range_verify(sk.pub, int(c), pairs, e, ans)


def test_pdl_accepts_the_true_log_and_refuses_another(paillier_key):
    sk = paillier_key
    x1 = ec.rand_scalar(zk.ELL)
    q1 = ec.base_mul(x1)
    for ckey_plain, ok in ((x1, True), (x1 + 1, False)):
        ckey, _ = sk.encrypt(ckey_plain)
        msg, st = zk.pdl_challenge(sk.pub, int(ckey), q1)
        alpha, qh, com, salt = zk.pdl_prover_commit(sk, msg["c_prime"])
        # an honest prover checks against its own x1; a cheating one opens anyway
        assert zk.pdl_prover_check(alpha, ckey_plain, st.a, st.b, msg["c_dprime"], st.salt) is None
        assert (zk.pdl_verify(st, qh, com, salt) is None) is ok


def test_pdl_prover_catches_a_cheating_verifier(paillier_key):
    sk = paillier_key
    x1 = ec.rand_scalar(zk.ELL)
    ckey, _ = sk.encrypt(x1)
    msg, st = zk.pdl_challenge(sk.pub, int(ckey), ec.base_mul(x1))
    alpha, *_ = zk.pdl_prover_commit(sk, msg["c_prime"])
    assert "does not open" in zk.pdl_prover_check(
        alpha, x1, st.a, st.b + 1, msg["c_dprime"], st.salt
    )
    # a c' that is not a*ckey + b (verifier decrypting x1 bits, say): the prover refuses
    c_bad = sk.pub.add(msg["c_prime"], sk.pub.encrypt(1)[0])
    alpha2, *_ = zk.pdl_prover_commit(sk, int(c_bad))
    assert "cheated" in zk.pdl_prover_check(alpha2, x1, st.a, st.b, msg["c_dprime"], st.salt)


def test_is_ciphertext(paillier_key):
    pk: PublicKey = paillier_key.pub
    assert pk.is_ciphertext(int(pk.encrypt(1)[0]))
    assert not pk.is_ciphertext(0) and not pk.is_ciphertext(int(pk.nn))
    assert not pk.is_ciphertext(int(paillier_key.p))  # shares a factor with N


@pytest.fixture(scope="module")
def fixed_base(paillier_key):
    from agent.signing.threshold.paillier import FixedBase

    base = int(paillier_key.pub.encrypt(42)[0])
    return base, FixedBase(base, int(paillier_key.pub.nn))


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 2**256 - 1))
def test_fixed_base_table_equals_powmod(paillier_key, fixed_base, k):
    base, fb = fixed_base
    assert fb.pow(k) == gmpy2.powmod(base, k, paillier_key.pub.nn)


def test_fixed_base_refuses_big_exponents(fixed_base):
    with pytest.raises(ValueError):
        fixed_base[1].pow(2**256)
