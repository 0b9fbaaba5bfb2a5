"""The seven PS3.8 PDUs and their items, as plain frozen data.

This module holds only the data model and the wire constants: encoding and decoding live in
``pdu_codec``, the readable trace in ``trace``.  Nothing here does I/O.

Names follow PS3.8 section 9.3 (PDU structure) and Annex D (user information sub-items).
UIDs and AE titles are ``str`` without padding; the codec pads and strips them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

# PS3.8 9.3.2: the only application context name defined by DICOM.
DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# PS3.8 9.3.2: protocol version bit 0 set.
PROTOCOL_VERSION = 0x0001


class PDUType(IntEnum):
    """PS3.8 Table 9-11 .. 9-26: the PDU type byte."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ItemType(IntEnum):
    """PS3.8 9.3.2.1-9.3.3.3 and Annex D: the item type byte of variable items and sub-items."""

    APPLICATION_CONTEXT = 0x10
    PRESENTATION_CONTEXT_RQ = 0x20
    PRESENTATION_CONTEXT_AC = 0x21
    ABSTRACT_SYNTAX = 0x30
    TRANSFER_SYNTAX = 0x40
    USER_INFORMATION = 0x50
    MAXIMUM_LENGTH = 0x51  # PS3.8 D.1
    IMPLEMENTATION_CLASS_UID = 0x52  # PS3.7 D.3.3.2
    ASYNCHRONOUS_OPERATIONS_WINDOW = 0x53  # PS3.7 D.3.3.3
    ROLE_SELECTION = 0x54  # PS3.7 D.3.3.4
    IMPLEMENTATION_VERSION_NAME = 0x55  # PS3.7 D.3.3.2
    SOP_CLASS_EXTENDED_NEGOTIATION = 0x56  # PS3.7 D.3.3.5
    SOP_CLASS_COMMON_EXTENDED_NEGOTIATION = 0x57  # PS3.7 D.3.3.6
    USER_IDENTITY_RQ = 0x58  # PS3.7 D.3.3.7
    USER_IDENTITY_AC = 0x59  # PS3.7 D.3.3.7


class ContextResult(IntEnum):
    """PS3.8 Table 9-18: result/reason of a presentation context in an A-ASSOCIATE-AC."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2  # provider rejection, no reason given
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3  # provider rejection
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4  # provider rejection


class RejectResult(IntEnum):
    """PS3.8 Table 9-21: A-ASSOCIATE-RJ result."""

    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class RejectSource(IntEnum):
    """PS3.8 Table 9-21: A-ASSOCIATE-RJ source."""

    SERVICE_USER = 1
    SERVICE_PROVIDER_ACSE = 2
    SERVICE_PROVIDER_PRESENTATION = 3


class RejectReason(IntEnum):
    """PS3.8 Table 9-21: A-ASSOCIATE-RJ reason/diagnostic.

    The same number means different things for different sources, so the names carry the source.
    """

    # source 1 (DICOM UL service-user)
    USER_NO_REASON = 1
    USER_APPLICATION_CONTEXT_NOT_SUPPORTED = 2
    USER_CALLING_AE_NOT_RECOGNIZED = 3
    USER_CALLED_AE_NOT_RECOGNIZED = 7


class ProviderACSERejectReason(IntEnum):
    """PS3.8 Table 9-21, source 2 (DICOM UL service-provider, ACSE related function)."""

    NO_REASON = 1
    PROTOCOL_VERSION_NOT_SUPPORTED = 2


class ProviderPresentationRejectReason(IntEnum):
    """PS3.8 Table 9-21, source 3 (DICOM UL service-provider, presentation related function)."""

    TEMPORARY_CONGESTION = 1
    LOCAL_LIMIT_EXCEEDED = 2


class AbortSource(IntEnum):
    """PS3.8 Table 9-26: A-ABORT source."""

    SERVICE_USER = 0
    RESERVED = 1
    SERVICE_PROVIDER = 2


class AbortReason(IntEnum):
    """PS3.8 Table 9-26: A-ABORT reason/diagnostic (meaningful when the source is the provider)."""

    NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    RESERVED = 3
    UNRECOGNIZED_PDU_PARAMETER = 4
    UNEXPECTED_PDU_PARAMETER = 5
    INVALID_PDU_PARAMETER_VALUE = 6


class UserIdentityType(IntEnum):
    """PS3.7 Table D.3-14: user identity type."""

    USERNAME = 1
    USERNAME_AND_PASSCODE = 2
    KERBEROS = 3
    SAML = 4
    JWT = 5


# --------------------------------------------------------------------------------------------------
# Items of the A-ASSOCIATE PDUs


@dataclass(frozen=True, slots=True)
class PresentationContextRQ:
    """PS3.8 9.3.2.2: one proposed presentation context (odd ID 1-255)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PresentationContextAC:
    """PS3.8 9.3.3.2: the acceptor's answer for one context.

    ``transfer_syntax`` is the accepted one; PS3.8 says it is not significant when the result is not
    acceptance (it may be empty).
    """

    context_id: int
    result: ContextResult
    transfer_syntax: str = ""


@dataclass(frozen=True, slots=True)
class AsynchronousOperationsWindow:
    """PS3.7 D.3.3.3: maximum operations invoked / performed (0 means unlimited)."""

    max_invoked: int = 1
    max_performed: int = 1


@dataclass(frozen=True, slots=True)
class RoleSelection:
    """PS3.7 D.3.3.4: SCU/SCP role for one SOP class."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool


@dataclass(frozen=True, slots=True)
class SOPClassExtendedNegotiation:
    """PS3.7 D.3.3.5: service-class application information for one SOP class."""

    sop_class_uid: str
    application_info: bytes


@dataclass(frozen=True, slots=True)
class SOPClassCommonExtendedNegotiation:
    """PS3.7 D.3.3.6 (request only)."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserIdentityRQ:
    """PS3.7 D.3.3.7.1: the requestor's user identity."""

    identity_type: UserIdentityType
    positive_response_requested: bool
    primary_field: bytes
    secondary_field: bytes = b""


@dataclass(frozen=True, slots=True)
class UserIdentityAC:
    """PS3.7 D.3.3.7.2: the acceptor's server response."""

    server_response: bytes


@dataclass(frozen=True, slots=True)
class UserInformation:
    """PS3.8 9.3.2.3 / 9.3.3.3: the user information item and its sub-items.

    ``maximum_length`` 0 means "no limit" (PS3.8 D.1).  Sub-items the codec does not know are kept as
    ``(item_type, raw_value)`` so that nothing a peer sends is silently lost from a trace.
    """

    maximum_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    asynchronous_operations_window: AsynchronousOperationsWindow | None = None
    role_selections: tuple[RoleSelection, ...] = ()
    sop_class_extended: tuple[SOPClassExtendedNegotiation, ...] = ()
    sop_class_common_extended: tuple[SOPClassCommonExtendedNegotiation, ...] = ()
    user_identity_rq: UserIdentityRQ | None = None
    user_identity_ac: UserIdentityAC | None = None
    unknown_items: tuple[tuple[int, bytes], ...] = ()


# --------------------------------------------------------------------------------------------------
# The seven PDUs


@dataclass(frozen=True, slots=True)
class AAssociateRQ:
    """PS3.8 9.3.2."""

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextRQ, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class AAssociateAC:
    """PS3.8 9.3.3.  The AE titles echo the request (PS3.8: sent, but not to be tested)."""

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextAC, ...]
    user_information: UserInformation = field(default_factory=UserInformation)
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class AAssociateRJ:
    """PS3.8 9.3.4.  ``reason`` is interpreted according to ``source`` (see ``describe_rejection``)."""

    result: RejectResult
    source: RejectSource
    reason: int


@dataclass(frozen=True, slots=True)
class PresentationDataValue:
    """PS3.8 9.3.5.1: one PDV.  The message control header is split into its two bits.

    ``data`` is any bytes-like object; decoded PDVs hold a ``memoryview`` into the received PDU so
    that large data sets are not copied on the way in.
    """

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class PDataTF:
    """PS3.8 9.3.5."""

    values: tuple[PresentationDataValue, ...]


@dataclass(frozen=True, slots=True)
class AReleaseRQ:
    """PS3.8 9.3.6."""


@dataclass(frozen=True, slots=True)
class AReleaseRP:
    """PS3.8 9.3.7."""


@dataclass(frozen=True, slots=True)
class AAbort:
    """PS3.8 9.3.8."""

    source: AbortSource = AbortSource.SERVICE_USER
    reason: int = AbortReason.NOT_SPECIFIED


PDU = AAssociateRQ | AAssociateAC | AAssociateRJ | PDataTF | AReleaseRQ | AReleaseRP | AAbort


# --------------------------------------------------------------------------------------------------
# Words for the numbers


def describe_rejection(result: RejectResult | int, source: RejectSource | int, reason: int) -> str:
    """A technologist's sentence for an A-ASSOCIATE-RJ (PS3.8 Table 9-21)."""
    permanence = "permanently" if result == RejectResult.REJECTED_PERMANENT else "transiently"
    if source == RejectSource.SERVICE_USER:
        why = {
            1: "no reason given",
            2: "application context name not supported",
            3: "calling AE title not recognized: add our AE title to the peer's list of known nodes",
            7: "called AE title not recognized: check the peer's AE title (-aec)",
        }.get(reason, f"reason {reason}")
        who = "the called application"
    elif source == RejectSource.SERVICE_PROVIDER_ACSE:
        why = {1: "no reason given", 2: "protocol version not supported"}.get(reason, f"reason {reason}")
        who = "the peer's upper layer (ACSE)"
    else:
        why = {
            1: "temporary congestion: try again later",
            2: "local limit exceeded: too many associations",
        }.get(reason, f"reason {reason}")
        who = "the peer's upper layer (presentation)"
    codes = f"result {int(result)}, source {int(source)}, reason {reason}"
    return f"Association rejected {permanence} by {who}: {why} ({codes})"


def describe_abort(source: AbortSource | int, reason: int) -> str:
    """A technologist's sentence for an A-ABORT (PS3.8 Table 9-26)."""
    if source == AbortSource.SERVICE_PROVIDER:
        why = {
            0: "reason not specified",
            1: "unrecognized PDU",
            2: "unexpected PDU",
            4: "unrecognized PDU parameter",
            5: "unexpected PDU parameter",
            6: "invalid PDU parameter value",
        }.get(reason, f"reason {reason}")
        return f"Association aborted by the peer's upper layer: {why} (source 2, reason {reason})"
    # A service-user abort carries no reason.  In practice nodes send one when they refuse the calling
    # AE title or the service asked for after accepting the association (Orthanc does): say so.
    return (
        f"Association aborted by the peer application (source {int(source)}, reason {reason}): it gives "
        "no reason; check that the peer knows our AE title and allows this service for it"
    )


def describe_context_result(result: ContextResult | int) -> str:
    """Words for a presentation context result (PS3.8 Table 9-18)."""
    return {
        0: "accepted",
        1: "rejected by the user",
        2: "rejected, no reason given",
        3: "rejected: abstract syntax (SOP class) not supported",
        4: "rejected: none of the proposed transfer syntaxes is supported",
    }.get(int(result), f"result {int(result)}")
