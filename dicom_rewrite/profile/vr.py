"""Values against their element's VR and VM: the one place a profile value
is checked and converted (PS3.5 6.2, Table 6.2-1).

:func:`convert_value` turns one YAML text into the Python value of an
element of a VR, or raises ``ValueError`` naming the rule broken; every
value a profile gives (at load time with sample variables, and for each
output) goes through it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydicom import config as pydicom_config
from pydicom.valuerep import VALIDATORS, validate_value

from dicom_rewrite.core.scrub import vr_of
from dicom_rewrite.core.uids import is_valid_uid

#: PS3.5 Table 6.2-1: the maximum length of a value, in characters (None:
#: no limit we check; UC, UT, UR are limited only by the length field, PN by
#: its component groups, checked in :func:`_check_pn`)
TEXT_MAX: dict[str, int | None] = {
    "AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None, "UT": None,
    "UR": None, "PN": None, "AS": 4, "DA": 8, "TM": 16, "DT": 26, "IS": 12, "DS": 16, "UI": 64,
}
#: PS3.5 Table 6.2-1: the range of each binary integer VR
INT_RANGE: dict[str, tuple[int, int]] = {
    "US": (0, 0xFFFF), "SS": (-0x8000, 0x7FFF), "UL": (0, 0xFFFFFFFF),
    "SL": (-0x80000000, 0x7FFFFFFF), "UV": (0, 2**64 - 1), "SV": (-(2**63), 2**63 - 1),
}
FLOAT_VRS = ("FL", "FD")
#: VRs whose values are never split on backslash (PS3.5 6.2: VM is always 1)
SINGLE_TEXT = ("LT", "ST", "UT", "UR")
#: VRs a profile cannot give a value (bytes, tags, sequences, unknown)
BINARY = ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT", "SQ")
#: the Python type of a value of each numeric VR (for format specs in templates)
NUMERIC_VRS: dict[str, type] = {
    "IS": int, "US": int, "SS": int, "UL": int, "SL": int, "UV": int, "SV": int,
    "DS": float, "FL": float, "FD": float,
}
#: PS3.5 6.2: LT, ST and UT may hold CR, LF, FF and TAB; ESC (ISO 2022 code
#: extensions, PS3.5 6.1) is allowed in every text VR
_TEXT_CONTROLS = "\r\n\f\t\x1b"
_OTHER_CONTROLS = "\x1b"
#: PS3.5 Table 6.2-1: VRs of the Default Character Repertoire only
_ASCII_ONLY = ("CS", "DA", "TM", "DT", "IS", "DS", "UI", "AS", "AE")

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$")
_DT = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?$"
)
_IS = re.compile(r"^\s*[+-]?\d+\s*$")
_DS = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_CS = re.compile(r"^[A-Z0-9 _]*$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_VM = re.compile(r"(\d+)(?:-(\d*)n|-(\d+))?")


def tag_vr(tag: int) -> str:
    """The dictionary VR of a public tag (``US or SS`` stays as it is), or UN."""
    return vr_of(tag)


def python_kind(vr: str) -> type:
    """``int``, ``float`` or ``str``: the type of a value of ``vr``."""
    return NUMERIC_VRS.get(vr.split(" ")[0], str)


def settable(vr: str) -> bool:
    """Can a profile give an element of ``vr`` a value?"""
    return vr in TEXT_MAX or vr in INT_RANGE or vr in FLOAT_VRS


def convert_value(vr: str, text: str) -> Any:
    """One YAML text value -> the Python value for an element of ``vr``.

    Raises ``ValueError`` naming the rule broken (PS3.5 Table 6.2-1)."""
    if vr in INT_RANGE:
        if not _IS.match(text):
            raise ValueError(f"{text!r} is not an integer")
        n = int(text)
        lo, hi = INT_RANGE[vr]
        if not lo <= n <= hi:
            raise ValueError(f"{n} is outside the {vr} range {lo}..{hi}")
        return n
    if vr in FLOAT_VRS:
        try:
            f = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(f):
            raise ValueError(f"{text!r} is not a finite number")
        return f
    if vr in BINARY:
        raise ValueError(f"elements of VR {vr} cannot be given a value in a profile")
    if vr not in TEXT_MAX:
        raise ValueError(f"VR {vr} is not supported")
    check_text(vr, text)
    return text


def check_text(vr: str, text: str) -> None:
    """Check one value of a text VR; raise ``ValueError`` naming the rule."""
    _check_characters(vr, text)
    if text == "":
        return
    check = _FORMATS.get(vr)
    if check is not None:
        check(text)
    if vr in VALIDATORS:
        try:
            validate_value(vr, text, pydicom_config.RAISE)
        except ValueError as exc:
            raise ValueError(" ".join(str(exc).split())) from None


def _check_characters(vr: str, text: str) -> None:
    """What every text VR checks: length, control characters, the value
    separator and the repertoire."""
    limit = TEXT_MAX[vr]
    if limit is not None and len(text) > limit:
        raise ValueError(f"{text!r} is {len(text)} characters, {vr} allows at most {limit}")
    if _has_controls(text, _TEXT_CONTROLS if vr in ("LT", "ST", "UT") else _OTHER_CONTROLS):
        raise ValueError(f"{text!r} contains control characters, not allowed in {vr}")
    # PS3.5 6.4: backslash separates the values of a multi-valued element
    if vr not in SINGLE_TEXT and "\\" in text:
        raise ValueError(f"{text!r} contains a backslash, the DICOM value separator")
    if vr in _ASCII_ONLY and not text.isascii():
        raise ValueError(f"{text!r} is not ASCII, which {vr} requires")


def _has_controls(text: str, allowed: str) -> bool:
    return any((ord(c) < 0x20 and c not in allowed) or ord(c) == 0x7F for c in text)


# ---------------------------------------------- one format check per VR
# PS3.5 Table 6.2-1 defines each format below

def _time_ok(hh: str, mm: str | None, ss: str | None) -> bool:
    # PS3.5 Table 6.2-1 TM: HH 00-23, MM 00-59, SS 00-60 (leap second)
    return int(hh) < 24 and (mm is None or int(mm) < 60) and (ss is None or int(ss) < 61)


def _check_cs(text: str) -> None:
    if not _CS.match(text):
        raise ValueError(f"{text!r}: CS allows only A-Z, 0-9, space and underscore")


def _check_da(text: str) -> None:
    if not _DA.match(text):
        raise ValueError(f"{text!r} is not a date YYYYMMDD")
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date") from None


def _check_tm(text: str) -> None:
    m = _TM.match(text)
    if not m or not _time_ok(m[1], m[2], m[3]):
        raise ValueError(f"{text!r} is not a time HHMMSS.FFFFFF")


def _dt_ok(text: str) -> bool:
    m = _DT.match(text)
    if not m:
        return False
    try:
        datetime.strptime(m[1] + (m[2] or "01") + (m[3] or "01"), "%Y%m%d")
    except ValueError:
        return False
    return not m[4] or _time_ok(m[4], m[5], m[6])


def _check_dt(text: str) -> None:
    if not _dt_ok(text):
        raise ValueError(f"{text!r} is not a date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX")


def _check_is(text: str) -> None:
    if not _IS.match(text):
        raise ValueError(f"{text!r} is not an integer string")
    if not -(2**31) <= int(text) <= 2**31 - 1:
        raise ValueError(f"{text!r} is outside the IS range -2^31..2^31-1")


def _check_ds(text: str) -> None:
    if not _DS.match(text) or not math.isfinite(float(text)):
        raise ValueError(f"{text!r} is not a decimal string")


def _check_ui(text: str) -> None:
    if not is_valid_uid(text):
        raise ValueError(f"{text!r} is not a UID (digits and dots, no leading zeros, at most 64)")


def _check_as(text: str) -> None:
    if not _AS.match(text):
        raise ValueError(f"{text!r} is not an age nnnD/W/M/Y")


def _check_pn(text: str) -> None:
    # PS3.5 6.2.1: up to 3 component groups (=), of up to 5 components (^),
    # each group at most 64 characters
    groups = text.split("=")
    if len(groups) > 3:
        raise ValueError(f"{text!r} has {len(groups)} component groups, PN allows 3")
    for g in groups:
        if len(g.split("^")) > 5:
            raise ValueError(f"{text!r} has more than 5 name components in a group")
        if len(g) > 64:
            raise ValueError(f"{text!r}: a PN component group is at most 64 characters")


_FORMATS: dict[str, Callable[[str], None]] = {
    "CS": _check_cs, "DA": _check_da, "TM": _check_tm, "DT": _check_dt, "IS": _check_is,
    "DS": _check_ds, "UI": _check_ui, "AS": _check_as, "PN": _check_pn,
}


# ------------------------------------------------------------------ VM

def vm_allows(vm: str, n: int) -> bool:
    """Does the dictionary VM ``vm`` (``1``, ``1-3``, ``2-2n``, ``1-n``) allow
    ``n`` values? (PS3.5 6.4)"""
    m = _VM.fullmatch(vm or "")
    if not m:
        return True
    lo = int(m[1])
    if m[3]:
        return lo <= n <= int(m[3])
    if vm.endswith("n"):
        step = int(m[2]) if m[2] else 1
        return n >= lo and n % step == 0
    return n == lo


def pick_vr(vr: str, texts: list[str]) -> str:
    """Resolve ambiguous dictionary VRs (``US or SS``) for the given values."""
    if " or " not in vr:
        return vr
    options = [v.strip() for v in vr.split(" or ")]
    if "SS" in options and any(t.strip().startswith("-") for t in texts):
        return "SS"
    text_like = [v for v in options if v not in BINARY]
    return text_like[0] if text_like else options[0]
