"""PS3.4 C.2.2.2 attribute matching for C-FIND, translated to parameterised SQL.

Supported, per attribute of the identifier:
- universal matching (C.2.2.2.3): an empty value, or ``*`` alone, matches everything and asks for
  the attribute to be returned;
- single value matching (C.2.2.2.1): exact, except that person names (PN) match case-insensitively
  (PS3.4 leaves this to the SCP; technologists type names in any case);
- wild card matching (C.2.2.2.4): ``*`` and ``?`` in string VRs other than dates, times and UIDs;
  SQL GLOB is used with every other GLOB metacharacter escaped, so user text is never a pattern;
- range matching (C.2.2.2.5) for DA, TM and DT: ``A-B``, ``A-`` and ``-B``, inclusive; an upper bound
  is compared at its own precision, so ``-1100`` includes 11:00:59;
- list of UID matching (C.2.2.2.2): backslash-separated UIDs; other multi-valued keys match any value.
Combined date-time range matching (C.2.2.2.5.2) and sequence matching are not supported: sequence keys
are returned empty. Keys of levels above the query level may be given (PS3.4 C.4.1.2.1 asks for only
their unique keys; extra ones are matched too rather than refused). Unknown keys are returned empty.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from app.archive.errors import InvalidQueryError

Level = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]
_LEVELS: tuple[Level, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")


@dataclass(frozen=True, slots=True)
class Attribute:
    """How one identifier keyword maps onto the index."""

    level: Level
    column: str  # SQL expression over aliases p, st, se, i
    kind: Literal["text", "pn", "uid", "date", "time", "int", "count", "modalities"]


ATTRIBUTES: dict[str, Attribute] = {
    "PatientName": Attribute("PATIENT", "p.patient_name", "pn"),
    "PatientID": Attribute("PATIENT", "p.patient_id", "text"),
    "PatientBirthDate": Attribute("PATIENT", "p.patient_birth_date", "date"),
    "PatientSex": Attribute("PATIENT", "p.patient_sex", "text"),
    "NumberOfPatientRelatedStudies": Attribute(
        "PATIENT", "(SELECT COUNT(*) FROM studies s2 WHERE s2.patient_key = p.id)", "count"
    ),
    "NumberOfPatientRelatedSeries": Attribute(
        "PATIENT",
        "(SELECT COUNT(*) FROM series s2 JOIN studies s3 ON s3.study_uid = s2.study_uid "
        "WHERE s3.patient_key = p.id)",
        "count",
    ),
    "NumberOfPatientRelatedInstances": Attribute(
        "PATIENT",
        "(SELECT COUNT(*) FROM instances i2 JOIN series s2 ON s2.series_uid = i2.series_uid "
        "JOIN studies s3 ON s3.study_uid = s2.study_uid WHERE s3.patient_key = p.id)",
        "count",
    ),
    "StudyInstanceUID": Attribute("STUDY", "st.study_uid", "uid"),
    "StudyDate": Attribute("STUDY", "st.study_date", "date"),
    "StudyTime": Attribute("STUDY", "st.study_time", "time"),
    "AccessionNumber": Attribute("STUDY", "st.accession_number", "text"),
    "StudyID": Attribute("STUDY", "st.study_id", "text"),
    "StudyDescription": Attribute("STUDY", "st.study_description", "text"),
    "ReferringPhysicianName": Attribute("STUDY", "st.referring_physician_name", "pn"),
    "ModalitiesInStudy": Attribute(
        "STUDY",
        "(SELECT group_concat(DISTINCT s2.modality) FROM series s2 WHERE s2.study_uid = st.study_uid)",
        "modalities",
    ),
    "NumberOfStudyRelatedSeries": Attribute(
        "STUDY", "(SELECT COUNT(*) FROM series s2 WHERE s2.study_uid = st.study_uid)", "count"
    ),
    "NumberOfStudyRelatedInstances": Attribute(
        "STUDY",
        "(SELECT COUNT(*) FROM instances i2 JOIN series s2 ON s2.series_uid = i2.series_uid "
        "WHERE s2.study_uid = st.study_uid)",
        "count",
    ),
    "SeriesInstanceUID": Attribute("SERIES", "se.series_uid", "uid"),
    "Modality": Attribute("SERIES", "se.modality", "text"),
    "SeriesNumber": Attribute("SERIES", "se.series_number", "int"),
    "SeriesDescription": Attribute("SERIES", "se.series_description", "text"),
    "NumberOfSeriesRelatedInstances": Attribute(
        "SERIES", "(SELECT COUNT(*) FROM instances i2 WHERE i2.series_uid = se.series_uid)", "count"
    ),
    "SOPInstanceUID": Attribute("IMAGE", "i.sop_uid", "uid"),
    "SOPClassUID": Attribute("IMAGE", "i.sop_class_uid", "uid"),
    "InstanceNumber": Attribute("IMAGE", "i.instance_number", "int"),
}

# PS3.4 C.6.1.1 / C.6.2.1: the unique key of each level (column used for C-MOVE/C-GET look-ups).
UNIQUE_KEY_COLUMNS: dict[Level, tuple[str, str]] = {
    "PATIENT": ("p.patient_id", "PatientID"),
    "STUDY": ("st.study_uid", "StudyInstanceUID"),
    "SERIES": ("se.series_uid", "SeriesInstanceUID"),
    "IMAGE": ("i.sop_uid", "SOPInstanceUID"),
}

_FROM: dict[Level, str] = {
    "PATIENT": "FROM patients p",
    "STUDY": "FROM studies st JOIN patients p ON p.id = st.patient_key",
    "SERIES": "FROM series se JOIN studies st ON st.study_uid = se.study_uid "
    "JOIN patients p ON p.id = st.patient_key",
    "IMAGE": "FROM instances i JOIN series se ON se.series_uid = i.series_uid "
    "JOIN studies st ON st.study_uid = se.study_uid JOIN patients p ON p.id = st.patient_key",
}

_NOT_MATCHED = {"QueryRetrieveLevel", "SpecificCharacterSet"}


def unique_key_values(identifier: Dataset, keyword: str) -> list[str]:
    """The value(s) of a unique key: a single value or a backslash-separated list (C.2.2.2.2)."""
    return [v for v in _values(identifier.get(keyword)) if v]


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def _glob_escape(text: str) -> str:
    # In GLOB, '*', '?' and '[' are special; a bracketed character is always literal.
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _wildcard_to_glob(text: str) -> str:
    """A DICOM wildcard value (C.2.2.2.4) as a GLOB pattern: only '*' and '?' stay special."""
    return "".join(c if c in "*?" else _glob_escape(c) for c in text)


def _single_condition(attribute: Attribute, column: str, value: str) -> tuple[str, list[Any]]:
    kind = attribute.kind
    if kind in ("date", "time") and "-" in value:
        lower, _, upper = value.partition("-")
        clauses: list[str] = []
        params: list[Any] = []
        if lower:
            clauses.append(f"({column} != '' AND {column} >= ?)")
            params.append(lower)
        if upper:
            # Compare at the bound's precision: "-1100" includes 110059.
            clauses.append(f"({column} != '' AND substr({column}, 1, ?) <= ?)")
            params += [len(upper), upper]
        return " AND ".join(clauses) or "1", params
    if kind == "int":
        try:
            return f"{column} = ?", [int(value)]
        except ValueError as error:
            raise InvalidQueryError(f"{value!r} is not a valid integer string for an IS key") from error
    if kind in ("uid", "date", "time"):
        return f"{column} = ?", [value]  # no wildcards for these VRs (C.2.2.2.4)
    if kind == "pn":
        if "*" in value or "?" in value:
            return f"casefold({column}) GLOB ?", [_wildcard_to_glob(value.casefold())]
        return f"casefold({column}) = ?", [value.rstrip("^").casefold()]
    if "*" in value or "?" in value:
        return f"{column} GLOB ?", [_wildcard_to_glob(value)]
    return f"{column} = ?", [value]


def _condition(attribute: Attribute, values: Sequence[str]) -> tuple[str, list[Any]] | None:
    """SQL for one key, or None for universal matching."""
    if attribute.kind == "count" or not values or all(v in ("", "*") for v in values):
        return None
    if attribute.kind == "modalities":
        # Study matches if any of its series has one of the requested modalities.
        inner = Attribute("SERIES", "s2.modality", "text")
        parts = [_single_condition(inner, "s2.modality", v) for v in values if v]
        sql = " OR ".join(p[0] for p in parts)
        params = [x for p in parts for x in p[1]]
        return f"EXISTS (SELECT 1 FROM series s2 WHERE s2.study_uid = st.study_uid AND ({sql}))", params
    if attribute.kind == "uid" and len(values) > 1:
        marks = ", ".join("?" * len(values))
        return f"{attribute.column} IN ({marks})", list(values)
    parts = [_single_condition(attribute, attribute.column, v) for v in values]
    sql = " OR ".join(f"({p[0]})" for p in parts)
    return f"({sql})", [x for p in parts for x in p[1]]


def _check_level_and_root(level: str, root: str, identifier: Dataset) -> None:
    if root not in ("PATIENT", "STUDY"):
        raise InvalidQueryError(f"Unknown information model root {root!r}: use PATIENT or STUDY.")
    if level not in _LEVELS:
        raise InvalidQueryError(
            f"Query/Retrieve Level {level!r} is not PATIENT, STUDY, SERIES or IMAGE (PS3.4 C.6)."
        )
    if root == "STUDY" and level == "PATIENT":
        raise InvalidQueryError("The Study Root information model has no PATIENT level (PS3.4 C.6.2).")
    # PS3.4 C.4.1.2.1.1: hierarchical search needs a single unique key for each level above the query
    # level (the root level excepted for Patient Root's PATIENT-level, and the Study Root's patient).
    first_level = _LEVELS.index("PATIENT" if root == "PATIENT" else "STUDY")
    for above in _LEVELS[first_level : _LEVELS.index(level)]:
        keyword = UNIQUE_KEY_COLUMNS[above][1]
        values = unique_key_values(identifier, keyword)
        if len(values) != 1 or "*" in values[0] or "?" in values[0]:
            raise InvalidQueryError(
                f"A {level}-level query under the {root} root needs a single {keyword} "
                f"(hierarchical search, PS3.4 C.4.1.2.1); got {values or 'none'}."
            )


def find(
    connection: sqlite3.Connection, level: Level, identifier: Dataset, *, root: Literal["PATIENT", "STUDY"]
) -> Iterator[Dataset]:
    """One response identifier per match: the requested keys, QueryRetrieveLevel and the unique key.

    Raises :class:`InvalidQueryError` at once (not on first iteration) for a bad level, root or
    hierarchical key, so the SCP can answer with a failure status before any pending response.
    """
    _check_level_and_root(level, root, identifier)
    sql, params, requested, returned = _compile(level, identifier)
    unique_keyword = UNIQUE_KEY_COLUMNS[level][1]
    rows = connection.execute(sql, params)
    return (
        _response(level, requested, dict(zip(returned, row, strict=True)), unique_keyword) for row in rows
    )


def _compile(level: Level, identifier: Dataset) -> tuple[str, list[Any], list[DataElement], list[str]]:
    depth = _LEVELS.index(level)
    requested: list[DataElement] = [e for e in identifier if e.keyword not in _NOT_MATCHED]
    clauses: list[str] = []
    params: list[Any] = []
    for element in requested:
        attribute = ATTRIBUTES.get(element.keyword)
        if attribute is None or _LEVELS.index(attribute.level) > depth or element.VR == "SQ":
            continue
        condition = _condition(attribute, _values(element.value))
        if condition is not None:
            clauses.append(condition[0])
            params.extend(condition[1])
    returned = [
        keyword for keyword, attribute in ATTRIBUTES.items() if _LEVELS.index(attribute.level) <= depth
    ]
    columns = ", ".join(ATTRIBUTES[k].column for k in returned)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT {columns} {_FROM[level]} {where}", params, requested, returned


def _response(
    level: Level, requested: list[DataElement], values: dict[str, Any], unique_keyword: str
) -> Dataset:
    response = Dataset()
    response.QueryRetrieveLevel = level
    non_ascii = False
    for element in requested:
        value = values.get(element.keyword)
        if element.keyword not in values or element.VR == "SQ":
            response.add_new(element.tag, element.VR, None if element.VR != "SQ" else [])
            continue
        converted = _to_dicom(element.keyword, value)
        non_ascii = non_ascii or (isinstance(converted, str) and not converted.isascii())
        response.add_new(element.tag, element.VR, converted)
    if unique_keyword not in response:
        setattr(response, unique_keyword, values[unique_keyword])
    if non_ascii:
        response.SpecificCharacterSet = "ISO_IR 192"  # the index holds Unicode; send it as UTF-8
    return response


def _to_dicom(keyword: str, value: Any) -> Any:
    if value is None:
        return None
    if ATTRIBUTES[keyword].kind == "modalities":
        return sorted(m for m in str(value).split(",") if m) or None
    if ATTRIBUTES[keyword].kind in ("int", "count"):
        return str(value)
    return value if value != "" else None
