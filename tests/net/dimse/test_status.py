"""Status codes: the category of every code (PS3.7 Annex C) and words a technologist understands."""

from __future__ import annotations

import pytest
from pynetdicom import status as theirs
from pynetdicom.status import code_to_category

from app.net.dimse import status as s
from app.net.dimse.status import StatusCategory, category_of, describe_status, is_final


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0x0000, StatusCategory.SUCCESS),
        (0xFF00, StatusCategory.PENDING),
        (0xFF01, StatusCategory.PENDING),
        (0xFE00, StatusCategory.CANCEL),
        (0x0001, StatusCategory.WARNING),
        (0x0107, StatusCategory.WARNING),
        (0x0116, StatusCategory.WARNING),
        (0xB000, StatusCategory.WARNING),
        (0xB007, StatusCategory.WARNING),
        (0xBFFF, StatusCategory.WARNING),
        (0xA700, StatusCategory.FAILURE),
        (0xA7FF, StatusCategory.FAILURE),
        (0xA801, StatusCategory.FAILURE),
        (0xA900, StatusCategory.FAILURE),
        (0xC000, StatusCategory.FAILURE),
        (0xC211, StatusCategory.FAILURE),
        (0x0110, StatusCategory.FAILURE),
        (0x0122, StatusCategory.FAILURE),
        (0x0211, StatusCategory.FAILURE),
        (0x0002, StatusCategory.FAILURE),  # not defined: never mistaken for success
        (0xFFFF, StatusCategory.FAILURE),
    ],
)
def test_category_of_follows_ps3_7_annex_c(code: int, category: StatusCategory) -> None:
    assert category_of(code) is category


def test_only_pending_is_not_final() -> None:
    assert not is_final(s.PENDING)
    assert not is_final(s.PENDING_WARNING)
    assert all(is_final(code) for code in (s.SUCCESS, s.CANCEL, s.SUBOPS_WARNING, s.OUT_OF_RESOURCES))


def test_named_constants_have_the_standard_values() -> None:
    assert (s.SUCCESS, s.PENDING, s.PENDING_WARNING, s.CANCEL) == (0x0000, 0xFF00, 0xFF01, 0xFE00)
    assert (s.OUT_OF_RESOURCES, s.MOVE_DESTINATION_UNKNOWN, s.SUBOPS_WARNING) == (0xA700, 0xA801, 0xB000)
    assert s.DATASET_DOES_NOT_MATCH_SOP_CLASS == s.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS == 0xA900
    assert s.CANNOT_UNDERSTAND == s.UNABLE_TO_PROCESS == 0xC000
    assert (s.NO_SUCH_SOP_CLASS, s.SOP_CLASS_NOT_SUPPORTED, s.PROCESSING_FAILURE) == (0x0118, 0x0122, 0x0110)
    assert (s.UNRECOGNIZED_OPERATION, s.NO_SUCH_OBJECT_INSTANCE, s.DUPLICATE_SOP_INSTANCE) == (
        0x0211,
        0x0112,
        0x0111,
    )
    assert s.NO_SUCH_ACTION == 0x0123


@pytest.mark.parametrize(
    ("code", "service", "text"),
    [
        (0x0000, None, "Success (0x0000)"),
        (0xA700, "C-STORE", "Failure: Refused: out of resources (0xA700)"),
        (0xA7F3, "C-STORE", "Failure: Refused: out of resources (0xA7F3)"),
        (0xC123, "C-STORE", "Failure: Cannot understand (0xC123)"),
        (0xC123, "C-FIND", "Failure: Unable to process (0xC123)"),
        (0xB000, "C-STORE", "Warning: Coercion of data elements (0xB000)"),
        (0xB000, "C-MOVE", "Warning: Sub-operations complete, one or more failures or warnings (0xB000)"),
        (0xA801, "C-MOVE", "Failure: Refused: move destination unknown (0xA801)"),
        (0xA900, "C-FIND", "Failure: Identifier does not match SOP class (0xA900)"),
        (0xFF00, "C-FIND", "Pending: Matches are continuing, current match supplied (0xFF00)"),
        (0xFF00, "C-GET", "Pending: Sub-operations are continuing (0xFF00)"),
        (0xFE00, "C-FIND", "Cancel: Operation cancelled (0xFE00)"),
        (0x0122, "N-SET", "Failure: Refused: SOP class not supported (0x0122)"),
        (0x0112, None, "Failure: No such SOP instance (0x0112)"),
        (0xA700, None, "Failure: Refused: out of resources (0xA700)"),
        (0xA700, "c_store_rsp", "Failure: Refused: out of resources (0xA700)"),
    ],
)
def test_describe_status_gives_words_and_hex(code: int, service: str | None, text: str) -> None:
    assert describe_status(code, service) == text


def test_an_undefined_code_still_says_its_category_and_hex() -> None:
    assert describe_status(0x0999) == "Failure: status not defined by the standard for this service (0x0999)"
    assert describe_status(0xB123, "C-FIND") == (
        "Warning: status not defined by the standard for this service (0xB123)"
    )


def _pynetdicom_tables() -> dict[str, dict[int, tuple[str, str]]]:
    return {
        "C-ECHO": theirs.VERIFICATION_SERVICE_CLASS_STATUS,
        "C-STORE": theirs.STORAGE_SERVICE_CLASS_STATUS,
        "C-FIND": theirs.QR_FIND_SERVICE_CLASS_STATUS,
        "C-MOVE": theirs.QR_MOVE_SERVICE_CLASS_STATUS,
        "C-GET": theirs.QR_GET_SERVICE_CLASS_STATUS,
    }


@pytest.mark.parametrize("service", ["C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "C-GET"])
def test_categories_and_meanings_agree_with_pynetdicoms_tables(service: str) -> None:
    table = _pynetdicom_tables()[service]
    for code, (category, meaning) in table.items():
        assert category_of(code).value == category, f"0x{code:04X}"
        words = describe_status(code, service)
        if meaning:  # every code pynetdicom can name, we name too
            assert "not defined" not in words, f"0x{code:04X}: {words}"


def test_categories_agree_with_pynetdicoms_code_to_category() -> None:
    for code in range(0x10000):
        theirs = code_to_category(code)
        if theirs != "Unknown":
            assert category_of(code).value == theirs, f"0x{code:04X}"
