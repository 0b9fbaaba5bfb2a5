"""A fast path for writing the small, plain data sets that C-FIND answers carry (little endian only).

pydicom's ``write_dataset`` spends ~50 µs on a five-element identifier: it opens a buffer per element,
converts the character set and checks every value's type on the way.  A C-FIND SCP answering 10,000
studies does that 10,000 times, and it was three quarters of the SCP's time.  Here the elements whose
encoding is mechanical are written directly: text VRs holding ASCII strings (PS3.5 6.2: the bytes are
the same under every DICOM character set, whose G0 is ASCII), and the binary numbers US/SS/UL/SL/FL/FD/
SV/UV.  Every other element (non-ASCII text, sequences, OB/OW, AT, values pydicom would reformat, a value
too long for a 16-bit length) goes through pydicom's own ``write_data_element``, with the data set's
character set, exactly as ``write_dataset`` would call it.  A data set that needs ``write_dataset``'s
whole-set work (ambiguous VRs, raw elements whose re-encoding depends on their origin, sequences that
may hold either) is left to pydicom entirely: ``write_little_endian`` returns ``None``.

``tests/net/test_fast_write.py`` checks, over generated data sets, that the bytes equal pydicom's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from operator import itemgetter

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

__all__ = ["write_little_endian"]

# PS3.5 7.1.2: these VRs have a 2-byte reserved field and a 32-bit length in Explicit VR.
_LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
# Text VRs whose ASCII value pydicom writes as the string itself (write_string / write_text / write_DA...).
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UR", "UT"})
# IS and DS: pydicom writes a number's original string when it has one, else str(number).
_NUMBER_STRING_VRS = frozenset({"IS", "DS"})
_BINARY_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}

_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xL")
_IMPLICIT = struct.Struct("<HHL")
_SINGLE = {vr: struct.Struct("<" + code) for vr, code in _BINARY_FORMATS.items()}

_by_tag = itemgetter(0)


class _NotPlain(Exception):
    """This element's encoding is not mechanical: pydicom writes it."""


def write_little_endian(ds: Dataset, *, implicit: bool) -> bytes | None:
    """``ds`` encoded as pydicom's ``write_dataset`` would, or ``None`` when only pydicom can tell."""
    elements: list[tuple[int, DataElement]] = []
    for key, element in sorted(ds.items(), key=_by_tag):
        if type(element) is not DataElement or element.VR == "SQ" or len(element.VR) != 2:
            return None  # raw, sequence or ambiguous: write_dataset's whole-set corrections apply
        elements.append((int(key), element))
    out = bytearray()
    encodings: object = None
    for tag, element in elements:
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # PS3.5 7.2: retired group lengths are not written (as write_dataset does)
        try:
            value = _plain_value(element)
        except _NotPlain:
            if encodings is None:
                encodings = ds.get("SpecificCharacterSet", "iso8859")
            out += _with_pydicom(element, encodings, implicit=implicit)
            continue
        vr: str = element.VR
        if implicit:
            out += _IMPLICIT.pack(tag >> 16, tag & 0xFFFF, len(value))
        elif vr in _LONG_LENGTH_VRS:
            out += _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value))
        else:
            out += _EXPLICIT_SHORT.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value))
        out += value
    return bytes(out)


def _plain_value(element: DataElement) -> bytes:
    """The element's value bytes (padded to even length), or ``_NotPlain``."""
    if element.is_undefined_length:
        raise _NotPlain
    vr = element.VR
    value = element.value
    if value is None:
        return b""
    if vr in _BINARY_FORMATS:
        return _binary(vr, value)
    if vr == "PN":
        text = _joined(value, _person_name)
    elif vr in _TEXT_VRS or vr == "UI":
        text = _joined(value, _ascii_str)
    elif vr in _NUMBER_STRING_VRS:
        text = _joined(value, _number_string)
    else:
        raise _NotPlain
    if len(text) & 1:
        text += b"\0" if vr == "UI" else b" "  # PS3.5 6.2: UI pads with NUL, text with a space
    if len(text) > 0xFFFF and vr not in _LONG_LENGTH_VRS:
        raise _NotPlain  # too long for a 16-bit length: pydicom writes it as UN, with a warning
    return text


def _joined(value: object, one: Callable[[object], bytes]) -> bytes:
    if isinstance(value, MultiValue | list | tuple):
        return b"\\".join([one(item) for item in value])
    return one(value)


def _ascii_str(value: object) -> bytes:
    if not isinstance(value, str) or not value.isascii():
        raise _NotPlain
    return value.encode("ascii")


def _person_name(value: object) -> bytes:
    # A name without component groups ('=') encodes as its text; pydicom trims empty trailing groups
    # and keeps an original byte string, so anything else is left to it.
    if type(value) is not PersonName or value.original_string is not None:
        raise _NotPlain
    text = str(value)
    if "=" in text or not text.isascii():
        raise _NotPlain
    return text.encode("ascii")


def _number_string(value: object) -> bytes:
    # As pydicom's write_number_string: the string a number was read from, else str(number).
    if not isinstance(value, str | int | float | Decimal):
        raise _NotPlain
    text = value.original_string if hasattr(value, "original_string") else str(value)
    if not isinstance(text, str) or not text.isascii():
        raise _NotPlain
    return text.encode("ascii")


def _binary(vr: str, value: object) -> bytes:
    if value == "":
        return b""
    try:
        if isinstance(value, MultiValue | list | tuple):
            if not all(type(v) in (int, float) for v in value):
                raise _NotPlain
            return struct.pack(f"<{len(value)}{_BINARY_FORMATS[vr]}", *value)
        if type(value) not in (int, float):
            raise _NotPlain
        return _SINGLE[vr].pack(value)
    except struct.error:
        raise _NotPlain from None  # out of range: pydicom raises the error the caller should see


def _with_pydicom(element: DataElement, encodings: object, *, implicit: bool) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    write_data_element(fp, element, encodings)  # type: ignore[arg-type]
    return fp.getvalue()
