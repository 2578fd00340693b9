"""Edge alarm states (ISA-18.2): cases, then properties over random operation sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.alarms import AlarmBoard, AlarmError, AlarmState, dump_board, load_board
from edge_agent.detect import Transition
from protocols.wire import Category, EventType, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _t(rule: str, active: bool, second: float = 0, value: float = 90.0) -> Transition:
    return Transition(
        rule=rule,
        tag="press.temperature",
        active=active,
        value=value,
        limit=80.0,
        time=T0 + timedelta(seconds=second),
        severity=Severity.HIGH,
        category=Category.EQUIPMENT,
        message=f"press.temperature {value} above hi 80",
    )


def test_raise_ack_clear_goes_back_to_normal_and_leaves_the_board() -> None:
    board = AlarmBoard()
    (raised,) = board.on_transition(_t("p.hi", True))
    assert raised.type is EventType.ALARM_RAISED
    occurrence = raised.context["occurrence"]
    assert isinstance(occurrence, str)
    assert raised.context["state"] == "unack-active"
    assert raised.context["message"] == "press.temperature 90.0 above hi 80"

    (acked,) = board.acknowledge(occurrence, "ana", "checked", "agent-panel", T0)
    assert acked.type is EventType.ALARM_ACKED
    assert {"by": "ana", "note": "checked", "state": "ack-active"}.items() <= acked.context.items()

    (cleared,) = board.on_transition(_t("p.hi", False, 5, 70.0))
    assert cleared.type is EventType.ALARM_CLEARED
    assert cleared.context["state"] == "normal"
    assert board.open() == []


def test_clear_before_ack_waits_returned_unacknowledged() -> None:
    board = AlarmBoard()
    (raised,) = board.on_transition(_t("p.hi", True))
    board.on_transition(_t("p.hi", False, 5))
    (only,) = board.open()
    assert only.state is AlarmState.RETURNED_UNACK
    board.acknowledge(str(raised.context["occurrence"]), "ana", None, "hmi", T0)
    assert board.open() == []


def test_each_activation_is_a_new_occurrence() -> None:
    board = AlarmBoard()
    first = board.on_transition(_t("p.hi", True))[0].context["occurrence"]
    board.on_transition(_t("p.hi", False, 1))
    second = board.on_transition(_t("p.hi", True, 2))[0].context["occurrence"]
    assert first != second
    assert [o.state for o in board.open()] == [
        AlarmState.UNACK_ACTIVE,
        AlarmState.RETURNED_UNACK,
    ]


def test_second_acknowledgement_is_recorded_not_applied() -> None:
    board = AlarmBoard()
    occurrence = str(board.on_transition(_t("p.hi", True))[0].context["occurrence"])
    board.acknowledge(occurrence, "ana", None, "agent-panel", T0)
    (again,) = board.acknowledge(occurrence, "ben", "me too", "hmi", T0 + timedelta(seconds=1))
    assert again.context["ignored"] == "already acknowledged by ana"
    assert board.open()[0].acked_by == "ana"


def test_latching_alarm_stays_active_until_acknowledged() -> None:
    board = AlarmBoard(latching=frozenset({"p.hi"}))
    occurrence = str(board.on_transition(_t("p.hi", True))[0].context["occurrence"])
    board.on_transition(_t("p.hi", False, 1))
    assert board.open()[0].state is AlarmState.UNACK_ACTIVE
    board.acknowledge(occurrence, "ana", None, "hmi", T0)
    assert board.open() == []


def test_shelving_is_bounded_and_expires() -> None:
    board = AlarmBoard(max_shelve=timedelta(hours=1))
    with pytest.raises(AlarmError, match="at most"):
        board.shelve("p.hi", T0 + timedelta(hours=2), reason="maintenance", by="ana", at=T0)
    board.shelve("p.hi", T0 + timedelta(minutes=30), reason="maintenance", by="ana", at=T0)
    (raised,) = board.on_transition(_t("p.hi", True, 60))
    assert raised.context["shelved"] is True
    assert board.tick(T0 + timedelta(minutes=29)) == []
    (expired,) = board.tick(T0 + timedelta(minutes=30))
    assert (expired.type, expired.rule, expired.source_time) == (
        EventType.ALARM_UNSHELVED,
        "p.hi",
        T0 + timedelta(minutes=30),
    )
    assert expired.context["expired"] is True and expired.context["channel"] == "agent"
    assert not board.definition("p.hi").shelved(T0 + timedelta(minutes=31))
    assert board.tick(T0 + timedelta(minutes=31)) == []


def test_panel_flag_changes_are_events_for_the_hub_naming_the_newest_occurrence() -> None:
    board = AlarmBoard()
    occurrence = board.on_transition(_t("p.hi", True))[0].context["occurrence"]
    until = T0 + timedelta(minutes=30)
    (shelved,) = board.shelve("p.hi", until, reason="sensor swap", by="ana", at=T0)
    assert (shelved.type, shelved.rule, shelved.tag) == (
        EventType.ALARM_SHELVED,
        "p.hi",
        "press.temperature",
    )
    assert shelved.context == {
        "seen": None,
        "until": until.isoformat(),
        "reason": "sensor swap",
        "by": "ana",
        "channel": "agent-panel",
        "occurrence": occurrence,
    }
    (unshelved,) = board.unshelve("p.hi", reason="done", by="ben", at=T0 + timedelta(minutes=5))
    assert unshelved.type is EventType.ALARM_UNSHELVED
    assert {"until": until.isoformat(), "by": "ben", "expired": False}.items() <= (
        unshelved.context.items()
    )
    assert board.unshelve("p.hi", reason="again", by="ben", at=T0) == []  # nothing to end

    (flag,) = board.set_flag("p.lo", "out_of_service", True, reason="pump out", by="ana", at=T0)
    assert (flag.type, flag.tag, flag.context["flag"], flag.context["on"]) == (
        EventType.ALARM_FLAG,
        None,  # no occurrence of p.lo on the board: the hub finds its newest
        "out_of_service",
        True,
    )
    assert "occurrence" not in flag.context
    assert board.set_flag("p.lo", "out_of_service", True, reason=None, by="ana", at=T0) == []
    assert board.definition("p.lo").out_of_service


def test_hub_commands_are_followed_and_remembered_as_seen() -> None:
    board = AlarmBoard(max_shelve=timedelta(hours=1))
    issued = T0 - timedelta(seconds=2)
    until = T0 + timedelta(minutes=20)
    done = board.follow_hub_shelve(
        "p.hi", until, before=None, reason="x", by="user:maria", issued_at=issued, at=T0
    )
    assert done == f"shelved until {until.isoformat()}"
    definition = board.definition("p.hi")
    assert (definition.shelved_until, definition.shelved_by, definition.shelve_seen) == (
        until,
        "user:maria",
        issued,
    )
    # A later panel change tells the hub which hub change it was made on.
    (unshelved,) = board.unshelve("p.hi", reason="done", by="ana", at=T0)
    assert unshelved.context["seen"] == issued.isoformat()

    # The panel shelved (the hub has not seen it) and the hub unshelved from an older state:
    # the hub's change came first there, so it wins here too, and the result says what it did.
    board.shelve("p.hi", until, reason="mine", by="ana", at=T0)
    done = board.follow_hub_shelve(
        "p.hi", None, before=None, reason="", by="user:otto", issued_at=T0, at=T0
    )
    assert done.startswith("unshelved; replaced this agent's own change")
    assert board.definition("p.hi").shelved_until is None
    # Longer than this panel may shelve: the hub's own limit applied there, and it decides.
    board.follow_hub_shelve(
        "p.hi", T0 + timedelta(hours=2), before=None, reason="", by="u", issued_at=T0, at=T0
    )
    assert board.definition("p.hi").shelved_until == T0 + timedelta(hours=2)
    with pytest.raises(AlarmError, match="at most"):
        board.shelve("p.hi", T0 + timedelta(hours=2), reason="mine", by="ana", at=T0)

    assert board.follow_hub_flag("p.hi", "suppressed", True, issued_at=T0) == "suppressed"
    assert board.follow_hub_flag("p.hi", "suppressed", True, issued_at=T0) == (
        "already suppressed here"
    )
    assert board.definition("p.hi").suppressed_seen == T0
    (raised,) = board.on_transition(_t("p.hi", True))
    assert raised.context["suppressed"] is True


def test_boards_saved_before_the_flag_sync_still_load() -> None:
    old = (
        '[[],[{"rule":"p.hi","shelved_until":"2026-01-01T01:00:00Z","shelve_reason":"x",'
        '"suppressed":false,"out_of_service":true}]]'
    )
    board = AlarmBoard()
    load_board(board, old)
    definition = board.definition("p.hi")
    assert definition.out_of_service and definition.shelve_seen is None
    assert definition.shelved(T0)


def test_unknown_occurrence_is_an_error() -> None:
    with pytest.raises(AlarmError, match="no open alarm"):
        AlarmBoard().acknowledge("nope", "ana", None, "hmi", T0)


def test_saved_board_restores_exactly_and_does_not_raise_twice() -> None:
    board = AlarmBoard()
    board.on_transition(_t("p.hi", True))
    board.shelve("p.lo", T0 + timedelta(minutes=5), reason="calibration", by="ana", at=T0)
    restored = AlarmBoard()
    load_board(restored, dump_board(board))
    assert restored.occurrences == board.occurrences
    assert restored.definitions == board.definitions
    assert restored.on_transition(_t("p.hi", True, 9)) == []  # restored as still active


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("raise"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("clear"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("ack"), st.integers(0, 5)),
        st.tuples(st.just("restart"), st.just("")),
    ),
    max_size=40,
)
LEGAL = {
    (AlarmState.UNACK_ACTIVE, AlarmState.ACK_ACTIVE),
    (AlarmState.UNACK_ACTIVE, AlarmState.RETURNED_UNACK),
    (AlarmState.ACK_ACTIVE, AlarmState.NORMAL),
    (AlarmState.RETURNED_UNACK, AlarmState.NORMAL),
}


@settings(max_examples=300, deadline=None)
@given(ops=OPS, latching=st.booleans())
def test_no_illegal_transition_and_no_occurrence_lost(ops: list, latching: bool) -> None:
    board = AlarmBoard(latching=frozenset({"a"}) if latching else frozenset())
    seen: dict[str, AlarmState] = {}
    for step, (op, arg) in enumerate(ops):
        before = {o.id: o.state for o in board.open()}
        held_by_latch = {o.id for o in board.open() if o.latched and not o.active}
        if op == "raise":
            board.on_transition(_t(arg, True, step))
        elif op == "clear":
            board.on_transition(_t(arg, False, step))
        elif op == "ack" and before:
            target = sorted(before)[arg % len(before)]
            board.acknowledge(target, "ana", None, "hmi", T0)
        elif op == "restart":
            fresh = AlarmBoard(latching=board.latching)
            load_board(fresh, dump_board(board))
            board = fresh
        after = {o.id: o.state for o in board.open()}
        for occurrence, state in before.items():
            new = after.get(occurrence, AlarmState.NORMAL)
            # Acknowledging a latched alarm whose condition is gone also resets it.
            reset = occurrence in held_by_latch and new is AlarmState.NORMAL
            assert new == state or (state, new) in LEGAL or reset, (state, new)
        for occurrence, state in after.items():
            if occurrence not in before:
                assert state is AlarmState.UNACK_ACTIVE  # only a raise creates one
                assert occurrence not in seen  # ids are never reused
        seen.update(after)
        active_rules = [o.rule for o in board.open() if o.active]
        assert len(active_rules) == len(set(active_rules))  # one active occurrence per rule


def test_ending_an_occurrence_no_rule_carries_keeps_it_until_acknowledged() -> None:
    board = AlarmBoard()
    occurrence = str(board.on_transition(_t("p.hi", True))[0].context["occurrence"])
    board.on_transition(_t("p.lo", True))
    restored = AlarmBoard()
    load_board(restored, dump_board(board))
    assert restored.active_rules() == {"p.hi", "p.lo"}
    (ended,) = restored.end({"p.hi"}, T0, "agent restarted: its rule is gone")
    assert ended.type is EventType.ALARM_CLEARED
    assert ended.context["occurrence"] == occurrence
    assert ended.context["reason"] == "agent restarted: its rule is gone"
    assert restored.active_rules() == {"p.lo"}
    states = {o.rule: o.state for o in restored.open()}
    assert states == {"p.hi": AlarmState.RETURNED_UNACK, "p.lo": AlarmState.UNACK_ACTIVE}
