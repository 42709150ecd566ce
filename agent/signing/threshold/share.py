"""Key shares on disk: one JSON file per party, mode 0600, written once and never rewritten.

Party 1 (the agent's side, output party) holds x1 and the Paillier secret key; party 2 (the
signer service) holds x2, N and ckey = Enc(x1). Neither file alone can sign or reveal the
key: the operator key x = x1 * x2 mod q never exists anywhere. Loading re-checks every
relation the share must satisfy (x_i*G = Q_i, x_i * Q_other = Q, p*q = N, the key id), so a
corrupted or swapped file is refused before it is used.

With a password the file is encrypted at rest (scrypt + AES-256-GCM; role, key id and
address stay readable and are authenticated); without one it is plain JSON: protect it like
a keystore (disk encryption, a secrets manager).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.signing.eip1559 import address_of
from agent.signing.threshold import ec
from agent.signing.threshold.errors import TssShareError
from agent.signing.threshold.paillier import PublicKey, SecretKey

VERSION = 1


def key_id_of(q1: bytes, q2: bytes, n: int, ckey: int) -> str:
    h = hashlib.sha256(b"lindell17-2p-key\x00")
    for part in (q1, q2, ec.int_bytes(n), ec.int_bytes(ckey)):
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()[:32]


def joint_address(q: ec.Point) -> str:
    return address_of(q.format(compressed=False))


@dataclass(frozen=True, slots=True)
class P1Share:
    x1: int
    q1: bytes
    q2: bytes
    public_key: bytes  # Q = x1*x2*G, compressed
    paillier: SecretKey
    ckey: int
    key_id: str
    address: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION, "scheme": "lindell17-2p-ecdsa-secp256k1", "role": 1,
            "key_id": self.key_id, "address": self.address,
            "public_key": self.public_key.hex(), "q1": self.q1.hex(), "q2": self.q2.hex(),
            "x1": hex(self.x1), "paillier_p": hex(self.paillier.p),
            "paillier_q": hex(self.paillier.q), "ckey": hex(self.ckey),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class P2Share:
    x2: int
    q1: bytes
    q2: bytes
    public_key: bytes
    paillier: PublicKey
    ckey: int
    key_id: str
    address: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION, "scheme": "lindell17-2p-ecdsa-secp256k1", "role": 2,
            "key_id": self.key_id, "address": self.address,
            "public_key": self.public_key.hex(), "q1": self.q1.hex(), "q2": self.q2.hex(),
            "x2": hex(self.x2), "paillier_n": hex(self.paillier.n), "ckey": hex(self.ckey),
        }  # fmt: skip


ENV_PASSWORD = "AGENT_THRESHOLD_PASSWORD"  # the share file's password, if it is encrypted
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def _aad(role: int, key_id: str, address: str) -> bytes:
    return f"lindell17-share|{role}|{key_id}|{address}".encode()


def _seal(doc: dict[str, Any], password: str) -> dict[str, Any]:
    """scrypt + AES-256-GCM over the whole share; role, key id and address stay readable
    (and are bound as associated data, so they cannot be swapped onto another share)."""
    import secrets

    from Crypto.Cipher import AES
    from Crypto.Protocol.KDF import scrypt

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = scrypt(password.encode(), salt, 32, N=_SCRYPT["n"], r=_SCRYPT["r"], p=_SCRYPT["p"])
    c = AES.new(key, AES.MODE_GCM, nonce=nonce)  # type: ignore[arg-type]
    c.update(_aad(doc["role"], doc["key_id"], doc["address"]))
    ct, tag = c.encrypt_and_digest(json.dumps(doc).encode())
    return {
        "version": VERSION, "scheme": doc["scheme"], "role": doc["role"],
        "key_id": doc["key_id"], "address": doc["address"],
        "crypto": {"kdf": "scrypt", **_SCRYPT, "salt": salt.hex(), "cipher": "aes-256-gcm",
                   "nonce": nonce.hex(), "ciphertext": ct.hex(), "tag": tag.hex()},
    }  # fmt: skip


def _open(d: dict[str, Any], password: str | None, p: Path) -> dict[str, Any]:
    from Crypto.Cipher import AES
    from Crypto.Protocol.KDF import scrypt

    if password is None:
        raise TssShareError(
            f"share file {p} is encrypted; pass its password (e.g. export {ENV_PASSWORD})"
        )
    try:
        cr = d["crypto"]
        key = scrypt(
            password.encode(), bytes.fromhex(cr["salt"]), 32, N=int(cr["n"]), r=int(cr["r"]),
            p=int(cr["p"]),
        )  # fmt: skip
        c = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(cr["nonce"]))  # type: ignore[arg-type]
        c.update(_aad(d["role"], d["key_id"], d["address"]))
        inner = json.loads(
            c.decrypt_and_verify(bytes.fromhex(cr["ciphertext"]), bytes.fromhex(cr["tag"]))
        )
    except (KeyError, TypeError, ValueError) as e:
        raise TssShareError(
            f"share file {p}: wrong password or a corrupt file ({type(e).__name__}); nothing "
            "was changed"
        ) from e
    if not isinstance(inner, dict):
        raise TssShareError(f"share file {p}: the decrypted share is not an object")
    return inner


def write_share(share: P1Share | P2Share, path: str | Path, *, password: str | None = None) -> Path:
    """Create ``path`` (0600), encrypted with ``password`` if given; refuse to replace an
    existing file: that could be a live share."""
    p = Path(path)
    doc = share.to_json()
    if password is not None:
        if not password:
            raise TssShareError("the share password is empty; choose one or pass none")
        doc = _seal(doc, password)
    data = json.dumps(doc, indent=1).encode()
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise TssShareError(
            f"share file {p} already exists; it may hold a live key share: choose another "
            "path (nothing was overwritten)"
        ) from e
    except OSError as e:
        raise TssShareError(f"cannot create share file {p} ({e.strerror}); fix the path") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return p


def _field(d: dict[str, Any], name: str, p: Path) -> Any:
    if name not in d:
        raise TssShareError(f"share file {p}: field {name!r} is missing; is it a share file?")
    return d[name]


def _hexint(d: dict[str, Any], name: str, p: Path) -> int:
    v = _field(d, name, p)
    try:
        return int(v, 16)
    except (TypeError, ValueError) as e:
        raise TssShareError(f"share file {p}: field {name!r} is not a hex integer") from e


def _hexbytes(d: dict[str, Any], name: str, p: Path) -> bytes:
    v = _field(d, name, p)
    try:
        return bytes.fromhex(v)
    except (TypeError, ValueError) as e:
        raise TssShareError(f"share file {p}: field {name!r} is not hex") from e


def read_share(
    path: str | Path, *, role: int | None = None, password: str | None = None
) -> P1Share | P2Share:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise TssShareError(f"share file {p} not found; pass the file keygen wrote") from e
    except (OSError, ValueError) as e:
        raise TssShareError(f"share file {p} is not readable JSON ({e})") from e
    if not isinstance(d, dict) or d.get("version") != VERSION:
        raise TssShareError(f"share file {p}: not a version-{VERSION} threshold key share")
    if "crypto" in d:
        d = _open(d, password, p)
        if d.get("version") != VERSION:
            raise TssShareError(f"share file {p}: not a version-{VERSION} threshold key share")
    got_role = d.get("role")
    if role is not None and got_role != role:
        raise TssShareError(
            f"share file {p} is party {got_role}'s share, this side needs party {role}'s"
        )
    try:
        q1b, q2b = _hexbytes(d, "q1", p), _hexbytes(d, "q2", p)
        pub = _hexbytes(d, "public_key", p)
        q1, q2, qq = ec.dec(q1b), ec.dec(q2b), ec.dec(pub)
        ckey = _hexint(d, "ckey", p)
        if got_role == 1:
            x1 = _hexint(d, "x1", p)
            sk = SecretKey.from_primes(_hexint(d, "paillier_p", p), _hexint(d, "paillier_q", p))
            ok = 0 < x1 < ec.Q and ec.enc(ec.base_mul(x1)) == q1b and ec.enc(ec.mul(q2, x1)) == pub
            n = int(sk.pub.n)
            share: P1Share | P2Share = P1Share(
                x1, q1b, q2b, pub, sk, ckey, d.get("key_id", ""), d.get("address", "")
            )
        elif got_role == 2:
            x2 = _hexint(d, "x2", p)
            pk = PublicKey.of(_hexint(d, "paillier_n", p))
            ok = 0 < x2 < ec.Q and ec.enc(ec.base_mul(x2)) == q2b and ec.enc(ec.mul(q1, x2)) == pub
            n = int(pk.n)
            share = P2Share(x2, q1b, q2b, pub, pk, ckey, d.get("key_id", ""), d.get("address", ""))
        else:
            raise TssShareError(f"share file {p}: role {got_role!r} is neither 1 nor 2")
    except ValueError as e:
        raise TssShareError(f"share file {p}: corrupt ({e})") from e
    if not ok:
        raise TssShareError(f"share file {p}: the secret share does not match its public keys")
    if share.key_id != key_id_of(q1b, q2b, n, ckey) or share.address != joint_address(qq):
        raise TssShareError(f"share file {p}: key id or address does not match the keys")
    return share
