"""The node registry: remote DICOM application entities the workstation talks to."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from app.net.identity import username_identity
from app.net.tls import TlsSettings, client_context
from app.settings import atomic_write_text, config_dir, keep_bad_copy

RetrieveMethod = Literal["C-MOVE", "C-GET"]
RETRIEVE_METHODS: tuple[str, ...] = ("C-MOVE", "C-GET")
NODES_FILE = "nodes.json"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ae_title: str
    host: str
    port: int = 104
    retrieve_method: str = "C-MOVE"
    max_pdu: int = 262144
    connect_timeout_s: float = 10.0
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    notes: str = ""
    storage_commitment: bool = False
    # DICOM TLS (PS3.15 B): CA that signed the node's certificate (empty = the system's CAs), and our
    # certificate and key when the node asks for one (mutual TLS).
    tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # User identity (PS3.7 D.3.3.7), for nodes that require one.  The passcode is kept in the node
    # file like the rest of the node's settings: protect that file as you would the node itself.
    username: str = ""
    passcode: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def tls_settings(self) -> TlsSettings | None:
        if not self.tls:
            return None
        return TlsSettings(
            ca_file=Path(self.tls_ca_file) if self.tls_ca_file else None,
            cert_file=Path(self.tls_cert_file) if self.tls_cert_file else None,
            key_file=Path(self.tls_key_file) if self.tls_key_file else None,
        )

    def association_options(self) -> dict[str, Any]:
        """Keyword arguments for ``ApplicationEntity.associate``: TLS and user identity for this node.

        Raises ``TlsConfigurationError`` (in words) when a certificate or key file cannot be used."""
        options: dict[str, Any] = {}
        settings = self.tls_settings()
        if settings is not None:
            options["tls"] = client_context(settings)
        if self.username:
            options["user_identity"] = username_identity(self.username, self.passcode or None)
        return options

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Node:
        if not isinstance(data, dict):
            raise ValueError("entry is not a JSON object")
        known = {f.name for f in fields(cls)}
        missing = [key for key in ("name", "ae_title", "host") if key not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        node = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(node.port, int) or isinstance(node.port, bool):
            raise ValueError("port is not a whole number")
        return node


def validate_node(node: Node, existing_names: set[str] | None = None) -> list[str]:
    """Problems with `node` in words, empty when it is usable. `existing_names` are the *other* nodes."""
    problems: list[str] = []
    if not node.name.strip():
        problems.append("Name is empty")
    elif existing_names and node.name.strip().casefold() in {n.casefold() for n in existing_names}:
        problems.append(f"A node named {node.name.strip()!r} already exists")
    # PS3.5 6.2 (AE VR): up to 16 characters, no backslash or control characters; spaces are padding.
    ae = node.ae_title.strip()
    if not 1 <= len(ae) <= 16:
        problems.append("AE title must be 1-16 characters")
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in node.ae_title):
        problems.append("AE title must not contain a backslash or control characters")
    if not node.host.strip():
        problems.append("Host is empty")
    if not isinstance(node.port, int) or not 1 <= node.port <= 65535:
        problems.append("Port must be between 1 and 65535")
    if node.retrieve_method not in RETRIEVE_METHODS:
        problems.append("Retrieve method must be C-MOVE or C-GET")
    # PS3.8 D.1: the maximum length is 0 (unlimited) or something a PDV header fits into.
    if node.max_pdu != 0 and node.max_pdu < 4096:
        problems.append("Max PDU must be 0 (unlimited) or at least 4096 bytes")
    for label, value in (
        ("Connect", node.connect_timeout_s),
        ("ACSE", node.acse_timeout_s),
        ("DIMSE", node.dimse_timeout_s),
    ):
        if value <= 0:
            problems.append(f"{label} timeout must be more than 0 seconds")
    problems.extend(_tls_problems(node))
    if node.passcode and not node.username:
        problems.append("A passcode needs a user name")
    return problems


def _tls_problems(node: Node) -> list[str]:
    problems: list[str] = []
    if not node.tls:
        return problems
    for label, value in (
        ("CA", node.tls_ca_file),
        ("certificate", node.tls_cert_file),
        ("key", node.tls_key_file),
    ):
        if value and not Path(value).is_file():
            problems.append(f"TLS {label} file not found: {value}")
    if bool(node.tls_cert_file) != bool(node.tls_key_file):
        problems.append("TLS needs both our certificate and its key, or neither")
    return problems


class DuplicateNodeError(ValueError):
    pass


class InvalidNodeError(ValueError):
    pass


class UnknownNodeError(KeyError):
    pass


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (name in file, name given)
    skipped: list[str] = field(default_factory=list)  # duplicates left out
    invalid: list[str] = field(default_factory=list)  # "entry 3 (PACS): Port must be ..."
    error: str | None = None  # the file as a whole could not be read

    def summary(self) -> str:
        if self.error:
            return self.error
        parts = [f"{len(self.added)} added"]
        if self.renamed:
            parts.append(f"{len(self.renamed)} renamed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped as duplicates")
        if self.invalid:
            parts.append(f"{len(self.invalid)} invalid")
        return ", ".join(parts)


Listener = Callable[[], None]


class NodeRegistry:
    """Nodes by name, persisted as JSON on every change; listeners are called after each change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / NODES_FILE
        self._nodes: dict[str, Node] = {}
        self._listeners: list[Listener] = []
        self.load_problem: str | None = None
        self._load()

    # -- queries
    def list(self) -> list[Node]:
        return sorted(self._nodes.values(), key=lambda n: n.name.casefold())

    def get(self, name: str) -> Node | None:
        return self._nodes.get(name)

    def by_ae_title(self, ae_title: str) -> Node | None:
        """The node a C-MOVE destination AE title refers to (PS3.4 C.4.2.1.4)."""
        wanted = ae_title.strip()
        return next((n for n in self.list() if n.ae_title.strip() == wanted), None)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    # -- changes
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add(self, node: Node) -> Node:
        self._check(node, others=set(self._nodes))
        self._nodes[node.name] = node
        self._changed()
        return node

    def update(self, old_name: str, node: Node) -> Node:
        if old_name not in self._nodes:
            raise UnknownNodeError(old_name)
        self._check(node, others=set(self._nodes) - {old_name})
        del self._nodes[old_name]
        self._nodes[node.name] = node
        self._changed()
        return node

    def duplicate(self, name: str) -> Node:
        original = self._nodes.get(name)
        if original is None:
            raise UnknownNodeError(name)
        return self.add(replace(original, name=self.free_name(f"{name} (copy)")))

    def remove(self, name: str) -> None:
        if self._nodes.pop(name, None) is None:
            raise UnknownNodeError(name)
        self._changed()

    def free_name(self, wanted: str) -> str:
        taken = {n.casefold() for n in self._nodes}
        if wanted.casefold() not in taken:
            return wanted
        counter = 2
        while f"{wanted} {counter}".casefold() in taken:
            counter += 1
        return f"{wanted} {counter}"

    # -- files
    def export_json(self, path: Path) -> None:
        atomic_write_text(path, self._serialise())

    def import_json(self, path: Path, on_duplicate: Literal["skip", "rename"] = "rename") -> ImportResult:
        """Merge nodes from `path`; existing nodes are never overwritten or lost, whatever the file holds."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = raw["nodes"] if isinstance(raw, dict) else raw
            if not isinstance(entries, list):
                raise ValueError("expected a list of nodes")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return ImportResult(error=f"Could not read nodes from {path}: {exc}")
        result = ImportResult()
        for index, entry in enumerate(entries, start=1):
            label = f"entry {index}"
            try:
                node = Node.from_json(entry)
            except (TypeError, ValueError) as exc:
                result.invalid.append(f"{label}: {exc}")
                continue
            problems = validate_node(node)
            if problems:
                result.invalid.append(f"{label} ({node.name}): {'; '.join(problems)}")
                continue
            if node.name.casefold() in {n.casefold() for n in self._nodes}:
                if on_duplicate == "skip":
                    result.skipped.append(node.name)
                    continue
                new_name = self.free_name(f"{node.name} (imported)")
                result.renamed.append((node.name, new_name))
                node = replace(node, name=new_name)
            self._nodes[node.name] = node
            result.added.append(node.name)
        if result.added:
            self._changed()
        return result

    def _check(self, node: Node, others: set[str]) -> None:
        problems = validate_node(node, others)
        if problems:
            message = "; ".join(problems)
            if any("already exists" in p for p in problems):
                raise DuplicateNodeError(message)
            raise InvalidNodeError(message)

    def _serialise(self) -> str:
        return json.dumps({"nodes": [n.to_json() for n in self.list()]}, indent=2) + "\n"

    def _changed(self) -> None:
        atomic_write_text(self.path, self._serialise())
        for listener in list(self._listeners):
            listener()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["nodes"] if isinstance(raw, dict) else raw
            nodes = [Node.from_json(e) for e in entries]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            bad = keep_bad_copy(self.path)
            self.load_problem = f"Nodes file {self.path} was unreadable ({exc}); copy kept at {bad}"
            return
        self._nodes = {n.name: n for n in nodes}
