"""A small real agent process for the kill -9 fault tests: ``python -m agent.chain.txengine.worker``.

It places N transfer orders (journaled first, so an order exists once its record is durable),
sends each through the engine and waits for it to be mined, then prints a JSON summary.
Run it again after a crash and it picks up where the journal says it stopped: recovery
re-broadcasts journaled transactions, and only orders with no live transaction are sent.

Order ``i`` transfers ``value_base + i`` wei to ``--to``, so the chain itself shows whether
any order was executed twice or not at all.

Exit codes: 0 done; 1 a typed error (printed as one line, nothing further sent); 2 bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.chain.rpc import RpcClient
from agent.chain.txengine.config import EngineConfig
from agent.chain.txengine.engine import TxEngine, TxSpec
from agent.errors import AgentError
from agent.journal import SqliteJournal
from agent.journal.codec import event_type
from agent.oms.tx import TxState
from agent.signing import LocalSigner

WORKER_STREAM = "txworker-orders"


@event_type
@dataclass(frozen=True, slots=True)
class TransferOrderPlaced:
    client_order_id: str
    to: str
    value: int


async def run(args: argparse.Namespace) -> dict[str, object]:
    signer = LocalSigner.from_env()
    journal = SqliteJournal(Path(args.journal))
    try:
        async with RpcClient(args.rpc, expected_chain_id=None) as rpc:
            eng = TxEngine(
                rpc, signer, journal, EngineConfig(chain_id=args.chain_id, confirmations=1)
            )
            recovered = await eng.start()
            placed = {r.event.client_order_id: r.event for r in journal.read_stream(WORKER_STREAM)}
            missing = [
                TransferOrderPlaced(f"o-{i}", args.to, args.value_base + i)
                for i in range(args.orders)
                if f"o-{i}" not in placed
            ]
            if missing:
                journal.append(WORKER_STREAM, len(placed), missing)
                placed.update({o.client_order_id: o for o in missing})
            sent = 0
            for i in range(args.orders):
                order = placed[f"o-{i}"]
                live = [
                    r
                    for r in eng.records.values()
                    if r.client_order_id == order.client_order_id
                    and r.state is not TxState.DROPPED
                    and r.state is not TxState.REPLACED
                ]
                if live:
                    rec = live[0]
                else:
                    res = await eng.send(
                        TxSpec(
                            to=order.to, value=order.value, client_order_id=order.client_order_id
                        )
                    )
                    rec = res.record
                    sent += 1
                await eng.wait_for(
                    rec.tx_hash, {TxState.MINED, TxState.CONFIRMED}, timeout=args.timeout
                )
            await eng.flush()
            return {
                "ok": True,
                "sent_this_run": sent,
                "recovered": recovered,
                "orders": args.orders,
            }
    finally:
        journal.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agent.chain.txengine.worker", description=__doc__)
    p.add_argument("--rpc", required=True)
    p.add_argument("--chain-id", type=int, required=True)
    p.add_argument("--journal", required=True)
    p.add_argument("--orders", type=int, default=6)
    p.add_argument("--to", default="0x" + "5e" * 20)
    p.add_argument("--value-base", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    try:
        out = asyncio.run(run(args))
    except AgentError as e:
        print(json.dumps({"ok": False, "error": str(e), "code": e.code}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
