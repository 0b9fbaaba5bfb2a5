"""The PS3.8 Upper Layer state machine (section 9.2) as data.

``TRANSITIONS`` is Table 9-10 cell for cell: ``(state, event) -> action``.  ``next_state`` holds the
"Next state is ..." of Tables 9-6 to 9-9.  Nothing here acts: ``dul.UpperLayer`` looks an event up
here and carries the action out.

Blank cells.  Table 9-10 leaves a cell blank where the event cannot happen in that state: PDU events
in Sta1 and Sta4 (there is no transport connection yet), local primitives out of their order (e.g.
P-DATA request before the association exists), ARTIM expiry where no ARTIM timer runs.  Every PDU
that *can* arrive at the wrong moment already has a cell: AA-1 in Sta2, AA-8 in Sta3 and Sta5-Sta12,
AA-6/AA-7 in Sta13.  So a blank cell is never the peer's fault: it is a misuse of the layer by its
user or transport, and ``UpperLayer`` raises ``LocalProtocolError`` for it (``is_blank``).

Run ``python -m app.net.fsm > docs/state-table.md`` to regenerate the rendered table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, IntEnum
from types import MappingProxyType

__all__ = [
    "TRANSITIONS",
    "Action",
    "Event",
    "Role",
    "State",
    "is_blank",
    "next_state",
    "render_markdown",
]


class Role(Enum):
    """Which end of the association we are (PS3.8 9.2.2, AR-8 depends on it)."""

    REQUESTOR = "association-requestor"
    ACCEPTOR = "association-acceptor"


class State(IntEnum):
    """PS3.8 Tables 9-1 to 9-5: the thirteen states.  ``meaning`` quotes the standard."""

    STA1 = 1
    STA2 = 2
    STA3 = 3
    STA4 = 4
    STA5 = 5
    STA6 = 6
    STA7 = 7
    STA8 = 8
    STA9 = 9
    STA10 = 10
    STA11 = 11
    STA12 = 12
    STA13 = 13

    @property
    def label(self) -> str:
        return f"Sta{self.value}"

    @property
    def meaning(self) -> str:
        return _STATE_MEANINGS[self]


_STATE_MEANINGS: Mapping[State, str] = MappingProxyType(
    {
        State.STA1: "Idle",
        State.STA2: "Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)",
        State.STA3: "Awaiting local A-ASSOCIATE response primitive (from local user)",
        State.STA4: "Awaiting transport connection opening to complete (from local transport service)",
        State.STA5: "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
        State.STA6: "Association established and ready for data transfer",
        State.STA7: "Awaiting A-RELEASE-RP PDU",
        State.STA8: "Awaiting local A-RELEASE response primitive (from local user)",
        State.STA9: "Release collision requestor side; awaiting A-RELEASE response (from local user)",
        State.STA10: "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
        State.STA11: "Release collision requestor side; awaiting A-RELEASE-RP PDU",
        State.STA12: (
            "Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)"
        ),
        State.STA13: "Awaiting Transport Connection Close Indication (Association no longer exists)",
    }
)


class Event(IntEnum):
    """PS3.8 Table 9-10 (event column): the nineteen events.  ``meaning`` quotes the standard."""

    EVT1 = 1  # A-ASSOCIATE Request (local user)
    EVT2 = 2  # Transport Conn. Confirm (local transport service)
    EVT3 = 3  # A-ASSOCIATE-AC PDU (received on transport connection)
    EVT4 = 4  # A-ASSOCIATE-RJ PDU (received on transport connection)
    EVT5 = 5  # Transport Connection Indication (local transport service)
    EVT6 = 6  # A-ASSOCIATE-RQ PDU (received on transport connection)
    EVT7 = 7  # A-ASSOCIATE response primitive (accept)
    EVT8 = 8  # A-ASSOCIATE response primitive (reject)
    EVT9 = 9  # P-DATA request primitive
    EVT10 = 10  # P-DATA-TF PDU
    EVT11 = 11  # A-RELEASE Request primitive
    EVT12 = 12  # A-RELEASE-RQ PDU (received on open transport connection)
    EVT13 = 13  # A-RELEASE-RP PDU (received on transport connection)
    EVT14 = 14  # A-RELEASE Response primitive
    EVT15 = 15  # A-ABORT Request primitive
    EVT16 = 16  # A-ABORT PDU (received on open transport connection)
    EVT17 = 17  # Transport connection closed indication (local transport service)
    EVT18 = 18  # ARTIM timer expired (Association reject/release timer)
    EVT19 = 19  # Unrecognized or invalid PDU received

    @property
    def label(self) -> str:
        return f"Evt{self.value}"

    @property
    def meaning(self) -> str:
        return _EVENT_MEANINGS[self]


_EVENT_MEANINGS: Mapping[Event, str] = MappingProxyType(
    {
        Event.EVT1: "A-ASSOCIATE Request (local user)",
        Event.EVT2: "Transport Conn. Confirm (local transport service)",
        Event.EVT3: "A-ASSOCIATE-AC PDU (received on transport connection)",
        Event.EVT4: "A-ASSOCIATE-RJ PDU (received on transport connection)",
        Event.EVT5: "Transport Connection Indication (local transport service)",
        Event.EVT6: "A-ASSOCIATE-RQ PDU (received on transport connection)",
        Event.EVT7: "A-ASSOCIATE response primitive (accept)",
        Event.EVT8: "A-ASSOCIATE response primitive (reject)",
        Event.EVT9: "P-DATA request primitive",
        Event.EVT10: "P-DATA-TF PDU",
        Event.EVT11: "A-RELEASE Request primitive",
        Event.EVT12: "A-RELEASE-RQ PDU (received on open transport connection)",
        Event.EVT13: "A-RELEASE-RP PDU (received on transport connection)",
        Event.EVT14: "A-RELEASE Response primitive",
        Event.EVT15: "A-ABORT Request primitive",
        Event.EVT16: "A-ABORT PDU (received on open transport connection)",
        Event.EVT17: "Transport connection closed indication (local transport service)",
        Event.EVT18: "ARTIM timer expired (Association reject/release timer)",
        Event.EVT19: "Unrecognized or invalid PDU received",
    }
)


class Action(Enum):
    """PS3.8 Tables 9-6 to 9-9: the actions.  The value is the standard's name, ``text`` its definition."""

    AE_1 = "AE-1"
    AE_2 = "AE-2"
    AE_3 = "AE-3"
    AE_4 = "AE-4"
    AE_5 = "AE-5"
    AE_6 = "AE-6"
    AE_7 = "AE-7"
    AE_8 = "AE-8"
    DT_1 = "DT-1"
    DT_2 = "DT-2"
    AR_1 = "AR-1"
    AR_2 = "AR-2"
    AR_3 = "AR-3"
    AR_4 = "AR-4"
    AR_5 = "AR-5"
    AR_6 = "AR-6"
    AR_7 = "AR-7"
    AR_8 = "AR-8"
    AR_9 = "AR-9"
    AR_10 = "AR-10"
    AA_1 = "AA-1"
    AA_2 = "AA-2"
    AA_3 = "AA-3"
    AA_4 = "AA-4"
    AA_5 = "AA-5"
    AA_6 = "AA-6"
    AA_7 = "AA-7"
    AA_8 = "AA-8"

    @property
    def text(self) -> str:
        return _ACTION_TEXT[self]


_ACTION_TEXT: Mapping[Action, str] = MappingProxyType(
    {
        # PS3.8 Table 9-6: association establishment related actions
        Action.AE_1: "Issue TRANSPORT CONNECT request primitive to local transport service",
        Action.AE_2: "Send A-ASSOCIATE-RQ-PDU",
        Action.AE_3: "Issue A-ASSOCIATE confirmation (accept) primitive",
        Action.AE_4: "Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection",
        Action.AE_5: "Issue Transport connection response primitive; start ARTIM timer",
        Action.AE_6: (
            "Stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider: issue A-ASSOCIATE "
            "indication primitive (next state Sta3); otherwise: issue A-ASSOCIATE-RJ-PDU and start ARTIM "
            "timer (next state Sta13)"
        ),
        Action.AE_7: "Send A-ASSOCIATE-AC PDU",
        Action.AE_8: "Send A-ASSOCIATE-RJ PDU and start ARTIM timer",
        # PS3.8 Table 9-7: data transfer related actions
        Action.DT_1: "Send P-DATA-TF PDU",
        Action.DT_2: "Send P-DATA indication primitive",
        # PS3.8 Table 9-8: association release related actions
        Action.AR_1: "Send A-RELEASE-RQ PDU",
        Action.AR_2: "Issue A-RELEASE indication primitive",
        Action.AR_3: "Issue A-RELEASE confirmation primitive, and close transport connection",
        Action.AR_4: "Issue A-RELEASE-RP PDU and start ARTIM timer",
        Action.AR_5: "Stop ARTIM timer",
        Action.AR_6: "Issue P-DATA indication",
        Action.AR_7: "Issue P-DATA-TF PDU",
        Action.AR_8: (
            "Issue A-RELEASE indication (release collision): if association-requestor, next state is "
            "Sta9; if not, next state is Sta10"
        ),
        Action.AR_9: "Send A-RELEASE-RP PDU",
        Action.AR_10: "Issue A-RELEASE confirmation primitive",
        # PS3.8 Table 9-9: association abort related actions
        Action.AA_1: (
            "Send A-ABORT PDU (service-user source) and start (or restart if already started) ARTIM timer"
        ),
        Action.AA_2: "Stop ARTIM timer if running. Close transport connection",
        Action.AA_3: (
            "If (service-user initiated abort): issue A-ABORT indication and close transport connection; "
            "otherwise (service-provider initiated abort): issue A-P-ABORT indication and close transport "
            "connection"
        ),
        Action.AA_4: "Issue A-P-ABORT indication primitive",
        Action.AA_5: "Stop ARTIM timer",
        Action.AA_6: "Ignore PDU",
        Action.AA_7: "Send A-ABORT PDU",
        Action.AA_8: (
            "Send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, and start ARTIM timer"
        ),
    }
)


# PS3.8 Tables 9-6 to 9-9, "Next state is ...".  AE-6 and AR-8 are conditional (see next_state).
_FIXED_NEXT_STATE: Mapping[Action, State] = MappingProxyType(
    {
        Action.AE_1: State.STA4,
        Action.AE_2: State.STA5,
        Action.AE_3: State.STA6,
        Action.AE_4: State.STA1,
        Action.AE_5: State.STA2,
        Action.AE_7: State.STA6,
        Action.AE_8: State.STA13,
        Action.DT_1: State.STA6,
        Action.DT_2: State.STA6,
        Action.AR_1: State.STA7,
        Action.AR_2: State.STA8,
        Action.AR_3: State.STA1,
        Action.AR_4: State.STA13,
        Action.AR_5: State.STA1,
        Action.AR_6: State.STA7,
        Action.AR_7: State.STA8,
        Action.AR_9: State.STA11,
        Action.AR_10: State.STA12,
        Action.AA_1: State.STA13,
        Action.AA_2: State.STA1,
        Action.AA_3: State.STA1,
        Action.AA_4: State.STA1,
        Action.AA_5: State.STA1,
        Action.AA_6: State.STA13,
        Action.AA_7: State.STA13,
        Action.AA_8: State.STA13,
    }
)


def next_state(action: Action, *, role: Role | None = None, acceptable: bool = True) -> State:
    """The state after ``action`` (PS3.8 Tables 9-6 to 9-9).

    AE-6 depends on whether the service-provider finds the A-ASSOCIATE-RQ acceptable (Sta3, else the
    A-ASSOCIATE-RJ was sent: Sta13); AR-8 on our role in a release collision (requestor Sta9,
    acceptor Sta10).
    """
    if action is Action.AE_6:
        return State.STA3 if acceptable else State.STA13
    if action is Action.AR_8:
        if role is None:
            raise ValueError("AR-8's next state depends on the role (PS3.8 Table 9-8)")
        return State.STA9 if role is Role.REQUESTOR else State.STA10
    return _FIXED_NEXT_STATE[action]


S, E, A = State, Event, Action

# PS3.8 Table 9-10, one line per filled cell, row by row (event by event) as the standard prints it.
TRANSITIONS: Mapping[tuple[State, Event], Action] = MappingProxyType(
    {
        # Evt1 A-ASSOCIATE request (local user)
        (S.STA1, E.EVT1): A.AE_1,
        # Evt2 transport connect confirmation
        (S.STA4, E.EVT2): A.AE_2,
        # Evt3 A-ASSOCIATE-AC PDU
        (S.STA2, E.EVT3): A.AA_1,
        (S.STA3, E.EVT3): A.AA_8,
        (S.STA5, E.EVT3): A.AE_3,
        (S.STA6, E.EVT3): A.AA_8,
        (S.STA7, E.EVT3): A.AA_8,
        (S.STA8, E.EVT3): A.AA_8,
        (S.STA9, E.EVT3): A.AA_8,
        (S.STA10, E.EVT3): A.AA_8,
        (S.STA11, E.EVT3): A.AA_8,
        (S.STA12, E.EVT3): A.AA_8,
        (S.STA13, E.EVT3): A.AA_6,
        # Evt4 A-ASSOCIATE-RJ PDU
        (S.STA2, E.EVT4): A.AA_1,
        (S.STA3, E.EVT4): A.AA_8,
        (S.STA5, E.EVT4): A.AE_4,
        (S.STA6, E.EVT4): A.AA_8,
        (S.STA7, E.EVT4): A.AA_8,
        (S.STA8, E.EVT4): A.AA_8,
        (S.STA9, E.EVT4): A.AA_8,
        (S.STA10, E.EVT4): A.AA_8,
        (S.STA11, E.EVT4): A.AA_8,
        (S.STA12, E.EVT4): A.AA_8,
        (S.STA13, E.EVT4): A.AA_6,
        # Evt5 transport connection indication
        (S.STA1, E.EVT5): A.AE_5,
        # Evt6 A-ASSOCIATE-RQ PDU
        (S.STA2, E.EVT6): A.AE_6,
        (S.STA3, E.EVT6): A.AA_8,
        (S.STA5, E.EVT6): A.AA_8,
        (S.STA6, E.EVT6): A.AA_8,
        (S.STA7, E.EVT6): A.AA_8,
        (S.STA8, E.EVT6): A.AA_8,
        (S.STA9, E.EVT6): A.AA_8,
        (S.STA10, E.EVT6): A.AA_8,
        (S.STA11, E.EVT6): A.AA_8,
        (S.STA12, E.EVT6): A.AA_8,
        (S.STA13, E.EVT6): A.AA_7,
        # Evt7 A-ASSOCIATE response primitive (accept)
        (S.STA3, E.EVT7): A.AE_7,
        # Evt8 A-ASSOCIATE response primitive (reject)
        (S.STA3, E.EVT8): A.AE_8,
        # Evt9 P-DATA request primitive
        (S.STA6, E.EVT9): A.DT_1,
        (S.STA8, E.EVT9): A.AR_7,
        # Evt10 P-DATA-TF PDU
        (S.STA2, E.EVT10): A.AA_1,
        (S.STA3, E.EVT10): A.AA_8,
        (S.STA5, E.EVT10): A.AA_8,
        (S.STA6, E.EVT10): A.DT_2,
        (S.STA7, E.EVT10): A.AR_6,
        (S.STA8, E.EVT10): A.AA_8,
        (S.STA9, E.EVT10): A.AA_8,
        (S.STA10, E.EVT10): A.AA_8,
        (S.STA11, E.EVT10): A.AA_8,
        (S.STA12, E.EVT10): A.AA_8,
        (S.STA13, E.EVT10): A.AA_6,
        # Evt11 A-RELEASE request primitive
        (S.STA6, E.EVT11): A.AR_1,
        # Evt12 A-RELEASE-RQ PDU
        (S.STA2, E.EVT12): A.AA_1,
        (S.STA3, E.EVT12): A.AA_8,
        (S.STA5, E.EVT12): A.AA_8,
        (S.STA6, E.EVT12): A.AR_2,
        (S.STA7, E.EVT12): A.AR_8,
        (S.STA8, E.EVT12): A.AA_8,
        (S.STA9, E.EVT12): A.AA_8,
        (S.STA10, E.EVT12): A.AA_8,
        (S.STA11, E.EVT12): A.AA_8,
        (S.STA12, E.EVT12): A.AA_8,
        (S.STA13, E.EVT12): A.AA_6,
        # Evt13 A-RELEASE-RP PDU
        (S.STA2, E.EVT13): A.AA_1,
        (S.STA3, E.EVT13): A.AA_8,
        (S.STA5, E.EVT13): A.AA_8,
        (S.STA6, E.EVT13): A.AA_8,
        (S.STA7, E.EVT13): A.AR_3,
        (S.STA8, E.EVT13): A.AA_8,
        (S.STA9, E.EVT13): A.AA_8,
        (S.STA10, E.EVT13): A.AR_10,
        (S.STA11, E.EVT13): A.AR_3,
        (S.STA12, E.EVT13): A.AA_8,
        (S.STA13, E.EVT13): A.AA_6,
        # Evt14 A-RELEASE response primitive
        (S.STA8, E.EVT14): A.AR_4,
        (S.STA9, E.EVT14): A.AR_9,
        (S.STA12, E.EVT14): A.AR_4,
        # Evt15 A-ABORT request primitive
        (S.STA3, E.EVT15): A.AA_1,
        (S.STA4, E.EVT15): A.AA_2,
        (S.STA5, E.EVT15): A.AA_1,
        (S.STA6, E.EVT15): A.AA_1,
        (S.STA7, E.EVT15): A.AA_1,
        (S.STA8, E.EVT15): A.AA_1,
        (S.STA9, E.EVT15): A.AA_1,
        (S.STA10, E.EVT15): A.AA_1,
        (S.STA11, E.EVT15): A.AA_1,
        (S.STA12, E.EVT15): A.AA_1,
        # Evt16 A-ABORT PDU
        (S.STA2, E.EVT16): A.AA_2,
        (S.STA3, E.EVT16): A.AA_3,
        (S.STA5, E.EVT16): A.AA_3,
        (S.STA6, E.EVT16): A.AA_3,
        (S.STA7, E.EVT16): A.AA_3,
        (S.STA8, E.EVT16): A.AA_3,
        (S.STA9, E.EVT16): A.AA_3,
        (S.STA10, E.EVT16): A.AA_3,
        (S.STA11, E.EVT16): A.AA_3,
        (S.STA12, E.EVT16): A.AA_3,
        (S.STA13, E.EVT16): A.AA_2,
        # Evt17 transport connection closed indication
        (S.STA2, E.EVT17): A.AA_5,
        (S.STA3, E.EVT17): A.AA_4,
        (S.STA4, E.EVT17): A.AA_4,
        (S.STA5, E.EVT17): A.AA_4,
        (S.STA6, E.EVT17): A.AA_4,
        (S.STA7, E.EVT17): A.AA_4,
        (S.STA8, E.EVT17): A.AA_4,
        (S.STA9, E.EVT17): A.AA_4,
        (S.STA10, E.EVT17): A.AA_4,
        (S.STA11, E.EVT17): A.AA_4,
        (S.STA12, E.EVT17): A.AA_4,
        (S.STA13, E.EVT17): A.AR_5,
        # Evt18 ARTIM timer expired
        (S.STA2, E.EVT18): A.AA_2,
        (S.STA13, E.EVT18): A.AA_2,
        # Evt19 unrecognized or invalid PDU received
        (S.STA2, E.EVT19): A.AA_1,
        (S.STA3, E.EVT19): A.AA_8,
        (S.STA5, E.EVT19): A.AA_8,
        (S.STA6, E.EVT19): A.AA_8,
        (S.STA7, E.EVT19): A.AA_8,
        (S.STA8, E.EVT19): A.AA_8,
        (S.STA9, E.EVT19): A.AA_8,
        (S.STA10, E.EVT19): A.AA_8,
        (S.STA11, E.EVT19): A.AA_8,
        (S.STA12, E.EVT19): A.AA_8,
        (S.STA13, E.EVT19): A.AA_7,
    }
)

del S, E, A


def is_blank(state: State, event: Event) -> bool:
    """True where Table 9-10 has no entry: the event cannot legitimately occur in that state."""
    return (state, event) not in TRANSITIONS


# --------------------------------------------------------------------------------------------------
# Rendering (docs/state-table.md)


def _cell(state: State, event: Event) -> str:
    action = TRANSITIONS.get((state, event))
    if action is None:
        return ""
    if action is Action.AE_6:
        return "AE-6 → Sta3 / Sta13"
    if action is Action.AR_8:
        return "AR-8 → Sta9 (req) / Sta10 (acc)"
    return f"{action.value} → {next_state(action).label}"


def render_markdown() -> str:
    """PS3.8 Table 9-10 as a Markdown grid (events down, states across), with the legends."""
    lines = [
        "# DICOM Upper Layer state transition table (PS3.8 Table 9-10)",
        "",
        "Generated from `app/net/fsm.py` by `python -m app.net.fsm > docs/state-table.md`; do not edit.",
        "",
        "Each cell: action → next state.  A blank cell is an event that cannot occur in that state; the",
        "Upper Layer raises `LocalProtocolError` for it (a bug in its caller, never the peer's fault).",
        "",
        "| Event | " + " | ".join(state.label for state in State) + " |",
        "|---|" + "---|" * len(State),
    ]
    for event in Event:
        cells = " | ".join(_cell(state, event) for state in State)
        lines.append(f"| {event.label} {event.meaning} | {cells} |")
    lines += ["", "## States (PS3.8 Tables 9-1 to 9-5)", ""]
    lines += [f"- **{state.label}**: {state.meaning}" for state in State]
    lines += ["", "## Actions (PS3.8 Tables 9-6 to 9-9)", ""]
    for action in Action:
        if action in (Action.AE_6, Action.AR_8):
            lines.append(f"- **{action.value}**: {action.text}")
        else:
            lines.append(f"- **{action.value}**: {action.text}. Next state is {next_state(action).label}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
