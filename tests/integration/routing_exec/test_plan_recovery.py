"""A batch that is sent but whose receipt the agent never reads (it stopped, or the chain did
not mine in time): the children stay SUBMITTED, the parent stays open, nothing is re-sent; a
new process over the same journal settles them from the chain with the fills the live path
would have recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DevWorld
from agent.execution.plan_recovery import recover_plans
from agent.model import Side
from agent.wallet.deploy import WalletDeployment

from .conftest import Harness, amm_child, operator_nonce, plan_of

pytestmark = pytest.mark.integration


async def test_a_batch_mined_after_the_agent_stopped_is_settled_from_the_chain(
    world: DevWorld, route_wallet: WalletDeployment, harness: Harness, l1_isolated: None
) -> None:
    rpc = await harness.rpc("l1")
    block = await rpc.block_number()
    kids = [
        await amm_child(rpc, world.l1, "RC", 0, "v3:WETH/USDC/500", Decimal(3), block),
        await amm_child(rpc, world.l1, "RC", 1, "v2:WETH/USDC", Decimal(2), block),
    ]
    plan = plan_of("RC", Side.BUY, kids)
    l1 = world.devnets.l1
    l1.rpc("evm_setAutomine", False)  # the batch goes to the mempool and stays there
    try:
        w = await harness.wallet("l1", route_wallet, receipt_timeout=0.3)
        nonce0 = operator_nonce(world)
        rep = await harness.executor([w]).run(plan)
        assert [r.state for r in rep.children] == ["submitted", "submitted"]
        assert rep.state == "submitted"  # open: its children may still fill
        l1.rpc("evm_mine")
    finally:
        l1.rpc("evm_setAutomine", True)
    await w.executor.close()

    again = harness.executor([await harness.wallet("l1", route_wallet)])  # a new process
    assert await recover_plans(again) == ["RC"]
    st = again.manager.store
    assert st.orders["RC"].state.value == "filled"
    for k in kids:
        o = st.orders[k.client_order_id]
        assert o.state.value == "filled" and o.filled == Decimal(k.base_amount).scaleb(-18)
        assert o.avg_price == Decimal(k.quote_amount).scaleb(-6) / o.filled  # as planned
    assert operator_nonce(world) == nonce0 + 1  # the batch was sent once, never again
    assert await recover_plans(again) == []  # settled: a second pass changes nothing
