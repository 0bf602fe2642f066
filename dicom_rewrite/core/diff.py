"""Tag-level difference between a template and an output (for --dry-run)."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_rewrite.core.scrub import IDENTITY_TAGS, Change

REDACTED = "<redacted>"
_MAX = 60


@dataclass(frozen=True)
class DiffRow:
    tag: int
    keyword: str
    old: str | None
    new: str | None
    rule: str

    def format(self) -> str:
        old = "-" if self.old is None else self.old
        new = "-" if self.new is None else self.new
        return f"{Tag(self.tag)} {self.keyword:<36} {old!s:<30} -> {new!s:<30} [{self.rule}]"


def _show(ds: Dataset, tag: int, redact: bool) -> str | None:
    if tag not in ds:
        return None
    elem = ds[tag]
    if redact and tag in IDENTITY_TAGS and elem.value not in (None, "", []):
        return REDACTED
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return f"<{elem.VR}, {len(elem.value or b'')} bytes>"
    text = str(elem.value)
    return text if len(text) <= _MAX else text[: _MAX - 3] + "..."


def diff(template: Dataset, output: Dataset, changes: list[Change]) -> list[DiffRow]:
    """Rows for every top-level tag that differs, with the rule that did it."""
    rules: dict[int, str] = {}
    for c in changes:
        rules[c.tag] = c.rule
    rows = []
    for tag in sorted({int(t) for t in template.keys()} | {int(t) for t in output.keys()}):
        old = _show(template, tag, redact=True)
        new = _show(output, tag, redact=False)
        old_raw = _show(template, tag, redact=False)
        if old_raw == new:
            continue
        kw = (output[tag].keyword if tag in output else template[tag].keyword) or str(Tag(tag))
        default = "engine: new value" if new is not None else "engine: removed"
        rows.append(DiffRow(tag, kw, old, new, rules.get(tag, default)))
    return rows
