"""Settlement, exercise and redemption from Python through the Safe's module: sell a condor,
move the devnet's clock past expiry, update the feed, settle, exercise the long wing, redeem
the written legs' collateral, balances checked to the wei. Before that: settling before expiry
or on a stale feed, and exercising an unsettled series, are refused with a typed error,
nothing moves, and each attempt is journaled. The settlement's module executor carries the
fund's signing policy as its pre-sign guard, like every other Safe module call."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DEPLOYER_KEY
from agent.deploy.transactor import Transactor
from agent.execution.guarded import guarded_module_executor
from agent.venues.options.deploy import push_price
from agent.venues.options.errors import SettlementRefusedError
from agent.venues.options.events import (
    OptionsExercised,
    OptionsRedeemed,
    OptionsSeriesSettled,
    OptionsSettlementRejected,
)
from agent.venues.options.series import payoff, terms_for
from agent.venues.options.settlement import OptionsSettlement

from .options_it_helpers import erc20, snapshot

pytestmark = pytest.mark.integration
PRICE = Decimal(3500)  # the 3200 call writer owes, the 3400 call wing pays, the puts expire


def _events(journal, cls) -> list:
    return [r.event for r in journal.read_all() if isinstance(r.event, cls)]


async def test_settle_exercise_redeem_through_the_safe(options_world, executor_parts):
    ex, chain, journal = executor_parts
    m, safe = options_world.manifest, options_world.safe
    condor = options_world.condor()
    feed = m.address("PriceFeedWETH")
    terms = [terms_for(leg.option, m, feed=feed) for leg in condor.legs]
    ids = [t.series_id for t in terms]
    await ex.run(condor)  # sell the condor: short 2800 put + 3200 call, long 2600 put + 3400 call

    st = OptionsSettlement(
        rpc=chain.rpc,
        executor=guarded_module_executor(
            chain, m, safe=safe, module=options_world.module, journal=journal,
            policy_path=options_world.policy_file, raise_on_revert=True,
        ),
        market=m.address("OptionsMarket"), safe=safe, journal=journal,
    )  # fmt: skip
    op = chain.address

    async def refused(coro, code: str) -> None:
        before = await snapshot(chain, m, safe, ids)
        sent = await chain.rpc.get_transaction_count(op)
        with pytest.raises(SettlementRefusedError) as e:
            await coro
        assert e.value.code == code, e.value
        assert await snapshot(chain, m, safe, ids) == before  # nothing moved
        assert await chain.rpc.get_transaction_count(op) == sent  # nothing sent
        assert _events(journal, OptionsSettlementRejected)[-1].code == code

    # --- bad input ------------------------------------------------------------------------
    await refused(st.settle(terms[2]), "OPTIONS_NOT_EXPIRED")
    await refused(st.exercise(terms[3]), "OPTIONS_NOT_SETTLED")
    await refused(st.redeem(terms[2]), "OPTIONS_NOT_SETTLED")
    tx = Transactor(options_world.rpc_url, DEPLOYER_KEY)
    now = int(tx.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    tx.rpc("evm_increaseTime", hex(terms[0].expiry - now + 60))
    tx.rpc("evm_mine")
    # past expiry, but the feed's last round predates it
    await refused(st.settle(terms[2]), "OPTIONS_STALE_FEED")
    await refused(st.collect(terms[0]), "OPTIONS_STALE_FEED")

    # --- settle, exercise, redeem ---------------------------------------------------------
    push_price(tx, feed, PRICE)
    price = int(PRICE.scaleb(6))
    weth, usdc = m.token("WETH").address, m.token("USDC").address
    pos = {sid: await st.position(sid) for sid in ids}
    amount = 10**18
    assert [pos[s].long for s in ids] == [amount, 0, 0, amount]
    assert [pos[s].short for s in ids] == [0, amount, amount, 0]

    r = await st.settle(terms[2])
    assert r.price == price and r.tx_hash
    assert (await st.settle(terms[2])).tx_hash == ""  # idempotent: nothing sent twice
    # the 3200 call writer: 1 WETH posted, owes ceil(300/3500 WETH)
    w0 = await erc20(chain, weth, safe)
    r = await st.redeem(terms[2])
    owed = payoff(terms[2], price, amount, round_up=True)
    assert owed == -(-300 * 10**18 // 3500)
    assert r.redeem_payout == amount - owed == pos[ids[2]].collateral - owed
    assert await erc20(chain, weth, safe) - w0 == amount - owed
    await refused(st.redeem(terms[2]), "OPTIONS_NOTHING_TO_CLAIM")

    # the 3400 call wing: settle, then exercise more than held (refused), then all
    await st.settle(terms[3])
    await refused(st.exercise(terms[3], amount + 1), "INVALID_INPUT")
    w0 = await erc20(chain, weth, safe)
    r = await st.exercise(terms[3])
    assert r.exercised == amount and r.exercise_payout == 100 * 10**18 // 3500
    assert await erc20(chain, weth, safe) - w0 == r.exercise_payout
    assert (await st.position(ids[3])).long == 0

    # the puts expire worthless: one Safe tx each settles, burns the long, frees collateral
    u0 = await erc20(chain, usdc, safe)
    r_long = await st.collect(terms[0])
    r_short = await st.collect(terms[1])
    assert (r_long.exercised, r_long.exercise_payout, r_long.redeem_payout) == (amount, 0, 0)
    assert r_short.redeem_payout == 2800 * 10**6 == pos[ids[1]].collateral
    assert await erc20(chain, usdc, safe) - u0 == 2800 * 10**6
    for sid in ids:
        p = await st.position(sid)
        assert (p.long, p.short, p.collateral) == (0, 0, 0)

    assert len(_events(journal, OptionsSeriesSettled)) == 4
    assert [e.payout for e in _events(journal, OptionsExercised)] == [r.exercise_payout, 0]
    assert [e.payout for e in _events(journal, OptionsRedeemed)] == [amount - owed, 2800 * 10**6]
    codes = [e.code for e in _events(journal, OptionsSettlementRejected)]
    assert codes == [
        "OPTIONS_NOT_EXPIRED", "OPTIONS_NOT_SETTLED", "OPTIONS_NOT_SETTLED",
        "OPTIONS_STALE_FEED", "OPTIONS_STALE_FEED", "OPTIONS_NOTHING_TO_CLAIM", "INVALID_INPUT",
    ]  # fmt: skip
