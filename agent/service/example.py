"""The commented example ``agent.toml``: what ``agent config init`` writes, and (filled with a
devnet's addresses) what ``agent devnet up`` writes next to its manifests. One template, so
the documented file and the ready one cannot drift apart; a unit test checks that every field
of :class:`agent.service.config.AgentConfig` appears in it."""

from __future__ import annotations

from dataclasses import dataclass

TEMPLATE = """\
# agent.toml: the daemon's one configuration file (`agent run --config agent.toml`).
# Check it with `agent config validate agent.toml`. Relative paths are relative to this file.
# Secrets are NEVER written here: keys, CEX credentials and API tokens are named by the
# environment variable that holds them (the *_env fields).

[journal]
path = "{journal}"                # SQLite file: the single source of truth (hash-chained)

# One table per chain. The RPC's chain id is checked against chain_id at start.
[chains.l1]
chain_id = {l1_chain_id}
rpc_url = "{l1_rpc}"
manifest = "{l1_manifest}"        # deployment manifest: contract and token addresses

[chains.l2]
chain_id = {l2_chain_id}
rpc_url = "{l2_rpc}"
manifest = "{l2_manifest}"

# The fund's Safe on a chain (keyed by chain name), its PolicyModule, and the agent's key.
[wallets.l1]
safe = "{safe}"
module = "{module}"
signer_key_env = "AGENT_OPERATOR_KEY"   # env var holding the operator key (0x...)
{guardian_line}

# Venues by id. kind: uniswap_v2 | uniswap_v3 (on a chain) | cex (any ccxt exchange).
[venues.uniswap_v2_l1]
kind = "uniswap_v2"
chain = "l1"

[venues.uniswap_v3_l1]
kind = "uniswap_v3"
chain = "l1"

# [venues.binance]
# kind = "cex"
# exchange = "binance"             # a ccxt id
# sim_url = "http://127.0.0.1:8900" # agent exchange-sim; drop it for the real exchange
# api_key_env = "BINANCE_KEY"       # env var names, never the credentials
# secret_env = "BINANCE_SECRET"
# rate_per_s = 10.0
# symbols = ["ETH/USDT"]

# Pre-trade risk limits: every check of agent.risk.gate. Maps are keyed by symbol,
# underlying or venue; "*" is the default for keys not listed.
[risk]
max_order_notional = "{max_notional}"   # in the quote asset (exact decimal)
max_position = {{}}                 # e.g. {{ WETH = "100" }}: |size| per instrument
max_underlying_position = {{}}      # gross units per underlying
price_band_bps = 500               # order price vs reference
max_slippage_bps = 100
max_venue_exposure = {{}}           # gross notional per venue
max_concentration = "5"            # underlying gross notional / equity
max_abs_delta = {{}}                # per underlying, in underlying units
max_abs_vega = {{}}
max_orders = 50                    # orders per rate window
rate_window_s = 10.0
max_staleness_s = 30.0             # positions/prices older than this refuse new orders

[policy]
{policy_line}

[api]
host = "127.0.0.1"
port = {api_port}
max_body_bytes = 65536             # larger request bodies get 413
max_queued_orders = 1000           # accepted orders waiting to execute; beyond, 503 INTAKE_BUSY
# Bearer tokens by role: read (GET), trade (orders), admin (halt/resume). Values from env vars.
[[api.tokens]]
env = "AGENT_API_TOKEN_ADMIN"
role = "admin"

[[api.tokens]]
env = "AGENT_API_TOKEN_TRADE"
role = "trade"

[[api.tokens]]
env = "AGENT_API_TOKEN_READ"
role = "read"

[monitor]
margin_warning = 0.5               # maintenance / equity ratios that raise alerts
margin_critical = 0.8
margin_liquidation = 1.0
margin_interval_s = 15.0           # how often the whole fund's margin is recomputed
vols = {{ "*" = 0.8 }}               # annualised vol per underlying for VaR/margin ("*": default)
track_interval_s = 2.0             # receipts, confirmations, reorgs

[algos]
default = "market"                 # algorithm for orders that name none
slippage_bps = 30                  # default max slippage of an order

# The delta hedger's loop (agent.risk.hedger over the whole fund's Greeks). Without routes it
# does not run; with `execute = false` its proposals are journaled and streamed as alerts.
[hedger]
execute = false                    # true: send proposals as orders (same gate and policy)
interval_s = 30.0                  # seconds between passes
routes = {{}}                      # per underlying, e.g.:
# [hedger.routes.WETH]             # hedge WETH delta with WETH/<quote> swaps
# quote = "USDC"
# chain = "l1"                     # the wallet that trades it (default: the first)
# band = "0.5"                     # act only when |delta - target| exceeds this (units)
# target = "0"                     # the delta to hedge back to
# lot = "0.001"                    # sizes rounded down to this
# max_size = "10"                  # at most this per proposal
# max_slippage_bps = 30
# [fix]                            # a FIX 4.4 acceptor in the daemon (docs/fix.md)
# host = "127.0.0.1"
# port = 9878
# chain = "l1"                     # whose pipeline takes the orders (default: the first wallet)
# [[fix.sessions]]                 # one per client; its CompID owns the orders it sends
# sender_comp_id = "AGENT"
# target_comp_id = "DESK"
# username = "desk"
# password_env = "AGENT_FIX_DESK_PASSWORD"
# max_heartbeat_s = 300
"""


@dataclass(frozen=True, slots=True)
class ExampleValues:
    journal: str = "journal.sqlite"
    l1_chain_id: int = 31337
    l1_rpc: str = "http://127.0.0.1:8545"
    l1_manifest: str = "l1.manifest.json"
    l2_chain_id: int = 31338
    l2_rpc: str = "http://127.0.0.1:8546"
    l2_manifest: str = "l2.manifest.json"
    safe: str = "0x0000000000000000000000000000000000005afe"
    module: str = "0x000000000000000000000000000000000000face"
    max_notional: str = "1000000"
    policy: str | None = None
    api_port: int = 8080
    guardian: bool = False  # the env file holds the module's guardian key


def render(v: ExampleValues | None = None) -> str:
    v = v or ExampleValues()
    policy_line = (
        f'file = "{v.policy}"               # the signing policy checked before every signature'
        if v.policy
        else '# file = "policy.toml"           # the signing policy checked before every '
        "signature\n#   (`agent policy init`); none = only the on-chain module applies"
    )
    guardian_line = (
        'guardian_key_env = "AGENT_GUARDIAN_KEY"  # `agent halt --onchain` pauses the module'
        if v.guardian
        else '# guardian_key_env = "AGENT_GUARDIAN_KEY"  # lets `agent halt --onchain` pause the module'
    )
    fields = {k: getattr(v, k) for k in v.__slots__}  # type: ignore[attr-defined]
    return TEMPLATE.format(**fields, policy_line=policy_line, guardian_line=guardian_line)
