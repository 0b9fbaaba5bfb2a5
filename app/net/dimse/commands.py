"""The DIMSE messages (PS3.7 9.3 and 10.3) as frozen data, and their command sets on the wire.

A command set is a group-0000 data set in Implicit VR Little Endian, always (PS3.7 6.3.1), with
Command Group Length (0000,0000) first.  Each message is one frozen dataclass whose snake_case
attributes are the command elements of its PS3.7 table; elements the table does not name (Error
Comment, Offending Element, Error ID, anything vendor-specific) are kept in ``status_detail`` for
responses and ``extra_elements`` for requests, as a pydicom ``Dataset``.

pydicom is the reference encoder/decoder (``_encode_with_pydicom`` / ``_decode_with_pydicom``).  It
costs ~100 µs per message, too slow for thousands of C-STOREs a second, so ``encode_command`` and
``decode_command`` use a fast path for the fixed-layout elements (US, UI, AE, AT) and fall back to
pydicom for anything else; the tests prove both paths byte-for-byte / value-for-value identical.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from enum import IntEnum
from struct import Struct
from struct import error as StructError  # noqa: N812 - keep the stdlib name recognisable
from typing import Any, ClassVar

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from app.net.dimse.status import describe_status
from app.net.errors import DimseError

__all__ = [
    "NO_DATASET",
    "VERIFICATION_SOP_CLASS",
    "CCancelRQ",
    "CEchoRQ",
    "CEchoRSP",
    "CFindRQ",
    "CFindRSP",
    "CGetRQ",
    "CGetRSP",
    "CMoveRQ",
    "CMoveRSP",
    "CStoreRQ",
    "CStoreRSP",
    "CommandField",
    "DimseMessage",
    "DimseRequest",
    "DimseResponse",
    "NActionRQ",
    "NActionRSP",
    "NCreateRQ",
    "NCreateRSP",
    "NDeleteRQ",
    "NDeleteRSP",
    "NEventReportRQ",
    "NEventReportRSP",
    "NGetRQ",
    "NGetRSP",
    "NSetRQ",
    "NSetRSP",
    "Priority",
    "decode_command",
    "describe_message",
    "encode_command",
    "is_request",
    "message_name",
    "response_class_for",
]

# PS3.7 E.1: Command Data Set Type 0x0101 means "no data set follows"; any other value means one does.
NO_DATASET = 0x0101
DATASET_PRESENT = 0x0000  # what we send when a data set follows (any value but 0x0101 is allowed)

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"


class CommandField(IntEnum):
    """PS3.7 Table E.1-1: Command Field (0000,0100).  Bit 15 set means a response."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    N_EVENT_REPORT_RQ = 0x0100
    N_EVENT_REPORT_RSP = 0x8100
    N_GET_RQ = 0x0110
    N_GET_RSP = 0x8110
    N_SET_RQ = 0x0120
    N_SET_RSP = 0x8120
    N_ACTION_RQ = 0x0130
    N_ACTION_RSP = 0x8130
    N_CREATE_RQ = 0x0140
    N_CREATE_RSP = 0x8140
    N_DELETE_RQ = 0x0150
    N_DELETE_RSP = 0x8150
    C_CANCEL_RQ = 0x0FFF


class Priority(IntEnum):
    """PS3.7 E.1-1: Priority (0000,0700)."""

    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


# The command elements a message class may carry as attributes: attribute name -> pydicom keyword.
# Tag and VR come from pydicom's data dictionary, not from us.
_KEYWORDS: dict[str, str] = {
    "affected_sop_class_uid": "AffectedSOPClassUID",
    "requested_sop_class_uid": "RequestedSOPClassUID",
    "message_id": "MessageID",
    "message_id_being_responded_to": "MessageIDBeingRespondedTo",
    "move_destination": "MoveDestination",
    "priority": "Priority",
    "status": "Status",
    "affected_sop_instance_uid": "AffectedSOPInstanceUID",
    "requested_sop_instance_uid": "RequestedSOPInstanceUID",
    "event_type_id": "EventTypeID",
    "attribute_identifier_list": "AttributeIdentifierList",
    "action_type_id": "ActionTypeID",
    "number_of_remaining_suboperations": "NumberOfRemainingSuboperations",
    "number_of_completed_suboperations": "NumberOfCompletedSuboperations",
    "number_of_failed_suboperations": "NumberOfFailedSuboperations",
    "number_of_warning_suboperations": "NumberOfWarningSuboperations",
    "move_originator_application_entity_title": "MoveOriginatorApplicationEntityTitle",
    "move_originator_message_id": "MoveOriginatorMessageID",
}
_TAGS: dict[str, int] = {attr: tag_for_keyword(kw) for attr, kw in _KEYWORDS.items()}  # type: ignore[misc]
_VRS: dict[str, str] = {attr: dictionary_VR(tag) for attr, tag in _TAGS.items()}

_GROUP_LENGTH_TAG = 0x00000000
_COMMAND_FIELD_TAG = 0x00000100
_DATASET_TYPE_TAG = 0x00000800
_STATUS_TAG = 0x00000900

# PS3.5 6.2: the value length limits we check before sending, with a message a person can act on.
_MAX_UI_LENGTH = 64
_MAX_AE_LENGTH = 16


# ==================================================================================================
# The messages


class _Response:
    """Readers for the status detail elements of PS3.7 Annex C that a response may carry."""

    __slots__ = ()
    status_detail: Dataset | None

    @property
    def error_comment(self) -> str | None:
        """Error Comment (0000,0902), the peer's own words about a failure."""
        return _detail_value(self.status_detail, "ErrorComment")

    @property
    def error_id(self) -> int | None:
        """Error ID (0000,0903)."""
        return _detail_value(self.status_detail, "ErrorID")

    @property
    def offending_element(self) -> tuple[int, ...]:
        """Offending Element (0000,0901): the tags the peer complains about."""
        value = _detail_value(self.status_detail, "OffendingElement")
        if value is None:
            return ()
        return (int(value),) if isinstance(value, int) else tuple(int(tag) for tag in value)


def _detail_value(detail: Dataset | None, keyword: str) -> Any:
    if detail is None or keyword not in detail:
        return None
    value = detail[keyword].value
    return None if value in (None, "", []) else value


# -- C-ECHO (PS3.7 9.3.5) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CEchoRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_ECHO_RQ
    message_id: int
    affected_sop_class_uid: str = VERIFICATION_SOP_CLASS
    has_dataset: bool = False
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CEchoRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_ECHO_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- C-STORE (PS3.7 9.3.1) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CStoreRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_STORE_RQ
    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    priority: int = Priority.MEDIUM
    move_originator_application_entity_title: str | None = None
    move_originator_message_id: int | None = None
    has_dataset: bool = True
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CStoreRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_STORE_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- C-FIND (PS3.7 9.3.2) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CFindRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_FIND_RQ
    message_id: int
    affected_sop_class_uid: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True  # the identifier
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CFindRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_FIND_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    has_dataset: bool = False  # True on Pending responses, which carry a match
    status_detail: Dataset | None = None


# -- C-GET (PS3.7 9.3.3) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CGetRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_GET_RQ
    message_id: int
    affected_sop_class_uid: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CGetRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_GET_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    has_dataset: bool = False  # a final failure/warning may carry Failed SOP Instance UID List
    status_detail: Dataset | None = None


# -- C-MOVE (PS3.7 9.3.4) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CMoveRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_MOVE_RQ
    message_id: int
    affected_sop_class_uid: str
    move_destination: str
    priority: int = Priority.MEDIUM
    has_dataset: bool = True
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CMoveRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_MOVE_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- C-CANCEL (PS3.7 9.3.2.3) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CCancelRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.C_CANCEL_RQ
    message_id_being_responded_to: int
    has_dataset: bool = False
    extra_elements: Dataset | None = None


# -- N-EVENT-REPORT (PS3.7 10.3.1) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NEventReportRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_EVENT_REPORT_RQ
    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    event_type_id: int
    has_dataset: bool = False  # Event Information, when the event has some
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NEventReportRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_EVENT_REPORT_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    event_type_id: int | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- N-GET (PS3.7 10.3.2) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NGetRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_GET_RQ
    message_id: int
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    attribute_identifier_list: tuple[int, ...] = ()  # tags as ints; empty means "all attributes"
    has_dataset: bool = False
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NGetRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_GET_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False  # the Attribute List, on success
    status_detail: Dataset | None = None


# -- N-SET (PS3.7 10.3.3) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NSetRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_SET_RQ
    message_id: int
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    has_dataset: bool = True  # the Modification List is mandatory
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NSetRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_SET_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- N-ACTION (PS3.7 10.3.4) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NActionRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_ACTION_RQ
    message_id: int
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    action_type_id: int
    has_dataset: bool = False  # Action Information, when the action has some
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NActionRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_ACTION_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    action_type_id: int | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- N-CREATE (PS3.7 10.3.5) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NCreateRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_CREATE_RQ
    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str | None = None  # U: the SCP assigns one when absent
    has_dataset: bool = False  # the Attribute List, when there is one
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NCreateRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_CREATE_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


# -- N-DELETE (PS3.7 10.3.6) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NDeleteRQ:
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_DELETE_RQ
    message_id: int
    requested_sop_class_uid: str
    requested_sop_instance_uid: str
    has_dataset: bool = False
    extra_elements: Dataset | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NDeleteRSP(_Response):
    COMMAND_FIELD: ClassVar[CommandField] = CommandField.N_DELETE_RSP
    message_id_being_responded_to: int
    status: int = 0x0000
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    has_dataset: bool = False
    status_detail: Dataset | None = None


DimseRequest = (
    CEchoRQ
    | CStoreRQ
    | CFindRQ
    | CGetRQ
    | CMoveRQ
    | CCancelRQ
    | NEventReportRQ
    | NGetRQ
    | NSetRQ
    | NActionRQ
    | NCreateRQ
    | NDeleteRQ
)
DimseResponse = (
    CEchoRSP
    | CStoreRSP
    | CFindRSP
    | CGetRSP
    | CMoveRSP
    | NEventReportRSP
    | NGetRSP
    | NSetRSP
    | NActionRSP
    | NCreateRSP
    | NDeleteRSP
)
DimseMessage = DimseRequest | DimseResponse

_REQUEST_CLASSES: tuple[type[Any], ...] = DimseRequest.__args__
_RESPONSE_CLASSES: tuple[type[Any], ...] = DimseResponse.__args__
MESSAGE_CLASSES: tuple[type[Any], ...] = _REQUEST_CLASSES + _RESPONSE_CLASSES
_CLASS_BY_FIELD: dict[int, type[Any]] = {cls.COMMAND_FIELD: cls for cls in MESSAGE_CLASSES}


# ==================================================================================================
# Per-class layout, computed once from the dataclass fields and pydicom's dictionary


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str  # "C-STORE-RQ"
    elements: tuple[tuple[int, str, str], ...]  # (tag, attribute, VR) of the command elements, tag order
    required: frozenset[str]  # attributes without a default: a decoded command must have them
    extra_attribute: str  # "status_detail" or "extra_elements"
    command_field_bytes: bytes  # the (0000,0100) element, encoded once


_US = Struct("<H")
_UL = Struct("<L")
_ELEMENT_HEADER = Struct("<HHL")  # implicit VR: group, element, 32-bit length (PS3.5 7.1.3)
_TAG_AND_LENGTH = Struct("<HHL")
_AT_VALUE = Struct("<HH")


def _layout_for(cls: type[Any]) -> _Layout:
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields if f.name in _KEYWORDS]
    elements = tuple(sorted((_TAGS[n], n, _VRS[n]) for n in names))
    required = {f.name for f in fields if f.default is dataclasses.MISSING}
    is_response = cls in _RESPONSE_CLASSES
    if is_response:
        required.add("status")  # PS3.7: mandatory in every response, though we default it when sending
    extra = "status_detail" if is_response else "extra_elements"
    field_bytes = _TAG_AND_LENGTH.pack(0, 0x0100, 2) + _US.pack(cls.COMMAND_FIELD)
    return _Layout(message_name(cls), elements, frozenset(required), extra, field_bytes)


def message_name(message: object) -> str:
    """The PS3.7 name, "C-STORE-RQ", of a message or a message class."""
    cls = message if isinstance(message, type) else type(message)
    return CommandField(getattr(cls, "COMMAND_FIELD")).name.replace("_", "-")  # noqa: B009


_LAYOUTS: dict[type[Any], _Layout] = {cls: _layout_for(cls) for cls in MESSAGE_CLASSES}


# ==================================================================================================
# Helpers


def is_request(message: DimseMessage) -> bool:
    """True for -RQ messages (PS3.7 E.1: bit 15 of Command Field clear)."""
    return not message.COMMAND_FIELD & 0x8000


_RESPONSE_FOR: dict[type[Any], type[Any]] = {
    cls: _CLASS_BY_FIELD[cls.COMMAND_FIELD | 0x8000]
    for cls in _REQUEST_CLASSES
    if cls.COMMAND_FIELD | 0x8000 in _CLASS_BY_FIELD
}


def response_class_for(request: DimseRequest | type[Any]) -> type[DimseResponse]:
    """The response class answering ``request`` (an instance or class); C-CANCEL has none."""
    cls = request if isinstance(request, type) else type(request)
    try:
        return _RESPONSE_FOR[cls]
    except KeyError:
        raise DimseError(f"{message_name(cls)} has no response message") from None


def describe_message(message: DimseMessage) -> str:
    """One line for logs: "C-STORE-RQ id=3 CT Image Storage 1.2.3.4"."""
    name = message_name(message)
    parts = [name]
    if isinstance(message, _RESPONSE_CLASSES):
        parts.append(f"to id={message.message_id_being_responded_to}")
        parts.append(describe_status(message.status, name[:-4]))
    elif isinstance(message, CCancelRQ):
        parts.append(f"for id={message.message_id_being_responded_to}")
    else:
        parts.append(f"id={message.message_id}")  # type: ignore[union-attr]
    sop_class = getattr(message, "affected_sop_class_uid", None) or getattr(
        message, "requested_sop_class_uid", None
    )
    if sop_class:
        parts.append(UID(sop_class).name)
    instance = getattr(message, "affected_sop_instance_uid", None) or getattr(
        message, "requested_sop_instance_uid", None
    )
    if instance:
        parts.append(instance)
    if isinstance(message, CMoveRQ):
        parts.append(f"to {message.move_destination}")
    counts = [
        f"{label}={value}"
        for label, value in (
            ("remaining", getattr(message, "number_of_remaining_suboperations", None)),
            ("completed", getattr(message, "number_of_completed_suboperations", None)),
            ("failed", getattr(message, "number_of_failed_suboperations", None)),
            ("warning", getattr(message, "number_of_warning_suboperations", None)),
        )
        if value is not None
    ]
    parts.extend(counts)
    comment = getattr(message, "error_comment", None)
    if comment:
        parts.append(f'"{comment}"')
    if message.has_dataset:
        parts.append("+ data set")
    return " ".join(parts)


# ==================================================================================================
# Encoding


def encode_command(message: DimseMessage, *, has_dataset: bool | None = None) -> bytes:
    """The command set of ``message`` in Implicit VR Little Endian, Command Group Length first.

    ``has_dataset`` overrides ``message.has_dataset`` (the sender knows whether it sends one):
    Command Data Set Type is 0x0101 without a data set, 0x0000 with one (PS3.7 E.1-1).
    """
    layout = _LAYOUTS.get(type(message))
    if layout is None:
        raise DimseError(f"{type(message).__name__} is not a DIMSE message")
    with_dataset = message.has_dataset if has_dataset is None else has_dataset
    _check_lengths(message, layout)
    extra: Dataset | None = getattr(message, layout.extra_attribute)
    if extra is not None and len(extra):
        return _encode_with_pydicom(message, with_dataset)
    try:
        return _encode_fast(message, layout, with_dataset)
    except (StructError, UnicodeEncodeError, TypeError, ValueError) as exc:
        raise DimseError(f"{layout.name}: a command element has an invalid value ({exc})") from exc


def _check_lengths(message: DimseMessage, layout: _Layout) -> None:
    for _, attribute, vr in layout.elements:
        value = getattr(message, attribute)
        if isinstance(value, str):
            limit = _MAX_UI_LENGTH if vr == "UI" else _MAX_AE_LENGTH if vr == "AE" else None
            if limit is not None and len(value) > limit:
                raise DimseError(
                    f"{layout.name}: {_KEYWORDS[attribute]} {value!r} is {len(value)} characters long, "
                    f"more than the {limit} a {vr} may have (PS3.5 6.2)"
                )


def _encode_fast(message: DimseMessage, layout: _Layout, with_dataset: bool) -> bytes:
    """Element by element, in tag order, exactly as pydicom writes Implicit VR Little Endian."""
    out = bytearray()
    dataset_type = DATASET_PRESENT if with_dataset else NO_DATASET
    pending_fixed = [
        (_COMMAND_FIELD_TAG, layout.command_field_bytes),
        (_DATASET_TYPE_TAG, _TAG_AND_LENGTH.pack(0, 0x0800, 2) + _US.pack(dataset_type)),
    ]
    for tag, attribute, vr in layout.elements:
        while pending_fixed and pending_fixed[0][0] < tag:
            out += pending_fixed.pop(0)[1]
        value = getattr(message, attribute)
        if value is None:
            continue
        if vr == "US":
            out += _TAG_AND_LENGTH.pack(0, tag, 2)
            out += _US.pack(value)
            continue
        if vr == "AT":
            if not value:
                continue
            raw = b"".join(_AT_VALUE.pack(t >> 16, t & 0xFFFF) for t in value)
        else:  # UI pads with NUL, AE with space (PS3.5 6.2)
            raw = value.encode("ascii")
            if len(raw) & 1:
                raw += b"\0" if vr == "UI" else b" "
        out += _TAG_AND_LENGTH.pack(0, tag, len(raw))
        out += raw
    for _, fixed in pending_fixed:
        out += fixed
    return _TAG_AND_LENGTH.pack(0, 0, 4) + _UL.pack(len(out)) + out


def _encode_with_pydicom(message: DimseMessage, with_dataset: bool) -> bytes:
    """The reference encoder: pydicom writes every element, typed fields and extra elements alike."""
    layout = _LAYOUTS[type(message)]
    ds = Dataset()
    extra: Dataset | None = getattr(message, layout.extra_attribute)
    for element in extra or ():
        if element.tag.group != 0:
            raise DimseError(
                f"{layout.name}: {layout.extra_attribute} may hold only command elements (group 0000), "
                f"not {element.tag} {element.keyword or ''}".rstrip()
            )
        ds.add(element)
    ds.add_new(_COMMAND_FIELD_TAG, "US", int(message.COMMAND_FIELD))
    ds.add_new(_DATASET_TYPE_TAG, "US", DATASET_PRESENT if with_dataset else NO_DATASET)
    for tag, attribute, vr in layout.elements:
        value = getattr(message, attribute)
        if value is None or (vr == "AT" and not value):
            continue
        ds.add_new(tag, vr, list(value) if vr == "AT" else value)
    body = _write_implicit_le(ds)
    ds.add_new(_GROUP_LENGTH_TAG, "UL", len(body))
    return _write_implicit_le(ds)


def _write_implicit_le(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    try:
        write_dataset(fp, ds)
    except Exception as exc:  # pydicom raises many types for values it cannot encode
        raise DimseError(f"cannot encode the command set: {exc}") from exc
    return fp.getvalue()


# ==================================================================================================
# Decoding


def decode_command(data: bytes | bytearray | memoryview) -> DimseMessage:
    """The message whose command set is ``data`` (Implicit VR Little Endian, PS3.7 6.3.1)."""
    mv = memoryview(data)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    raw = _split_elements(mv)
    cls = _class_of(raw)
    layout = _LAYOUTS[cls]
    values: dict[str, Any] = {}
    for tag, attribute, vr in layout.elements:
        value = raw.pop(tag, None)
        if value is not None:
            values[attribute] = _convert(value, vr, attribute, layout)
    dataset_type = _us(raw.pop(_DATASET_TYPE_TAG, None), "CommandDataSetType", layout)
    del raw[_COMMAND_FIELD_TAG]
    raw.pop(_GROUP_LENGTH_TAG, None)
    if raw:
        values[layout.extra_attribute] = _read_elements(raw)
    return _build(cls, layout, values, dataset_type)


def _split_elements(mv: memoryview) -> dict[int, memoryview]:
    """Element number -> value bytes; every element must be in group 0000 with a defined length."""
    elements: dict[int, memoryview] = {}
    offset, end = 0, len(mv)
    unpack = _ELEMENT_HEADER.unpack_from
    while offset < end:
        if end - offset < 8:
            raise DimseError(
                f"the command set ends with {end - offset} stray byte(s) where an element header was expected"
            )
        group, element, length = unpack(mv, offset)
        offset += 8
        if group != 0:
            raise DimseError(
                f"the command set contains element ({group:04X},{element:04X}) outside group 0000: "
                "this is not a DIMSE command (PS3.7 6.3.1)"
            )
        if length > end - offset:
            raise DimseError(
                f"command element (0000,{element:04X}) claims {length} bytes but only {end - offset} follow"
            )
        elements[element] = mv[offset : offset + length]
        offset += length
    if not elements:
        raise DimseError("the command set is empty")
    return elements


def _class_of(raw: dict[int, memoryview]) -> type[Any]:
    field = raw.get(_COMMAND_FIELD_TAG)
    if field is None:
        raise DimseError("the command set has no Command Field (0000,0100): this is not a DIMSE command")
    if len(field) != 2:
        raise DimseError(f"the Command Field (0000,0100) is {len(field)} bytes long instead of 2")
    value = _US.unpack(field)[0]
    cls = _CLASS_BY_FIELD.get(value)
    if cls is None:
        raise DimseError(
            f"unknown DIMSE command field 0x{value:04X} (PS3.7 E.1): the peer sent an unsupported message"
        )
    return cls


def _us(value: memoryview | None, keyword: str, layout: _Layout) -> int:
    if value is None:
        raise DimseError(f"{layout.name} lacks {keyword}")
    if len(value) != 2:
        raise DimseError(f"{layout.name}: {keyword} is {len(value)} bytes long instead of 2 (US)")
    return int(_US.unpack(value)[0])


def _convert(value: memoryview, vr: str, attribute: str, layout: _Layout) -> Any:
    if vr == "US":
        return None if not len(value) else _us(value, _KEYWORDS[attribute], layout)
    if vr == "AT":
        if len(value) % 4:
            raise DimseError(f"{layout.name}: {_KEYWORDS[attribute]} is not a whole number of tags")
        return tuple((g << 16) | e for g, e in _AT_VALUE.iter_unpack(value))
    # pydicom's convert_UI / convert_AE_string: the default character repertoire, padding removed.
    text = bytes(value).decode("iso8859")
    return text.rstrip("\0 ") if vr == "UI" else text.strip()


def _read_elements(raw: dict[int, memoryview]) -> Dataset:
    """The elements no attribute takes, parsed by pydicom (they are rare: status detail, private)."""
    encoded = b"".join(_TAG_AND_LENGTH.pack(0, tag, len(value)) + bytes(value) for tag, value in raw.items())
    return _read_implicit_le(encoded)


def _read_implicit_le(data: bytes) -> Dataset:
    try:
        ds = read_dataset(io.BytesIO(data), is_implicit_VR=True, is_little_endian=True)
        for element in ds:  # force the lazy conversion now, while we can still say what is wrong
            _ = element.value
    except Exception as exc:
        raise DimseError(f"the command set is not a valid Implicit VR Little Endian data set: {exc}") from exc
    return ds


def _build(cls: type[Any], layout: _Layout, values: dict[str, Any], dataset_type: int) -> DimseMessage:
    missing = [a for a in layout.required if values.get(a) is None]
    if missing:
        names = ", ".join(sorted(f"{_KEYWORDS[a]} {_tag_text(_TAGS[a])}" for a in missing))
        raise DimseError(f"{layout.name} lacks {names} (PS3.7)")
    for attribute, value in list(values.items()):
        if value is None:
            del values[attribute]  # an empty element: use the class default
    message: DimseMessage = cls(**values, has_dataset=dataset_type != NO_DATASET)
    return message


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _decode_with_pydicom(data: bytes) -> DimseMessage:
    """The reference decoder: pydicom reads the whole command set (used by the tests)."""
    ds = _read_implicit_le(bytes(data))
    if "CommandField" not in ds:
        raise DimseError("the command set has no Command Field (0000,0100): this is not a DIMSE command")
    cls = _CLASS_BY_FIELD.get(int(ds.CommandField))
    if cls is None:
        raise DimseError(f"unknown DIMSE command field 0x{int(ds.CommandField):04X} (PS3.7 E.1)")
    layout = _LAYOUTS[cls]
    values: dict[str, Any] = {}
    for tag, attribute, vr in layout.elements:
        if tag in ds:
            value = ds[tag].value
            if vr == "AT":
                tags = [] if value is None else [value] if isinstance(value, int) else value
                value = tuple(int(t) for t in tags)
            elif vr in ("UI", "AE"):
                value = str(value)
            values[attribute] = value
            del ds[tag]
    if "CommandDataSetType" not in ds:
        raise DimseError(f"{layout.name} lacks CommandDataSetType")
    dataset_type = int(ds.CommandDataSetType)
    for keyword in ("CommandGroupLength", "CommandField", "CommandDataSetType"):
        if keyword in ds:
            delattr(ds, keyword)
    if len(ds):
        values[layout.extra_attribute] = ds
    return _build(cls, layout, values, dataset_type)
