"""Relayers as child processes (``python -m agent.bridge.service``), one key each.

``RelayerSet`` starts n relayers for an L1/L2 pair, each with its own key, its own journal and
log, and a shared peers directory through which their exchanges find each other
(agent.bridge.exchange): together they gather k-of-n signatures, and the set keeps working
while at least k of them run. ``RelayerProcess`` is one of them.

Keys travel in the child's environment, never on its command line. ``start()`` returns once
the child printed its ready line (or raises with the log's tail); ``stop()`` sends SIGTERM
and waits; ``kill()`` is SIGKILL (a crash, for tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.bridge.relayer import RelayerConfig
from agent.bridge.service import ENV_RELAYER_KEYS, ENV_SUBMITTER_KEY, READY_LINE
from agent.errors import ChainError


class RelayerProcess:
    def __init__(self, config: RelayerConfig, *, log_path: Path | None = None) -> None:
        self.config = config
        self.log_path = Path(
            log_path or Path(tempfile.mkdtemp(prefix="bridge-relayer-")) / "relayer.log"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.url = ""  # its exchange, when it listens
        self._ready_seen = 0  # ready lines in the log from earlier runs (the log is appended)

    def args(self) -> list[str]:
        c = self.config
        a = [
            sys.executable, "-m", "agent.bridge.service",
            "--l1", c.l1_url, "--l2", c.l2_url, "--escrow", c.escrow, "--l2-bridge", c.l2_bridge,
            "--confirmations", str(c.confirmations), "--l2-confirmations", str(c.l2_confirmations),
            "--poll-interval", str(c.poll_interval),
            "--l1-from-block", str(c.l1_from_block), "--l2-from-block", str(c.l2_from_block),
            "--takeover-after", str(c.takeover_after),
        ]  # fmt: skip
        if c.journal_path:
            a += ["--journal", c.journal_path]
        if c.listen is not None:
            a += ["--listen", c.listen]
        if c.peers_dir:
            a += ["--peers-dir", c.peers_dir]
        for p in c.peers:
            a += ["--peer", p]
        return a

    def start(self, timeout: float = 30.0) -> RelayerProcess:
        return self.launch().wait_ready(timeout)

    def launch(self) -> RelayerProcess:
        """Start the child without waiting for it (``wait_ready`` waits)."""
        if self.process is not None:
            return self
        env = {
            **os.environ,
            ENV_RELAYER_KEYS: ",".join(self.config.relayer_keys),
            ENV_SUBMITTER_KEY: self.config.submitter_key,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> RelayerProcess:
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while (line := self._ready_line()) is None:
            if (
                self.process is None
                or self.process.poll() is not None
                or time.monotonic() > deadline
            ):
                tail = self.log_path.read_text(errors="replace")[-500:].strip()
                self.stop()
                raise ChainError(f"bridge relayer did not start: {tail or 'no output'}")
            time.sleep(0.02)  # polling the child's log for its ready line, with a deadline
        _, self.address, url = line.rsplit(" ", 2)
        self.url = "" if url == "-" else url
        return self

    def _ready_line(self) -> str | None:
        lines = self.log_path.read_text(errors="replace").splitlines()
        # the last ready line: a restarted relayer appends to the same log
        ready = [ln for ln in lines if ln.startswith(READY_LINE)]
        started = self.process is not None and len(ready) > self._ready_seen
        return ready[-1] if started else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def status(self) -> dict[str, Any]:
        """The relayer's ``GET /status`` (what it waits for); needs ``listen``."""
        with urllib.request.urlopen(f"{self.url}/status", timeout=5) as r:
            return json.loads(r.read())

    def stop(self, timeout: float = 10.0) -> None:
        p, self.process = self.process, None
        self._count_ready()
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the relayer dies without cleaning up, like a crash."""
        p, self.process = self.process, None
        self._count_ready()
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)

    def _count_ready(self) -> None:
        if self.log_path.exists():
            text = self.log_path.read_text(errors="replace")
            self._ready_seen = sum(ln.startswith(READY_LINE) for ln in text.splitlines())

    def __enter__(self) -> RelayerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RelayerSet:
    """n relayer processes, one key each, sharing a peers directory under ``state_dir``."""

    def __init__(self, base: RelayerConfig, keys: Sequence[str], state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        peers = self.state_dir / "peers"
        self.processes = [
            RelayerProcess(
                replace(
                    base,
                    relayer_keys=(k,),
                    submitter_key=k,
                    listen="127.0.0.1:0",
                    peers_dir=str(peers),
                    journal_path=str(self.state_dir / f"relayer-{i}.sqlite"),
                ),
                log_path=self.state_dir / f"relayer-{i}.log",
            )
            for i, k in enumerate(keys)
        ]

    def start(self, timeout: float = 30.0) -> RelayerSet:
        try:  # all at once: their start-ups (imports, connects) overlap
            for p in self.processes:
                p.launch()
            for p in self.processes:
                p.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> list[bool]:
        return [p.alive() for p in self.processes]

    def stop(self) -> None:
        for p in self.processes:
            p.stop()

    def __enter__(self) -> RelayerSet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
