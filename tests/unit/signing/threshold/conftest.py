from __future__ import annotations

import pytest

from agent.signing.threshold.keygen import KeygenP1, KeygenP2


def run_keygen(p1: KeygenP1 | None = None, p2: KeygenP2 | None = None, tamper=None):
    """The ceremony in one process (the unit under test is the state machines, not the
    transport); ``tamper(name, msg) -> msg`` may alter any message in flight."""
    p1 = p1 or KeygenP1()
    p2 = p2 or KeygenP2()
    t = tamper or (lambda name, m: m)
    m = t("kg1", p1.kg1())
    m = t("kg2", p2.on_kg1(m))
    m = t("kg3", p1.on_kg2(m))
    m = t("kg4", p2.on_kg3(m))
    m = t("kg5", p1.on_kg4(m))
    m = t("kg6", p2.on_kg5(m))
    m = t("kg7", p1.on_kg6(m))
    s2, m = p2.on_kg7(m)
    m = t("kg8", m)
    return p1.on_kg8(m), s2


@pytest.fixture(scope="session")
def paillier_key():
    from agent.signing.threshold.paillier import SecretKey

    return SecretKey.generate(2048)


@pytest.fixture(scope="session")
def shares(paillier_key):
    return run_keygen(KeygenP1(paillier=paillier_key))
