"""The query/retrieve information models by name, for the SCU methods and the command-line tools."""

from __future__ import annotations

from typing import Literal

from .contexts import sop_class

QueryModel = Literal["patient", "study", "worklist"]

# PS3.4 C.6: information model SOP classes, by (operation, model).
QUERY_SOP_CLASSES: dict[tuple[str, str], str] = {
    ("find", "patient"): sop_class("PatientRootQueryRetrieveInformationModelFind"),
    ("find", "study"): sop_class("StudyRootQueryRetrieveInformationModelFind"),
    ("find", "worklist"): sop_class("ModalityWorklistInformationModelFind"),
    ("move", "patient"): sop_class("PatientRootQueryRetrieveInformationModelMove"),
    ("move", "study"): sop_class("StudyRootQueryRetrieveInformationModelMove"),
    ("get", "patient"): sop_class("PatientRootQueryRetrieveInformationModelGet"),
    ("get", "study"): sop_class("StudyRootQueryRetrieveInformationModelGet"),
}


def query_sop_class(operation: str, model: str) -> str:
    """The SOP class UID for ``operation`` (find, move, get) in ``model``, or a model UID given as is."""
    if model.replace(".", "").isdigit():
        return model
    try:
        return QUERY_SOP_CLASSES[(operation, model.lower())]
    except KeyError:
        models = sorted(m for op, m in QUERY_SOP_CLASSES if op == operation)
        raise ValueError(
            f"no {operation.upper()} information model {model!r}; use one of {', '.join(models)}"
        ) from None


def model_of(sop_class_uid: str) -> tuple[str, str] | None:
    """(operation, model) for an information model SOP class UID."""
    for key, value in QUERY_SOP_CLASSES.items():
        if value == sop_class_uid:
            return key
    return None
