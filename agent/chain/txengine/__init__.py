"""The transaction engine: write-ahead journaled send, replacement, tracking, crash recovery.

Public API::

    from agent.chain.txengine import TxEngine, EngineConfig, TxSpec
    engine = TxEngine(rpc, signer, journal, EngineConfig(chain_id=...))
    await engine.start()                     # replay journal, check chain id, reconcile
    res = await engine.send(TxSpec(to, value, data, gas, client_order_id))
    await engine.speed_up(nonce) / await engine.cancel(nonce)
    await engine.poll()                      # receipts, confirmations, reorgs, drops, stuck
    await engine.flush()                     # wait for background (non-write-ahead) appends
"""

from agent.chain.txengine.config import EngineConfig
from agent.chain.txengine.crash import POINTS as CRASH_POINTS
from agent.chain.txengine.engine import SendResult, TxEngine, TxSpec
from agent.chain.txengine.events import TxRefused

__all__ = ["CRASH_POINTS", "EngineConfig", "SendResult", "TxEngine", "TxRefused", "TxSpec"]
