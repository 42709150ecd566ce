"""The relayer as a child process (``python -m agent.bridge.relayer``), for owners that want
it isolated from their own event loop, e.g. ``agent devnet up``.

Keys travel in the child's environment, never on its command line. Output goes to a log
file; ``start()`` returns once the child printed its ready line (or raises with the log's
tail), ``stop()`` sends SIGTERM and waits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.bridge.relayer import ENV_RELAYER_KEYS, ENV_SUBMITTER_KEY, READY_LINE, RelayerConfig
from agent.errors import ChainError


class RelayerProcess:
    def __init__(self, config: RelayerConfig, *, log_path: Path | None = None) -> None:
        self.config = config
        self.log_path = Path(
            log_path or Path(tempfile.mkdtemp(prefix="bridge-relayer-")) / "relayer.log"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        c = self.config
        a = [
            sys.executable, "-m", "agent.bridge.relayer",
            "--l1", c.l1_url, "--l2", c.l2_url, "--escrow", c.escrow, "--l2-bridge", c.l2_bridge,
            "--confirmations", str(c.confirmations), "--l2-confirmations", str(c.l2_confirmations),
            "--poll-interval", str(c.poll_interval),
            "--l1-from-block", str(c.l1_from_block), "--l2-from-block", str(c.l2_from_block),
        ]  # fmt: skip
        if c.journal_path:
            a += ["--journal", c.journal_path]
        return a

    def start(self, timeout: float = 30.0) -> RelayerProcess:
        if self.process is not None:
            return self
        env = {
            **os.environ,
            ENV_RELAYER_KEYS: ",".join(self.config.relayer_keys),
            ENV_SUBMITTER_KEY: self.config.submitter_key,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-500:].strip()
                self.stop()
                raise ChainError(f"bridge relayer did not start: {tail or 'no output'}")
            time.sleep(0.02)  # polling the child's log for its ready line, with a deadline
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout)

    def __enter__(self) -> RelayerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
