"""Specification of on-disk names: nothing from a data set reaches the file system unchecked."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.archive.paths import is_valid_uid, patient_component, relative_instance_path, resolve_inside


@pytest.mark.parametrize("uid", ["1.2.840.10008.5.1.4.1.1.2", "0", "2.25.123", "1." + "1" * 62])
def test_valid_uids_are_used_as_they_are(uid: str) -> None:
    assert is_valid_uid(uid)
    assert relative_instance_path("P", uid, uid, uid).name == f"{uid}.dcm"


@pytest.mark.parametrize("uid", ["", "1..2", "1.02", ".1", "1.", "a/b", "../../x", "1.2 ", "1." + "1" * 63])
def test_invalid_uids_are_refused_by_the_grammar(uid: str) -> None:
    assert not is_valid_uid(uid)


@given(patient=st.text(), study=st.text(), series=st.text(), sop=st.text(), version=st.text())
def test_any_values_give_four_plain_components_inside_the_root(
    patient: str, study: str, series: str, sop: str, version: str
) -> None:
    relative = relative_instance_path(patient, study, series, sop, version=version)
    assert len(relative.parts) == 4
    for part in relative.parts:
        assert part not in ("", ".", "..")
        assert "/" not in part and "\\" not in part and "\0" not in part and ":" not in part
        assert part.isascii() and len(part) <= 80
    root = Path("/archive")
    assert resolve_inside(root, relative).is_relative_to(root)


def test_patient_ids_that_slug_alike_stay_apart() -> None:
    assert patient_component("A/B") != patient_component("A_B")
    assert patient_component("").startswith("anonymous-")


def test_resolve_inside_refuses_a_path_that_leaves_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        resolve_inside(tmp_path, "../elsewhere.dcm")
