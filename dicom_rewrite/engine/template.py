"""The template: a reference DICOM, parsed once per batch and never modified,
and what callers may pass where a template or a profile is expected."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
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
        except (EOFError, ValueError, OSError) as exc:
            raise TemplateError(f"{p}: not a readable DICOM file ({exc})") from None
        assert ds is not None
        return cls.from_dataset(ds, p)

    @classmethod
    def from_dataset(cls, ds: Dataset, path: Path | None = None) -> Template:
        name = str(path or "<template>")
        if "SOPClassUID" not in ds:
            raise TemplateError(f"{name}: template has no (0008,0016) SOP Class UID")
        sop = UID(str(ds.SOPClassUID))
        if iod.iod_key(sop) is not None and not iod.has_pixel_module(sop):
            raise TemplateError(
                f"{name}: template is a {sop.name}, which has no image pixels; "
                "use an image (CT, MR, US, SC, ...) as the template"
            )
        try:
            # decode every text value with the template's own character set now,
            # so changing (0008,0005) later cannot change their meaning; and
            # convert every raw element (big endian, implicit VR) to a plain
            # little-endian-neutral value, in a plain Dataset
            work = copy.deepcopy(ds)
            work.decode()
            plain = Dataset()
            for elem in work:
                plain.add(elem)
        except (LookupError, ValueError, KeyError, TypeError) as exc:
            raise TemplateError(f"{name}: cannot read its attributes ({exc})") from None
        return cls(plain, path)


def _read_headerless(path: Path) -> Dataset | None:
    try:
        ds = dcmread(path, force=True)
        ok = "SOPClassUID" in ds and UID(str(ds.SOPClassUID)).is_valid
    except Exception:
        return None
    return ds if ok else None


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
