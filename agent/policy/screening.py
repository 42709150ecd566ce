"""Counterparty lists: one address per line, or CSV with an ``address`` column (the way
sanctions lists such as OFAC's SDN crypto addresses are usually republished)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from agent.policy.errors import PolicyFileError

_ADDR = re.compile(r"^0x[0-9a-fA-F]{40}$")


def load_address_list(path: str | Path, field: str) -> frozenset[str]:
    """Lower-case addresses from ``path``; a bad row names its line."""
    p = Path(path)
    if not p.exists():
        raise PolicyFileError(
            str(p),
            None,
            field,
            "file does not exist",
            "check the path (relative to the policy file)",
        )
    text = p.read_text()
    lines = text.splitlines()
    out: set[str] = set()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    if "," in first or first.strip().lower() == "address":
        reader = csv.DictReader(io.StringIO(text))
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        if "address" not in cols:
            raise PolicyFileError(
                str(p), 1, field, "CSV has no 'address' column", "name the column address"
            )
        for n, row in enumerate(reader, 2):
            a = (row.get(cols["address"]) or "").strip()
            if not a:
                continue
            if not _ADDR.match(a):
                raise PolicyFileError(
                    str(p), n, field, f"{a!r} is not an address", "fix or delete the row"
                )
            out.add(a.lower())
        return frozenset(out)
    for n, ln in enumerate(lines, 1):
        a = ln.split("#", 1)[0].strip()
        if not a:
            continue
        if not _ADDR.match(a):
            raise PolicyFileError(
                str(p), n, field, f"{a!r} is not an address", "one 0x address per line"
            )
        out.add(a.lower())
    return frozenset(out)
