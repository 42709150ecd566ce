"""Text that needs escaping on its way into a store (COPY text format on PostgreSQL)
comes back byte for byte and keeps the hash chain intact, on both stores."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.journal import ANY, EventRegistry

reg = EventRegistry()


@reg.register(name="Note\\Type")
@dataclass(frozen=True, slots=True)
class Note:
    text: str


def test_backslashes_quotes_and_unicode_round_trip(backend) -> None:
    texts = ["a\\b", "tab\there", "line\nbreak\r", '"quoted" \\"', "\\x00ff", "ünï €", "\x00\x1f"]
    with backend.open(registry=reg) as j:
        for t in texts:
            j.append("s\\1", ANY, [Note(t)])
        assert [r.event.text for r in j.read_stream("s\\1")] == texts
        assert {r.stream for r in j.read_all()} == {"s\\1"}
        assert j.verify().ok


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(), min_size=1, max_size=5))
def test_any_text_round_trips(backend, texts: list[str]) -> None:
    with backend.open("h", registry=reg) as j:
        base = j.head()[0]
        j.append("s", ANY, [Note(t) for t in texts])
        assert [r.event.text for r in j.read_all(base + 1)] == texts
        assert j.verify().ok
