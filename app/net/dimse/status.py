"""DIMSE status codes (PS3.7 Annex C) and their service-specific meanings (PS3.4).

``category_of`` answers the only question the protocol machinery asks (is it final? did it work?);
``describe_status`` gives a technologist the words, including the meanings PS3.4 gives a code for one
service (0xA700 is "out of resources" for C-STORE but "out of resources, unable to calculate number
of matches" is 0xA701 for C-MOVE, etc.).
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ATTRIBUTE_LIST_ERROR",
    "ATTRIBUTE_VALUE_OUT_OF_RANGE",
    "CANCEL",
    "CANNOT_UNDERSTAND",
    "CLASS_INSTANCE_CONFLICT",
    "COERCION_OF_DATA_ELEMENTS",
    "DATASET_DOES_NOT_MATCH_SOP_CLASS",
    "DUPLICATE_INVOCATION",
    "DUPLICATE_SOP_INSTANCE",
    "ELEMENTS_DISCARDED",
    "IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS",
    "INVALID_ARGUMENT_VALUE",
    "INVALID_ATTRIBUTE_VALUE",
    "INVALID_OBJECT_INSTANCE",
    "MISSING_ATTRIBUTE",
    "MISSING_ATTRIBUTE_VALUE",
    "MISTYPED_ARGUMENT",
    "MOVE_DESTINATION_UNKNOWN",
    "NOT_AUTHORIZED",
    "NO_SUCH_ACTION",
    "NO_SUCH_ARGUMENT",
    "NO_SUCH_ATTRIBUTE",
    "NO_SUCH_EVENT_TYPE",
    "NO_SUCH_OBJECT_INSTANCE",
    "NO_SUCH_SOP_CLASS",
    "OPTIONAL_ATTRIBUTES_NOT_SUPPORTED",
    "OUT_OF_RESOURCES",
    "OUT_OF_RESOURCES_MATCHES",
    "OUT_OF_RESOURCES_SUBOPERATIONS",
    "PENDING",
    "PENDING_WARNING",
    "PROCESSING_FAILURE",
    "RESOURCE_LIMITATION",
    "SOP_CLASS_NOT_SUPPORTED",
    "SUBOPS_WARNING",
    "SUCCESS",
    "UNABLE_TO_PROCESS",
    "UNRECOGNIZED_OPERATION",
    "StatusCategory",
    "category_of",
    "describe_status",
    "is_final",
]


class StatusCategory(Enum):
    """PS3.7 Annex C: the five kinds of status."""

    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


# -- PS3.7 Annex C, general statuses ----------------------------------------------------------------
SUCCESS = 0x0000
OPTIONAL_ATTRIBUTES_NOT_SUPPORTED = 0x0001  # warning (PS3.4 F.7.2: MPPS N-CREATE/N-SET)
ATTRIBUTE_LIST_ERROR = 0x0107  # warning (C.4.2)
ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116  # warning (C.4.3)
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_OBJECT_INSTANCE = 0x0112
NO_SUCH_EVENT_TYPE = 0x0113
NO_SUCH_ARGUMENT = 0x0114
INVALID_ARGUMENT_VALUE = 0x0115
INVALID_OBJECT_INSTANCE = 0x0117
NO_SUCH_SOP_CLASS = 0x0118
CLASS_INSTANCE_CONFLICT = 0x0119
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
SOP_CLASS_NOT_SUPPORTED = 0x0122
NO_SUCH_ACTION = 0x0123
NOT_AUTHORIZED = 0x0124
DUPLICATE_INVOCATION = 0x0210
UNRECOGNIZED_OPERATION = 0x0211
MISTYPED_ARGUMENT = 0x0212
RESOURCE_LIMITATION = 0x0213
CANCEL = 0xFE00
PENDING = 0xFF00
PENDING_WARNING = 0xFF01  # PS3.4 C.4.1.1.4: matches continue, optional keys not supported

# -- PS3.4 service-specific statuses ----------------------------------------------------------------
OUT_OF_RESOURCES = 0xA700  # B.2.3 / C.4.1.1.4: refused, out of resources (range 0xA7xx for C-STORE)
OUT_OF_RESOURCES_MATCHES = 0xA701  # C.4.2.1.5 / C.4.3.1.4: unable to calculate number of matches
OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702  # C.4.2.1.5 / C.4.3.1.4: unable to perform sub-operations
MOVE_DESTINATION_UNKNOWN = 0xA801  # C.4.2.1.5
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900  # B.2.3 (range 0xA9xx for C-STORE)
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900  # C.4.1.1.4 / C.4.2.1.5 / C.4.3.1.4
COERCION_OF_DATA_ELEMENTS = 0xB000  # B.2.3 warning (C-STORE)
SUBOPS_WARNING = 0xB000  # C.4.2.1.5 / C.4.3.1.4 warning: sub-operations complete, some failed
ELEMENTS_DISCARDED = 0xB006  # B.2.3 warning
DATASET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007  # B.2.3 warning
CANNOT_UNDERSTAND = 0xC000  # B.2.3 (range 0xCxxx for C-STORE)
UNABLE_TO_PROCESS = 0xC000  # C.4.x (range 0xCxxx for C-FIND/C-MOVE/C-GET)

_WARNINGS = frozenset({OPTIONAL_ATTRIBUTES_NOT_SUPPORTED, ATTRIBUTE_LIST_ERROR, ATTRIBUTE_VALUE_OUT_OF_RANGE})


def category_of(status: int) -> StatusCategory:
    """PS3.7 Annex C: which kind of status ``status`` is.  Unknown codes count as failures."""
    if status == SUCCESS:
        return StatusCategory.SUCCESS
    if status in (PENDING, PENDING_WARNING):
        return StatusCategory.PENDING
    if status == CANCEL:
        return StatusCategory.CANCEL
    if status in _WARNINGS or 0xB000 <= status <= 0xBFFF:
        return StatusCategory.WARNING
    return StatusCategory.FAILURE


def is_final(status: int) -> bool:
    """A response with any status but Pending ends its operation (PS3.7 9.1.2.1.5)."""
    return category_of(status) is not StatusCategory.PENDING


# PS3.7 Annex C: meanings shared by every service.
_GENERAL: dict[int, str] = {
    0x0000: "",
    0x0001: "Requested optional attributes are not supported",
    0x0105: "No such attribute",
    0x0106: "Invalid attribute value",
    0x0107: "Attribute list error",
    0x0110: "Processing failure",
    0x0111: "Duplicate SOP instance",
    0x0112: "No such SOP instance",
    0x0113: "No such event type",
    0x0114: "No such argument",
    0x0115: "Invalid argument value",
    0x0116: "Attribute value out of range",
    0x0117: "Invalid object instance",
    0x0118: "No such SOP class",
    0x0119: "Class-instance conflict",
    0x0120: "Missing attribute",
    0x0121: "Missing attribute value",
    0x0122: "Refused: SOP class not supported",
    0x0123: "No such action",
    0x0124: "Refused: not authorized",
    0x0210: "Duplicate invocation",
    0x0211: "Unrecognized operation",
    0x0212: "Mistyped argument",
    0x0213: "Resource limitation",
    0xFE00: "Operation cancelled",
}

_RETRIEVE: dict[int, str] = {
    0xA701: "Refused: out of resources, unable to calculate number of matches",
    0xA702: "Refused: out of resources, unable to perform sub-operations",
    0xA900: "Identifier does not match SOP class",
    0xAA00: "None of the frames requested were found in the SOP instance",
    0xAA01: "Unable to create new object for this SOP class",
    0xAA02: "Unable to extract frames",
    0xAA03: "Time-based request received for a non-time-based original SOP instance",
    0xAA04: "Invalid request",
    0xB000: "Sub-operations complete, one or more failures or warnings",
    0xFF00: "Sub-operations are continuing",
}

# PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4: exact codes per service.
_SERVICE: dict[str, dict[int, str]] = {
    "C-STORE": {
        0xB000: "Coercion of data elements",
        0xB006: "Elements discarded",
        0xB007: "Data set does not match SOP class",
    },
    "C-FIND": {
        0xA700: "Refused: out of resources",
        0xA710: "Invalid prior record key",
        0xA900: "Identifier does not match SOP class",
        0xB001: "Matching reached the response limit; a later request may return more matches",
        0xFF00: "Matches are continuing, current match supplied",
        0xFF01: "Matches are continuing, optional keys not supported",
    },
    "C-MOVE": {**_RETRIEVE, 0xA801: "Refused: move destination unknown"},
    "C-GET": dict(_RETRIEVE),
}

# PS3.4: ranges whose low byte is implementation-specific.
_SERVICE_RANGES: dict[str, tuple[tuple[int, int, str], ...]] = {
    "C-STORE": (
        (0xA700, 0xA7FF, "Refused: out of resources"),
        (0xA900, 0xA9FF, "Data set does not match SOP class"),
        (0xC000, 0xCFFF, "Cannot understand"),
    ),
    "C-FIND": ((0xC000, 0xCFFF, "Unable to process"),),
    "C-MOVE": ((0xC000, 0xCFFF, "Unable to process"),),
    "C-GET": ((0xC000, 0xCFFF, "Unable to process"),),
}

# When the service is not known: the meaning most services agree on.
_ANY_SERVICE: dict[int, str] = {
    0xA700: "Refused: out of resources",
    0xA701: "Refused: out of resources, unable to calculate number of matches",
    0xA702: "Refused: out of resources, unable to perform sub-operations",
    0xA801: "Refused: move destination unknown",
    0xA900: "Data set or identifier does not match SOP class",
    0xFF00: "Pending",
    0xFF01: "Pending, optional keys not supported",
}
_ANY_RANGES: tuple[tuple[int, int, str], ...] = (
    (0xA700, 0xA7FF, "Refused: out of resources"),
    (0xA900, 0xA9FF, "Data set or identifier does not match SOP class"),
    (0xC000, 0xCFFF, "Cannot understand / unable to process"),
)


def _service_key(service: str | None) -> str | None:
    if service is None:
        return None
    key = service.upper().replace("_", "-")
    for suffix in ("-RQ", "-RSP"):
        key = key.removesuffix(suffix)
    return key


def _meaning(status: int, service: str | None) -> str:
    key = _service_key(service)
    table = _SERVICE.get(key or "", {})
    if status in table:
        return table[status]
    for low, high, words in _SERVICE_RANGES.get(key or "", ()):
        if low <= status <= high:
            return words
    if status in _GENERAL:
        return _GENERAL[status]
    if key is None or key not in _SERVICE:
        if status in _ANY_SERVICE:
            return _ANY_SERVICE[status]
        for low, high, words in _ANY_RANGES:
            if low <= status <= high:
                return words
    return ""


def describe_status(status: int, service: str | None = None) -> str:
    """Words and hex for a status: "Failure: Refused: out of resources (0xA700)".

    ``service`` ("C-STORE", "C-FIND", "C-MOVE", "C-GET", "N-SET", ...) selects the meanings PS3.4 gives
    a code for that service; without it the commonest meaning is used.
    """
    category = category_of(status)
    meaning = _meaning(status, service)
    if not meaning and category is not StatusCategory.SUCCESS:
        meaning = "status not defined by the standard for this service"
    head = category.value if not meaning else f"{category.value}: {meaning}"
    return f"{head} (0x{status:04X})"
