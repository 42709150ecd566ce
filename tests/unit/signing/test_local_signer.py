"""LocalSigner loading (keystore, env) and typed-data signing against eth-account."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from agent.errors import KeystoreError, ValidationError
from agent.signing import LocalSigner, Signer

KEY = "0x" + "ab" * 32

TYPED = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Mail": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "t", "chainId": 1, "verifyingContract": "0x" + "cc" * 20},
    "message": {"to": "0x" + "dd" * 20, "amount": 5},
}


def test_keystore_roundtrip(tmp_path):
    p = LocalSigner.write_keystore(KEY, "pw", tmp_path / "k.json", iterations=2**4)
    assert (p.stat().st_mode & 0o777) == 0o600
    s = LocalSigner.from_keystore(p, "pw")
    assert s.address == Account.from_key(KEY).address
    assert isinstance(s, Signer)
    assert KEY[2:] not in repr(s)


def test_keystore_wrong_password(tmp_path):
    p = LocalSigner.write_keystore(KEY, "pw", tmp_path / "k.json", iterations=2**4)
    with pytest.raises(KeystoreError, match="wrong password"):
        LocalSigner.from_keystore(p, "nope")


def test_keystore_missing_and_garbage(tmp_path):
    with pytest.raises(KeystoreError, match="not found"):
        LocalSigner.from_keystore(tmp_path / "missing.json", "pw")
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(KeystoreError, match="not a readable JSON keystore"):
        LocalSigner.from_keystore(tmp_path / "g.json", "pw")


def test_from_env(tmp_path):
    assert LocalSigner.from_env({"AGENT_SIGNER_KEY": KEY}).address == Account.from_key(KEY).address
    p = LocalSigner.write_keystore(KEY, "pw", tmp_path / "k.json", iterations=2**4)
    s = LocalSigner.from_env({"AGENT_KEYSTORE": str(p), "AGENT_KEYSTORE_PASSWORD": "pw"})
    assert s.address == Account.from_key(KEY).address
    with pytest.raises(ValidationError) as e:
        LocalSigner.from_env({"AGENT_KEYSTORE": str(p)})
    assert e.value.field == "AGENT_KEYSTORE_PASSWORD"
    with pytest.raises(ValidationError) as e:
        LocalSigner.from_env({})
    assert e.value.field == "AGENT_SIGNER_KEY"


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32])
def test_bad_key_is_refused_without_echo(bad):
    with pytest.raises(ValidationError) as e:
        LocalSigner.from_env({"AGENT_SIGNER_KEY": bad})
    assert e.value.field == "AGENT_SIGNER_KEY"
    assert bad not in str(e.value)


async def test_typed_data_matches_eth_account():
    s = LocalSigner(KEY)
    ours = await s.sign_typed_data(TYPED)
    ref = Account.sign_message(encode_typed_data(full_message=TYPED), KEY)
    assert ours == bytes(ref.signature)


async def test_bad_typed_data():
    with pytest.raises(ValidationError) as e:
        await LocalSigner(KEY).sign_typed_data({"types": {}})
    assert e.value.field == "typed_data"
