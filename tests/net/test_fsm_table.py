"""``fsm.TRANSITIONS`` is PS3.8 Table 9-10, cell for cell, and ``next_state`` is Tables 9-6 to 9-9.

The expected table below is typed in from the standard independently of ``app/net/fsm.py`` (events
down, states across, "." for a blank cell), so that a slip in either shows up as a failing cell.
``test_dul.py`` uses the same expectations to drive a real ``UpperLayer`` through every cell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.net.fsm import TRANSITIONS, Action, Event, Role, State, is_blank, next_state, render_markdown

# PS3.8 Table 9-10 (events 1-19 down, states 1-13 across).
EXPECTED_TABLE_TEXT = """
       Sta1  Sta2  Sta3  Sta4  Sta5  Sta6  Sta7  Sta8  Sta9  Sta10 Sta11 Sta12 Sta13
Evt1   AE-1  .     .     .     .     .     .     .     .     .     .     .     .
Evt2   .     .     .     AE-2  .     .     .     .     .     .     .     .     .
Evt3   .     AA-1  AA-8  .     AE-3  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt4   .     AA-1  AA-8  .     AE-4  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt5   AE-5  .     .     .     .     .     .     .     .     .     .     .     .
Evt6   .     AE-6  AA-8  .     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
Evt7   .     .     AE-7  .     .     .     .     .     .     .     .     .     .
Evt8   .     .     AE-8  .     .     .     .     .     .     .     .     .     .
Evt9   .     .     .     .     .     DT-1  .     AR-7  .     .     .     .     .
Evt10  .     AA-1  AA-8  .     AA-8  DT-2  AR-6  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt11  .     .     .     .     .     AR-1  .     .     .     .     .     .     .
Evt12  .     AA-1  AA-8  .     AA-8  AR-2  AR-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt13  .     AA-1  AA-8  .     AA-8  AA-8  AR-3  AA-8  AA-8  AR-10 AR-3  AA-8  AA-6
Evt14  .     .     .     .     .     .     .     AR-4  AR-9  .     .     AR-4  .
Evt15  .     .     AA-1  AA-2  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  .
Evt16  .     AA-2  AA-3  .     AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-2
Evt17  .     AA-5  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AR-5
Evt18  .     AA-2  .     .     .     .     .     .     .     .     .     .     AA-2
Evt19  .     AA-1  AA-8  .     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
"""


def _parse_table(text: str) -> dict[tuple[int, int], str | None]:
    rows = [line.split() for line in text.strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert header == [f"Sta{n}" for n in range(1, 14)]
    assert [row[0] for row in body] == [f"Evt{n}" for n in range(1, 20)]
    table: dict[tuple[int, int], str | None] = {}
    for row in body:
        event = int(row[0].removeprefix("Evt"))
        assert len(row) == 14, row
        for state, cell in enumerate(row[1:], start=1):
            table[(state, event)] = None if cell == "." else cell
    return table


# (state number, event number) -> action name, or None for a blank cell.  All 13 x 19 cells.
EXPECTED_TABLE = _parse_table(EXPECTED_TABLE_TEXT)

# PS3.8 Tables 9-6 to 9-9, "Next state is ...".  AE-6 and AR-8 are conditional.
EXPECTED_NEXT_STATE = {
    "AE-1": 4,
    "AE-2": 5,
    "AE-3": 6,
    "AE-4": 1,
    "AE-5": 2,
    "AE-7": 6,
    "AE-8": 13,
    "DT-1": 6,
    "DT-2": 6,
    "AR-1": 7,
    "AR-2": 8,
    "AR-3": 1,
    "AR-4": 13,
    "AR-5": 1,
    "AR-6": 7,
    "AR-7": 8,
    "AR-9": 11,
    "AR-10": 12,
    "AA-1": 13,
    "AA-2": 1,
    "AA-3": 1,
    "AA-4": 1,
    "AA-5": 1,
    "AA-6": 13,
    "AA-7": 13,
    "AA-8": 13,
}

ALL_CELLS = sorted(EXPECTED_TABLE)


def test_the_expected_table_has_every_cell() -> None:
    assert len(EXPECTED_TABLE) == 13 * 19
    assert (
        sum(action is not None for action in EXPECTED_TABLE.values()) == 123
    )  # the filled cells of Table 9-10


@pytest.mark.parametrize(("state", "event"), ALL_CELLS, ids=[f"Sta{s}-Evt{e}" for s, e in ALL_CELLS])
def test_cell_matches_table_9_10(state: int, event: int) -> None:
    action = TRANSITIONS.get((State(state), Event(event)))
    assert (action.value if action else None) == EXPECTED_TABLE[(state, event)]
    assert is_blank(State(state), Event(event)) == (EXPECTED_TABLE[(state, event)] is None)


def test_table_has_no_cell_outside_the_standard() -> None:
    filled = {(int(s), int(e)) for s, e in TRANSITIONS}
    assert filled == {cell for cell, action in EXPECTED_TABLE.items() if action is not None}


@pytest.mark.parametrize("action_name", sorted(EXPECTED_NEXT_STATE))
def test_fixed_next_states(action_name: str) -> None:
    assert next_state(Action(action_name)) == State(EXPECTED_NEXT_STATE[action_name])


def test_ae6_goes_to_sta3_when_the_request_is_acceptable_else_sta13() -> None:
    assert next_state(Action.AE_6, acceptable=True) is State.STA3
    assert next_state(Action.AE_6, acceptable=False) is State.STA13


def test_ar8_release_collision_sends_requestor_to_sta9_and_acceptor_to_sta10() -> None:
    assert next_state(Action.AR_8, role=Role.REQUESTOR) is State.STA9
    assert next_state(Action.AR_8, role=Role.ACCEPTOR) is State.STA10
    with pytest.raises(ValueError, match="role"):
        next_state(Action.AR_8)


def test_every_action_is_used_by_the_table() -> None:
    assert set(TRANSITIONS.values()) == set(Action)


def test_states_events_and_actions_carry_the_standards_words() -> None:
    assert State.STA6.meaning == "Association established and ready for data transfer"
    assert State.STA13.label == "Sta13"
    assert Event.EVT19.meaning == "Unrecognized or invalid PDU received"
    assert Action.AA_6.text == "Ignore PDU"
    assert all(state.meaning for state in State)
    assert all(event.meaning for event in Event)
    assert all(action.text for action in Action)


def test_rendered_table_is_current() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "state-table.md"
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        "docs/state-table.md is stale: run `python -m app.net.fsm > docs/state-table.md`"
    )


def test_rendered_table_shows_each_cell_with_its_next_state() -> None:
    text = render_markdown()
    evt13 = next(line for line in text.splitlines() if line.startswith("| Evt13 "))
    cells = [cell.strip() for cell in evt13.strip("|").split("|")][1:]
    assert cells[6] == "AR-3 → Sta1"  # Sta7
    assert cells[9] == "AR-10 → Sta12"  # Sta10
    assert cells[0] == ""  # Sta1: blank
