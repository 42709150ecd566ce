"""Faults between real processes: a peer that aborts mid-protocol, sends garbage or a wrong
proof. The honest side refuses with a code, says why to the peer, writes no share, and a
live signer service keeps its share and goes on serving."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from agent.signing.threshold import ec, wire
from agent.signing.threshold.keygen import KeygenP1, KeygenP2
from agent.signing.threshold.share import read_share
from agent.signing.threshold.sign import SignP1
from agent.signing.types import TxRequest

from .conftest import agent_cli


def _party2(out) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "signer", "keygen", "--party", "2",
         "--listen", "127.0.0.1:0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("listening "), proc.stderr.read()
    return proc, int(line.split(":")[-1])


async def test_party1_aborting_mid_keygen(tmp_path):
    out = tmp_path / "p2.json"
    proc, port = _party2(out)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    p1 = KeygenP1()
    await wire.send(writer, p1.kg1())
    assert (await wire.recv(reader))["t"] == "kg2"
    writer.close()  # party 1 walks away after round 2
    await writer.wait_closed()
    _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 1 and "[TSS_ABORTED]" in err and "Traceback" not in err
    assert not out.exists()


async def test_garbage_to_party2_is_refused_with_a_code(tmp_path):
    out = tmp_path / "p2.json"
    proc, port = _party2(out)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await wire.send(writer, {"t": "kg1", "sid": "00" * 16, "com": "nothex"})
    head = await reader.readexactly(4)
    abort = __import__("orjson").loads(await reader.readexactly(int.from_bytes(head, "big")))
    assert abort["t"] == "abort" and abort["code"] == "TSS_BAD_MESSAGE" and "com" in abort["reason"]
    _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 1 and "[TSS_BAD_MESSAGE] com:" in err
    assert not out.exists()


async def test_party1_refuses_a_wrong_proof_from_party2(tmp_path):
    got: list[dict] = []

    async def fake_party2(reader, writer):
        p2 = KeygenP2()
        m = p2.on_kg1(await wire.recv(reader))
        m["pf2"]["z"] = hex(int(m["pf2"]["z"], 16) ^ 4)  # a proof that does not verify
        await wire.send(writer, m)
        try:
            await wire.recv(reader)
        except Exception as e:  # the abort party 1 sends
            got.append({"err": str(e)})
        writer.close()

    server = await asyncio.start_server(fake_party2, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    out = tmp_path / "p1.json"
    r = await asyncio.to_thread(
        agent_cli, "signer", "keygen", "--party", "1", "--peer", f"127.0.0.1:{port}",
        "--out", str(out),
    )  # fmt: skip
    server.close()
    assert r.returncode == 1 and "[TSS_BAD_PROOF]" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    assert got and "TSS_BAD_PROOF" in got[0]["err"]


async def test_party1_aborting_mid_signing_leaves_the_service_and_share_intact(keys, serve):
    before = keys["p2"].read_bytes()
    host, port = serve.peer.split(":")
    s1 = read_share(keys["p1"], role=1)
    tx = TxRequest(chain_id=1, nonce=0, to=s1.address, gas=21_000)
    # three ways to walk away: after sg1, after a bad sg3, with a frame over the size limit
    for how in ("after_sg1", "bad_sg3", "flood"):
        reader, writer = await asyncio.open_connection(host, int(port))
        if how == "flood":
            writer.write((wire.MAX_FRAME + 1).to_bytes(4, "big"))
            await writer.drain()
            head = await reader.readexactly(4)
            body = await reader.readexactly(int.from_bytes(head, "big"))
            assert b"TSS_BAD_MESSAGE" in body
        else:
            p = SignP1(s1, tx)
            await wire.send(writer, p.sg1())
            m = await wire.recv(reader)
            if how == "bad_sg3":
                m3 = p.on_sg2(m)
                m3["r1"] = ec.enc(ec.base_mul(11)).hex()  # does not open the commitment
                await wire.send(writer, m3)
                head = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(head, "big"))
                assert b"TSS_BAD_PROOF" in body
        writer.close()
        await writer.wait_closed()
    r = await asyncio.to_thread(
        agent_cli, "signer", "check", "--share", str(keys["p1"]), "--peer", serve.peer
    )
    assert r.returncode == 0, r.stderr
    assert keys["p2"].read_bytes() == before
    out = serve.stop()
    assert "1 signed, 3 refused" in out
