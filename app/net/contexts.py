"""Presentation contexts: what we propose, and what the peer accepted.

Transfer syntaxes and SOP class groups come from pydicom's UID registry, never from hand-kept lists,
so that a new pydicom release brings new storage classes with it.

``AcceptedContexts`` is the answer of one negotiation, indexed for the question asked before every
DIMSE request ("which context carries CT Image Storage in JPEG Baseline?"): plain dict lookups on the
hit path, words only when nothing fits.

Roles: ``AcceptedContext.scu_role``/``scp_role`` are the roles of the association *requestor*, as
PS3.7 D.3.3.4 negotiates them (default: requestor SCU, acceptor SCP).  ``find(..., role="scu")`` asks
for a context on which the requestor may invoke the operation (the usual direction); ``role="scp"``
for one on which the acceptor invokes it (e.g. C-STORE sub-operations of a C-GET).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pydicom import uid as _uid
from pydicom._uid_dict import UID_dictionary

from app.net.errors import NoAcceptedContext
from app.net.pdu import ContextResult, PresentationContextAC, PresentationContextRQ, describe_context_result

# PS3.8 9.3.2.2: presentation context IDs are odd integers 1-255, so at most 128 per association.
MAX_PRESENTATION_CONTEXTS = 128

# PS3.7 D.3.3.4: without role selection the requestor is the SCU and the acceptor the SCP.
DEFAULT_ROLES = (True, False)

# --------------------------------------------------------------------------------------------------
# Transfer syntaxes (PS3.5 Annex A)

ImplicitVRLittleEndian = _uid.ImplicitVRLittleEndian
ExplicitVRLittleEndian = _uid.ExplicitVRLittleEndian
DeflatedExplicitVRLittleEndian = _uid.DeflatedExplicitVRLittleEndian
ExplicitVRBigEndian = _uid.ExplicitVRBigEndian  # retired, still met on old modalities
JPEGBaseline8Bit = _uid.JPEGBaseline8Bit
JPEGExtended12Bit = _uid.JPEGExtended12Bit
JPEGLossless = _uid.JPEGLossless
JPEGLosslessSV1 = _uid.JPEGLosslessSV1
JPEGLSLossless = _uid.JPEGLSLossless
JPEGLSNearLossless = _uid.JPEGLSNearLossless
JPEG2000Lossless = _uid.JPEG2000Lossless
JPEG2000 = _uid.JPEG2000
HTJ2KLossless = _uid.HTJ2KLossless
HTJ2K = _uid.HTJ2K
RLELossless = _uid.RLELossless

# PS3.5 10.1: Implicit VR Little Endian is the default every AE supports; Explicit LE goes first
# because it keeps VRs on the wire (private tags survive).
DEFAULT_TRANSFER_SYNTAXES: tuple[str, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

ALL_UNCOMPRESSED: tuple[str, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)

# JPIP referenced syntaxes carry a URL instead of pixel data: not something a store keeps.
_JPIP_REFERENCED = frozenset(ts for ts in _uid.AllTransferSyntaxes if "Referenced" in _uid.UID(ts).keyword)

# Every transfer syntax pydicom knows, uncompressed first: what a storage SCP that keeps instances
# as they arrive can accept.
ALL_TRANSFER_SYNTAXES: tuple[str, ...] = ALL_UNCOMPRESSED + tuple(
    str(ts) for ts in _uid.AllTransferSyntaxes if ts not in ALL_UNCOMPRESSED and ts not in _JPIP_REFERENCED
)

# --------------------------------------------------------------------------------------------------
# SOP classes, from pydicom's registry: UID -> (name, type, info, retired, keyword)

_BY_KEYWORD: dict[str, str] = {entry[4]: uid for uid, entry in UID_dictionary.items()}


def sop_class(keyword: str) -> str:
    """The UID of a SOP class by its pydicom keyword (``KeyError`` if pydicom does not know it)."""
    return _BY_KEYWORD[keyword]


def _is_storage_sop_class(uid: str) -> bool:
    _name, uid_type, _info, retired, keyword = UID_dictionary[uid]
    # "Storage Commitment Push Model" has "Storage" in its name but stores nothing; every real storage
    # class has "Storage" in its keyword (some end with "ForPresentation"/"ForProcessing").
    return (
        uid_type == "SOP Class" and not retired and "Storage" in keyword and not keyword.startswith("Storage")
    )


STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(uid for uid in UID_dictionary if _is_storage_sop_class(uid))

VERIFICATION: str = sop_class("Verification")
STORAGE_COMMITMENT_PUSH: str = sop_class("StorageCommitmentPushModel")

# PS3.4 Annex C; Patient/Study Only is retired and left out.
QR_FIND: tuple[str, ...] = (
    sop_class("PatientRootQueryRetrieveInformationModelFind"),
    sop_class("StudyRootQueryRetrieveInformationModelFind"),
    sop_class("ModalityWorklistInformationModelFind"),  # PS3.4 Annex K
)
QR_MOVE: tuple[str, ...] = (
    sop_class("PatientRootQueryRetrieveInformationModelMove"),
    sop_class("StudyRootQueryRetrieveInformationModelMove"),
)
QR_GET: tuple[str, ...] = (
    sop_class("PatientRootQueryRetrieveInformationModelGet"),
    sop_class("StudyRootQueryRetrieveInformationModelGet"),
)

# What a workstation meets every day: proposed when the full storage list would not fit 128 contexts.
COMMON_STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(
    sop_class(keyword)
    for keyword in (
        "CTImageStorage",
        "MRImageStorage",
        "ComputedRadiographyImageStorage",
        "DigitalXRayImageStorageForPresentation",
        "DigitalXRayImageStorageForProcessing",
        "UltrasoundImageStorage",
        "UltrasoundMultiFrameImageStorage",
        "SecondaryCaptureImageStorage",
        "MultiFrameSingleBitSecondaryCaptureImageStorage",
        "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
        "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
        "MultiFrameTrueColorSecondaryCaptureImageStorage",
        "NuclearMedicineImageStorage",
        "PositronEmissionTomographyImageStorage",
        "RTImageStorage",
        "RTDoseStorage",
        "RTStructureSetStorage",
        "RTPlanStorage",
        "RTIonPlanStorage",
        "RTBeamsTreatmentRecordStorage",
        "XRayAngiographicImageStorage",
        "DigitalMammographyXRayImageStorageForPresentation",
        "DigitalMammographyXRayImageStorageForProcessing",
        "EnhancedCTImageStorage",
        "EnhancedMRImageStorage",
        "EncapsulatedPDFStorage",
        "BasicTextSRStorage",
        "EnhancedSRStorage",
        "ComprehensiveSRStorage",
        "KeyObjectSelectionDocumentStorage",
    )
)


def uid_name(uid: str) -> str:
    """The registry name of a UID ("CT Image Storage"), or the UID itself when pydicom does not know it."""
    entry = UID_dictionary.get(uid)
    return entry[0] if entry else uid


# --------------------------------------------------------------------------------------------------
# Proposing


def build_presentation_contexts(
    requests: Sequence[tuple[str, Sequence[str]]],
) -> tuple[PresentationContextRQ, ...]:
    """Number ``(abstract syntax, transfer syntaxes)`` pairs 1, 3, 5, ... (PS3.8 9.3.2.2)."""
    if len(requests) > MAX_PRESENTATION_CONTEXTS:
        raise ValueError(
            f"{len(requests)} presentation contexts were asked for, but one association can carry at most "
            f"{MAX_PRESENTATION_CONTEXTS} (PS3.8 9.3.2.2): propose fewer SOP classes "
            "(e.g. COMMON_STORAGE_SOP_CLASSES) or open a second association"
        )
    contexts = []
    for index, (abstract_syntax, transfer_syntaxes) in enumerate(requests):
        if not abstract_syntax:
            raise ValueError(f"presentation context {2 * index + 1} has no abstract syntax (SOP class UID)")
        if not transfer_syntaxes:
            raise ValueError(f"{uid_name(abstract_syntax)} is proposed without any transfer syntax")
        contexts.append(
            PresentationContextRQ(
                2 * index + 1, str(abstract_syntax), tuple(str(ts) for ts in transfer_syntaxes)
            )
        )
    return tuple(contexts)


def contexts_for(
    abstract_syntaxes: Iterable[str], transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES
) -> tuple[PresentationContextRQ, ...]:
    """One context per abstract syntax, each proposing the same ``transfer_syntaxes``."""
    return build_presentation_contexts(
        [(abstract_syntax, tuple(transfer_syntaxes)) for abstract_syntax in abstract_syntaxes]
    )


# --------------------------------------------------------------------------------------------------
# What was accepted


@dataclass(frozen=True, slots=True)
class AcceptedContext:
    """One accepted presentation context; the roles are the requestor's (PS3.7 D.3.3.4)."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    scu_role: bool = True
    scp_role: bool = False


_ROLES = ("scu", "scp")


class AcceptedContexts:
    """The outcome of the presentation context negotiation of one association.

    Built from the proposed contexts, the acceptor's answers and the negotiated roles per SOP class
    (``(requestor may be SCU, requestor may be SCP)``; SOP classes absent use the default roles).
    A proposed context without an answer counts as rejected with no reason.
    """

    __slots__ = ("_by_id", "_exact", "_first", "_proposed", "_results", "accepted", "rejected")

    def __init__(
        self,
        proposed: Iterable[PresentationContextRQ],
        answers: Iterable[PresentationContextAC],
        roles: Mapping[str, tuple[bool, bool]] | None = None,
    ) -> None:
        roles = roles or {}
        answer_by_id = {answer.context_id: answer for answer in answers}
        self._proposed: tuple[PresentationContextRQ, ...] = tuple(proposed)
        self._results: dict[int, ContextResult] = {}
        self._by_id: dict[int, AcceptedContext] = {}
        self._exact: dict[tuple[str, str, str], AcceptedContext] = {}
        self._first: dict[tuple[str, str], AcceptedContext] = {}
        accepted: list[AcceptedContext] = []
        rejected: list[tuple[str, ContextResult]] = []
        for rq in self._proposed:
            answer = answer_by_id.get(rq.context_id)
            result = ContextResult(answer.result) if answer is not None else ContextResult.NO_REASON
            self._results[rq.context_id] = result
            if answer is None or result != ContextResult.ACCEPTANCE:
                rejected.append((rq.abstract_syntax, result))
                continue
            scu_role, scp_role = roles.get(rq.abstract_syntax, DEFAULT_ROLES)
            context = AcceptedContext(
                rq.context_id, rq.abstract_syntax, answer.transfer_syntax, scu_role, scp_role
            )
            accepted.append(context)
            self._index(context)
        self.accepted: tuple[AcceptedContext, ...] = tuple(accepted)
        # For the troubleshooting pane: (abstract syntax, result) of every context that was not accepted.
        self.rejected: tuple[tuple[str, ContextResult], ...] = tuple(rejected)

    def _index(self, context: AcceptedContext) -> None:
        self._by_id[context.context_id] = context
        for role, allowed in zip(_ROLES, (context.scu_role, context.scp_role), strict=True):
            if allowed:
                # The lowest context ID wins: it is the one the caller proposed first, i.e. preferred.
                self._exact.setdefault((role, context.abstract_syntax, context.transfer_syntax), context)
                self._first.setdefault((role, context.abstract_syntax), context)

    # ---------------------------------------------------------------------------------------------

    def find(
        self, sop_class_uid: str, transfer_syntax: str | None = None, *, role: str = "scu"
    ) -> AcceptedContext:
        """The accepted context for ``sop_class_uid`` (in ``transfer_syntax`` if given) usable in ``role``.

        Raises ``NoAcceptedContext`` saying what the peer answered for that SOP class.
        """
        if transfer_syntax is None:
            found = self._first.get((role, sop_class_uid))
        else:
            found = self._exact.get((role, sop_class_uid, transfer_syntax))
        if found is None:
            if role not in _ROLES:
                raise ValueError(f"role must be 'scu' or 'scp', not {role!r}")
            raise NoAcceptedContext(self._explain(sop_class_uid, transfer_syntax, role))
        return found

    def by_id(self, context_id: int) -> AcceptedContext | None:
        """The accepted context with this ID, or ``None`` (not proposed, or rejected)."""
        return self._by_id.get(context_id)

    def result_of(self, context_id: int) -> ContextResult | None:
        """The acceptor's result for a proposed context ID (``None`` if it was never proposed)."""
        return self._results.get(context_id)

    @property
    def proposed(self) -> tuple[PresentationContextRQ, ...]:
        return self._proposed

    def __iter__(self) -> Iterator[AcceptedContext]:
        return iter(self.accepted)

    def __len__(self) -> int:
        return len(self.accepted)

    def __contains__(self, sop_class_uid: object) -> bool:
        return any(context.abstract_syntax == sop_class_uid for context in self.accepted)

    def __repr__(self) -> str:
        return f"AcceptedContexts(accepted={len(self.accepted)}, rejected={len(self.rejected)})"

    # ---------------------------------------------------------------------------------------------
    # Words for a miss (slow path only)

    def _explain(self, sop_class_uid: str, transfer_syntax: str | None, role: str) -> str:
        what = uid_name(sop_class_uid)
        asked = f"{what} with {uid_name(transfer_syntax)}" if transfer_syntax else what
        proposals = [rq for rq in self._proposed if rq.abstract_syntax == sop_class_uid]
        if not proposals:
            return (
                f"{asked}: {what} was not proposed on this association; add it to the presentation contexts"
            )
        accepted = [c for c in self.accepted if c.abstract_syntax == sop_class_uid]
        if not accepted:
            reasons = sorted({self._results[rq.context_id] for rq in proposals})
            return f"{asked}: the peer rejected it: " + "; ".join(_reason_words(r) for r in reasons)
        in_role = [c for c in accepted if (c.scu_role if role == "scu" else c.scp_role)]
        if not in_role:
            return (
                f"{asked}: the peer accepted {what} but not in the {role.upper()} role this operation needs; "
                "propose SCP/SCU role selection for it (PS3.7 D.3.3.4)"
            )
        syntaxes = ", ".join(dict.fromkeys(uid_name(c.transfer_syntax) for c in in_role))
        offered = [rq for rq in proposals if transfer_syntax in rq.transfer_syntaxes]
        if not offered:
            why = f"{uid_name(str(transfer_syntax))} was not proposed for it"
        else:
            reasons = sorted({self._results[rq.context_id] for rq in offered} - {ContextResult.ACCEPTANCE})
            why = (
                "the peer rejected it: " + "; ".join(_reason_words(r) for r in reasons)
                if reasons
                else ("the peer chose another of the proposed transfer syntaxes")
            )
        return f"{asked}: {why}; it accepted {what} only with {syntaxes}"


def _reason_words(result: ContextResult) -> str:
    words = describe_context_result(result)
    for prefix in ("rejected: ", "rejected, "):
        if words.startswith(prefix):
            return words[len(prefix) :]
    return words


__all__ = [
    "ALL_TRANSFER_SYNTAXES",
    "ALL_UNCOMPRESSED",
    "COMMON_STORAGE_SOP_CLASSES",
    "DEFAULT_ROLES",
    "DEFAULT_TRANSFER_SYNTAXES",
    "MAX_PRESENTATION_CONTEXTS",
    "QR_FIND",
    "QR_GET",
    "QR_MOVE",
    "STORAGE_COMMITMENT_PUSH",
    "STORAGE_SOP_CLASSES",
    "VERIFICATION",
    "AcceptedContext",
    "AcceptedContexts",
    "build_presentation_contexts",
    "contexts_for",
    "sop_class",
    "uid_name",
]
