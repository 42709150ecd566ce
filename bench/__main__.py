"""Run benchmark suites and print one JSON object: {"metrics": [...]}.

Progress goes to stderr so stdout stays a single JSON document.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
import sys
import tempfile
import time

import bench.suites

# the names the issues use for a suite filed under a shorter one (issue 18 says "signers")
ALIASES = {"signers": "sign"}


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.suites.__path__))


def main(argv: list[str]) -> int:
    names = [ALIASES.get(n, n) for n in argv] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        names_ok = ", ".join(available() + [f"{a} (= {t})" for a, t in ALIASES.items()])
        print(
            f"error: unknown suite(s) {', '.join(unknown)}; available: {names_ok}", file=sys.stderr
        )
        return 2
    names = list(dict.fromkeys(names))  # "sign signers" runs it once
    # every suite's scratch (journals, devnet state, logs) lives under one directory that is
    # removed at the end: repeated runs used to leave gigabytes in /tmp
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as scratch:
        tempfile.tempdir = scratch
        try:
            return _run(names)
        finally:
            tempfile.tempdir = None


def _run(names: list[str]) -> int:
    metrics: list[dict] = []
    failed: list[str] = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        mod = importlib.import_module(f"bench.suites.{name}")
        try:
            res = mod.run()
            if inspect.isawaitable(res):
                res = asyncio.run(res)
        except Exception as e:  # one broken suite must not hide the others' figures
            print(f"  {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(name)
            continue
        for m in res:
            m.setdefault("suite", name)
        metrics.extend(res)
        print(f"  done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    out: dict = {"metrics": metrics}
    if failed:
        out["failed_suites"] = failed
    print(json.dumps(out, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
