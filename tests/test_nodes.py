"""Node validation in words and the registry: CRUD, persistence, import/export, notifications."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.nodes import DuplicateNodeError, InvalidNodeError, Node, NodeRegistry, validate_node

PACS = Node(name="PACS", ae_title="ORTHANC", host="10.0.0.5", port=4242)


def test_a_good_node_has_no_problems() -> None:
    assert validate_node(PACS) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ae_title": ""}, "AE title must be 1-16 characters"),
        ({"ae_title": "A" * 17}, "AE title must be 1-16 characters"),
        ({"ae_title": "BAD\\AE"}, "AE title must not contain a backslash or control characters"),
        ({"ae_title": "BAD\tAE"}, "AE title must not contain a backslash or control characters"),
        ({"port": 0}, "Port must be between 1 and 65535"),
        ({"port": 65536}, "Port must be between 1 and 65535"),
        ({"host": " "}, "Host is empty"),
        ({"name": ""}, "Name is empty"),
    ],
)
def test_invalid_fields_are_explained(changes: dict[str, object], message: str) -> None:
    node = Node(**{**PACS.to_json(), **changes})  # type: ignore[arg-type]
    assert message in validate_node(node)


def test_duplicate_name_is_reported_case_insensitively() -> None:
    assert "A node named 'PACS' already exists" in validate_node(PACS, {"pacs"})


def test_add_get_update_remove_persist(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    registry = NodeRegistry(path)
    registry.add(PACS)
    assert registry.get("PACS") == PACS
    assert registry.by_ae_title("ORTHANC") == PACS
    registry.update("PACS", Node(name="Main PACS", ae_title="ORTHANC", host="10.0.0.6", port=4242))
    assert registry.get("PACS") is None
    assert NodeRegistry(path).get("Main PACS") is not None
    registry.remove("Main PACS")
    assert NodeRegistry(path).list() == []


def test_add_refuses_duplicates_and_invalid_nodes(tmp_path: Path) -> None:
    registry = NodeRegistry(tmp_path / "nodes.json")
    registry.add(PACS)
    with pytest.raises(DuplicateNodeError):
        registry.add(PACS)
    with pytest.raises(InvalidNodeError, match="Port must be between 1 and 65535"):
        registry.add(Node(name="X", ae_title="X", host="h", port=0))


def test_duplicate_names_the_copy(tmp_path: Path) -> None:
    registry = NodeRegistry(tmp_path / "nodes.json")
    registry.add(PACS)
    assert registry.duplicate("PACS").name == "PACS (copy)"
    assert registry.duplicate("PACS").name == "PACS (copy) 2"


def test_listeners_hear_every_change(tmp_path: Path) -> None:
    registry = NodeRegistry(tmp_path / "nodes.json")
    heard: list[int] = []
    unsubscribe = registry.subscribe(lambda: heard.append(len(registry)))
    registry.add(PACS)
    registry.duplicate("PACS")
    unsubscribe()
    registry.remove("PACS")
    assert heard == [1, 2]


def test_export_import_round_trip_renames_duplicates(tmp_path: Path) -> None:
    source = NodeRegistry(tmp_path / "a.json")
    source.add(PACS)
    source.add(Node(name="CT", ae_title="CT01", host="ct", port=104, retrieve_method="C-GET"))
    source.export_json(tmp_path / "export.json")
    target = NodeRegistry(tmp_path / "b.json")
    target.add(PACS)
    result = target.import_json(tmp_path / "export.json")
    assert sorted(result.added) == ["CT", "PACS (imported)"]
    assert result.renamed == [("PACS", "PACS (imported)")]
    assert target.get("CT") == source.get("CT")
    skipped = NodeRegistry(tmp_path / "c.json")
    skipped.add(PACS)
    assert skipped.import_json(tmp_path / "export.json", on_duplicate="skip").skipped == ["PACS"]


def test_import_reports_invalid_entries_and_keeps_existing_nodes(tmp_path: Path) -> None:
    registry = NodeRegistry(tmp_path / "nodes.json")
    registry.add(PACS)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "N", "ae_title": "A\\B", "host": "h", "port": 1}, {"name": "x"}]))
    result = registry.import_json(bad)
    assert result.added == []
    assert "backslash" in result.invalid[0] and "missing ae_title, host" in result.invalid[1]
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{{{")
    assert registry.import_json(garbage).error is not None
    assert registry.list() == [PACS]


def test_corrupt_nodes_file_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text("not json")
    registry = NodeRegistry(path)
    assert registry.list() == [] and registry.load_problem is not None
    assert (tmp_path / "nodes.json.bad").read_text() == "not json"
