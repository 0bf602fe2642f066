"""``profile init``: a starter profile for a template, listing (as comments,
never values) which of its attributes ``identity: strip`` removes and which
it keeps.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from dicom_rewrite.core.scrub import IDENTITY_TAGS, STALE_PIXEL_TAGS
from dicom_rewrite.core.uids import is_standard_uid
from dicom_rewrite.profile.model import SCHEMA_VERSION
from dicom_rewrite.profile.paths import elem_text

#: SOP Class UID and SOP Instance UID (PS3.3 C.12.1): the engine sets them
_SOP_UIDS = (0x00080016, 0x00080018)

_PROFILE = f"""
version: {SCHEMA_VERSION}
identity: strip
uids:
  # root: "1.2.826.0.1.3680043.10.543"   # your organisation's root, if any
  # key: "env:SITE_UID_KEY"             # needed for hash
  study: new
  series: new
  instance: new
  frame_of_reference: new
keep: []
set:
  PatientName: "ANON^{{stem}}"
  PatientID: "ANON0001"   # one patient (and so one study) for the batch
default:
  StudyDescription: "Converted from {{name}}"
remove: []
blank: []
pixel:
  transfer_syntax: explicit-vr-little-endian
  sop_class: auto
"""


class _Survey:
    """What identity strip does to each attribute of a template."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        self.kept: list[str] = []
        self.stale: list[str] = []
        self.private: dict[tuple[int, str], int] = {}

    def walk(self, ds: Dataset, prefix: str) -> None:
        creators = {}
        for elem in ds:
            t = int(elem.tag)
            # PS3.5 7.8.1: (gggg,0010-00FF) are the private creators of odd groups
            if (t >> 16) % 2 and 0x10 <= (t & 0xFFFF) <= 0xFF:
                creators[(t >> 16, t & 0xFF)] = str(elem.value)
        for elem in ds:
            t = int(elem.tag)
            if (t >> 16) % 2:
                if (t & 0xFFFF) >= 0x1000:
                    c = creators.get((t >> 16, (t & 0xFFFF) >> 8), "?")
                    self.private[(t >> 16, c)] = self.private.get((t >> 16, c), 0) + 1
                continue
            self._public(elem, t, prefix)

    def _public(self, elem: DataElement, t: int, prefix: str) -> None:
        label = f"{prefix}{elem_text(t)}"
        if not prefix and t in STALE_PIXEL_TAGS:
            self.stale.append(label)
        elif t in IDENTITY_TAGS:
            self.removed.append(f"{Tag(t)} {label}")
        elif elem.VR == "SQ" and elem.value:
            before = len(self.removed)
            for item in elem.value:
                self.walk(item, f"{label}[*].")
            if len(self.removed) == before and not prefix:
                self.kept.append(label)
        elif not prefix:
            self.kept.append(self._top_label(elem, t, label))

    @staticmethod
    def _top_label(elem: DataElement, t: int, label: str) -> str:
        if elem.VR != "UI":
            return label
        if t in _SOP_UIDS:
            return f"{label} (set by the engine)"
        standard = all(is_standard_uid(str(v)) for v in (elem.value if elem.VM > 1 else [elem.value]))
        return label if standard else f"{label} (replaced by a new UID)"


def starter_profile(template: Dataset, name: str = "REF.dcm") -> str:
    """A starter profile for ``template``: which of its attributes identity
    strip removes and which it keeps, as comments (never their values)."""
    survey = _Survey()
    survey.walk(template, "")
    removed = sorted(set(survey.removed), key=survey.removed.index)
    sop = str(template.get("SOPClassUID", ""))
    out = [
        f"# dicom-rewrite profile (schema version {SCHEMA_VERSION}), starter for {name}",
        f"# template SOP class: {UID(sop).name if sop else 'unknown'}",
        "# Language: docs/profiles.md. Check with: dicom-rewrite profile check THIS.yaml",
        "#",
        f"# identity: strip removes these {len(removed)} attribute(s) of the template",
        "# (values not shown; add one to keep: to keep it):",
    ]
    out += [f"#   {r}" for r in removed] or ["#   (none)"]
    out += ["#", f"# identity: strip keeps these {len(survey.kept)} attribute(s):"]
    out += [f"#   {k}" for k in survey.kept] or ["#   (none)"]
    if survey.stale:
        out += ["#", "# always replaced or removed (they describe the template's pixels):",
                "#   " + ", ".join(survey.stale)]
    if survey.private:
        out += ["#", "# private elements (removed unless kept with keep: [private] or "
                '(gggg,"Creator",ee)):']
        out += [f'#   ({g:04X},"{c}",..): {n} element(s)' for (g, c), n in sorted(survey.private.items())]
    return "\n".join(out) + "\n" + _PROFILE
