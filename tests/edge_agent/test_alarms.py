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
        board.shelve("p.hi", T0 + timedelta(hours=2), "maintenance", T0)
    board.shelve("p.hi", T0 + timedelta(minutes=30), "maintenance", T0)
    (raised,) = board.on_transition(_t("p.hi", True, 60))
    assert raised.context["shelved"] is True
    assert board.tick(T0 + timedelta(minutes=29)) == []
    assert board.tick(T0 + timedelta(minutes=30)) == ["p.hi"]
    assert not board.definition("p.hi").shelved(T0 + timedelta(minutes=31))


def test_unknown_occurrence_is_an_error() -> None:
    with pytest.raises(AlarmError, match="no open alarm"):
        AlarmBoard().acknowledge("nope", "ana", None, "hmi", T0)


def test_saved_board_restores_exactly_and_does_not_raise_twice() -> None:
    board = AlarmBoard()
    board.on_transition(_t("p.hi", True))
    board.shelve("p.lo", T0 + timedelta(minutes=5), "calibration", T0)
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


def test_restart_ends_active_occurrences_but_keeps_them_until_acknowledged() -> None:
    board = AlarmBoard()
    occurrence = str(board.on_transition(_t("p.hi", True))[0].context["occurrence"])
    restored = AlarmBoard()
    load_board(restored, dump_board(board))
    (ended,) = restored.end_active(T0, "agent restarted; re-evaluating")
    assert ended.type is EventType.ALARM_CLEARED
    assert ended.context["occurrence"] == occurrence
    assert ended.context["reason"] == "agent restarted; re-evaluating"
    assert [o.state for o in restored.open()] == [AlarmState.RETURNED_UNACK]
    # The condition is still there: the detector raises it again as a new occurrence.
    (again,) = restored.on_transition(_t("p.hi", True, 5))
    assert again.context["occurrence"] != occurrence
