"""One agent process on a shared journal, driven line by line over stdin/stdout (JSON), for
test_shared_journal.py: ``python agent_proc.py LOCATION PREFIX``. It owns the order streams
``order-PREFIX-*`` and shares the ``trading`` stream with every other process."""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal

import agent.oms  # noqa: F401  (registers the OMS event types)
from agent.journal.stores import open_store
from agent.model import Side, TradingState
from agent.oms import OrderManager, SetTradingState, SubmitOrder


async def main(location: str, prefix: str) -> None:
    with open_store(location) as j:
        m = OrderManager.open(j)
        n_orders = 0
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "submit":  # n orders at once: one loop turn, group-committed together
                ids = [f"{prefix}-{n_orders + i}" for i in range(cmd["n"])]
                n_orders += cmd["n"]
                orders = await asyncio.gather(
                    *(
                        m.submit_async(SubmitOrder(c, "WETH/USDC", Side.BUY, Decimal("1.5")))
                        for c in ids
                    )
                )
                out = {"states": [o.state.value for o in orders], "codes": [o.code for o in orders]}
            elif op == "set_state":
                st = m.set_trading_state(
                    SetTradingState(TradingState(cmd["state"]), "test", prefix)
                )
                out = {"state": st.value}
            elif op == "quit":
                break
            else:
                out = {"error": f"unknown op {op!r}"}
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
