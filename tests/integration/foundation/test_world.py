"""The deployed world: real artifacts, working pools, manifests, dump and load."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address

from agent.deploy.artifacts import load
from agent.deploy.devworld import DEPLOYER_KEY, DevWorld, dump_world, load_world
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.errors import ConfigError, UnknownAssetError

pytestmark = pytest.mark.integration

V2_INIT_CODE_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"


def test_npm_bytecode_matches_the_routers_init_code_hashes() -> None:
    assert keccak(load("UniswapV2Pair").bytecode).hex() == V2_INIT_CODE_HASH
    assert keccak(load("UniswapV3Pool").bytecode).hex().startswith("e34f199b")


def test_manifest_round_trips_and_names_resolve(world: DevWorld, tmp_path: Path) -> None:
    for m, path in zip((world.l1, world.l2), world.manifest_paths, strict=True):
        assert Manifest.load(path) == m
        assert {"WETH", "USDC", "WBTC", "DAI"} <= set(m.tokens)
        assert m.token("USDC").decimals == 6 and m.token("WBTC").decimals == 8
    with pytest.raises(UnknownAssetError, match="unknown token 'XYZ'"):
        world.l1.token("XYZ")
    with pytest.raises(ConfigError, match="does not exist"):
        Manifest.load(tmp_path / "none.json")


def test_l2_runs_safe_l2_and_l1_runs_safe(world: DevWorld) -> None:
    l1 = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    l2 = Transactor(world.devnets.l2.rpc_url, DEPLOYER_KEY)
    code_l1 = l1.rpc("eth_getCode", world.l1.address("Safe"), "latest")
    code_l2 = l2.rpc("eth_getCode", world.l2.address("Safe"), "latest")
    assert code_l1 != code_l2  # SafeL2 emits events the L1 singleton does not
    assert l1.call("Safe", world.l1.address("Safe"), "VERSION") == "1.4.1"


def test_v2_pairs_are_where_the_init_code_hash_says(world: DevWorld) -> None:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    m = world.l1
    a, b = sorted((m.token("WETH").address, m.token("USDC").address), key=lambda x: int(x, 16))
    salt = keccak(bytes.fromhex(a[2:]) + bytes.fromhex(b[2:]))
    factory = bytes.fromhex(m.address("UniswapV2Factory")[2:])
    predicted = keccak(b"\xff" + factory + salt + bytes.fromhex(V2_INIT_CODE_HASH))[12:]
    assert to_checksum_address(predicted) == to_checksum_address(m.pools["v2:WETH/USDC"])
    r0, r1, _ = tx.call("UniswapV2Pair", m.pools["v2:WETH/USDC"], "getReserves")
    assert r0 > 0 and r1 > 0


def test_v3_pools_price_eth_near_3000(world: DevWorld) -> None:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    m = world.l1
    for fee in (500, 3000):
        pool = m.pools[f"v3:WETH/USDC/{fee}"]
        sqrt_p = tx.call("UniswapV3Pool", pool, "slot0")[0]
        assert tx.call("UniswapV3Pool", pool, "liquidity") > 0
        raw = Decimal(sqrt_p) ** 2 / Decimal(2) ** 192
        weth_is_0 = int(m.token("WETH").address, 16) < int(m.token("USDC").address, 16)
        usdc_per_weth = raw * Decimal(10**12) if weth_is_0 else Decimal(10**12) / raw
        assert Decimal(2990) < usdc_per_weth < Decimal(3010)


def test_dump_and_load_reproduce_the_world(world: DevWorld, tmp_path: Path) -> None:
    dump_world(world, tmp_path / "dump")
    with load_world(tmp_path / "dump", tmp_path / "loaded") as again:
        assert again.l1 == world.l1
        assert again.devnets.l1.block_number() == world.devnets.l1.block_number()
        tx = Transactor(again.devnets.l1.rpc_url, DEPLOYER_KEY)
        assert tx.call("DevToken", again.l1.address("USDC"), "symbol") == "USDC"


def test_a_transactor_whose_key_another_sender_used_resends_once(
    world: DevWorld, l1_isolated: None
) -> None:
    """Two transactors on one key (test modules sharing the dev deployer): the one whose
    counts are stale gets 'nonce too low', re-reads them and sends with the next nonce."""
    url = world.devnets.l1.rpc_url
    a, b = Transactor(url, DEPLOYER_KEY), Transactor(url, DEPLOYER_KEY)
    to = "0x" + "5e" * 20
    a.send(to, b"", value=1)
    before = b._nonce  # stale: a took it
    assert int(b.send(to, b"", value=2)["status"], 16) == 1
    assert b._nonce == before + 2
