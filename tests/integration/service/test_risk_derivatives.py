"""The whole fund's risk in the daemon: the Safe's OptionsMarket positions (an iron condor sold
by RFQ: two written legs with their collateral, two bought) and a Deribit account's perpetual
and option (ccxt ``fetch_positions`` against the exchange simulator) are in GET /v1/risk with
the right signs, and its Greeks are what agent.risk computes from positions read here
independently (the market's shortOf/balanceOf per series, the simulator's ledger)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from agent.deploy.devworld import DevWorld
from agent.exchange_sim.instruments import SimKind, default_deribit
from agent.exchange_sim.server import ExchangeSim, SimConfig
from agent.model import OptionContract, OptionKind, Perpetual, Side, Spot
from agent.model.positions import Portfolio, Position
from agent.wallet.deploy import WalletDeployment

from .conftest import auth

pytestmark = pytest.mark.integration
PERP = "ETH_USDC-PERPETUAL"


@pytest_asyncio.fixture
async def deribit_sim() -> AsyncIterator[ExchangeSim]:
    now = time.time_ns() // 1_000_000
    sim = ExchangeSim(
        SimConfig(
            venue="deribit", flow=None,
            instruments=tuple(default_deribit(now, Decimal(3000), "ETH")),
            start_prices={"ETH": Decimal(3000), "BTC": Decimal(60_000)},
        )
    )  # fmt: skip
    await sim.start()
    yield sim
    await sim.stop()


def trade(sim: ExchangeSim, instrument: str, side: Side, amount: Decimal, price: Decimal) -> None:
    """The account behind the daemon's key ("trader") takes a maker's resting order."""
    ex = sim.exchange
    ex.ledger.deposit("maker", "USDC", Decimal(1_000_000))
    other = Side.SELL if side is Side.BUY else Side.BUY
    ex.place("maker", instrument, other, amount, price, post_only=True)
    _, trades = ex.place("trader", instrument, side, amount, price)
    assert trades, f"{instrument}: nothing traded"


async def test_risk_has_safe_options_and_deribit_positions(
    world: DevWorld,
    svc_wallet: WalletDeployment,
    svc_config: tuple[Path, dict[str, str]],
    deribit_sim: ExchangeSim,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    l1_isolated: None,
) -> None:
    from agent.bootstrap import build_daemon
    from agent.chain.rpc import RpcClient
    from agent.deploy.devworld import OPERATOR_KEY
    from agent.execution.guarded import reference_prices
    from agent.risk.loader import PortfolioFile, ReportSettings
    from agent.risk.market import MarketSnapshot, UnderlyingMarket
    from agent.risk.portfolio import Book, aggregate_greeks
    from agent.service.config import load
    from agent.service.risk import balances
    from agent.venues.options.demo import sell_iron_condor_demo
    from agent.venues.options.series import terms_for
    from agent.venues.options.settlement import OptionsSettlement

    l1 = world.devnets.l1.rpc_url
    condor = await sell_iron_condor_demo(
        l1, world.l1, safe=svc_wallet.safe, module=svc_wallet.module,
        operator_key=OPERATOR_KEY, policy_path=svc_wallet.policy_file,
    )  # fmt: skip
    legs = condor.result.legs
    assert {f.leg.side for f in legs} == {Side.BUY, Side.SELL}
    call = next(
        i.name for i in deribit_sim.exchange.instruments.values()
        if i.kind is SimKind.OPTION and i.is_call and i.strike == Decimal(3000)
    )  # fmt: skip
    trade(deribit_sim, PERP, Side.BUY, Decimal(2), Decimal(3000))
    trade(deribit_sim, call, Side.SELL, Decimal(1), Decimal(100))

    cfg, env = svc_config
    with cfg.open("a") as f:
        f.write(
            '\n[venues.deribit]\nkind = "cex"\nexchange = "deribit"\n'
            f'sim_url = "{deribit_sim.url}"\napi_key_env = "AGENT_DERIBIT_KEY"\n'
            'secret_env = "AGENT_DERIBIT_SECRET"\nsymbols = ["ETH/USDC:USDC"]\n'
        )
    monkeypatch.setenv("AGENT_DERIBIT_KEY", "sim-key")
    monkeypatch.setenv("AGENT_DERIBIT_SECRET", "sim-secret")
    d = await build_daemon(load(cfg))
    await d.start()
    try:
        async with http.get(f"{d.url}/v1/risk", headers=auth(env, "read")) as r:
            assert r.status == 200, await r.text()
            risk = await r.json()
        safe_part = risk["positions"]["l1"]
        block = safe_part["block"]

        # --- the Safe's options: each condor leg once, sold legs short with collateral
        rpc = await RpcClient(l1).connect()
        try:
            reader = OptionsSettlement(
                rpc=rpc, executor=None, market=world.l1.address("OptionsMarket"),
                safe=svc_wallet.safe,
            )  # type: ignore[arg-type]  # fmt: skip
            feed = world.l1.address("PriceFeedWETH")
            shown = {o["series_id"]: o for o in safe_part["options"]}
            assert len(shown) == 4, shown
            expected: list[Position] = []
            for f in legs:
                sid = terms_for(f.leg.option, world.l1, feed=feed).series_id
                o = shown[hex(sid)]
                on_chain = await reader.position(sid)
                sign = 1 if f.leg.side is Side.BUY else -1
                assert Decimal(o["net"]) == sign * f.leg.size, o
                assert Decimal(o["net"]) == Decimal(on_chain.long - on_chain.short) / 10**18
                assert o["kind"] == f.leg.option.kind.value
                assert Decimal(o["strike"]) == f.leg.option.strike
                assert (Decimal(o["collateral"]) > 0) == (f.leg.side is Side.SELL)
                opt = f.leg.option
                expected.append(
                    Position(OptionContract("WETH", "USD", opt.strike, opt.expiry, opt.kind),
                             sign * f.leg.size, "x")
                )  # fmt: skip
                if on_chain.collateral:
                    asset = o["collateral_asset"]
                    dec = world.l1.token(asset).decimals
                    amt = Decimal(on_chain.collateral).scaleb(-dec)
                    if asset == "WETH":  # a call's collateral: WETH the fund still owns
                        expected.append(Position(Spot("WETH", "USD"), amt, "x"))
            spot = float(await reference_prices(rpc, world.l1).usd("WETH"))
            safe_bal = await balances(d.primary, block=block)
        finally:
            await rpc.close()

        # --- Deribit: a long perp and a short call, as ccxt reports them
        ders = {x["symbol"]: x for x in risk["positions"]["deribit"]["derivatives"]}
        # GET /v1/positions lists the same (the chain one block later at most: nothing traded)
        async with http.get(f"{d.url}/v1/positions", headers=auth(env, "read")) as r:
            assert r.status == 200, await r.text()
            accounts = {p["account"]: p for p in (await r.json())["positions"]}
        listed = accounts[svc_wallet.safe]["options"]
        assert {o["series_id"]: o["net"] for o in listed} == {k: o["net"] for k, o in shown.items()}
        assert {x["symbol"]: x["size"] for x in accounts["deribit"]["derivatives"]} == {
            k: x["size"] for k, x in ders.items()
        }
        perp = ders["ETH/USDC:USDC"]
        assert perp["side"] == "long" and Decimal(perp["size"]) == 2 and perp["type"] == "perp"
        (opt_sym,) = [s for s, x in ders.items() if x["type"] == "option"]
        assert ders[opt_sym]["side"] == "short" and Decimal(ders[opt_sym]["size"]) == -1
        assert ders[opt_sym]["kind"] == "call" and Decimal(ders[opt_sym]["strike"]) == 3000
        sim_inst = deribit_sim.exchange.instruments[call]
        expected.append(Position(Perpetual("WETH", "USD", "USD"), Decimal(2), "x",
                                 entry_price=Decimal(perp["entry_price"])))  # fmt: skip
        expected.append(
            Position(
                OptionContract("WETH", "USD", Decimal(3000),
                               datetime.fromtimestamp(sim_inst.expiry_ms / 1000, UTC),
                               OptionKind.CALL), Decimal(-1), "x")
        )  # fmt: skip
        cex_bal = await d.cex["deribit"].balances()
        for sym, amt in [*safe_bal.items(), *cex_bal.items()]:
            if sym in ("WETH", "ETH") and amt:
                expected.append(Position(Spot("WETH", "USD"), amt, "x"))

        # --- the Greeks: agent.risk on the positions read here
        now = datetime.now(UTC)
        vol = d.config.monitor.vols.get("WETH", d.config.monitor.vols.get("*", 0.8))
        mkt = MarketSnapshot(now, {"WETH": UnderlyingMarket(spot, vol, now)}, quote="USD")
        pf = PortfolioFile(Portfolio(tuple(expected)), mkt, ReportSettings())
        (want,) = aggregate_greeks(Book.build(pf.portfolio, mkt))
        got = next(g for g in risk["greeks"] if g["underlying"] == "WETH")
        assert got["delta"] == pytest.approx(want.delta, rel=1e-4, abs=1e-4)
        assert got["gamma"] == pytest.approx(want.gamma, rel=1e-3, abs=1e-6)
        assert got["vega"] == pytest.approx(want.vega, rel=1e-3, abs=1e-3)
        assert risk["margin"] is not None and risk["var"]
    finally:
        await d.stop()
