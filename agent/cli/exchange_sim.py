"""`agent exchange-sim --venue binance|deribit --port N [--faults ...]`: a local venue for
paper trading; point a CEX venue at it with ``CexConfig(..., sim_url=URL)``."""

from __future__ import annotations

import asyncio

import typer

from agent.cli.common import console, run_async

app = typer.Typer(
    help="Local exchange speaking Binance spot REST or Deribit JSON-RPC/WS.",
    invoke_without_command=True,
)


@app.callback()
def serve(
    venue: str = typer.Option("binance", "--venue", help="binance or deribit"),
    port: int = typer.Option(0, "--port", help="loopback port; 0 picks a free one"),
    host: str = typer.Option("127.0.0.1", "--host"),
    faults: str = typer.Option(
        "", "--faults", help="e.g. latency=50,rate_limit=100,5xx=0.05 (see docs/exchange_sim.md)"
    ),
    seed: int = typer.Option(7, "--seed", help="seed of the synthetic order flow"),
    flow_interval: float = typer.Option(
        0.5, "--flow-interval", help="seconds between ticks; 0 disables the synthetic flow's timer"
    ),
) -> None:
    """Serve until Ctrl-C. Credentials: api key `sim-key`, secret `sim-secret`."""
    from agent.exchange_sim.faults import FaultConfig
    from agent.exchange_sim.flow import FlowConfig
    from agent.exchange_sim.server import ExchangeSim, SimConfig

    async def main() -> None:
        cfg = SimConfig(
            venue=venue,
            host=host,
            port=port,
            faults=FaultConfig.parse(faults),
            flow=FlowConfig(seed=seed),
            flow_interval_s=flow_interval,
        )
        sim = ExchangeSim(cfg)
        await sim.start()
        console.print(f"exchange-sim ({venue}) on {sim.url}  api key: sim-key  secret: sim-secret")
        if venue == "deribit":
            console.print(f"  websocket: {sim.ws_url}/ws/api/v2")
        else:
            console.print(
                f"  websocket: market {sim.ws_url}/stream/ws, user data {sim.ws_url}/ws-api/v3"
            )
        console.print(
            f"  agent config: CexConfig('{venue}', api_key='sim-key', "
            f"secret='sim-secret', sim_url='{sim.url}')",
            highlight=False,
        )
        try:
            await asyncio.Event().wait()  # serve until interrupted
        finally:
            await sim.stop()

    run_async(main)
