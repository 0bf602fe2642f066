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


def _norm(column: str) -> str:
    return "".join(ch for ch in column.lower() if ch.isalnum())


_SEX = '{{from: "{{meta[{c}]}}", map: {{M: M, F: F, Male: M, Female: F, "*": O}}}}'
_VIEW = '{{from: "{{meta[{c}]}}", map: {{AP: AP, PA: PA, LL: LL, RL: RL, "*": ""}}}}'
#: recognised columns (lower case, letters and digits only) -> (keyword, value template)
_COLUMNS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("patientid", "subjectid", "patient"), ("PatientID", '"{{meta[{c}]}}"')),
    **dict.fromkeys(("patientage", "age"), ("PatientAge", '"{{meta[{c}]:03d}}Y"')),
    **dict.fromkeys(("patientgender", "patientsex", "gender", "sex"), ("PatientSex", _SEX)),
    **dict.fromkeys(("viewposition", "appa", "view"), ("ViewPosition", _VIEW)),
    "studydate": ("StudyDate", '"{{meta[{c}]}}"'),
    "accessionnumber": ("AccessionNumber", '"{{meta[{c}]}}"'),
    **dict.fromkeys(("findinglabels", "findings", "labels"), ("ImageComments", '"{{meta[{c}]}}"')),
}
#: columns that say which images share a study
_STUDY_COLUMNS = ("followup", "studyid", "study")


def _metadata_lines(columns: tuple[str, ...]) -> tuple[list[str], list[str], list[str], set[str]]:
    """The ``metadata:`` entries, ``uids`` and ``pixel`` lines for the
    recognised ``columns``, and the keywords they set."""
    entries: list[str] = []
    done: set[str] = set()
    for c in columns:
        found = _COLUMNS.get(_norm(c))
        if found is not None and found[0] not in done:
            done.add(found[0])
            entries.append(f"  {found[0]}: {found[1].format(c=c)}   # column {c!r}")
    study = next((c for c in columns if _norm(c) in _STUDY_COLUMNS), None)
    uids = [f'  study_key: "{{meta[{study}]}}"   # one study per patient and {study}'] if study else []
    pixel: list[str] = []
    norm = {_norm(c): c for c in columns}
    if "originalimagepixelspacingx" in norm and "y" in norm:  # NIH's split "[x,y]" header
        pixel.append(f'  spacing: "{{meta[{norm["y"]}]}}\\\\{{meta[{norm["originalimagepixelspacingx"]}]}}"')
        if "originalimagewidth" in norm and "height" in norm:
            pixel.append(f'  spacing_size: "{{meta[{norm["height"]}]}}\\\\{{meta[{norm["originalimagewidth"]}]}}"')
    elif "pixelspacing" in norm:
        pixel.append(f'  spacing: "{{meta[{norm["pixelspacing"]}]}}\\\\{{meta[{norm["pixelspacing"]}]}}"')
    return entries, uids, pixel, done


def _with_metadata(text: str, columns: tuple[str, ...]) -> str:
    entries, uids, pixel, done = _metadata_lines(columns)
    unused = [c for c in columns if not any(f"[{c}]" in e for e in [*entries, *uids, *pixel])]
    lines = [ln for ln in text.splitlines() if not any(ln.startswith(f"  {kw}:") for kw in done)]
    out: list[str] = []
    for ln in lines:
        out.append(ln)
        if ln == "uids:":
            out += uids
        elif ln.startswith("  sop_class:"):
            out += pixel
    out += ["metadata:   # values from the manifest's row of each image (docs/metadata.md)", *entries]
    if unused:
        out.append("  # other columns: " + ", ".join(f"{{meta[{c}]}}" for c in unused))
    return "\n".join(out) + "\n"


def starter_profile(template: Dataset, name: str = "REF.dcm", columns: tuple[str, ...] = ()) -> str:
    """A starter profile for ``template``: which of its attributes identity
    strip removes and which it keeps, as comments (never their values);
    with a manifest's ``columns``, a ``metadata:`` block mapping those it
    recognises (patient, age, sex, view, study, spacing)."""
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
    text = "\n".join(out) + "\n" + _PROFILE
    return _with_metadata(text, columns) if columns else text
