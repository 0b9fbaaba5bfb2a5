"""A readable account of PDUs for logs and the network trace view (like DCMTK's ``-d`` output).

``summarize_pdu`` gives one line; ``describe_pdu`` a multi-line dump with SOP class and transfer syntax
names from pydicom's UID dictionary, results and reasons in words.  Data set bytes are never dumped:
a P-DATA-TF shows each PDV's context, kind, last flag and length only.
"""

from __future__ import annotations

from pydicom.uid import UID

from app.net.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PresentationDataValue,
    UserIdentityType,
    UserInformation,
    describe_context_result,
    describe_rejection,
)

__all__ = ["describe_pdu", "summarize_pdu"]

_INDENT = "  "
# Shown for user information values that are opaque bytes; longer values are cut so a trace stays short.
_MAX_SHOWN_BYTES = 32


def uid_label(uid: str) -> str:
    """``"CT Image Storage (1.2.840.10008.5.1.4.1.1.2)"``, or the bare UID when pydicom does not know it."""
    if not uid:
        return "(none)"
    name = UID(uid).name
    return uid if name == uid else f"{name} ({uid})"


def _pdu_name(pdu: PDU) -> str:
    return {
        AAssociateRQ: "A-ASSOCIATE-RQ",
        AAssociateAC: "A-ASSOCIATE-AC",
        AAssociateRJ: "A-ASSOCIATE-RJ",
        PDataTF: "P-DATA-TF",
        AReleaseRQ: "A-RELEASE-RQ",
        AReleaseRP: "A-RELEASE-RP",
        AAbort: "A-ABORT",
    }[type(pdu)]


def _data_length(pdv: PresentationDataValue) -> int:
    return pdv.data.nbytes if isinstance(pdv.data, memoryview) else len(pdv.data)


def _short_bytes(value: bytes) -> str:
    shown = value[:_MAX_SHOWN_BYTES].hex(" ")
    more = f" ... ({len(value)} bytes)" if len(value) > _MAX_SHOWN_BYTES else ""
    return f"[{shown}]{more}" if value else "(empty)"


# PS3.8 Table 9-26.  The trace shows PDUs in both directions, so these words name no side.
_ABORT_SOURCES = {0: "service user", 1: "reserved", 2: "service provider (upper layer)"}
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    3: "reserved",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


def _abort_reason_words(pdu: AAbort) -> str:
    if pdu.source != AbortSource.SERVICE_PROVIDER:
        return "not significant for this source"
    return _ABORT_REASONS.get(pdu.reason, "undefined")


def _abort_words(pdu: AAbort) -> str:
    source = _ABORT_SOURCES.get(int(pdu.source), f"source {int(pdu.source)}")
    if pdu.source == AbortSource.SERVICE_PROVIDER:
        return f"by the {source}: {_abort_reason_words(pdu)} (source {int(pdu.source)}, reason {pdu.reason})"
    return f"by the {source} (source {int(pdu.source)}, reason {pdu.reason})"


def _pdv_line(pdv: PresentationDataValue) -> str:
    kind = "command" if pdv.is_command else "data set"
    last = "last fragment" if pdv.is_last else "more fragments follow"
    return f"PDV context {pdv.context_id}: {kind}, {last}, {_data_length(pdv)} bytes"


# --------------------------------------------------------------------------------------------------
# One line


def summarize_pdu(pdu: PDU) -> str:
    """One line, e.g. ``A-ASSOCIATE-RQ COURIER → PACS, 3 contexts, max PDU 16384``."""
    name = _pdu_name(pdu)
    match pdu:
        case AAssociateRQ() | AAssociateAC():
            parts = [f"{name} {pdu.calling_ae_title} → {pdu.called_ae_title}"]
            count = len(pdu.presentation_contexts)
            if isinstance(pdu, AAssociateAC):
                accepted = sum(1 for context in pdu.presentation_contexts if context.result == 0)
                parts.append(f"{accepted} of {count} contexts accepted")
            else:
                parts.append(f"{count} context{'s' if count != 1 else ''}")
            maximum = pdu.user_information.maximum_length
            if maximum is not None:
                parts.append(f"max PDU {maximum or 'unlimited'}")
            return ", ".join(parts)
        case AAssociateRJ():
            return f"{name}: {describe_rejection(pdu.result, pdu.source, pdu.reason)}"
        case PDataTF():
            total = sum(_data_length(pdv) for pdv in pdu.values)
            pdvs = "; ".join(
                f"ctx {pdv.context_id} {'cmd' if pdv.is_command else 'data'}"
                f"{' last' if pdv.is_last else ''} {_data_length(pdv)} B"
                for pdv in pdu.values[:4]
            )
            more = f"; +{len(pdu.values) - 4} more" if len(pdu.values) > 4 else ""
            plural = "s" if len(pdu.values) != 1 else ""
            return f"{name}, {len(pdu.values)} PDV{plural}, {total} bytes ({pdvs}{more})"
        case AAbort():
            return f"{name}: {_abort_words(pdu)}"
    return name


# --------------------------------------------------------------------------------------------------
# Many lines


def describe_pdu(pdu: PDU) -> str:
    """A multi-line dump of one PDU for the debug log and the network trace."""
    match pdu:
        case AAssociateRQ() | AAssociateAC():
            lines = _describe_associate(pdu)
        case AAssociateRJ():
            lines = [
                "A-ASSOCIATE-RJ",
                f"{_INDENT}Result: {int(pdu.result)} ({pdu.result.name.replace('_', ' ').lower()})",
                f"{_INDENT}Source: {int(pdu.source)} ({pdu.source.name.replace('_', ' ').lower()})",
                f"{_INDENT}Reason: {pdu.reason}",
                f"{_INDENT}{describe_rejection(pdu.result, pdu.source, pdu.reason)}",
            ]
        case PDataTF():
            total = sum(_data_length(pdv) for pdv in pdu.values)
            lines = [f"P-DATA-TF: {len(pdu.values)} PDV(s), {total} bytes of data"]
            lines += [f"{_INDENT}{_pdv_line(pdv)}" for pdv in pdu.values]
        case AAbort():
            lines = [
                "A-ABORT",
                f"{_INDENT}Source: {_ABORT_SOURCES.get(int(pdu.source), 'undefined')} ({int(pdu.source)})",
                f"{_INDENT}Reason: {_abort_reason_words(pdu)} ({pdu.reason})",
            ]
        case _:
            lines = [_pdu_name(pdu)]
    return "\n".join(lines)


def _describe_associate(pdu: AAssociateRQ | AAssociateAC) -> list[str]:
    lines = [
        _pdu_name(pdu),
        f"{_INDENT}Calling AE title: {pdu.calling_ae_title}",
        f"{_INDENT}Called AE title:  {pdu.called_ae_title}",
        f"{_INDENT}Protocol version: {pdu.protocol_version}",
        f"{_INDENT}Application context: {uid_label(pdu.application_context)}",
        f"{_INDENT}Presentation contexts ({len(pdu.presentation_contexts)}):",
    ]
    twice = _INDENT * 2
    if isinstance(pdu, AAssociateRQ):
        for rq in pdu.presentation_contexts:
            lines.append(f"{twice}Context {rq.context_id}: {uid_label(rq.abstract_syntax)}")
            lines += [f"{twice}{_INDENT}Transfer syntax: {uid_label(ts)}" for ts in rq.transfer_syntaxes]
    else:
        for ac in pdu.presentation_contexts:
            lines.append(f"{twice}Context {ac.context_id}: {describe_context_result(ac.result)}")
            if ac.result == 0:
                lines.append(f"{twice}{_INDENT}Transfer syntax: {uid_label(ac.transfer_syntax)}")
    lines.append(f"{_INDENT}User information:")
    lines += [f"{twice}{line}" for line in _describe_user_information(pdu.user_information)]
    return lines


def _describe_user_information(info: UserInformation) -> list[str]:
    lines: list[str] = []
    if info.maximum_length is not None:
        lines.append(f"Maximum PDU length: {info.maximum_length or 'unlimited (0)'}")
    if info.implementation_class_uid is not None:
        lines.append(f"Implementation class UID: {info.implementation_class_uid}")
    if info.implementation_version_name is not None:
        lines.append(f"Implementation version name: {info.implementation_version_name}")
    if info.asynchronous_operations_window is not None:
        window = info.asynchronous_operations_window
        lines.append(
            f"Asynchronous operations window: {window.max_invoked} invoked, {window.max_performed} performed"
        )
    for role in info.role_selections:
        lines.append(
            f"Role selection: {uid_label(role.sop_class_uid)}: SCU {'yes' if role.scu_role else 'no'}, "
            f"SCP {'yes' if role.scp_role else 'no'}"
        )
    for extended in info.sop_class_extended:
        lines.append(
            f"SOP class extended negotiation: {uid_label(extended.sop_class_uid)}: "
            f"{_short_bytes(bytes(extended.application_info))}"
        )
    for common in info.sop_class_common_extended:
        related = ", ".join(common.related_general_sop_classes) or "none"
        lines.append(
            f"SOP class common extended negotiation: {uid_label(common.sop_class_uid)}, service class "
            f"{uid_label(common.service_class_uid)}, related general SOP classes: {related}"
        )
    if info.user_identity_rq is not None:
        identity = info.user_identity_rq
        kind = _identity_type_name(int(identity.identity_type))
        # Never log a passcode, ticket or token: only a user name is shown, the rest by its size.
        primary = (
            identity.primary_field.decode("utf-8", errors="replace")
            if identity.identity_type in (UserIdentityType.USERNAME, UserIdentityType.USERNAME_AND_PASSCODE)
            else f"({len(identity.primary_field)} bytes)"
        )
        response = "response requested" if identity.positive_response_requested else "no response requested"
        lines.append(f"User identity: {kind} {primary}, {response}")
    if info.user_identity_ac is not None:
        lines.append(f"User identity server response: {len(info.user_identity_ac.server_response)} bytes")
    for item_type, raw in info.unknown_items:
        lines.append(f"Unknown sub-item 0x{item_type:02X}: {_short_bytes(bytes(raw))}")
    return lines or ["(none)"]


def _identity_type_name(value: int) -> str:
    return {
        1: "username",
        2: "username and passcode",
        3: "Kerberos ticket",
        4: "SAML assertion",
        5: "JSON web token",
    }.get(value, f"type {value}")
