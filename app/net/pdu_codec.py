"""Encode and decode the seven PS3.8 PDUs; frame them out of a byte stream (sans-IO).

``encode_pdu`` / ``decode_pdu`` work on one whole PDU.  ``PDUReader`` turns the bytes a transport
receives, in whatever pieces they arrive, into whole PDUs.  Like h11's ``receive_data`` /
``next_event``, ``PDUReader.feed`` never raises for what the peer sent: a protocol violation is
raised by ``next_pdu`` once the PDUs that arrived before it have been handed out.

Layouts: PS3.8 9.3 (PDUs and items) and PS3.7 Annex D.3.3 (user information sub-items).  Every
integer is big endian (PS3.8 9.3.1).  Reserved fields are sent as zero and not tested on receipt.

The P-DATA-TF path is the hot one: decoded PDV data are ``memoryview`` slices of the received PDU
(no copy) and ``encode_pdata_parts`` returns the PDV data objects themselves for a gathered write.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from struct import Struct
from typing import TypeVar

from app.net.errors import LocalProtocolError, RemoteProtocolError
from app.net.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortReason,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    AsynchronousOperationsWindow,
    ContextResult,
    ItemType,
    PDataTF,
    PDUType,
    PresentationContextAC,
    PresentationContextRQ,
    PresentationDataValue,
    RejectResult,
    RejectSource,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
)

__all__ = [
    "MAX_SANE_PDU_LENGTH",
    "MAX_UNLIMITED_PDATA_LENGTH",
    "PDU_HEADER_LENGTH",
    "PDV_HEADER_LENGTH",
    "PDUReader",
    "decode_pdu",
    "encode_pdata_parts",
    "encode_pdu",
]

PDU_HEADER_LENGTH = 6  # PS3.8 9.3.1: type(1) reserved(1) length(4)
PDV_HEADER_LENGTH = 6  # PS3.8 9.3.5.1: item length(4) context id(1) message control header(1)

# An A-ASSOCIATE with hundreds of contexts is a few tens of KiB; anything non-P-DATA claiming more than
# this is hostile or corrupt and is refused before a byte of its body is buffered.
MAX_SANE_PDU_LENGTH = 1024 * 1024

# PS3.8 D.1: a maximum length of 0 means "no limit"; we still refuse to buffer more than this in one PDU.
MAX_UNLIMITED_PDATA_LENGTH = 256 * 1024 * 1024

_PDU_HEADER = Struct(">BBL")
_ITEM_HEADER = Struct(">BBH")
_PDV_HEADER = Struct(">LBB")
# PS3.8 9.3.2 / 9.3.3: protocol version(2) reserved(2) called AE(16) calling AE(16) reserved(32)
_ASSOCIATE_FIXED = Struct(">HH16s16s32x")
_FOUR_BYTES = Struct(">xBBB")  # A-ASSOCIATE-RJ and A-ABORT bodies: reserved(1) then three bytes
_ABORT_BODY = Struct(">xxBB")  # PS3.8 9.3.8: reserved(2) source(1) reason(1)
_CONTEXT_FIXED = Struct(">BxBx")  # PS3.8 9.3.2.2 / 9.3.3.2: id(1) reserved(1) result(1) reserved(1)
_U8 = Struct(">B")
_U16 = Struct(">H")
_U32 = Struct(">L")
_TWO_U16 = Struct(">HH")
_TWO_U8 = Struct(">BB")

_ASSOCIATE_FIXED_LENGTH = _ASSOCIATE_FIXED.size  # 68
_RELEASE_BODY = b"\x00\x00\x00\x00"  # PS3.8 9.3.6 / 9.3.7: four reserved bytes
_COMMAND_BIT = 0x01  # PS3.8 E.2: message control header bit 0 - command (1) or data set (0)
_LAST_BIT = 0x02  # PS3.8 E.2: bit 1 - last fragment (1) or not (0)
_MAX_ITEM_LENGTH = 0xFFFF
_MAX_PDU_LENGTH = 0xFFFFFFFF

_PDU_NAMES = {
    PDUType.A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    PDUType.A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    PDUType.A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    PDUType.P_DATA_TF: "P-DATA-TF",
    PDUType.A_RELEASE_RQ: "A-RELEASE-RQ",
    PDUType.A_RELEASE_RP: "A-RELEASE-RP",
    PDUType.A_ABORT: "A-ABORT",
}

Buffer = bytes | bytearray | memoryview
_E = TypeVar("_E")


# ==================================================================================================
# Encoding


def _byte_length(data: Buffer) -> int:
    return data.nbytes if isinstance(data, memoryview) else len(data)


def _ascii(value: str, what: str) -> bytes:
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} {value!r} must contain only ASCII characters") from None


def _encode_ae_title(title: str, what: str) -> bytes:
    raw = _ascii(title.strip(" "), what)
    if not raw or len(raw) > 16:
        raise LocalProtocolError(f"{what} {title!r} must be 1 to 16 characters (PS3.8 9.3.2)")
    return raw.ljust(16, b" ")  # PS3.8 9.3.2: 16 characters, space padded


def _encode_uid(uid: str, what: str) -> bytes:
    # PS3.8 9.3.2.2 / Annex F: UIDs are not padded on the wire (an odd length is fine), as pynetdicom
    # and DCMTK send them.
    return _ascii(uid, what)


def _item(item_type: int, value: bytes, first_reserved: int = 0) -> bytes:
    if len(value) > _MAX_ITEM_LENGTH:
        raise LocalProtocolError(
            f"item 0x{item_type:02X} is {len(value)} bytes; PS3.8 allows at most {_MAX_ITEM_LENGTH}"
        )
    return _ITEM_HEADER.pack(item_type, first_reserved, len(value)) + value


def _length_prefixed(value: bytes, what: str) -> bytes:
    if len(value) > _MAX_ITEM_LENGTH:
        raise LocalProtocolError(f"{what} is {len(value)} bytes; at most {_MAX_ITEM_LENGTH} fit")
    return _U16.pack(len(value)) + value


def _encode_context_rq(context: PresentationContextRQ) -> bytes:
    parts = [
        _CONTEXT_FIXED.pack(context.context_id, 0),
        _item(ItemType.ABSTRACT_SYNTAX, _encode_uid(context.abstract_syntax, "abstract syntax")),
    ]
    parts += [
        _item(ItemType.TRANSFER_SYNTAX, _encode_uid(ts, "transfer syntax"))
        for ts in context.transfer_syntaxes
    ]
    return _item(ItemType.PRESENTATION_CONTEXT_RQ, b"".join(parts))


def _encode_context_ac(context: PresentationContextAC) -> bytes:
    # PS3.8 9.3.3.2: the transfer syntax sub-item is always sent; when the context is rejected its value
    # "shall not be tested", so an empty one is fine.
    value = _CONTEXT_FIXED.pack(context.context_id, int(context.result)) + _item(
        ItemType.TRANSFER_SYNTAX, _encode_uid(context.transfer_syntax, "transfer syntax")
    )
    return _item(ItemType.PRESENTATION_CONTEXT_AC, value)


def _encode_common_extended(item: SOPClassCommonExtendedNegotiation) -> bytes:
    related = b"".join(
        _length_prefixed(_encode_uid(uid, "related general SOP class"), "related general SOP class UID")
        for uid in item.related_general_sop_classes
    )
    value = (
        _length_prefixed(_encode_uid(item.sop_class_uid, "SOP class"), "SOP class UID")
        + _length_prefixed(_encode_uid(item.service_class_uid, "service class"), "service class UID")
        + _length_prefixed(related, "related general SOP class identification")
    )
    # PS3.7 D.3.3.6: the second byte is the sub-item version, 0.
    return _item(ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION, value, first_reserved=0)


def _encode_user_information(info: UserInformation) -> bytes:
    # PS3.8 9.3.1: items in increasing order of item type.
    parts: list[bytes] = []
    if info.maximum_length is not None:
        parts.append(_item(ItemType.MAXIMUM_LENGTH, _U32.pack(info.maximum_length)))
    if info.implementation_class_uid is not None:
        uid = _encode_uid(info.implementation_class_uid, "implementation class UID")
        parts.append(_item(ItemType.IMPLEMENTATION_CLASS_UID, uid))
    if info.asynchronous_operations_window is not None:
        window = info.asynchronous_operations_window
        value = _TWO_U16.pack(window.max_invoked, window.max_performed)
        parts.append(_item(ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW, value))
    for role in info.role_selections:
        value = _length_prefixed(
            _encode_uid(role.sop_class_uid, "SOP class"), "SOP class UID"
        ) + _TWO_U8.pack(int(role.scu_role), int(role.scp_role))
        parts.append(_item(ItemType.ROLE_SELECTION, value))
    if info.implementation_version_name is not None:
        name = _ascii(info.implementation_version_name, "implementation version name")
        parts.append(_item(ItemType.IMPLEMENTATION_VERSION_NAME, name))
    for extended in info.sop_class_extended:
        value = _length_prefixed(_encode_uid(extended.sop_class_uid, "SOP class"), "SOP class UID") + bytes(
            extended.application_info
        )
        parts.append(_item(ItemType.SOP_CLASS_EXTENDED_NEGOTIATION, value))
    parts += [_encode_common_extended(common) for common in info.sop_class_common_extended]
    if info.user_identity_rq is not None:
        identity = info.user_identity_rq
        value = (
            _TWO_U8.pack(int(identity.identity_type), int(identity.positive_response_requested))
            + _length_prefixed(bytes(identity.primary_field), "user identity primary field")
            + _length_prefixed(bytes(identity.secondary_field), "user identity secondary field")
        )
        parts.append(_item(ItemType.USER_IDENTITY_RQ, value))
    if info.user_identity_ac is not None:
        response = _length_prefixed(
            bytes(info.user_identity_ac.server_response), "user identity server response"
        )
        parts.append(_item(ItemType.USER_IDENTITY_AC, response))
    parts += [_item(item_type, bytes(raw)) for item_type, raw in info.unknown_items]
    return _item(ItemType.USER_INFORMATION, b"".join(parts))


def _encode_associate(pdu: AAssociateRQ | AAssociateAC, pdu_type: PDUType) -> bytes:
    fixed = _ASSOCIATE_FIXED.pack(
        pdu.protocol_version,
        0,
        _encode_ae_title(pdu.called_ae_title, "called AE title"),
        _encode_ae_title(pdu.calling_ae_title, "calling AE title"),
    )
    parts = [
        fixed,
        _item(ItemType.APPLICATION_CONTEXT, _encode_uid(pdu.application_context, "application context")),
    ]
    if isinstance(pdu, AAssociateRQ):
        parts += [_encode_context_rq(context) for context in pdu.presentation_contexts]
    else:
        parts += [_encode_context_ac(context) for context in pdu.presentation_contexts]
    parts.append(_encode_user_information(pdu.user_information))
    return _with_header(pdu_type, b"".join(parts))


def _with_header(pdu_type: PDUType, body: bytes) -> bytes:
    return _PDU_HEADER.pack(pdu_type, 0, len(body)) + body


def encode_pdata_parts(pdu: PDataTF) -> list[bytes | memoryview]:
    """The P-DATA-TF as a list for a gathered write: headers as small ``bytes``, PDV data not copied.

    ``b"".join(encode_pdata_parts(pdu)) == encode_pdu(pdu)``.
    """
    parts: list[bytes | memoryview] = [b""]  # the PDU header, once the length is known
    total = 0
    for pdv in pdu.values:
        data = pdv.data if isinstance(pdv.data, bytes | memoryview) else memoryview(pdv.data)
        size = _byte_length(data)
        control = (_COMMAND_BIT if pdv.is_command else 0) | (_LAST_BIT if pdv.is_last else 0)
        parts.append(_PDV_HEADER.pack(size + 2, pdv.context_id, control))
        parts.append(data)
        total += PDV_HEADER_LENGTH + size
    if total > _MAX_PDU_LENGTH:
        raise LocalProtocolError(f"P-DATA-TF of {total} bytes does not fit the 4-byte PDU length")
    parts[0] = _PDU_HEADER.pack(PDUType.P_DATA_TF, 0, total)
    return parts


def encode_pdu(pdu: PDU) -> bytes:
    """The wire bytes of one PDU (PS3.8 9.3).  Raises ``LocalProtocolError`` for unsendable values."""
    match pdu:
        case PDataTF():
            return b"".join(encode_pdata_parts(pdu))
        case AAssociateRQ():
            return _encode_associate(pdu, PDUType.A_ASSOCIATE_RQ)
        case AAssociateAC():
            return _encode_associate(pdu, PDUType.A_ASSOCIATE_AC)
        case AAssociateRJ():
            # PS3.8 9.3.4: reserved(1) result(1) source(1) reason(1)
            body = _FOUR_BYTES.pack(int(pdu.result), int(pdu.source), pdu.reason)
            return _with_header(PDUType.A_ASSOCIATE_RJ, body)
        case AReleaseRQ():
            return _with_header(PDUType.A_RELEASE_RQ, _RELEASE_BODY)
        case AReleaseRP():
            return _with_header(PDUType.A_RELEASE_RP, _RELEASE_BODY)
        case AAbort():
            return _with_header(PDUType.A_ABORT, _ABORT_BODY.pack(int(pdu.source), int(pdu.reason)))
    raise LocalProtocolError(f"not a PDU: {pdu!r}")


# ==================================================================================================
# Decoding


def _invalid(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        message,
        abort_source=AbortSource.SERVICE_PROVIDER,
        abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
    )


def _unrecognized_pdu(pdu_type: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"The peer sent a PDU of unknown type 0x{pdu_type:02X}: it is not speaking DICOM (PS3.8) on this "
        "port, or the connection is corrupt",
        abort_source=AbortSource.SERVICE_PROVIDER,
        abort_reason=AbortReason.UNRECOGNIZED_PDU,
    )


def _enum(kind: Callable[[int], _E], value: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise _invalid(f"{what} has the undefined value {value}") from None


def _decode_uid(raw: memoryview, what: str) -> str:
    try:
        # PS3.8 9.3.2.2 / Annex F: some implementations pad UIDs with a NUL (or a space); not significant.
        return bytes(raw).decode("ascii").rstrip("\x00 ")
    except UnicodeDecodeError:
        raise _invalid(f"{what} contains non-ASCII bytes: {bytes(raw[:64])!r}") from None


def _decode_ae_title(raw: bytes) -> str:
    # PS3.8 9.3.2: leading and trailing spaces are not significant; some peers pad with NUL instead.
    return raw.decode("ascii", errors="replace").strip(" \x00")


def _iter_items(mv: memoryview, start: int, end: int, where: str) -> Iterator[tuple[int, int, int]]:
    """Yield (item type, value start, value end) for each item in mv[start:end], checking the lengths."""
    offset = start
    while offset < end:
        if end - offset < 4:
            raise _invalid(
                f"{where}: {end - offset} stray byte(s) at offset {offset}, too few for an item header"
            )
        item_type, _reserved, length = _ITEM_HEADER.unpack_from(mv, offset)
        value_start = offset + 4
        value_end = value_start + length
        if value_end > end:
            raise _invalid(
                f"{where}: item 0x{item_type:02X} at offset {offset} claims {length} bytes but only "
                f"{end - value_start} remain"
            )
        yield item_type, value_start, value_end
        offset = value_end


def _u16_prefixed(mv: memoryview, offset: int, end: int, what: str) -> tuple[memoryview, int]:
    """A 2-byte length and that many bytes at mv[offset:]; returns the value and the offset after it."""
    if end - offset < 2:
        raise _invalid(f"{what}: length field is missing")
    (length,) = _U16.unpack_from(mv, offset)
    value_end = offset + 2 + length
    if value_end > end:
        raise _invalid(f"{what}: length {length} runs past the end of its item")
    return mv[offset + 2 : value_end], value_end


def _decode_context_rq(mv: memoryview, start: int, end: int) -> PresentationContextRQ:
    if end - start < 4:
        raise _invalid("A-ASSOCIATE-RQ: presentation context item shorter than its 4 fixed bytes")
    context_id, _ = _CONTEXT_FIXED.unpack_from(mv, start)
    where = f"A-ASSOCIATE-RQ presentation context {context_id}"
    abstract_syntax: str | None = None
    transfer_syntaxes: list[str] = []
    for item_type, value_start, value_end in _iter_items(mv, start + 4, end, where):
        if item_type == ItemType.ABSTRACT_SYNTAX:
            abstract_syntax = _decode_uid(mv[value_start:value_end], f"{where}: abstract syntax")
        elif item_type == ItemType.TRANSFER_SYNTAX:
            transfer_syntaxes.append(_decode_uid(mv[value_start:value_end], f"{where}: transfer syntax"))
        # PS3.8 9.3.1: items of unrecognized types are ignored and skipped.
    if abstract_syntax is None:
        raise _invalid(f"{where} has no abstract syntax sub-item (PS3.8 9.3.2.2)")
    return PresentationContextRQ(context_id, abstract_syntax, tuple(transfer_syntaxes))


def _decode_context_ac(mv: memoryview, start: int, end: int) -> PresentationContextAC:
    if end - start < 4:
        raise _invalid("A-ASSOCIATE-AC: presentation context item shorter than its 4 fixed bytes")
    context_id, result_byte = _CONTEXT_FIXED.unpack_from(mv, start)
    where = f"A-ASSOCIATE-AC presentation context {context_id}"
    result = _enum(ContextResult, result_byte, f"{where}: result/reason")
    transfer_syntax = ""
    for item_type, value_start, value_end in _iter_items(mv, start + 4, end, where):
        if item_type == ItemType.TRANSFER_SYNTAX:
            transfer_syntax = _decode_uid(mv[value_start:value_end], f"{where}: transfer syntax")
    return PresentationContextAC(context_id, result, transfer_syntax)


def _decode_common_extended(mv: memoryview, start: int, end: int) -> SOPClassCommonExtendedNegotiation:
    where = "SOP class common extended negotiation sub-item"
    sop_class, offset = _u16_prefixed(mv, start, end, where)
    service_class, offset = _u16_prefixed(mv, offset, end, where)
    related_block, offset = _u16_prefixed(mv, offset, end, where)
    related: list[str] = []
    position, block_end = 0, len(related_block)
    while position < block_end:
        uid, position = _u16_prefixed(
            related_block, position, block_end, f"{where}: related general SOP class"
        )
        related.append(_decode_uid(uid, f"{where}: related general SOP class"))
    return SOPClassCommonExtendedNegotiation(
        _decode_uid(sop_class, f"{where}: SOP class"),
        _decode_uid(service_class, f"{where}: service class"),
        tuple(related),
    )


def _fixed_value(mv: memoryview, start: int, end: int, size: int, what: str) -> None:
    if end - start != size:
        raise _invalid(f"{what} sub-item must be {size} bytes long, the peer sent {end - start}")


def _decode_user_information(mv: memoryview, start: int, end: int, where: str) -> UserInformation:
    fields: dict[str, object] = {}
    roles: list[RoleSelection] = []
    extended: list[SOPClassExtendedNegotiation] = []
    common: list[SOPClassCommonExtendedNegotiation] = []
    unknown: list[tuple[int, bytes]] = []
    where = f"{where} user information"
    for item_type, value_start, value_end in _iter_items(mv, start, end, where):
        value = mv[value_start:value_end]
        if item_type == ItemType.MAXIMUM_LENGTH:
            _fixed_value(mv, value_start, value_end, 4, "Maximum length")
            fields["maximum_length"] = _U32.unpack_from(mv, value_start)[0]
        elif item_type == ItemType.IMPLEMENTATION_CLASS_UID:
            fields["implementation_class_uid"] = _decode_uid(value, "Implementation class UID")
        elif item_type == ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW:
            _fixed_value(mv, value_start, value_end, 4, "Asynchronous operations window")
            fields["asynchronous_operations_window"] = AsynchronousOperationsWindow(
                *_TWO_U16.unpack_from(mv, value_start)
            )
        elif item_type == ItemType.ROLE_SELECTION:
            uid, offset = _u16_prefixed(mv, value_start, value_end, "SCP/SCU role selection sub-item")
            if value_end - offset != 2:
                raise _invalid(
                    "SCP/SCU role selection sub-item: the two role bytes are missing or followed by junk"
                )
            scu, scp = _TWO_U8.unpack_from(mv, offset)
            roles.append(RoleSelection(_decode_uid(uid, "Role selection SOP class"), bool(scu), bool(scp)))
        elif item_type == ItemType.IMPLEMENTATION_VERSION_NAME:
            fields["implementation_version_name"] = _decode_ae_title(bytes(value))
        elif item_type == ItemType.SOP_CLASS_EXTENDED_NEGOTIATION:
            uid, offset = _u16_prefixed(mv, value_start, value_end, "SOP class extended negotiation sub-item")
            extended.append(
                SOPClassExtendedNegotiation(
                    _decode_uid(uid, "Extended negotiation SOP class"), bytes(mv[offset:value_end])
                )
            )
        elif item_type == ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION:
            common.append(_decode_common_extended(mv, value_start, value_end))
        elif item_type == ItemType.USER_IDENTITY_RQ:
            fields["user_identity_rq"] = _decode_user_identity_rq(mv, value_start, value_end)
        elif item_type == ItemType.USER_IDENTITY_AC:
            response, offset = _u16_prefixed(mv, value_start, value_end, "User identity server response")
            fields["user_identity_ac"] = UserIdentityAC(bytes(response))
        else:
            unknown.append((item_type, bytes(value)))
    return UserInformation(
        role_selections=tuple(roles),
        sop_class_extended=tuple(extended),
        sop_class_common_extended=tuple(common),
        unknown_items=tuple(unknown),
        **fields,  # type: ignore[arg-type]
    )


def _decode_user_identity_rq(mv: memoryview, start: int, end: int) -> UserIdentityRQ:
    where = "User identity negotiation sub-item"
    if end - start < 2:
        raise _invalid(f"{where} is shorter than its 2 fixed bytes")
    identity_type, positive = _TWO_U8.unpack_from(mv, start)
    primary, offset = _u16_prefixed(mv, start + 2, end, f"{where}: primary field")
    secondary, offset = _u16_prefixed(mv, offset, end, f"{where}: secondary field")
    return UserIdentityRQ(
        _enum(UserIdentityType, identity_type, f"{where}: user identity type"),
        bool(positive),
        bytes(primary),
        bytes(secondary),
    )


def _decode_associate(mv: memoryview, pdu_type: int) -> AAssociateRQ | AAssociateAC:
    is_request = pdu_type == PDUType.A_ASSOCIATE_RQ
    name = _PDU_NAMES[PDUType(pdu_type)]
    end = len(mv)
    if end - PDU_HEADER_LENGTH < _ASSOCIATE_FIXED_LENGTH:
        raise _invalid(
            f"{name} is {end - PDU_HEADER_LENGTH} bytes long, shorter than its "
            f"{_ASSOCIATE_FIXED_LENGTH} fixed bytes"
        )
    version, _, called, calling = _ASSOCIATE_FIXED.unpack_from(mv, PDU_HEADER_LENGTH)
    application_context: str | None = None
    rq_contexts: list[PresentationContextRQ] = []
    ac_contexts: list[PresentationContextAC] = []
    user_information: UserInformation | None = None
    for item_type, start, stop in _iter_items(mv, PDU_HEADER_LENGTH + _ASSOCIATE_FIXED_LENGTH, end, name):
        if item_type == ItemType.APPLICATION_CONTEXT:
            application_context = _decode_uid(mv[start:stop], f"{name}: application context name")
        elif item_type == ItemType.PRESENTATION_CONTEXT_RQ and is_request:
            rq_contexts.append(_decode_context_rq(mv, start, stop))
        elif item_type == ItemType.PRESENTATION_CONTEXT_AC and not is_request:
            ac_contexts.append(_decode_context_ac(mv, start, stop))
        elif item_type == ItemType.USER_INFORMATION:
            user_information = _decode_user_information(mv, start, stop, name)
        # PS3.8 9.3.1: items of unrecognized types are ignored and skipped.
    if application_context is None:
        raise RemoteProtocolError(
            f"{name} has no application context item (PS3.8 9.3.2.1)",
            abort_reason=AbortReason.UNRECOGNIZED_PDU_PARAMETER,
        )
    if user_information is None:
        raise RemoteProtocolError(
            f"{name} has no user information item (PS3.8 9.3.2.3)",
            abort_reason=AbortReason.UNRECOGNIZED_PDU_PARAMETER,
        )
    called_title, calling_title = _decode_ae_title(called), _decode_ae_title(calling)
    if is_request:
        return AAssociateRQ(
            called_title, calling_title, tuple(rq_contexts), user_information, application_context, version
        )
    return AAssociateAC(
        called_title, calling_title, tuple(ac_contexts), user_information, application_context, version
    )


def _decode_pdata(mv: memoryview) -> PDataTF:
    values: list[PresentationDataValue] = []
    offset, end = PDU_HEADER_LENGTH, len(mv)
    unpack = _PDV_HEADER.unpack_from
    while offset < end:
        if end - offset < PDV_HEADER_LENGTH:
            raise _invalid(f"P-DATA-TF: {end - offset} stray byte(s) where a PDV header (6) was expected")
        length, context_id, control = unpack(mv, offset)
        data_end = offset + 4 + length
        if length < 2 or data_end > end:
            raise _invalid(
                f"P-DATA-TF: PDV at offset {offset} has item length {length}, "
                f"but 2 to {end - offset - 4} bytes were possible"
            )
        values.append(
            PresentationDataValue(
                context_id, bool(control & _COMMAND_BIT), bool(control & _LAST_BIT), mv[offset + 6 : data_end]
            )
        )
        offset = data_end
    if not values:
        raise _invalid("P-DATA-TF carries no presentation data value (PS3.8 9.3.5 requires one or more)")
    return PDataTF(tuple(values))


def _decode_fixed(mv: memoryview, pdu_type: int) -> PDU:
    name = _PDU_NAMES[PDUType(pdu_type)]
    if len(mv) != PDU_HEADER_LENGTH + 4:
        raise _invalid(f"{name} must have a length of 4, the peer sent {len(mv) - PDU_HEADER_LENGTH}")
    if pdu_type == PDUType.A_RELEASE_RQ:
        return AReleaseRQ()
    if pdu_type == PDUType.A_RELEASE_RP:
        return AReleaseRP()
    if pdu_type == PDUType.A_ABORT:
        source, reason = _ABORT_BODY.unpack_from(mv, PDU_HEADER_LENGTH)
        return AAbort(_enum(AbortSource, source, "A-ABORT source"), reason)
    result, source, reason = _FOUR_BYTES.unpack_from(mv, PDU_HEADER_LENGTH)
    return AAssociateRJ(
        _enum(RejectResult, result, "A-ASSOCIATE-RJ result"),
        _enum(RejectSource, source, "A-ASSOCIATE-RJ source"),
        reason,
    )


def decode_pdu(data: Buffer) -> PDU:
    """Decode exactly one whole PDU.  Raises ``RemoteProtocolError`` for anything PS3.8 does not allow.

    P-DATA-TF values are ``memoryview`` slices of ``data``: do not modify ``data`` while they are in use.
    """
    mv = memoryview(data)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    if len(mv) < PDU_HEADER_LENGTH:
        raise _invalid(f"truncated PDU: {len(mv)} byte(s), the header alone is {PDU_HEADER_LENGTH}")
    pdu_type, _, length = _PDU_HEADER.unpack_from(mv, 0)
    if pdu_type not in _PDU_NAMES:
        raise _unrecognized_pdu(pdu_type)
    if length != len(mv) - PDU_HEADER_LENGTH:
        raise _invalid(
            f"{_PDU_NAMES[PDUType(pdu_type)]} header says {length} bytes follow, "
            f"but {len(mv) - PDU_HEADER_LENGTH} did"
        )
    if pdu_type == PDUType.P_DATA_TF:
        return _decode_pdata(mv)
    if pdu_type in (PDUType.A_ASSOCIATE_RQ, PDUType.A_ASSOCIATE_AC):
        return _decode_associate(mv, pdu_type)
    return _decode_fixed(mv, pdu_type)


# ==================================================================================================
# Framing


class PDUReader:
    """Cut a received byte stream into whole PDUs.

    ``max_pdu_length`` is the maximum length we advertised (PS3.8 D.1; 0 = no limit, still capped at
    ``MAX_UNLIMITED_PDATA_LENGTH``): a P-DATA-TF whose length field exceeds it is a violation.  Every
    length field is checked against the caps as soon as the 6-byte header is in, before its body is
    buffered; the body is then copied once into a buffer of exactly its size.
    """

    def __init__(self, max_pdu_length: int = 0) -> None:
        if max_pdu_length < 0:
            raise LocalProtocolError(f"max_pdu_length must be 0 (no limit) or positive, not {max_pdu_length}")
        self._pdata_limit = max_pdu_length or MAX_UNLIMITED_PDATA_LENGTH
        self._header = bytearray()  # the first bytes of the next PDU, until its 6-byte header is complete
        self._body: bytearray | None = None  # the PDU being filled, header included, sized from its header
        self._filled = 0
        self._complete: deque[Buffer] = deque()
        self._pending = 0
        self._error: RemoteProtocolError | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes fed but not yet handed out as PDUs (complete PDUs waiting included)."""
        return self._pending

    def feed(self, data: Buffer) -> None:
        """Add received bytes.  Never raises for what the peer sent: ``next_pdu`` does."""
        if self._error is not None:
            return  # after a violation the association is aborted (A-ABORT); what follows is noise
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        # Bytes are immutable, so whole PDUs inside them can be kept as zero-copy slices; a bytearray
        # or memoryview the transport may reuse is copied.
        immutable = isinstance(data, bytes)
        offset, end = 0, len(mv)
        while offset < end:
            if self._body is not None:
                offset = self._fill_body(mv, offset, end)
                continue
            if not self._header and end - offset >= PDU_HEADER_LENGTH:
                header = mv[offset : offset + PDU_HEADER_LENGTH]
                total = self._checked_total(header)
                if total is None:
                    return
                if end - offset >= total:  # the whole PDU is in this chunk
                    piece = mv[offset : offset + total]
                    self._complete.append(piece if immutable else bytes(piece))
                    self._pending += total
                    offset += total
                    continue
                self._start_body(total)
                continue
            take = min(PDU_HEADER_LENGTH - len(self._header), end - offset)
            self._header += mv[offset : offset + take]
            self._pending += take
            offset += take
            if len(self._header) == PDU_HEADER_LENGTH:
                total = self._checked_total(memoryview(self._header))
                if total is None:
                    return
                self._start_body(total)
                assert self._body is not None
                self._body[:PDU_HEADER_LENGTH] = self._header
                self._filled = PDU_HEADER_LENGTH
                self._header = bytearray()

    def next_pdu(self) -> PDU | None:
        """The next whole PDU, or None when none is buffered yet.  Raises ``RemoteProtocolError``."""
        if self._complete:
            buffer = self._complete.popleft()
            self._pending -= len(buffer)
            try:
                return decode_pdu(buffer)
            except RemoteProtocolError as error:
                self._complete.clear()  # what follows a malformed PDU cannot be trusted
                self._fail(error)
                raise
        if self._error is not None:
            raise self._error
        return None

    # ----------------------------------------------------------------------------------------------

    def _checked_total(self, header: memoryview) -> int | None:
        """The whole PDU's size from its header, or None after recording why it is refused."""
        pdu_type, _, length = _PDU_HEADER.unpack_from(header, 0)
        if pdu_type not in _PDU_NAMES:
            self._fail(_unrecognized_pdu(pdu_type))
            return None
        if pdu_type == PDUType.P_DATA_TF:
            if length > self._pdata_limit:
                self._fail(
                    _invalid(
                        f"The peer sent a P-DATA-TF of {length} bytes, larger than the maximum PDU length of "
                        f"{self._pdata_limit} we negotiated (PS3.8 D.1): the peer ignores the limit"
                    )
                )
                return None
        elif length > MAX_SANE_PDU_LENGTH:
            self._fail(
                _invalid(
                    f"The peer sent an {_PDU_NAMES[PDUType(pdu_type)]} claiming {length} bytes (at most "
                    f"{MAX_SANE_PDU_LENGTH} accepted): the connection is corrupt or hostile"
                )
            )
            return None
        return PDU_HEADER_LENGTH + length

    def _start_body(self, total: int) -> None:
        # The size was checked against the caps, so this allocation is bounded.
        self._body = bytearray(total)
        self._filled = 0

    def _fill_body(self, mv: memoryview, offset: int, end: int) -> int:
        body = self._body
        assert body is not None
        take = min(len(body) - self._filled, end - offset)
        body[self._filled : self._filled + take] = mv[offset : offset + take]
        self._filled += take
        self._pending += take
        if self._filled == len(body):
            self._complete.append(body)
            self._body = None
        return offset + take

    def _fail(self, error: RemoteProtocolError) -> None:
        # PDUs completed before the violation are still handed out, in order, before it is raised.
        self._error = error
        self._body = None
        self._header = bytearray()
        self._pending = sum(len(buffer) for buffer in self._complete)
