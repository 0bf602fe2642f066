"""The resolved view of a profile (``profile check``): every setting and
rule after ``extends``, as YAML, with where each comes from. The UID key
is never shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from dicom_rewrite.profile.model import APPLY_ORDER, SCHEMA_VERSION, UID_KEY_TEMPLATES, UID_LEVELS
from dicom_rewrite.profile.paths import PrivateTag, elem_text
from dicom_rewrite.profile.reader import quote
from dicom_rewrite.profile.rules import RULE_KINDS, KeepRule

if TYPE_CHECKING:
    from dicom_rewrite.profile.model import Profile


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
        yield elem_text(t)
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
        lines += [f"  {k}: {quote(getattr(u, k))}{self.at('uids.' + k)}" for k in UID_KEY_TEMPLATES
                  if getattr(u, k) is not None]
        return lines

    def pixel(self) -> list[str]:
        px = self.profile.pixel
        return ["pixel:",
                f"  transfer_syntax: {px.transfer_syntax}{self.at('pixel.transfer_syntax')}",
                f"  sop_class: {px.sop_class.value}{self.at('pixel.sop_class')}",
                f"  spacing: {_quoted(px.spacing)}{self.at('pixel.spacing')}",
                *([f"  spacing_size: {_quoted(px.spacing_size)}{self.at('pixel.spacing_size')}"]
                  if px.spacing_size else []),
                *([f"  rescale: {_quoted(px.rescale)}{self.at('pixel.rescale')}"] if px.rescale else [])]


def _quoted(value: str) -> str:
    return value if value.isalpha() else quote(value)
