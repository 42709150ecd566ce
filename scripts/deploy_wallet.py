#!/usr/bin/env python3
"""Deploy a Safe (owners, threshold) with a PolicyModule configured from a policy file and
enabled, against any RPC URL.

Same as `agent wallet deploy`; run with --help for the options, --dry-run to print the
decoded transactions without sending anything. Keys come from an env var (--key-env) or an
encrypted keystore (--keystore + --password-env), never from the command line.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.cli.main import app

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "wallet", "deploy", *sys.argv[1:]]
    app()
