"""Share files: written once (0600, never over an existing file), re-checked on load; a
corrupt, swapped or wrong-role file is refused with TSS_SHARE_INVALID."""

from __future__ import annotations

import json
import stat

import pytest

from agent.signing.threshold.errors import TssShareError
from agent.signing.threshold.share import read_share, write_share


def test_roundtrip_and_mode(shares, tmp_path):
    s1, s2 = shares
    p1, p2 = write_share(s1, tmp_path / "1.json"), write_share(s2, tmp_path / "2.json")
    assert stat.S_IMODE(p1.stat().st_mode) == 0o600
    assert read_share(p1, role=1) == s1 and read_share(p2, role=2) == s2


def test_never_overwrites(shares, tmp_path):
    s1, s2 = shares
    p = write_share(s1, tmp_path / "1.json")
    before = p.read_bytes()
    with pytest.raises(TssShareError, match="already exists"):
        write_share(s2, p)
    assert p.read_bytes() == before


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("x1", "0x1234", "does not match"),
        ("x1", "zz", "not a hex integer"),
        ("q2", "02" + "11" * 32, "does not match|corrupt"),
        ("key_id", "00" * 16, "key id"),
        ("address", "0x" + "00" * 20, "key id or address"),
        ("paillier_p", "0xf", "corrupt"),
        ("version", 9, "version"),
    ],
)
def test_corrupt_files_are_refused(shares, tmp_path, field, value, match):
    p = write_share(shares[0], tmp_path / "1.json")
    d = json.loads(p.read_text())
    d[field] = value
    p.write_text(json.dumps(d))
    with pytest.raises(TssShareError, match=match):
        read_share(p)


def test_wrong_role_missing_and_garbage(shares, tmp_path):
    p2 = write_share(shares[1], tmp_path / "2.json")
    with pytest.raises(TssShareError, match="party 2's share"):
        read_share(p2, role=1)
    with pytest.raises(TssShareError, match="not found"):
        read_share(tmp_path / "nope.json")
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(TssShareError, match="JSON"):
        read_share(tmp_path / "g.json")
    d = json.loads(p2.read_text())
    del d["ckey"]
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(TssShareError, match="'ckey' is missing"):
        read_share(tmp_path / "m.json")


def test_encrypted_share(shares, tmp_path):
    s1 = shares[0]
    p = write_share(s1, tmp_path / "e.json", password="correct horse")
    d = json.loads(p.read_text())
    assert "x1" not in d and "paillier_p" not in d and d["address"] == s1.address
    assert hex(s1.x1)[2:] not in p.read_text()
    assert read_share(p, role=1, password="correct horse") == s1
    with pytest.raises(TssShareError, match="encrypted; pass its password"):
        read_share(p)
    with pytest.raises(TssShareError, match="wrong password"):
        read_share(p, password="wrong")
    # the readable header is authenticated: it cannot be moved onto another key's share
    d["key_id"] = "00" * 16
    (tmp_path / "swapped.json").write_text(json.dumps(d))
    with pytest.raises(TssShareError, match="wrong password or a corrupt file"):
        read_share(tmp_path / "swapped.json", password="correct horse")
    with pytest.raises(TssShareError, match="empty"):
        write_share(s1, tmp_path / "empty.json", password="")
