"""Local chains: anvil processes on free loopback ports.

An L1 and an L2 run as two anvil processes with distinct chain ids that no public chain uses.
Processes are tied to their parent three ways, so none outlives a test run or a Ctrl-C of
the demo: PR_SET_PDEATHSIG (the kernel kills anvil if our process dies, even by SIGKILL),
``atexit``, and SIGINT/SIGTERM handlers that stop every devnet before re-raising.

Ports come from anvil itself (``--port 0``); it logs the bound address to a file we poll, so
there is no pick-then-bind race and no pipe that could fill up and stall the node.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.chain.toolchain import foundry_bin
from agent.errors import DevnetError, RpcError, RpcUnavailableError

# Chain ids chosen to collide with no public chain (chainlist has nothing at 31337001/2).
L1_CHAIN_ID = 31_337_001
L2_CHAIN_ID = 31_337_002

# anvil's default mnemonic: dev accounts 0..9, each funded with 10,000 ETH.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)

_PR_SET_PDEATHSIG = 1
_LISTEN_RE = re.compile(r"Listening on (\S+):(\d+)")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # Not Linux: atexit and the signal handlers still cover normal exits.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
    """Blocking JSON-RPC call for tooling (devnet control, deployment); the hot path uses
    agent.chain.rpc's async client instead."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = json.loads(r.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        raise RpcUnavailableError(f"{url} did not answer {method}: {e}") from e
    if "error" in payload:
        err = payload["error"]
        raise RpcError(
            f"{method}: {err.get('message')}", rpc_code=err.get("code"), data=err.get("data")
        )
    return payload["result"]


@dataclass(frozen=True, slots=True)
class DevnetSpec:
    name: str
    chain_id: int
    fork_url: str | None = None
    fork_block: int | None = None
    load_state: Path | None = None
    block_time: float | None = None
    no_mining: bool = False
    extra_args: tuple[str, ...] = ()


@dataclass
class Devnet:
    """One running anvil. Use as a context manager or call ``stop()``."""

    spec: DevnetSpec
    rpc_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _snapshots: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def chain_id(self) -> int:
        return self.spec.chain_id

    @property
    def pid(self) -> int:
        return self.process.pid

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.rpc_url, method, list(params))

    def alive(self) -> bool:
        return self.process.poll() is None

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    # --- snapshots -------------------------------------------------------------------------
    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> str:
        """Revert to ``snapshot_id`` and return a NEW snapshot of the same state: evm_revert
        consumes the snapshot it reverts to (and every later one)."""
        if not self.rpc("evm_revert", snapshot_id):
            raise DevnetError(f"{self.name}: snapshot {snapshot_id} is unknown (already used?)")
        return self.snapshot()

    def dump_state(self, path: Path) -> None:
        """Write the whole chain state (anvil_dumpState) so a later start can ``load_state``."""
        raw = bytes.fromhex(str(self.rpc("anvil_dumpState")).removeprefix("0x"))
        if raw[:2] == b"\x1f\x8b":  # anvil answers hex(gzip(json)); --load-state wants json
            raw = gzip.decompress(raw)
        Path(path).write_bytes(raw)

    def stop(self, timeout: float = 5.0) -> None:
        _registry.discard(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        # a log dir we made ourselves goes with the node: anvil logs every transaction, and a
        # benchmark run left ~600 MB behind per node (pass log_dir= to keep the logs)
        own = self.log_path.parent
        if own in _temp_log_dirs:
            _temp_log_dirs.discard(own)
            shutil.rmtree(own, ignore_errors=True)

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __hash__(self) -> int:
        return id(self)


def _spawn(spec: DevnetSpec, log_dir: Path | None) -> tuple[subprocess.Popen[bytes], Path]:
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="agent-devnet-"))
        _temp_log_dirs.add(log_dir)
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.name}.log"
    args = [
        foundry_bin("anvil"),
        "--host", "127.0.0.1",
        "--port", "0",
        "--chain-id", str(spec.chain_id),
        "--mnemonic", DEV_MNEMONIC,
        "--accounts", "10",
        "--hardfork", "cancun",
    ]  # fmt: skip
    if spec.fork_url:
        args += ["--fork-url", spec.fork_url]
        if spec.fork_block is not None:
            args += ["--fork-block-number", str(spec.fork_block)]
    if spec.load_state:
        args += ["--load-state", str(spec.load_state)]
    if spec.block_time:
        args += ["--block-time", str(spec.block_time)]
    if spec.no_mining:
        args += ["--no-mining"]
    args += list(spec.extra_args)
    _install_signal_handlers()
    with open(log_path, "wb") as log:
        # Spawned from the caller's thread on purpose: PR_SET_PDEATHSIG fires when the forking
        # *thread* exits, so a helper thread would take anvil down with it.
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    return proc, log_path


def _wait_ready(
    spec: DevnetSpec, proc: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> Devnet:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevnetError(
                f"anvil for {spec.name} exited with {proc.returncode}: "
                f"{log_path.read_text(errors='replace')[-500:].strip()}"
            )
        m = _LISTEN_RE.search(log_path.read_text(errors="replace"))
        if m:
            url = f"http://{m.group(1)}:{m.group(2)}"
            try:
                got = int(rpc_call(url, "eth_chainId", timeout=2.0), 16)
            except RpcUnavailableError:
                got = None
            if got is not None:
                if got != spec.chain_id:
                    proc.kill()
                    raise DevnetError(f"{spec.name}: chain id {got}, expected {spec.chain_id}")
                dn = Devnet(spec=spec, rpc_url=url, process=proc, log_path=log_path)
                _registry.add(dn)
                return dn
        time.sleep(0.02)  # polling a log file for readiness, not waiting for an effect
    proc.kill()
    raise DevnetError(f"anvil for {spec.name} not ready after {timeout}s (log: {log_path})")


def start(spec: DevnetSpec, *, ready_timeout: float = 60.0, log_dir: Path | None = None) -> Devnet:
    """Start anvil for ``spec`` and return once it answers ``eth_chainId`` correctly."""
    proc, log_path = _spawn(spec, log_dir)
    return _wait_ready(spec, proc, log_path, ready_timeout)


def fork(of: Devnet | str, *, name: str = "fork", block: int | None = None) -> Devnet:
    """A new anvil forking another (local) chain, optionally pinned at ``block``."""
    url = of.rpc_url if isinstance(of, Devnet) else of
    chain_id = int(rpc_call(url, "eth_chainId"), 16)
    return start(DevnetSpec(name=name, chain_id=chain_id, fork_url=url, fork_block=block))


@dataclass
class DevnetPair:
    l1: Devnet
    l2: Devnet

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.l1, self.l2))

    def stop(self) -> None:
        for d in (self.l2, self.l1):
            d.stop()

    def __enter__(self) -> DevnetPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_pair(
    *,
    l1_state: Path | None = None,
    l2_state: Path | None = None,
    log_dir: Path | None = None,
    ready_timeout: float = 60.0,
) -> DevnetPair:
    """Start L1 and L2 side by side: both processes spawn first, then both are awaited."""
    specs = (
        DevnetSpec("l1", L1_CHAIN_ID, load_state=l1_state),
        DevnetSpec("l2", L2_CHAIN_ID, load_state=l2_state),
    )
    spawned = [(s, *_spawn(s, log_dir)) for s in specs]
    ready: list[Devnet] = []
    try:
        for spec, proc, log_path in spawned:
            ready.append(_wait_ready(spec, proc, log_path, ready_timeout))
    except BaseException:
        for d in ready:
            d.stop()
        for _, proc, _ in spawned:
            if proc.poll() is None:
                proc.kill()
        raise
    return DevnetPair(l1=ready[0], l2=ready[1])


# --- process hygiene --------------------------------------------------------------------------
_registry: set[Devnet] = set()
_temp_log_dirs: set[Path] = set()  # log dirs _spawn created (removed when their node stops)
_handlers_installed = False


def stop_all() -> None:
    for d in list(_registry):
        d.stop()


def _install_signal_handlers() -> None:
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(stop_all)
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, _prev: Any = previous) -> None:
            stop_all()
            if callable(_prev):
                _prev(signum, frame)
            elif _prev == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, handler)
