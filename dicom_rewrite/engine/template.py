"""The template: a reference DICOM, parsed once per batch and never modified,
and what callers may pass where a template or a profile is expected."""

from __future__ import annotations

import copy
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.uid import UID

from dicom_rewrite.core import iod
from dicom_rewrite.errors import TemplateError
from dicom_rewrite.profile import DEFAULT_PROFILE, Profile


@dataclass(frozen=True)
class Template:
    """A reference DICOM, parsed once and never modified."""

    dataset: Dataset
    path: Path | None = None

    @property
    def sop_class(self) -> UID:
        return UID(str(self.dataset.get("SOPClassUID", "")))

    @classmethod
    def load(cls, path: str | Path) -> Template:
        p = Path(path)
        try:
            ds: Dataset | None = dcmread(p)
        except FileNotFoundError:
            raise TemplateError(f"{p}: template not found") from None
        except InvalidDicomError:
            # a dataset without the Part 10 header (old archives): accept it
            # only if it parses and says what it is
            ds = _read_headerless(p)
            if ds is None:
                raise TemplateError(
                    f"{p}: not a readable DICOM file (no DICOM Part 10 header, "
                    "and not a dataset that names its SOP Class)"
                ) from None
        except _READ_ERRORS as exc:
            raise TemplateError(f"{p}: not a readable DICOM file ({_why(exc)})") from None
        assert ds is not None
        return cls.from_dataset(ds, p)

    @classmethod
    def from_dataset(cls, ds: Dataset, path: Path | None = None) -> Template:
        name = str(path or "<template>")
        try:
            return cls._from_dataset(ds, path, name)
        except TemplateError:
            raise
        except _READ_ERRORS as exc:
            # the lazily parsed elements fail only when read
            raise TemplateError(f"{name}: cannot read its attributes ({_why(exc)})") from None

    @classmethod
    def _from_dataset(cls, ds: Dataset, path: Path | None, name: str) -> Template:
        if "SOPClassUID" not in ds:
            raise TemplateError(f"{name}: template has no (0008,0016) SOP Class UID")
        sop = UID(str(ds.SOPClassUID))
        if iod.iod_key(sop) is not None and not iod.has_pixel_module(sop):
            raise TemplateError(
                f"{name}: template is a {sop.name}, which has no image pixels; "
                "use an image (CT, MR, US, SC, ...) as the template"
            )
        depth = _depth(ds)
        if depth > MAX_DEPTH:
            raise TemplateError(
                f"{name}: sequences nest {depth} levels deep (at most {MAX_DEPTH} accepted)")
        # decode every text value with the template's own character set now,
        # so changing (0008,0005) later cannot change their meaning; and
        # convert every raw element (big endian, implicit VR) to a plain
        # little-endian-neutral value, in a plain Dataset
        work = copy.deepcopy(ds)
        work.decode()
        for _elem in work.iterall():
            pass  # every raw element at every depth converted now: a damaged one fails here
        plain = Dataset()
        for elem in work:
            plain.add(elem)
        return cls(plain, path)


#: what pydicom may raise on a damaged file, while reading or decoding it
#: (a stray item tag: NotImplementedError; deflate: zlib.error; truncated
#: values: struct.error; hostile nesting: RecursionError, MemoryError)
_READ_ERRORS = (EOFError, ValueError, OSError, LookupError, TypeError, AttributeError,
                NotImplementedError, zlib.error, struct.error, RecursionError, MemoryError,
                OverflowError, AssertionError, BytesLengthException)

#: deepest sequence nesting a template may have (real IODs stay well below)
MAX_DEPTH = 16


def _why(exc: BaseException) -> str:
    """One line naming the exception."""
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _depth(ds: Dataset) -> int:
    """How deep the sequences of ``ds`` nest (0: none), without recursion;
    stops counting just beyond :data:`MAX_DEPTH`."""
    deepest = 0
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        for elem in item:
            if elem.VR == "SQ":
                stack.extend((child, level + 1) for child in elem.value or [])
    return deepest


def _read_headerless(path: Path) -> Dataset | None:
    """A dataset without preamble and file meta, read as pydicom does with
    ``force`` (it guesses the transfer syntax, implicit VR little endian
    unless the first element says otherwise); None unless it names a valid
    SOP Class. Stray bytes before the first element (a common defect of
    old exports) are skipped: PS3.10 7.1 data sets start with a group 0008
    element in such files."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    starts = [0] + [i for i in range(1, _MAX_STRAY + 1) if data[i:i + 2] == b"\x08\x00"]
    for start in starts:
        try:
            ds = dcmread(io.BytesIO(data[start:]), force=True)
            ok = "SOPClassUID" in ds and UID(str(ds.SOPClassUID)).is_valid
        except Exception:
            continue
        if ok:
            return ds
    return None


#: stray leading bytes skipped in a file without the Part 10 header
_MAX_STRAY = 8


def as_template(template: str | Path | Dataset | Template) -> Template:
    """A :class:`Template` from a path, a dataset or a template."""
    if isinstance(template, Template):
        return template
    if isinstance(template, Dataset):
        return Template.from_dataset(template)
    return Template.load(template)


def as_profile(profile: str | Path | Profile | None) -> Profile:
    """A :class:`Profile` from a path, a profile, or None (the safe defaults)."""
    if profile is None:
        return DEFAULT_PROFILE
    if isinstance(profile, Profile):
        return profile
    from dicom_rewrite.profile import load_profile

    return load_profile(profile)
