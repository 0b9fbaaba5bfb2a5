"""A DIMSE response's status as a pydicom ``Dataset``, the form the API returns (like pynetdicom)."""

from __future__ import annotations

from pydicom.dataset import Dataset

# Command elements that belong to the status (PS3.7 Annex C) and the retrieve counts (PS3.7 9.1.3/9.1.4).
_STATUS_FIELDS = {
    "error_comment": "ErrorComment",
    "error_id": "ErrorID",
    "offending_element": "OffendingElement",
    "number_of_remaining_suboperations": "NumberOfRemainingSuboperations",
    "number_of_completed_suboperations": "NumberOfCompletedSuboperations",
    "number_of_failed_suboperations": "NumberOfFailedSuboperations",
    "number_of_warning_suboperations": "NumberOfWarningSuboperations",
    "affected_sop_instance_uid": "AffectedSOPInstanceUID",
}


def status_dataset(response: object) -> Dataset:
    """``Status`` plus the status detail and sub-operation counts that ``response`` carries."""
    ds = Dataset()
    ds.Status = int(response.status)  # type: ignore[attr-defined]
    detail = getattr(response, "status_detail", None)
    if detail is not None:
        for element in detail:
            ds.add(element)
    for attribute, keyword in _STATUS_FIELDS.items():
        value = getattr(response, attribute, None)
        if value is not None and value != () and keyword not in ds:
            setattr(ds, keyword, value)
    return ds
