"""Site profiles: the YAML language that rewrites tags, UIDs and identity.

The language is documented in ``docs/profiles.md``. :func:`load_profile`
reads a profile file (and the files it ``extends``) into a frozen
:class:`Profile`, validating everything it can at load time: unknown keys,
misspelt keywords, values against their element's VR, value templates,
engine-owned tags, duplicates, ``extends`` cycles and UID secrets. Every
error is one line naming the profile file, the line, the rule and the tag.

The engine uses exactly this interface:

* ``identity`` (``strip``/``keep``) and ``keep_tags`` (tags that survive a
  strip);
* ``scrub_private(ds)``: removes the private elements the profile does not
  keep (``keep_private``: tags of private elements to keep; ``keep: [private]``
  or ``keep: ['(gggg,"Creator",ee)']`` in YAML);
* ``uids``: a :class:`UidPolicy`;
* ``pixel``: a :class:`PixelPolicy`;
* ``apply(ds, ctx) -> list[Change]``: the remove/blank/default/set rules,
  called after the engine has built the output and before it sets the UIDs,
  completes the IOD and validates. Each :class:`Change` carries the rule as
  ``"<profile file>:<line>"``.

Order in which rules apply (fixed):

1. engine: copy the template, remove what the new pixels make stale, remove
   private elements (unless kept), strip identity (``identity: strip``,
   except ``keep`` tags), remap every template UID;
2. engine: set the pixels and image attributes;
3. profile: ``remove``, then ``blank``, then ``default``, then ``set``, each
   in the order the rules appear (parents of ``extends`` first);
4. engine: study/series/frame-of-reference/instance UIDs per ``uids`` (a UID
   the profile set is left alone), complete the IOD, character set, file meta.

Modules, one job each: ``paths`` (the tag-path grammar), ``policy`` (the
tags the engine owns), ``vr`` (values against their VR and VM),
``templating`` (value templates), ``rules`` (one class per rule kind),
``model`` (the frozen :class:`Profile` and its settings), ``loader`` (YAML
and ``extends``), ``resolved`` (the resolved view), ``schema`` (the JSON
Schema), ``starter`` (``profile init``), ``scrub`` (the private scrub).
This module re-exports the names the rest of the package uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom.datadict import dictionary_description, dictionary_is_retired, keyword_dict
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_rewrite.core.scrub import IDENTITY_TAGS, STALE_PIXEL_TAGS
from dicom_rewrite.profile.loader import load_profile
from dicom_rewrite.profile.model import (
    APPLY_ORDER,
    DEFAULT_PROFILE,
    SCHEMA_VERSION,
    UID_LEVELS,
    Action,
    Context,
    Identity,
    PixelPolicy,
    Profile,
    SopClassMode,
    UidMode,
    UidPolicy,
)
from dicom_rewrite.profile.paths import TAG_PATTERN, PrivateTag, TagPath, parse_tag
from dicom_rewrite.profile.paths import elem_text as _elem_text
from dicom_rewrite.profile.policy import engine_owned as _engine_owned
from dicom_rewrite.profile.rules import RULE_KINDS, KeepRule, quote
from dicom_rewrite.profile.templating import parse_template
from dicom_rewrite.profile.vr import tag_vr as _vr

__all__ = [
    "APPLY_ORDER",
    "DEFAULT_PROFILE",
    "Action",
    "Context",
    "Identity",
    "PixelPolicy",
    "PrivateTag",
    "Profile",
    "SopClassMode",
    "TagPath",
    "UidMode",
    "UidPolicy",
    "describe",
    "json_schema",
    "load_profile",
    "parse_tag",
    "parse_template",
    "starter_profile",
]


# --------------------------------------------------------- resolved view

def describe(profile: Profile) -> str:
    """The resolved profile (after ``extends``) as YAML, with the origin of
    each rule as a comment. The UID key is never shown."""
    view = _View(profile)
    lines = [*view.header(), *view.uids(), *view.pixel(),
             *KeepRule.describe_section([f"  - {quote(k)}" for k in kept(profile)])]
    for action in APPLY_ORDER:
        kind = RULE_KINDS[action.value]
        lines += kind.describe_section([r.describe() for r in profile.rules if r.action is action])
    return "\n".join(lines) + "\n"


def kept(profile: Profile) -> Iterator[str]:
    """The ``keep`` entries of a profile: tags, private tags, ``private``."""
    for t in sorted(profile.keep_tags):
        yield _elem_text(t)
    for g, c, e in sorted(profile.keep_private_creators):
        yield str(PrivateTag(g, c, e))
    if profile.keep_all_private:
        yield "private"


class _View:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.origins = dict(profile.origins)

    def at(self, key: str) -> str:
        return f"  # {self.origins[key]}" if key in self.origins else "  # default"

    def header(self) -> list[str]:
        p = self.profile
        lines = [f"# resolved profile: {' <- '.join(p.chain) or '(built-in default)'}",
                 f"version: {SCHEMA_VERSION}"]
        if p.description:
            lines.append(f"description: {quote(p.description)}")
        lines.append(f"identity: {p.identity.value}{self.at('identity')}")
        return lines

    def uids(self) -> list[str]:
        u = self.profile.uids
        lines = ["uids:"]
        if u.root:
            lines.append(f"  root: {quote(u.root)}{self.at('uids.root')}")
        source = self.profile.key_source
        if source:
            shown = source if source.startswith("env:") else "<literal, not shown>"
            lines.append(f"  key: {quote(shown)}{self.at('uids.key')}")
        lines += [f"  {lvl}: {getattr(u, lvl).value}{self.at('uids.' + lvl)}" for lvl in UID_LEVELS]
        return lines

    def pixel(self) -> list[str]:
        px = self.profile.pixel
        return ["pixel:",
                f"  transfer_syntax: {px.transfer_syntax}{self.at('pixel.transfer_syntax')}",
                f"  sop_class: {px.sop_class.value}{self.at('pixel.sop_class')}"]


# ------------------------------------------------------------ JSON Schema

def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft-07) of the profile language, for editors."""
    mode = {"enum": ["new", "keep", "hash"]}
    keywords = sorted(k for k, t in keyword_dict.items() if not dictionary_is_retired(t))
    tag_props = {}
    for kw in keywords:
        t = int(keyword_dict[kw])
        if _engine_owned(t) or (t >> 16) == 0x0002:
            continue
        # listed for completion; the value is checked by additionalProperties'
        # sibling below only for unlisted tags, so keep the description short
        tag_props[kw] = {"description": f"{Tag(t)} {dictionary_description(t)}, VR {_vr(t)}"}
    tag = {"type": "string", "pattern": TAG_PATTERN}
    assignments = {"$ref": "#/definitions/assignments"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://github.com/dicom-rewrite/dicom-rewrite/profile-1.schema.json",
        "title": "dicom-rewrite site profile (schema version 1)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {"description": "schema version", "enum": ["1", 1]},
            "description": {"type": "string"},
            "extends": {
                "description": "parent profile(s), relative to this file; the child wins per tag",
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            },
            "identity": {"description": "the template's patient/study identity",
                         "enum": ["strip", "keep"], "default": "strip"},
            "uids": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "root": {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\.?$",
                             "maxLength": 41},
                    "key": {"type": "string", "description": "env:NAME or a literal secret"},
                    "study": mode, "series": mode,
                    "instance": {"enum": ["new", "hash"]},
                    "frame_of_reference": mode,
                },
            },
            "set": {"description": "create or overwrite", **assignments},
            "default": {"description": "only where absent or empty", **assignments},
            "remove": {"type": "array", "items": {"anyOf": [
                tag, {"enum": ["private", "overlays", "curves"]}]}},
            "blank": {"type": "array", "items": tag},
            "keep": {"type": "array", "items": {"anyOf": [tag, {"enum": ["private"]}]}},
            "pixel": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "transfer_syntax": {"enum": ["explicit-vr-little-endian", "rle",
                                                 "jpeg-ls-lossless", "jpeg2000-lossless"]},
                    "sop_class": {"enum": ["auto", "keep", "secondary-capture"]},
                },
            },
        },
        "definitions": {
            "assignments": {
                "type": "object",
                "properties": tag_props,
                "propertyNames": tag,
                "additionalProperties": {"$ref": "#/definitions/value"},
            },
            "scalar": {"type": ["string", "number", "integer"]},
            "value": {"anyOf": [
                {"$ref": "#/definitions/scalar"},
                {"type": "array", "items": {"$ref": "#/definitions/scalar"}, "minItems": 1},
                {"type": "object", "required": ["vr", "value"], "additionalProperties": False,
                 "properties": {"vr": {"type": "string"}, "value": {}}},
            ]},
        },
    }


# ------------------------------------------------------- starter profile

def starter_profile(template: Dataset, name: str = "REF.dcm") -> str:
    """A starter profile for ``template``: which of its attributes identity
    strip removes and which it keeps, as comments (never their values)."""
    from dicom_rewrite.core.uids import is_standard_uid

    removed: list[str] = []
    kept: list[str] = []
    stale: list[str] = []
    private: dict[tuple[int, str], int] = {}

    def walk(ds: Dataset, prefix: str) -> None:
        creators = {}
        for elem in ds:
            t = int(elem.tag)
            if (t >> 16) % 2 and 0x10 <= (t & 0xFFFF) <= 0xFF:
                creators[(t >> 16, t & 0xFF)] = str(elem.value)
        for elem in ds:
            t = int(elem.tag)
            if (t >> 16) % 2:
                if (t & 0xFFFF) >= 0x1000:
                    c = creators.get((t >> 16, (t & 0xFFFF) >> 8), "?")
                    private[(t >> 16, c)] = private.get((t >> 16, c), 0) + 1
                continue
            label = f"{prefix}{_elem_text(t)}"
            if not prefix and t in STALE_PIXEL_TAGS:
                stale.append(label)
            elif t in IDENTITY_TAGS:
                removed.append(f"{Tag(t)} {label}")
            elif elem.VR == "SQ" and elem.value:
                before = len(removed)
                for item in elem.value:
                    walk(item, f"{label}[*].")
                if len(removed) == before and not prefix:
                    kept.append(label)
            elif not prefix and elem.VR != "UI":
                kept.append(label)
            elif not prefix and t in (0x00080016, 0x00080018):
                kept.append(f"{label} (set by the engine)")
            elif not prefix:
                standard = all(is_standard_uid(str(v)) for v in
                               (elem.value if elem.VM > 1 else [elem.value]))
                kept.append(label if standard else f"{label} (replaced by a new UID)")

    walk(template, "")
    removed = sorted(set(removed), key=removed.index)
    sop = str(template.get("SOPClassUID", ""))
    from pydicom.uid import UID

    out = [
        f"# dicom-rewrite profile (schema version {SCHEMA_VERSION}), starter for {name}",
        f"# template SOP class: {UID(sop).name if sop else 'unknown'}",
        "# Language: docs/profiles.md. Check with: dicom-rewrite profile check THIS.yaml",
        "#",
        f"# identity: strip removes these {len(removed)} attribute(s) of the template",
        "# (values not shown; add one to keep: to keep it):",
    ]
    out += [f"#   {r}" for r in removed] or ["#   (none)"]
    out += ["#", f"# identity: strip keeps these {len(kept)} attribute(s):"]
    out += [f"#   {k}" for k in kept] or ["#   (none)"]
    if stale:
        out += ["#", "# always replaced or removed (they describe the template's pixels):",
                "#   " + ", ".join(stale)]
    if private:
        out += ["#", "# private elements (removed unless kept with keep: [private] or "
                '(gggg,"Creator",ee)):']
        out += [f'#   ({g:04X},"{c}",..): {n} element(s)' for (g, c), n in sorted(private.items())]
    out += [
        "",
        f"version: {SCHEMA_VERSION}",
        "identity: strip",
        "uids:",
        "  # root: \"1.2.826.0.1.3680043.10.543\"   # your organisation's root, if any",
        "  # key: \"env:SITE_UID_KEY\"             # needed for hash",
        "  study: new",
        "  series: new",
        "  instance: new",
        "  frame_of_reference: new",
        "keep: []",
        "set:",
        "  PatientName: \"ANON^{stem}\"",
        "  PatientID: \"ANON0001\"   # one patient (and so one study) for the batch",
        "default:",
        "  StudyDescription: \"Converted from {name}\"",
        "remove: []",
        "blank: []",
        "pixel:",
        "  transfer_syntax: explicit-vr-little-endian",
        "  sop_class: auto",
    ]
    return "\n".join(out) + "\n"
