"""How k relayer processes, one key each, gather k-of-n signatures: a small local HTTP exchange.

Each relayer signs only what it has itself seen on the source chain at its confirmation depth,
and serves those signatures (never signs on request): ``GET /attestations/<message id>`` ->
``{"attestations": [{"signer", "signature"}]}`` (404 until it has seen the message), and
``GET /status`` for operators and tests. A relayer gathering signatures asks every peer for
the message's attestations and checks each one itself (recovered signer == claimed signer,
and a member of the destination contract's relayer set) before counting it, so a lying or
broken peer can withhold its own signature but never forge another's.

Peers are found through a shared directory (each relayer writes ``<address>.url`` there once
it listens, and reads the others' on every round, so a restarted relayer on a new port is
found again) and/or a static list of URLs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.bridge.messages import Attestation


class AttestationBook:
    """The signatures this relayer made, by message id (``0x`` + struct hash)."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[Attestation]] = {}

    def add(self, message_id: str, attestations: Iterable[Attestation]) -> None:
        have = self._by_id.setdefault(message_id, [])
        known = {a.signer for a in have}
        have.extend(a for a in attestations if a.signer not in known)

    def get(self, message_id: str) -> list[Attestation]:
        return list(self._by_id.get(message_id, ()))


class ExchangeServer:
    def __init__(
        self,
        book: AttestationBook,
        status: Callable[[], dict[str, Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.book, self.status, self.host, self.port = book, status, host, port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/attestations/{mid}", self._attestations)
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self.host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _attestations(self, req: web.Request) -> web.Response:
        atts = self.book.get(req.match_info["mid"].lower())
        if not atts:
            return web.json_response(
                {"error": "not seen (yet) at this relayer's depth"}, status=404
            )
        return web.json_response(
            {
                "attestations": [
                    {"signer": a.signer, "signature": "0x" + a.signature.hex()} for a in atts
                ]
            }
        )

    async def _status(self, _req: web.Request) -> web.Response:
        return web.json_response(self.status())


class Peers:
    """The other relayers' exchanges: a static list plus a shared directory."""

    def __init__(
        self, urls: Iterable[str] = (), directory: str | None = None, *, timeout: float = 1.0
    ) -> None:
        self.static = tuple(u.rstrip("/") for u in urls)
        self.directory = Path(directory) if directory else None
        self.own_url = ""
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def publish(self, address: str, url: str) -> None:
        """Announce our URL in the shared directory (atomic rename: readers never see half)."""
        self.own_url = url
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{address}.tmp"
        tmp.write_text(url)
        os.replace(tmp, self.directory / f"{address}.url")

    def urls(self) -> list[str]:
        out = list(self.static)
        if self.directory is not None and self.directory.is_dir():
            for f in sorted(self.directory.glob("*.url")):
                try:
                    out.append(f.read_text().strip().rstrip("/"))
                except OSError:  # a peer is replacing its file right now: next round
                    continue
        return [u for u in dict.fromkeys(out) if u and u != self.own_url]

    async def fetch(self, message_id: str) -> list[Attestation]:
        """Every peer's attestations for ``message_id``; dead or silent peers give none."""
        urls = self.urls()
        if not urls:
            return []
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        got = await asyncio.gather(*(self._one(u, message_id) for u in urls))
        return [a for batch in got for a in batch]

    async def _one(self, url: str, message_id: str) -> list[Attestation]:
        assert self._session is not None
        try:
            async with self._session.get(f"{url}/attestations/{message_id}") as r:
                if r.status != 200:
                    return []
                body = await r.json()
            return [
                Attestation(str(a["signer"]), bytes.fromhex(str(a["signature"])[2:]))
                for a in body["attestations"]
            ]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            return []  # a dead, slow or broken peer withholds; quorum decides

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
