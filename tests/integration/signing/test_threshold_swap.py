"""The whole path with both features on: a Safe whose module operator is the two-party joint
address, the swap app built by the composition root with a ThresholdSigner (party 2 in its
own process) and simulation before signing. An intent is quoted, risk- and policy-checked,
simulated, co-signed by two processes, mined, and filled."""

from __future__ import annotations

from decimal import Decimal

from agent.bootstrap import build_swap_app
from agent.chain.simulate import SimulationGuard
from agent.deploy.devworld import DEPLOYER_KEY, OWNER_KEYS, address_of
from agent.deploy.transactor import Transactor
from agent.model import Side, SwapIntent
from agent.signing.threshold import ThresholdSigner
from agent.wallet.deploy import deploy_wallet


async def test_intent_through_threshold_signer_with_simulation(world, keys, serve, tmp_path):
    joint = keys["address"]
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=joint, owner_keys=list(OWNER_KEYS), salt=1819,
    )  # fmt: skip
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(Decimal(100_000)))
    world.devnets.l1.rpc("anvil_setBalance", joint, hex(10**19))
    signer = ThresholdSigner.from_files(keys["p1"], serve.peer)
    app = await build_swap_app(
        rpc_url=world.devnets.l1.rpc_url, manifest=world.l1, safe=w.safe, module=w.module,
        operator_key="", journal_path=tmp_path / "j.sqlite", signer=signer, simulation="trace",
    )  # fmt: skip
    try:
        guard = app.executor.guard
        assert isinstance(guard, SimulationGuard)
        rep = await app.pipeline.run(
            SwapIntent("tss-1", Side.BUY, "WETH", "USDC", Decimal("0.5"), 50)
        )
        assert rep.status == "filled", (rep.code, rep.reason)
        assert rep.realized_out == 5 * 10**17
        assert guard.last is not None and guard.last.traced
        assert guard.last.deltas.net(world.l1.token("WETH").address) == rep.realized_out
        assert -guard.last.deltas.net(usdc.address) == rep.realized_in
        mined = world.devnets.l1.rpc("eth_getTransactionByHash", rep.tx_hash)
        assert mined["from"].lower() == joint.lower()
    finally:
        await app.close()
        await signer.aclose()
