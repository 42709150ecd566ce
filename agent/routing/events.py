"""The router's journal event. Registered under its class name (part of the journal format:
never rename; add a new event). Stream: ``order-<parent_id>``, with the parent's other events."""

from __future__ import annotations

from dataclasses import dataclass

from agent.journal.codec import event_type
from agent.routing.plan import RoutePlan


@event_type
@dataclass(frozen=True, slots=True)
class RoutePlanned:
    """A parent order's plan as the router made it, before anything is signed or sent.
    ``PlannedChild.venue_ref`` must be JSON data (a dict of str to str/int) to round-trip."""

    parent_id: str
    plan: RoutePlan
