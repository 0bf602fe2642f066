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
* ``uids``: a :class:`~dicom_rewrite.profile.model.UidPolicy`;
* ``pixel``: a :class:`~dicom_rewrite.profile.model.PixelPolicy`;
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
This module re-exports the names the rest of the package imports from it.
"""

from __future__ import annotations

from dicom_rewrite.profile.loader import load_profile, load_text_yaml
from dicom_rewrite.profile.model import (
    APPLY_ORDER,
    DEFAULT_PROFILE,
    Action,
    Context,
    Identity,
    Profile,
    SopClassMode,
    UidMode,
)
from dicom_rewrite.profile.paths import PrivateTag, parse_tag
from dicom_rewrite.profile.schema import json_schema
from dicom_rewrite.profile.starter import starter_profile
from dicom_rewrite.profile.templating import parse_template

__all__ = [
    "APPLY_ORDER",
    "DEFAULT_PROFILE",
    "Action",
    "Context",
    "Identity",
    "PrivateTag",
    "Profile",
    "SopClassMode",
    "UidMode",
    "json_schema",
    "load_profile",
    "load_text_yaml",
    "parse_tag",
    "parse_template",
    "starter_profile",
]
