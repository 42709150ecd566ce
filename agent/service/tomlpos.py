"""The line of a TOML file a dotted field lives on, for error messages (tomllib keeps none).

A small scan, not a parser: table headers (``[a.b]``, ``[[a]]`` with their index), ``key =``
lines (dotted keys too) and inline tables on one line. The line returned is the deepest part
of the field's path found; 0 when nothing matches (the field is missing from the file).
"""

from __future__ import annotations

import re
from typing import Any

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _parts(dotted: str) -> list[str]:
    return [
        p.strip().strip("\"'")
        for p in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", dotted)
    ]


def line_of(text: str, loc: tuple[Any, ...]) -> int:
    want = [str(p) for p in loc]
    best, best_len = 0, 0
    table: list[str] = []
    arrays: dict[tuple[str, ...], int] = {}

    def consider(path: list[str], lineno: int) -> None:
        nonlocal best, best_len
        n = 0
        for a, b in zip(path, want, strict=False):
            if a != b:
                break
            n += 1
        if n == len(path) and n > best_len:  # the whole line path is a prefix of the field
            best, best_len = lineno, n

    for i, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        h = _HEADER.match(line)
        if h:
            table = _parts(h.group(2))
            if h.group(1) == "[[":
                key = tuple(table)
                arrays[key] = arrays.get(key, -1) + 1
                table = [*table, str(arrays[key])]
            consider(table, i)
            continue
        k = _KEY.match(line)
        if k:
            path = table + _parts(k.group(1))
            consider(path, i)
            inline = re.search(r"=\s*\{(.*)\}", line)
            if inline:  # x = { a = 1, b = 2 }
                for sub in re.finditer(r"([A-Za-z0-9_\-\"']+)\s*=", inline.group(1)):
                    consider([*path, sub.group(1).strip("\"'")], i)
    return best
