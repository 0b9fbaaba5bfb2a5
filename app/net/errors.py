"""The one family of errors raised by Courier's network engine.

Every message is written for a technologist: it says what happened on the wire and, where it can,
what to change (an AE title, a port, a transfer syntax) to make it work.

The split follows h11: ``LocalProtocolError`` is our own misuse of the API (a bug in the caller);
``RemoteProtocolError`` is something the peer sent that PS3.8 does not allow.  A remote protocol
error carries the A-ABORT source and reason that the Upper Layer must answer with.
"""

from __future__ import annotations

from app.net.pdu import AbortReason, AbortSource, RejectReason, RejectResult, RejectSource, describe_rejection


class DicomNetworkError(Exception):
    """Base class of every error the network engine raises."""


class LocalProtocolError(DicomNetworkError):
    """The caller asked for something the protocol state does not allow (a programming error)."""


class RemoteProtocolError(DicomNetworkError):
    """The peer broke PS3.8: malformed or unexpected PDU.  Answer with an A-ABORT of this source/reason."""

    def __init__(
        self,
        message: str,
        *,
        abort_source: AbortSource = AbortSource.SERVICE_PROVIDER,
        abort_reason: AbortReason = AbortReason.INVALID_PDU_PARAMETER_VALUE,
    ) -> None:
        super().__init__(message)
        self.abort_source = abort_source
        self.abort_reason = abort_reason


class ConnectionFailed(DicomNetworkError):
    """The TCP connection could not be made (refused, unreachable, name not resolved)."""


class ConnectionLost(DicomNetworkError):
    """The TCP connection closed while an association or an operation was in progress."""


class DicomTimeout(DicomNetworkError):
    """A connect, ACSE, DIMSE or network-idle timeout expired."""


class AssociationRejected(DicomNetworkError):
    """The peer answered our A-ASSOCIATE-RQ with an A-ASSOCIATE-RJ."""

    def __init__(self, result: RejectResult, source: RejectSource, reason: RejectReason | int) -> None:
        super().__init__(describe_rejection(result, source, reason))
        self.result = result
        self.source = source
        self.reason = reason


class AssociationAborted(DicomNetworkError):
    """The association ended with an A-ABORT (from the peer) or an A-P-ABORT (from the provider)."""

    def __init__(self, message: str, source: AbortSource | None = None, reason: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.reason = reason


class NoAcceptedContext(DicomNetworkError):
    """No accepted presentation context fits the SOP class / transfer syntax of a request."""


class DimseError(DicomNetworkError):
    """A DIMSE message could not be built, parsed or matched to its request."""
