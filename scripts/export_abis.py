#!/usr/bin/env python3
"""Export the ABI of every contract the agent calls to abis/<Name>.json, or check them.

Sources: our forge build (every contract under contracts/ except tests) and the real npm
artifacts (Uniswap, Safe, WETH9). ``--check`` exits non-zero when a committed ABI differs
from the build (or is missing / stale), so a contract change cannot silently drift from the
ABI the agent decodes with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.deploy.artifacts import NPM_ARTIFACTS, load  # noqa: E402

ABIS = ROOT / "abis"
NPM_EXPORTED = sorted(n for n in NPM_ARTIFACTS if n not in {"ERC20", "SafeProxy"})


def ours() -> dict[str, list]:
    found: dict[str, list] = {}
    for f in sorted((ROOT / "out").glob("*/*.json")):
        try:
            d = json.loads(f.read_text())
        except json.JSONDecodeError:
            continue
        target = (d.get("metadata") or {}).get("settings", {}).get("compilationTarget", {})
        for src, name in target.items():
            ours_ = src.startswith("contracts/") and not src.startswith("contracts/test/")
            if ours_ and name == f.stem and d.get("abi") is not None:
                found[name] = d["abi"]
    return found


def build() -> dict[str, list]:
    out = {n: load(n).abi_list for n in NPM_EXPORTED}
    out.update(ours())
    return out


def render(abi: list) -> str:
    return json.dumps(abi, indent=1, sort_keys=True) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    a = ap.parse_args()
    want = {n: render(abi) for n, abi in build().items()}
    if a.write:
        ABIS.mkdir(exist_ok=True)
        for stale in set(p.stem for p in ABIS.glob("*.json")) - set(want):
            (ABIS / f"{stale}.json").unlink()
        for n, text in want.items():
            (ABIS / f"{n}.json").write_text(text)
        print(f"wrote {len(want)} ABIs to abis/")
        return 0
    bad = []
    for n, text in want.items():
        p = ABIS / f"{n}.json"
        if not p.exists():
            bad.append(f"{n}: missing from abis/")
        elif p.read_text() != text:
            bad.append(f"{n}: differs from the build")
    for stale in set(p.stem for p in ABIS.glob("*.json")) - set(want):
        bad.append(f"{stale}: in abis/ but no longer built")
    for b in bad:
        print(f"abi check: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
