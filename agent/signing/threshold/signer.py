"""ThresholdSigner: the Signer protocol over Lindell's two-party ECDSA (party 1's side).

It holds share 1 and reaches the signer service (party 2) over TCP; ``address`` is the
joint public key's address. Sessions on one signer run one at a time over one kept-alive
connection (a failed or cancelled session closes it; the next call reconnects). It has no
``sign_transaction_sync``: TxEngine therefore awaits it under its ``sign_timeout`` and checks
what it returns (agent.signing.dispatch), like any remote signer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent.signing.protocol import TypedData
from agent.signing.threshold.errors import TssAbortedError
from agent.signing.threshold.party import sign_p1
from agent.signing.threshold.session import close, connect
from agent.signing.threshold.share import ENV_PASSWORD, P1Share, read_share
from agent.signing.threshold.sign import signed_tx
from agent.signing.types import SignedTx, TxRequest

ENV_SHARE = "AGENT_THRESHOLD_SHARE"  # path to party 1's share file
ENV_PEER = "AGENT_THRESHOLD_PEER"  # host:port of `agent signer serve`


def parse_peer(peer: str, *, listen: bool = False) -> tuple[str, int]:
    """host:port; port 0 only for a listener (the OS picks one)."""
    from agent.errors import ValidationError

    host, _, port = peer.rpartition(":")
    if not host or not port.isdigit() or not (0 if listen else 1) <= int(port) < 65536:
        raise ValidationError("peer", f"{peer!r} is not host:port", "e.g. 127.0.0.1:7650")
    return host, int(port)


class ThresholdSigner:
    def __init__(self, share: P1Share, host: str, port: int, *, connect_timeout: float = 5.0):
        self.share = share
        self.address: str = share.address
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self._lock = asyncio.Lock()
        self._conn: tuple[Any, Any] | None = None

    @classmethod
    def from_files(
        cls, share_path: str | Path, peer: str, *, password: str | None = None
    ) -> ThresholdSigner:
        share = read_share(share_path, role=1, password=password)
        assert isinstance(share, P1Share)
        return cls(share, *parse_peer(peer))

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ThresholdSigner | None:
        """From AGENT_THRESHOLD_SHARE + AGENT_THRESHOLD_PEER (+ AGENT_THRESHOLD_PASSWORD if the
        share is encrypted), or None if they are not set."""
        if not env.get(ENV_SHARE):
            return None
        from agent.errors import ValidationError

        if not env.get(ENV_PEER):
            raise ValidationError(
                ENV_PEER, "is not set", "export host:port of `agent signer serve`"
            )
        return cls.from_files(env[ENV_SHARE], env[ENV_PEER], password=env.get(ENV_PASSWORD))

    def __repr__(self) -> str:
        return f"ThresholdSigner({self.address} with {self.host}:{self.port})"

    async def _run(self, payload: TxRequest | TypedData) -> tuple[int, int, int]:
        async with self._lock:
            reused = self._conn is not None
            try:
                return await self._session(payload)
            except TssAbortedError as e:
                # a kept-alive stream that died while idle (party 2 restarted): one new
                # session on a new connection. Nothing was signed by the dead one; an
                # explicit abort from a live party 2 (peer_code) is final.
                if not reused or e.peer_code is not None:
                    raise
                return await self._session(payload)

    async def _session(self, payload: TxRequest | TypedData) -> tuple[int, int, int]:
        if self._conn is None:
            self._conn = await connect(self.host, self.port, self.connect_timeout)
        reader, writer = self._conn
        try:
            return await sign_p1(reader, writer, self.share, payload)
        except BaseException:  # mid-protocol state is gone: never reuse the stream
            self._conn = None
            await close(writer)
            raise

    async def sign_transaction(self, tx: TxRequest) -> SignedTx:
        r, s, y = await self._run(tx)
        return signed_tx(self.share, tx, r, s, y)

    async def sign_typed_data(self, typed: TypedData) -> bytes:
        r, s, y = await self._run(typed)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((27 + y,))

    async def aclose(self) -> None:
        if self._conn is not None:
            await close(self._conn[1])
            self._conn = None
