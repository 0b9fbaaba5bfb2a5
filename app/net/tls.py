"""DICOM TLS (PS3.15 Annex B, the BCP 195 secure transport connection profiles) with Python's ``ssl``.

PS3.15 B.9/B.10 (BCP 195) ask for TLS 1.2 or newer with certificate-based authentication of the
server and, optionally, of the client.  Python's default contexts already refuse the weak protocol
versions and cipher suites; what is left to us is choosing which certificates to present and trust.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

# PS3.15 B.9: "TLS 1.2 or later"; the standard port for DICOM over TLS is 2762 (PS3.15 B.1).
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
DICOM_TLS_PORT = 2762


class TlsConfigurationError(ValueError):
    """A certificate, key or CA file could not be used; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Where our certificate and key are and whom we trust.

    ``ca_file``: certificates we trust (the peer's CA, or the peer's self-signed certificate);
    ``None`` trusts the system's CAs.  ``cert_file``/``key_file``: our own certificate, required for a
    server and for a client when the peer asks for one (mutual TLS).  ``verify_peer=False`` encrypts
    without authenticating the peer, for a first test only.
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify_peer: bool = True
    require_client_certificate: bool = False


def _load_identity(context: ssl.SSLContext, settings: TlsSettings) -> None:
    if settings.cert_file is None:
        if settings.key_file is not None:
            raise TlsConfigurationError("a TLS key file was given without its certificate file")
        return
    try:
        context.load_cert_chain(
            str(settings.cert_file), str(settings.key_file) if settings.key_file else None
        )
    except FileNotFoundError as exc:
        raise TlsConfigurationError(f"TLS certificate or key not found: {exc.filename}") from exc
    except ssl.SSLError as exc:
        raise TlsConfigurationError(
            f"cannot use the certificate {settings.cert_file} with the key {settings.key_file}: "
            f"{exc.reason or exc}"
        ) from exc


def _load_trust(context: ssl.SSLContext, settings: TlsSettings, purpose: ssl.Purpose) -> None:
    if settings.ca_file is None:
        context.load_default_certs(purpose)
        return
    try:
        context.load_verify_locations(cafile=str(settings.ca_file))
    except FileNotFoundError as exc:
        raise TlsConfigurationError(f"TLS CA file not found: {settings.ca_file}") from exc
    except ssl.SSLError as exc:
        raise TlsConfigurationError(
            f"the CA file {settings.ca_file} holds no usable certificate: {exc}"
        ) from exc


def client_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for our associations to a TLS peer (we check its certificate against ``ca_file``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    if settings.verify_peer:
        # DICOM nodes are usually addressed by IP and their certificates rarely name it: trust is the
        # CA (or the pinned self-signed certificate) in ca_file, as DCMTK does, not the host name.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        _load_trust(context, settings, ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _load_identity(context, settings)
    return context


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for our TLS listener: our certificate, and optionally required client certificates."""
    if settings.cert_file is None:
        raise TlsConfigurationError("a TLS server needs a certificate and key (--cert, --key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    _load_identity(context, settings)
    if settings.require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        _load_trust(context, settings, ssl.Purpose.CLIENT_AUTH)
    elif settings.ca_file is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        _load_trust(context, settings, ssl.Purpose.CLIENT_AUTH)
    return context


def describe_tls_failure(where: str, exc: ssl.SSLError) -> str:
    """A technologist's sentence for a failed TLS handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"The TLS certificate of {where} is not trusted ({exc.verify_message}): "
            "give its CA certificate (--ca) or check that you reach the right node"
        )
    reason = exc.reason or str(exc)
    if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason.lower():
        return f"TLS handshake with {where} failed ({reason}): the node does not speak TLS on this port"
    if "CERTIFICATE_REQUIRED" in reason or "certificate required" in reason.lower():
        return f"{where} requires a client certificate: give ours with --cert and --key"
    if "UNKNOWN_CA" in reason or "unknown ca" in reason.lower():
        return f"{where} does not trust our client certificate ({reason}): add our CA to the node"
    return f"TLS handshake with {where} failed: {reason}"
