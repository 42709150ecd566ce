"""Packaging hook: the run-time resources ship inside the wheel, under ``agent/_data``.

The agent reads ABIs (abis/), example files (examples/), the npm packages' compiled Uniswap
and Safe contracts and our forge build (out/) at run time. In a checkout they sit at the
repository root; an installed package has no checkout, so ``build_py`` copies exactly those
files into ``agent/_data`` in the same layout, and ``agent.chain.toolchain.DATA_ROOT`` points
there when it exists. Everything else is in pyproject.toml.

Building needs the npm packages and the forge build: run scripts/setup first.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _npm_artifacts() -> dict[str, str]:
    """The one list of npm artifacts (agent.deploy.artifacts); that module imports only the
    standard library, so the build can read it without the agent's dependencies."""
    sys.path.insert(0, str(HERE))
    try:
        from agent.deploy.artifacts import NPM_ARTIFACTS
    finally:
        sys.path.pop(0)
    return dict(NPM_ARTIFACTS)


def _our_contracts() -> list[Path]:
    """forge artifacts of every contract source outside contracts/test (tests are not shipped)."""
    out = HERE / "out"
    found: list[Path] = []
    for src in sorted((HERE / "contracts").rglob("*.sol")):
        if "test" in src.relative_to(HERE / "contracts").parts:
            continue
        found.extend(sorted((out / src.name).glob("*.json")))
    return found


def _strip(path: Path) -> str:
    """A forge artifact cut to what the agent reads (abi, bytecode, deployedBytecode)."""
    d = json.loads(path.read_text())
    keep = {k: d[k] for k in ("abi", "bytecode", "deployedBytecode") if k in d}
    return json.dumps(keep, separators=(",", ":"))


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout in place (and precedes forge build)
        dest = Path(self.build_lib) / "agent" / "_data"
        if dest.exists():
            shutil.rmtree(dest)
        missing: list[str] = []

        def copy(src: Path, rel: str) -> None:
            if not src.is_file():
                missing.append(rel)
                return
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)

        for p in sorted((HERE / "abis").glob("*.json")):
            copy(p, f"abis/{p.name}")
        for p in sorted((HERE / "examples").glob("*.toml")):
            copy(p, f"examples/{p.name}")
        for rel in _npm_artifacts().values():
            copy(HERE / "node_modules" / rel, f"node_modules/{rel}")
        ours = _our_contracts()
        if not ours:
            missing.append("out/ (forge build)")
        for p in ours:
            target = dest / "out" / p.parent.name / p.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_strip(p))
        if missing:
            raise SystemExit(
                "agent build: run-time resources missing: "
                + ", ".join(missing[:5])
                + (" ..." if len(missing) > 5 else "")
                + ": run scripts/setup (npm ci, forge build) before building the package"
            )


setup(cmdclass={"build_py": BuildWithData})
