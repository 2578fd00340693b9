"""The alarm state machine, pure and table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.alarms.lifecycle import (
    AlarmState,
    Channel,
    Definition,
    LifecycleError,
    Occurrence,
    acknowledged,
    returned,
    set_flag,
    summary_state,
    unshelve,
)

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def occurrence(active: bool, acked: bool) -> Occurrence:
    return Occurrence(
        agent_id="a", occurrence="o", rule="r", tag=None, severity=None, category=None,
        site=None, area=None, line=None, value=1, raised_at=NOW, active=active, acknowledged=acked,
    )  # fmt: skip


LATER = NOW + timedelta(minutes=5)
STATES = [
    # active, acked, definition flags, expected
    (True, False, {}, AlarmState.UNACK_ACTIVE),
    (True, True, {}, AlarmState.ACK_ACTIVE),
    (False, False, {}, AlarmState.RETURNED_UNACK),
    (False, True, {}, AlarmState.NORMAL),
    (True, False, {"shelved_until": LATER}, AlarmState.SHELVED),
    (True, False, {"shelved_until": NOW}, AlarmState.UNACK_ACTIVE),  # the shelve has ended
    (True, True, {"suppressed": True, "shelved_until": LATER}, AlarmState.SUPPRESSED),
    (False, False, {"suppressed": True, "out_of_service": True}, AlarmState.OUT_OF_SERVICE),
    (False, True, {"out_of_service": True}, AlarmState.NORMAL),  # closed stays closed
]


@pytest.mark.parametrize(("active", "acked", "flags", "state"), STATES)
def test_summary_state(
    active: bool, acked: bool, flags: dict[str, object], state: AlarmState
) -> None:
    definition = Definition(agent_id="a", rule="r", **flags)  # type: ignore[arg-type]
    assert summary_state(occurrence(active, acked), definition, NOW) is state


def test_second_ack_loses_and_says_who_was_first() -> None:
    o = occurrence(True, False)
    first = acknowledged(
        o, by="bob", actor="panel:a:bob", channel=Channel.AGENT_PANEL, note=None, at=NOW
    )
    second = acknowledged(
        o, by="maria", actor="user:maria", channel=Channel.API, note="x", at=LATER
    )
    assert (first.action, second.action) == ("acknowledged", "ack_ignored")
    assert o.acked_by == "bob" and o.acked_at == NOW
    assert second.reason == f"already acknowledged by bob via agent-panel at {NOW.isoformat()}"


def test_repeated_return_and_flag_changes_are_refused() -> None:
    o = occurrence(True, False)
    assert returned(o, 0, NOW, "agent:a", NOW) is not None
    assert returned(o, 0, NOW, "agent:a", NOW) is None
    d = Definition(agent_id="a", rule="r")
    with pytest.raises(LifecycleError, match="not shelved"):
        unshelve(d, o, reason=None, actor="x", channel=Channel.API, at=NOW)
    set_flag(d, o, flag="suppressed", on=True, reason="r", actor="x", channel=Channel.API, at=NOW)
    with pytest.raises(LifecycleError, match="already suppressed"):
        set_flag(
            d, o, flag="suppressed", on=True, reason="r", actor="x", channel=Channel.API, at=NOW
        )
