"""Tag-level difference between a template and an output (for --dry-run)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_rewrite.core.scrub import IDENTITY_TAGS, Change, is_known

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


def _secret(tag: int) -> bool:
    """A template value that is never printed: identity (PS3.15 E.1-1), a
    private element (PS3.5 7.8: anything, names included), or a tag the
    dictionary does not know (we cannot say what it holds)."""
    return tag in IDENTITY_TAGS or Tag(tag).is_private or not is_known(tag)


def _show(ds: Dataset, tag: int, redact: bool) -> str | None:
    if tag not in ds:
        return None
    elem = ds[tag]
    if redact and _secret(tag) and elem.value not in (None, "", b"", []):
        return REDACTED
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return f"<{elem.VR}, {len(elem.value or b'')} bytes>"
    text = str(elem.value)
    return text if len(text) <= _MAX else text[: _MAX - 3] + "..."


def diff(template: Dataset, output: Dataset, changes: list[Change],
         from_template: Mapping[int, str] | None = None) -> list[DiffRow]:
    """Rows for every top-level tag that differs, with the rule that did it,
    and for each of ``from_template`` (tag -> why: the template facts that
    reached the output, see ``engine.facts``) even when unchanged."""
    kept = from_template or {}
    rules: dict[int, str] = {}
    for c in changes:
        rules[c.tag] = c.rule
    rows = []
    for tag in sorted({int(t) for t in template.keys()} | {int(t) for t in output.keys()}):
        old = _show(template, tag, redact=True)
        new = _show(output, tag, redact=False)
        old_raw = _show(template, tag, redact=False)
        if old_raw == new and tag in kept:
            kw = output[tag].keyword or str(Tag(tag))
            rows.append(DiffRow(tag, kw, old, new, f"from template: {kept[tag]}"))
            continue
        if old_raw == new:
            continue
        kw = (output[tag].keyword if tag in output else template[tag].keyword) or str(Tag(tag))
        default = "engine: new value" if new is not None else "engine: removed"
        rows.append(DiffRow(tag, kw, old, new, rules.get(tag, default)))
    return rows
