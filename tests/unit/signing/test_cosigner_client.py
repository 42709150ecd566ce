"""The co-signer client over real loopback HTTP (an aiohttp server in this process standing in
for the co-signer's answers): a signature from another key, or over another call, is
refused; a deny carries the co-signer's code; a co-signer that is down or slow is a typed
error. Nothing here touches a chain: the client never sends."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from agent.signing.cosigner.client import CosignerClient
from agent.signing.cosigner.wire import Cosignature, ModuleCall, cosign_digest, parse_request
from agent.signing.errors import (
    SignerMismatchError,
    SignerRefusedError,
    SignerTimeoutError,
    SignerUnavailableError,
)
from agent.signing.local import LocalSigner

MODULE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OP = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CALL = ModuleCall(OP, 0, b"\x09\x5e\xa7\xb3" + b"\x00" * 64, 0)
CO = LocalSigner("0x" + "31" * 32)
EVIL = LocalSigner("0x" + "32" * 32)


async def _serve(handler):  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_post("/v1/cosign", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _signing(signer: LocalSigner, tamper: bool = False):  # type: ignore[no-untyped-def]
    async def h(request: web.Request) -> web.Response:
        req = parse_request(await request.json())
        c = req.call
        data = c.data + b"\x01" if tamper else c.data
        d = cosign_digest(module=req.module, chain_id=req.chain_id, to=c.to, value=c.value,
                          data=data, operation=c.operation, nonce=5, deadline=99)  # fmt: skip
        cs = Cosignature(CO.address, 5, 99, signer.sign_digest(d))
        return web.json_response(cs.to_json(d))

    return h


async def _ask(url: str, timeout: float = 5.0) -> Cosignature:
    client = CosignerClient(url, cosigner=CO.address, timeout=timeout)
    try:
        return await client.cosign(module=MODULE, chain_id=1, operator=OP, call=CALL)
    finally:
        await client.close()


async def test_good_cosignature_accepted():
    runner, url = await _serve(_signing(CO))
    try:
        got = await _ask(url)
        assert got.nonce == 5 and got.deadline == 99
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("signer", "tamper"), [(EVIL, False), (CO, True)])
async def test_wrong_key_or_other_call_refused(signer, tamper):
    runner, url = await _serve(_signing(signer, tamper))
    try:
        with pytest.raises(SignerMismatchError):
            await _ask(url)
    finally:
        await runner.cleanup()


async def test_deny_carries_the_cosigners_code():
    async def deny(_: web.Request) -> web.Response:
        body = {
            "status": "denied",
            "code": "POLICY_PRICE_OUT_OF_BOUNDS",
            "reason": "r",
            "rule": "x",
        }
        return web.json_response(body, status=403)

    runner, url = await _serve(deny)
    try:
        with pytest.raises(SignerRefusedError) as e:
            await _ask(url)
        assert e.value.code == "POLICY_PRICE_OUT_OF_BOUNDS"
    finally:
        await runner.cleanup()


async def test_down_and_slow_cosigner_are_typed():
    runner, url = await _serve(_signing(CO))
    await runner.cleanup()  # the port is closed now
    with pytest.raises(SignerUnavailableError):
        await _ask(url)
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    runner, url = await _serve(slow)
    try:
        with pytest.raises(SignerTimeoutError):
            await _ask(url, timeout=0.2)
    finally:
        release.set()
        await runner.cleanup()
