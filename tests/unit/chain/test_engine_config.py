from __future__ import annotations

import pytest

from agent.chain.txengine import EngineConfig
from agent.errors import ValidationError


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stuck_seconds", 0),
        ("stuck_seconds", -1.0),
        ("stuck_blocks", 0),
        ("stuck_min_seconds", -0.5),
        ("presence_every", -1),
    ],
)
def test_bad_tracking_settings_name_their_field(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as e:
        EngineConfig(chain_id=1, **{field: value})
    assert e.value.field == field


def test_defaults_are_valid() -> None:
    cfg = EngineConfig(chain_id=1)
    assert cfg.stuck_seconds > 0 and cfg.stuck_blocks >= 1
