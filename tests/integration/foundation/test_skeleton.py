"""The walking skeleton on anvil: quotes equal fills to the wei, the Safe is the recipient,
the journal records everything, denials and bad input send nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.bootstrap import build_swap_app
from agent.chain import devnet
from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, DevWorld, address_of
from agent.deploy.transactor import Transactor
from agent.errors import UnknownAssetError, ValidationError
from agent.model import Side, Spot, SwapIntent
from agent.oms.events import order_stream
from agent.wallet.deploy import WalletDeployment

pytestmark = pytest.mark.integration


async def _app(
    world: DevWorld, w: WalletDeployment, journal: Path, rpc_url: str | None = None, **kw
):  # type: ignore[no-untyped-def]
    return await build_swap_app(
        rpc_url=rpc_url or world.devnets.l1.rpc_url, manifest=world.l1, safe=w.safe,
        module=w.module, operator_key=OPERATOR_KEY, journal_path=journal, **kw,
    )  # fmt: skip


def _balance(world: DevWorld, symbol: str, who: str) -> int:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    return tx.call("DevToken", world.l1.token(symbol).address, "balanceOf", who)


@pytest.mark.parametrize("venue_index", [0, 1], ids=["uniswap_v2", "uniswap_v3"])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_each_venue_fills_exactly_what_it_quoted(
    world: DevWorld, l1_wallet: WalletDeployment, l1_isolated: None, tmp_path: Path,
    venue_index: int, side: Side,
) -> None:  # fmt: skip
    app = await _app(world, l1_wallet, tmp_path / "j.sqlite")
    try:
        if side is Side.SELL:  # give the Safe WETH to sell
            await app.pipeline.run(SwapIntent("seed", Side.BUY, "WETH", "USDC", Decimal(10), 100))
        app.pipeline.venues = [app.pipeline.venues[venue_index]]
        before_in = _balance(world, "USDC" if side is Side.BUY else "WETH", l1_wallet.safe)
        r = await app.pipeline.run(SwapIntent("t1", side, "WETH", "USDC", Decimal("3.5"), 30))
        assert r.status == "filled", r.reason
        # Quoted at block N, mined in N+1 with nothing in between: equal to the wei. If this
        # fails, something else touched the pool between quote and swap (or fees differ).
        assert r.block == r.quote_block + 1
        assert (r.realized_in, r.realized_out) == (r.quoted_in, r.quoted_out)
        spent = before_in - _balance(world, "USDC" if side is Side.BUY else "WETH", l1_wallet.safe)
        assert spent == r.realized_in
        # the router kept no allowance: the batch reset it to 0
        tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
        token_in = world.l1.token(r.asset_in).address
        router = app.pipeline.venues[0].router  # type: ignore[attr-defined]
        assert tx.call("DevToken", token_in, "allowance", l1_wallet.safe, router) == 0
    finally:
        await app.close()


async def test_router_picks_the_better_all_in_quote_and_journals_everything(
    world: DevWorld, l1_wallet: WalletDeployment, l1_isolated: None, tmp_path: Path
) -> None:
    app = await _app(world, l1_wallet, tmp_path / "j.sqlite")
    try:
        intent = SwapIntent("buy-1", Side.BUY, "WETH", "USDC", Decimal(20), 30)
        r = await app.pipeline.run(intent)
        assert r.status == "filled"
        assert r.venue == min(r.quotes, key=lambda s: s.all_in).quote.venue
        names = [e.type for e in app.journal.read_stream(order_stream("buy-1"))]
        assert names == ["OrderInitialized", "OrderAccepted", "OrderSubmitted", "OrderFilled"]
        assert app.journal.verify().ok
        # resubmitting the same client id executes nothing
        nonce = int(
            world.devnets.l1.rpc("eth_getTransactionCount", address_of(OPERATOR_KEY), "latest"), 16
        )
        again = await app.pipeline.run(intent)
        assert again.status == "duplicate"
        assert (
            int(
                world.devnets.l1.rpc("eth_getTransactionCount", address_of(OPERATOR_KEY), "latest"),
                16,
            )
            == nonce
        )
    finally:
        await app.close()


async def test_limit_denial_sends_nothing_and_is_journaled(
    world: DevWorld, l1_wallet: WalletDeployment, tmp_path: Path
) -> None:
    app = await _app(world, l1_wallet, tmp_path / "j.sqlite", max_notional=Decimal(1000))
    op = address_of(OPERATOR_KEY)
    try:
        nonce = world.devnets.l1.rpc("eth_getTransactionCount", op, "latest")
        r = await app.pipeline.run(SwapIntent("too-big", Side.BUY, "WETH", "USDC", Decimal(1), 30))
        assert (r.status, r.code) == ("denied", "RISK_MAX_NOTIONAL")
        assert world.devnets.l1.rpc("eth_getTransactionCount", op, "latest") == nonce
        events = list(app.journal.read_stream(order_stream("too-big")))
        assert [e.type for e in events] == ["OrderInitialized", "OrderDenied"]
        with pytest.raises(UnknownAssetError, match="XYZ"):
            await app.pipeline.run(SwapIntent("bad", Side.BUY, "XYZ", "USDC", Decimal(1), 30))
        with pytest.raises(ValidationError, match="decimals"):
            await app.pipeline.run(
                SwapIntent("bad2", Side.BUY, "USDC", "WETH", Decimal("0.0000001"), 30)
            )
        assert world.devnets.l1.rpc("eth_getTransactionCount", op, "latest") == nonce
    finally:
        await app.close()


async def test_size_beyond_every_pool_is_no_route_and_sends_nothing(
    world: DevWorld, l1_wallet: WalletDeployment, tmp_path: Path
) -> None:
    """Both routers revert when quoting more than their pools hold: each venue drops out
    (NoRoute), the intent is refused as NO_ROUTE, nothing is sent."""
    app = await _app(world, l1_wallet, tmp_path / "j.sqlite")
    op = address_of(OPERATOR_KEY)
    try:
        nonce = world.devnets.l1.rpc("eth_getTransactionCount", op, "latest")
        r = await app.pipeline.run(
            SwapIntent("ocean", Side.BUY, "WETH", "USDC", Decimal(50_000), 30)
        )
        assert (r.status, r.code) == ("denied", "NO_ROUTE"), r
        events = list(app.journal.read_stream(order_stream("ocean")))
        assert events[-1].type == "OrderDenied"
        assert world.devnets.l1.rpc("eth_getTransactionCount", op, "latest") == nonce
    finally:
        await app.close()


async def test_operator_cannot_call_outside_the_policy(
    world: DevWorld, l1_wallet: WalletDeployment, l1_isolated: None, tmp_path: Path
) -> None:
    """A stolen operator key cannot transfer the Safe's tokens: the policy grants no transfer,
    so the PolicyModule reverts (no off-chain guard in this app: the chain enforces it)."""
    from agent.errors import RpcError
    from agent.wallet.multisend import Call

    app = await _app(world, l1_wallet, tmp_path / "j.sqlite")
    try:
        usdc = world.l1.token("USDC").address
        from eth_abi import encode
        from eth_utils import function_signature_to_4byte_selector as sel

        steal = Call(
            usdc,
            sel("transfer(address,uint256)")
            + encode(["address", "uint256"], [address_of(OPERATOR_KEY), 1]),
        )
        with pytest.raises(RpcError, match="revert"):
            await app.pipeline.executor.execute([steal])  # gas estimation already reverts
    finally:
        await app.close()


async def test_skeleton_runs_on_a_fork_of_the_session_devnet(
    world: DevWorld, l1_wallet: WalletDeployment, tmp_path: Path
) -> None:
    before = world.devnets.l1.block_number()
    with devnet.fork(world.devnets.l1, name="fork") as f:
        app = await _app(world, l1_wallet, tmp_path / "j.sqlite", rpc_url=f.rpc_url)
        try:
            r = await app.pipeline.run(
                SwapIntent("fork-1", Side.BUY, "WETH", "USDC", Decimal(2), 30)
            )
            assert r.status == "filled" and r.realized_in == r.quoted_in
            assert f.block_number() == before + 1
        finally:
            await app.close()
    assert world.devnets.l1.block_number() == before  # the fork never wrote to L1


async def test_quotes_pin_one_block(
    world: DevWorld, l1_wallet: WalletDeployment, tmp_path: Path
) -> None:
    app = await _app(world, l1_wallet, tmp_path / "j.sqlite")
    try:
        v3 = app.pipeline.venues[1]
        n = await app.rpc.block_number()
        q1 = await v3.quote(Spot("WETH", "USDC"), Side.BUY, Decimal(1), block=n)
        q2 = await v3.quote(Spot("WETH", "USDC"), Side.BUY, Decimal(1), block=n)
        assert q1 == q2 and q1.block == n
    finally:
        await app.close()
