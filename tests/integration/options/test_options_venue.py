"""The options venue passes the shared venue conformance suite; the demo entry point runs;
the market maker's HTTP service refuses bad RFQs with a code; the contract's ABI and series
ids agree with the Python encoders."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest
import pytest_asyncio
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector
from venue_conformance import ConformanceCase, VenueConformance

from agent.algos.multileg import MultilegConfig, MultilegExecutor
from agent.chain.txengine.account import EngineAccount
from agent.deploy.devworld import OPERATOR_KEY
from agent.execution.guarded import guarded_module_executor
from agent.journal import SqliteJournal
from agent.model import OptionContract, OptionKind, Side
from agent.strategies import VolSurface
from agent.venues.options import calldata
from agent.venues.options.deploy import artifact
from agent.venues.options.rfq import RfqClient, rfq_payload
from agent.venues.options.series import terms_for
from agent.venues.options.venue import OptionsVenue

pytestmark = pytest.mark.integration


class TestOptionsVenueConformance(VenueConformance):
    @pytest_asyncio.fixture
    async def venue_case(self, options_world, mm_server, l1_isolated, tmp_path):
        server, _q = mm_server
        journal = SqliteJournal(tmp_path / "journal.sqlite")
        chain = await EngineAccount.connect(options_world.rpc_url, OPERATOR_KEY, journal=journal)
        ex = MultilegExecutor(
            manifest=options_world.manifest, rfq=RfqClient(server.url), chain=chain,
            executor=guarded_module_executor(
                chain, options_world.manifest, safe=options_world.safe,
                module=options_world.module, journal=journal,
                policy_path=options_world.policy_file,
            ),
            config=MultilegConfig(surface=VolSurface(atm=0.6)),  # the maker's surface
        )  # fmt: skip
        venue = OptionsVenue(ex)
        leg = options_world.condor().legs[3]  # the 3400 call
        yield ConformanceCase(venue, leg.option, Decimal("0.5"))
        await venue.close()
        await chain.close()
        journal.close()


def test_python_encoders_match_the_compiled_abi():
    abi = artifact("OptionsMarket").abi

    def sig(item) -> str:
        def t(o):
            if o["type"].startswith("tuple"):
                return "(" + ",".join(t(c) for c in o["components"]) + ")" + o["type"][5:]
            return o["type"]

        return f"{item['name']}({','.join(t(i) for i in item['inputs'])})"

    sigs = {sig(i) for i in abi if i.get("type") == "function"}
    for s in (calldata.FILL_QUOTES_SIG, calldata.CREATE_SERIES_SIG, *calldata.MARKET_FUNCTIONS):
        assert s in sigs, s


async def test_series_id_and_digest_match_the_contract(options_world, mm_server):
    m = options_world.manifest
    chain = await EngineAccount.connect(options_world.rpc_url, OPERATOR_KEY)
    try:
        t = terms_for(options_world.condor().legs[0].option, m, feed=m.address("PriceFeedWETH"))
        from eth_abi import encode

        from agent.venues.options.series import SERIES_ABI

        raw = await chain.call(
            m.address("OptionsMarket"),
            selector(f"seriesId({SERIES_ABI})") + encode([SERIES_ABI], [t.as_tuple()]),
        )
        assert decode(["uint256"], raw)[0] == t.series_id
        server, _ = mm_server
        rfq = RfqClient(server.url)
        sq = await rfq.request(t, Side.BUY, 10**18, options_world.safe)
        await rfq.close()
        from agent.venues.options.eip712 import QUOTE_ABI

        raw = await chain.call(
            m.address("OptionsMarket"),
            selector(f"quoteDigest({QUOTE_ABI})") + encode([QUOTE_ABI], [sq.quote.as_tuple()]),
        )
        assert raw == sq.digest()
    finally:
        await chain.close()


async def test_market_maker_http_refusals(options_world, mm_server):
    server, _ = mm_server
    m = options_world.manifest
    t = terms_for(options_world.condor().legs[0].option, m, feed=m.address("PriceFeedWETH"))
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{server.url}/rfq", data=b"{not json") as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "INVALID_INPUT"
        bad_feed = rfq_payload(t, Side.BUY, 10**18, options_world.safe)
        bad_feed["series"]["feed"] = "0x" + "12" * 20
        async with s.post(f"{server.url}/rfq", json=bad_feed) as r:
            body = await r.json()
            assert r.status == 400 and "series.feed" in body["error"]["message"]
        too_big = rfq_payload(t, Side.BUY, 10**24, options_world.safe)  # 1M WETH > limit
        async with s.post(f"{server.url}/rfq", json=too_big) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "MM_POSITION_LIMIT"
        async with s.get(f"{server.url}/health") as r:
            assert (await r.json())["market"] == m.address("OptionsMarket")


async def test_sell_iron_condor_demo(options_world, l1_isolated):
    """The demo entry point scripts/demo calls, with the world's market (bring_up deployed it;
    the Safe's policy allows it) and the fixture's Safe; its batch (legs + hedge) passes the
    fund's signing policy, checked before signing against the WETH oracle."""
    from agent.venues.options.demo import sell_iron_condor_demo

    base = options_world.world.l1
    res = await sell_iron_condor_demo(
        options_world.rpc_url, base, safe=options_world.safe, module=options_world.module,
        operator_key=OPERATOR_KEY, policy_path=options_world.policy_file,
    )  # fmt: skip
    r = res.result
    assert len(r.legs) == 4 and r.tx_hash.startswith("0x") and r.gas_used > 0
    assert r.max_loss is not None and r.max_loss < Decimal(200)
    assert res.manifest.address("OptionsMarket") == options_world.manifest.address("OptionsMarket")
    text = "\n".join(res.lines())
    assert "iron condor" in text and "max loss" in text and r.tx_hash in text
    kinds = [(f.leg.option.kind, f.leg.side) for f in r.legs]
    assert kinds.count((OptionKind.PUT, Side.SELL)) == 1
    assert isinstance(r.legs[0].leg.option, OptionContract)


async def test_market_maker_runs_as_a_process(options_world, tmp_path):
    """``python -m agent.marketmaker`` prints its URL and answers an RFQ with a quote the
    venue's checks accept."""
    import asyncio
    import re
    import sys

    from agent.venues.options.checks import LegRequest, QuoteCheckContext, check_quote

    path = options_world.manifest.save(tmp_path / "l1.manifest.json")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.marketmaker", "--manifest", str(path),
        "--rpc-url", options_world.rpc_url, "--atm-vol", "0.6",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        found = re.search(r"quoting on (http://\S+)", line.decode())
        assert found, line
        m = options_world.manifest
        t = terms_for(options_world.condor().legs[1].option, m, feed=m.address("PriceFeedWETH"))
        rfq = RfqClient(found.group(1))
        sq = await rfq.request(t, Side.SELL, 10**18, options_world.safe)
        await rfq.close()
        chain = await EngineAccount.connect(options_world.rpc_url, OPERATOR_KEY)
        now = await chain.now()
        await chain.close()
        ctx = QuoteCheckContext(m.chain_id, m.address("OptionsMarket"), options_world.safe, now)
        req = LegRequest(0, t, Side.SELL, 10**18, sq.quote.price)
        assert check_quote(sq, req, ctx).allowed
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)


async def test_market_maker_hedges_on_uniswap_beyond_its_delta_limit(
    options_world, l1_isolated, tmp_path
):
    """A maker with a 1-WETH delta limit sells 5 calls: instead of refusing, it buys WETH on
    Uniswap V3 (a real swap from its account) and quotes."""
    from agent.deploy.devworld import MARKET_MAKER_KEY
    from agent.marketmaker.chain import ChainView
    from agent.marketmaker.hedger import UniswapHedger
    from agent.marketmaker.inventory import InventoryLimits
    from agent.marketmaker.quoter import MakerConfig, Quoter, Rfq

    from .options_it_helpers import erc20

    m = options_world.manifest
    mm_journal = SqliteJournal(tmp_path / "mm.sqlite")
    mm_chain = await EngineAccount.connect(
        options_world.rpc_url, MARKET_MAKER_KEY, journal=mm_journal
    )
    try:
        cfg = MakerConfig(
            key=MARKET_MAKER_KEY, chain_id=m.chain_id, market=m.address("OptionsMarket"),
            surface=VolSurface(atm=0.6), limits=InventoryLimits(Decimal(100), Decimal(1)),
        )  # fmt: skip
        view = ChainView(mm_chain.rpc, cfg.market, cfg.maker)
        hedger = UniswapHedger(mm_chain, m.address("SwapRouter"), view.spot)
        quoter = Quoter(cfg, view.spot, is_filled=view.is_filled, hedger=hedger)
        call = next(
            leg.option for leg in options_world.condor().legs if leg.option.kind is OptionKind.CALL
        )
        t = terms_for(call, m, feed=m.address("PriceFeedWETH"))
        weth = m.token("WETH").address
        before = await erc20(mm_chain, weth, cfg.maker)
        sq = await quoter.quote(Rfq(t, Side.BUY, 5 * 10**18, options_world.safe))
        assert sq.quote.size == 5 * 10**18
        assert len(hedger.trades) == 1 and quoter.hedges[0] > 0
        bought = await erc20(mm_chain, weth, cfg.maker) - before
        assert bought == int(quoter.hedges[0].scaleb(18))
    finally:
        await mm_chain.close()
        mm_journal.close()
