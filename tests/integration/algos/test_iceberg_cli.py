"""`agent trade order --algo iceberg` against anvil + the exchange simulator: the parent rests on
the exchange's book at its limit and shows only its displayed part there (read by another
client through ccxt's fetch_order_book); each time another account trades that part away the
book shows the next part (replenished), and the parent completes when it has all filled.

Native: size 1 shown 0.25 at a time is ONE order with Binance's ``icebergQty`` (the venue
refills it). Emulated: 0.55 shown 0.05 at a time is 11 parts, more than the market's
ICEBERG_PARTS filter (10) allows, so the agent shows one 0.05 order after the other, each
placed when the last has filled."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from agent.algos.events import AlgoCompleted, SliceFilled, SliceSent
from agent.deploy.devworld import DevWorld
from agent.journal.sqlite import SqliteJournal
from agent.oms.store import OrderStore
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread
from tests.integration.algos.test_algo_cli import AGENT, ENV, _events, _wait

pytestmark = pytest.mark.integration
LIMIT = Decimal("2999.00")  # above the seeded best bid (2998.50), below the best ask (3001.50)


def _args(world: DevWorld, w: WalletDeployment, url: str, j: Path, cid: str) -> list[str]:
    d = world.state_dir
    return [
        "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC",
        "--client-id", cid, "--safe", w.safe, "--module", w.module, "--policy", str(w.policy_file),
        "--rpc-url", world.devnets.l1.rpc_url, "--manifest", str(d / "l1.manifest.json"),
        "--cex", f"binance={url}", "--cex-symbol", "ETH/USDC", "--journal", str(j),
        "--algo", "iceberg", "--limit", str(LIMIT), "--horizon", "3m", "--interval", "1s",
        "--json",
    ]  # fmt: skip


def _shown(book_client, price: Decimal) -> Decimal:  # type: ignore[no-untyped-def]
    book = book_client.fetch_order_book("ETH/USDC", 50)
    return sum((Decimal(str(q)) for p, q in book["bids"] if Decimal(str(p)) == price), Decimal(0))


@pytest.mark.parametrize(
    "size,display,native",
    [("1", "0.25", True), ("0.55", "0.05", False)],
    ids=["native", "emulated"],
)
def test_iceberg_shows_its_part_and_replenishes(
    world: DevWorld,
    route_wallet: WalletDeployment,
    sim: SimThread,
    tmp_path: Path,
    isolated: None,
    size: str,
    display: str,
    native: bool,
) -> None:
    j = tmp_path / "j.sqlite"
    cid = f"ice-{'n' if native else 'e'}"
    args = [*_args(world, route_wallet, sim.url, j, cid), "--size", size, "--display", display]
    other, mine = sim.client(), sim.agent_client()
    proc = subprocess.Popen(
        [*AGENT, *args], env={**os.environ, **ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        show, total = Decimal(display), Decimal(size)
        parts = int(-(-total // show))
        for k in range(parts):
            # the book shows the displayed part (never the whole order) at the limit
            _wait(f"part {k} shown", lambda: _shown(other, LIMIT) == show, timeout=60)
            opened = mine.fetch_open_orders("ETH/USDC")
            assert len(opened) == 1
            o = opened[0]
            if native:  # one order for the whole rest, icebergQty = the shown part
                assert Decimal(str(o["amount"])) == total
                assert Decimal(o["info"]["icebergQty"]) == show
                assert Decimal(str(o["filled"])) == show * k
            else:  # one visible order per part
                assert Decimal(str(o["amount"])) == show and not Decimal(
                    o["info"].get("icebergQty") or "0"
                )
            other.create_order("ETH/USDC", "market", "sell", float(show))  # takes our bid
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out
    res = json.loads(out.strip().splitlines()[-1])
    assert res["algorithm"] == "iceberg" and Decimal(res["filled"]) == total
    assert _shown(other, LIMIT) == 0 and not mine.fetch_open_orders("ETH/USDC")
    evs = _events(j, cid)
    sent = [e for e in evs if isinstance(e, SliceSent)]
    assert len(sent) == (1 if native else parts)
    assert sum((e.filled for e in evs if isinstance(e, SliceFilled)), Decimal(0)) == total
    fin = next(e for e in evs if isinstance(e, AlgoCompleted))
    assert isinstance(fin, AlgoCompleted) and fin.reason == "filled" and fin.unfilled == 0
    # the children are orders of the one OMS: GTC limits at the limit, filled by the trades
    with SqliteJournal(j) as store:
        orders = OrderStore.replay(store).orders
    kids = [o for k, o in orders.items() if k.startswith(f"{cid}.s")]
    assert len(kids) == len(sent) and all(o.limit_price == LIMIT for o in kids)
    assert sum((o.filled for o in kids), Decimal(0)) == total
    assert all(o.state.value == "filled" for o in kids)
    mine_trades = mine.fetch_my_trades("ETH/USDC")
    assert sum(Decimal(str(t["amount"])) for t in mine_trades) == total
    assert all(Decimal(str(t["price"])) == LIMIT for t in mine_trades)
