"""The demo's daemon: ``agent run --config agent.toml`` as its own process, driven only through
its REST API (agent.service.client, what ``agent ... --api URL`` uses): orders, a TWAP,
positions and risk, the kill switch; then SIGTERM, which drains, and exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from agent.errors import AgentError
from agent.service.client import ApiCallError, call
from agent.service.devconfig import read_env

READY = "agent: serving "
TOKENS = {"read": "AGENT_API_TOKEN_READ", "trade": "AGENT_API_TOKEN_TRADE",
          "admin": "AGENT_API_TOKEN_ADMIN"}  # fmt: skip


class DemoDaemonError(AgentError):
    code = "DEMO_DAEMON"


@dataclass
class Api:
    url: str
    config: Path
    log: Path

    def get(self, path: str, role: str = "read") -> Any:
        return call(self.url, "GET", path, token_env=TOKENS[role])

    def post(self, path: str, body: Any, role: str = "trade") -> Any:
        return call(self.url, "POST", path, body, token_env=TOKENS[role])


@contextmanager
def running_daemon(config: Path, env_file: Path) -> Iterator[Api]:
    """``agent run --config`` started with the secrets of ``env_file`` in its environment
    (and this process's, for the API client's tokens); stopped by SIGTERM on exit, which must
    drain and exit 0."""
    secrets = read_env(env_file)
    os.environ.update({k: v for k, v in secrets.items() if k.startswith("AGENT_API_TOKEN")})
    log = config.parent / "agent.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            env={**os.environ, **secrets}, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until the daemon serves, or exits
            if not line.startswith(READY):
                proc.wait(timeout=30)
                raise DemoDaemonError(
                    f"agent run exited ({proc.returncode}) before serving: "
                    f"{line.strip() or log.read_text()[-500:]}"
                )
            url = line.removeprefix(READY).split()[0]
            yield Api(url, config, log)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    if proc.returncode != 0 or "drained and stopped" not in out:
        raise DemoDaemonError(
            f"agent run did not drain on SIGTERM (exit {proc.returncode}); see {log}"
        )


TERMINAL = frozenset({"filled", "cancelled", "denied", "expired", "rejected"})


def wait_order(api: Api, cid: str, timeout_s: float = 120) -> dict[str, Any]:
    """GET /v1/orders/{cid} until the order is terminal (a daemon may answer 202 and execute
    behind its answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        o = api.get(f"/v1/orders/{cid}")
        if o["state"] in TERMINAL:
            return o
        if time.monotonic() > deadline:
            raise DemoDaemonError(f"order {cid} still {o['state']} after {timeout_s:.0f}s")
        time.sleep(0.1)  # polling the daemon for the order's state itself


def _table(title: str, intent: str) -> Table:
    t = Table(title=title, show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("intent", intent)
    return t


def order_table(api: Api, body: dict[str, Any]) -> Table:
    """POST /v1/orders, then the order and its fills as the API reports them."""
    cid = body["client_order_id"]
    intent = (f"{body['side']} {body['size']} {body['base']} with {body['quote']}, "
              f"max slippage {body.get('max_slippage_bps')} bps")  # fmt: skip
    try:
        r = api.post("/v1/orders", body)
    except ApiCallError as e:
        if e.status != 422:  # a denial is an answer; anything else is the demo failing
            raise
        t = _table(f"Trade {cid}: DENIED", intent)
        t.add_row("reason", f"{e}  (HTTP 422: nothing signed)")
        return t
    o = wait_order(api, cid)
    dup = r.get("status") == "duplicate"
    state = f" (order {o['state']})" if dup else ""
    t = _table(f"Trade {cid}: {'DUPLICATE' if dup else o['state'].upper()}{state}", intent)
    if o["state"] == "denied":
        t.add_row("reason", f"[{o['code']}] {o['reason']}  (nothing signed)")
        return t
    t.add_row("venue", str(r.get("venue") or o.get("venue")))
    if r.get("tx_hash"):
        t.add_row("tx hash", r["tx_hash"] + (f" (block {r['block']})" if r.get("block") else ""))
    if o.get("avg_price"):
        t.add_row("filled", f"{o['filled']} of {o['quantity']} {body['base']} at "
                            f"{Decimal(o['avg_price']):,.6f} {body['quote']}/{body['base']}")  # fmt: skip
    for f in api.get(f"/v1/fills?client_order_id={cid}")["fills"]:
        t.add_row("fill", f"{f['quantity']} at {Decimal(f['price']):,.6f} on {f['venue']}")
    if dup or r.get("reason"):
        t.add_row("reason", r.get("reason") or "client id already used: not executed again")
    return t


def wait_algo(journal: Path, parent: str, timeout_s: float = 120) -> None:
    """Until the algorithm's journal stream records its end (what `agent report execution`
    reads); the daemon writes it, this process only reads the file."""
    from agent.algos.events import AlgoState, algo_stream
    from agent.journal.stores import open_store

    deadline = time.monotonic() + timeout_s
    while True:
        state = AlgoState()
        with open_store(journal) as j:
            for rec in j.read_stream(algo_stream(parent)):
                state.apply(rec.event)
        if state.finished is not None:
            return
        if time.monotonic() > deadline:
            raise DemoDaemonError(f"{parent} did not finish within {timeout_s:.0f}s")
        time.sleep(0.5)  # polling the journal file another process appends to


def execution_report(journal: Path, parent: str) -> list[str]:
    """What `agent report execution PARENT --journal J` prints."""
    r = subprocess.run(
        [sys.executable, "-m", "agent.cli", "report", "execution", parent, "--journal", str(journal)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    if r.returncode != 0:
        raise DemoDaemonError(f"agent report execution {parent}: {r.stderr.strip()}")
    return r.stdout.splitlines()


def _n(x: Any, nd: int = 2) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def risk_lines(risk: dict[str, Any]) -> list[str]:
    """GET /v1/risk in a few lines: every account's holdings, then the whole fund's figures."""
    out = []
    for name, acc in risk["positions"].items():
        bal = ", ".join(f"{Decimal(v):,.4f} {k}" for k, v in acc["balances"].items() if Decimal(v))
        out.append(f"{name} {acc['account']}: {bal or 'nothing'}")
        for o in acc.get("options", []):
            side = "long" if Decimal(o["net"]) > 0 else "short"
            coll = (f", collateral {Decimal(o['collateral']):,.4f} {o['collateral_asset']}"
                    if Decimal(o["collateral"]) else "")  # fmt: skip
            out.append(f"  option {o['symbol']:<24} {side} {abs(Decimal(o['net']))}{coll}")
        for d in acc.get("derivatives", []):
            out.append(f"  {d['type']} {d['symbol']:<24} {d['side']} {abs(Decimal(d['size']))}")
    out.append(f"equity {_n(risk['equity'])} {risk['quote']}")
    for g in risk["greeks"]:
        out.append(
            f"greeks {g['underlying']}: delta {_n(g['delta'], 4)} gamma {_n(g['gamma'], 6)} "
            f"vega {_n(g['vega'])} theta/yr {_n(g['theta'])}"
        )
    for v in risk["var"]:
        out.append(f"{v['method']} VaR {_n(v['var'])} ES {_n(v['es'])} "
                   f"({v['confidence']:.0%}, {v['horizon_days']}d)")  # fmt: skip
    m = risk.get("margin")
    if m:
        out.append(f"margin: maintenance {_n(m['maintenance'])} initial {_n(m['initial'])} "
                   f"ratio {_n(m['margin_ratio'], 4)}")  # fmt: skip
    for lq in risk["liquidation"]:
        out.append(f"liquidation {lq['underlying']}: below {_n(lq['down'])} / above {_n(lq['up'])}")
    return out


def halt_and_refuse(api: Api, order: dict[str, Any], say: Callable[[str], None]) -> None:
    """The kill switch through the API, an order refused while halted, then resume."""
    h = api.post("/v1/halt", {"reason": "demo: kill switch drill"}, role="admin")
    say(f"[bold]halt[/] POST /v1/halt -> {h['state']} (journal {h['journal']})")
    try:
        api.post("/v1/orders", order)
        raise DemoDaemonError("an order was accepted while halted")
    except ApiCallError as e:
        if e.status != 422:
            raise
        say(f"  {order['client_order_id']}: DENIED while halted {e}")
    r = api.post("/v1/resume", {"reason": "demo: drill over"}, role="admin")
    say(f"  POST /v1/resume -> {r['state']}")
