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
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import (
    dictionary_description,
    dictionary_is_retired,
    dictionary_VM,
    keyword_dict,
    private_dictionary_VR,
)
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from dicom_rewrite.core.scrub import IDENTITY_TAGS, STALE_PIXEL_TAGS, Change
from dicom_rewrite.core.uids import check_root
from dicom_rewrite.encode.syntax import resolve
from dicom_rewrite.errors import DicomRewriteError, InputError, ProfileError
from dicom_rewrite.profile.model import (
    APPLY_ORDER,
    SCHEMA_VERSION,
    Action,
    Context,
    Identity,
    Origin,
    PixelPolicy,
    SopClassMode,
    UidMode,
    UidPolicy,
)
from dicom_rewrite.profile.paths import TAG_PATTERN, Elem, ItemIndexError, PrivateTag, TagPath, parse_tag
from dicom_rewrite.profile.paths import elem_text as _elem_text
from dicom_rewrite.profile.paths import find_tag as _find_tag
from dicom_rewrite.profile.paths import items as _path_items
from dicom_rewrite.profile.paths import make_tag as _make_tag
from dicom_rewrite.profile.policy import UID_LEVEL_TAGS
from dicom_rewrite.profile.policy import engine_owned as _engine_owned
from dicom_rewrite.profile.scrub import remove_private as _remove_private
from dicom_rewrite.profile.templating import (
    PER_OUTPUT_VARIABLES,
    Template,
    parse_template,
    sample_values,
    template_keyword,
    template_variables,
)
from dicom_rewrite.profile.vr import SINGLE_TEXT as _SINGLE_TEXT
from dicom_rewrite.profile.vr import convert_value, settable
from dicom_rewrite.profile.vr import pick_vr as _pick_vr
from dicom_rewrite.profile.vr import tag_vr as _vr
from dicom_rewrite.profile.vr import vm_allows as _vm_allows

#: words that stand for a group of tags in ``remove``/``keep``
WORDS = {"private": (Action.REMOVE, Action.KEEP), "overlays": (Action.REMOVE,),
         "curves": (Action.REMOVE,)}


# ------------------------------------------------------------------ rules

@dataclass(frozen=True)
class Rule:
    """One tag rule of a profile (``target`` is a path or a word)."""

    action: Action
    target: TagPath | str
    origin: Origin
    templates: tuple[Template, ...] = ()  # set/default: one per value
    texts: tuple[str, ...] = ()  # the values as written
    multi: bool = False  # written as a YAML list
    vr: str | None = None  # private tags: the VR to write

    @property
    def key(self) -> str:
        return str(self.target)

    @property
    def per_output(self) -> bool:
        """Does a value render a variable that differs between outputs?"""
        return any(f in PER_OUTPUT_VARIABLES for tpl in self.templates for f in tpl.fields)

    def where(self) -> str:
        return f"{self.origin}: {self.action.value} {self.target}"

    # ---------------------------------------------------------- values
    def values_for(self, ctx: Context | None, vr: str) -> Any:
        """Render and convert the value for one output (``ctx`` None: the
        literal values, for load-time checks)."""
        texts: list[str] = []
        for tpl in self.templates:
            if ctx is None:
                rendered = tpl.render(sample_values(tpl.fields))
            else:
                try:
                    rendered = tpl.render(template_variables(ctx, tpl.fields))
                except (ValueError, TypeError) as exc:
                    raise InputError(f"{self.where()}: cannot render ({exc})") from None
            if not self.multi and vr not in _SINGLE_TEXT:
                texts.extend(rendered.split("\\"))
            else:
                texts.append(rendered)
        vr = _pick_vr(vr, texts)
        values = [convert_value(vr, t) for t in texts]
        return vr, values

    # ---------------------------------------------------------- apply
    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        if isinstance(self.target, str):
            return self._apply_word(ds)
        path = self.target
        create = self.action is not Action.REMOVE
        changed = False
        try:
            found = _path_items(ds, path.steps, create=create and not path.has_star)
        except ItemIndexError as exc:
            raise InputError(f"{self.where()}: {exc}") from None
        for item in found:
            changed |= self._apply_leaf(item, path.leaf, ctx)
        if not changed:
            return []
        top = _find_tag(ds, path.top)
        if top is None:
            return []
        if self.action is Action.REMOVE and path.steps:
            _drop_emptied_items(ds, path)
        verb = {Action.REMOVE: "removed", Action.BLANK: "blanked"}.get(self.action, "set")
        return [Change(top, verb, str(self.origin))]

    def _apply_word(self, ds: Dataset) -> list[Change]:
        from dicom_rewrite.core.scrub import is_overlay_or_curve, remove_where

        if self.target == "private":
            pred = lambda t: bool((t >> 16) % 2)
        elif self.target == "overlays":
            pred = lambda t: is_overlay_or_curve(t) and (t >> 16) >= 0x6000
        else:
            pred = lambda t: is_overlay_or_curve(t) and (t >> 16) < 0x6000
        return remove_where(ds, pred, str(self.origin), recursive=True)

    def _apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        exists = _find_tag(item, leaf)
        if self.action is Action.REMOVE:
            if exists is None or exists not in item:
                return False
            del item[exists]
            return True
        if self.action is Action.DEFAULT and exists is not None and exists in item:
            if item[exists].value not in (None, "", b"") and item[exists].VM:
                return False
        tag = exists if exists is not None and exists in item else _make_tag(item, leaf)
        vr = self._vr_for(item, tag, leaf)
        if self.action is Action.BLANK:
            item[tag] = DataElement(tag, vr if " or " not in vr else _pick_vr(vr, []),
                                    Sequence() if vr == "SQ" else None)
            return True
        vr, values = self.values_for(ctx, vr)
        try:
            item[tag] = DataElement(tag, vr, values if len(values) != 1 else values[0])
        except (ValueError, TypeError) as exc:
            raise InputError(f"{self.where()}: {exc}") from None
        return True

    def _vr_for(self, item: Dataset, tag: int, leaf: Elem) -> str:
        if self.vr:
            return self.vr
        if isinstance(leaf, PrivateTag):
            if tag in item and item[tag].VR not in ("UN",):
                return str(item[tag].VR)
            try:
                return str(private_dictionary_VR(tag, leaf.creator))
            except KeyError:
                return "UN"
        return _vr(tag)


def _drop_emptied_items(ds: Dataset, path: TagPath) -> None:
    from dicom_rewrite.core.scrub import drop_empty_sequences

    tag = _find_tag(ds, path.top)
    if tag is None or tag not in ds:
        return
    wrapper = Dataset()
    wrapper.add(ds[tag])
    drop_empty_sequences(wrapper)
    if tag not in wrapper:
        del ds[tag]


# --------------------------------------------------------------- profile

@dataclass(frozen=True)
class Profile:
    identity: Identity = Identity.STRIP
    keep_tags: frozenset[int] = frozenset()
    keep_private: frozenset[int] = frozenset()
    uids: UidPolicy = field(default_factory=UidPolicy)
    pixel: PixelPolicy = field(default_factory=PixelPolicy)
    source: Path | None = None
    rules: tuple[Rule, ...] = ()
    keep_all_private: bool = False
    keep_private_creators: frozenset[tuple[int, str, int]] = frozenset()
    #: files the profile was resolved from (root first), for ``profile check``
    chain: tuple[str, ...] = ()
    #: where each setting came from (``uids.study`` -> file:line)
    origins: tuple[tuple[str, str], ...] = ()
    #: ``env:NAME`` or ``<literal>``: how the key was given (never the key)
    key_source: str | None = None
    description: str | None = None

    def scrub_private(self, ds: Dataset) -> list[Change]:
        """Remove the template's private elements the profile does not keep."""
        if self.keep_all_private:
            return []
        return _remove_private(ds, self.keep_private, self.keep_private_creators)

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        """Apply the tag rules to ``ds``: remove, blank, default, set (each in
        profile order). Returns one Change per tag, rule ``file:line``."""
        changes: list[Change] = []
        for action in APPLY_ORDER:
            for rule in self.rules:
                if rule.action is action:
                    changes += rule.apply(ds, ctx)
        return changes

    def per_output_tags(self, varying: Collection[int],
                        read_after: Collection[int]) -> frozenset[int] | None:
        """The top-level tags in which this profile makes the outputs of one
        batch differ: the targets of the rules that render a per-output
        variable (``{stem}``, ``{name}``, ``{index}``; ``{date}``,
        ``{time}`` and ``{template.X}`` are fixed per batch), when applying
        the profile to outputs that differ only in the top-level tags
        ``varying`` does the same to each but in those tags. None when it
        cannot be said so simply: a rule reads or writes a tag in
        ``varying``; a per-output rule targets a private tag, a tag in
        ``read_after`` (what the caller reads after applying the profile),
        or a tag another rule targets too. Word rules (``private``,
        ``overlays``, ``curves``) qualify as long as ``varying`` holds
        public, non-overlay tags."""
        tops = [r.target.top for r in self.rules if isinstance(r.target, TagPath)]
        out = set()
        for rule in self.rules:
            if isinstance(rule.target, TagPath) and rule.target.top in varying:
                return None
            if not rule.per_output:
                continue
            top = rule.target.top if isinstance(rule.target, TagPath) else None
            if not isinstance(top, int) or top in read_after or tops.count(top) > 1:
                return None
            out.add(top)
        return frozenset(out)

    def apply_per_output(self, ds: Dataset, ctx: Context) -> None:
        """Apply only the rules that render a per-output variable (see
        :meth:`per_output_tags`), in :meth:`apply`'s order."""
        for rule in self._per_output_rules:
            rule.apply(ds, ctx)

    @functools.cached_property
    def _per_output_rules(self) -> tuple[Rule, ...]:
        """The rules that render a per-output variable, in apply order."""
        return tuple(rule for action in APPLY_ORDER for rule in self.rules
                     if rule.action is action and rule.per_output)

    def describe(self) -> str:
        """The resolved profile as YAML (with the origin of every rule)."""
        return describe(self)


DEFAULT_PROFILE = Profile()


# ------------------------------------------------------------ YAML loading

class _TextLoader(yaml.SafeLoader):
    """A YAML loader that resolves nothing: every scalar stays text
    (``NO`` stays "NO", ``00123`` stays "00123", ``12:30:00`` stays text)."""


_TextLoader.yaml_implicit_resolvers = {}

TOP_KEYS = ("version", "description", "extends", "identity", "uids", "set", "default",
            "remove", "blank", "keep", "pixel")
UID_KEYS = ("root", "key", "study", "series", "instance", "frame_of_reference")
PIXEL_KEYS = ("transfer_syntax", "sop_class")


@dataclass
class _Setting:
    value: str
    origin: Origin


@dataclass
class _Parsed:
    """One profile file merged with its parents (before finalisation)."""

    settings: dict[str, _Setting] = field(default_factory=dict)  # identity, uids.x, pixel.x
    rules: dict[str, Rule] = field(default_factory=dict)  # by canonical target
    chain: list[str] = field(default_factory=list)

    def merge(self, other: _Parsed) -> None:
        """``other`` wins per setting and per tag."""
        self.settings.update(other.settings)
        for key, rule in other.rules.items():
            self.rules.pop(key, None)
            self.rules[key] = rule
        self.chain.extend(c for c in other.chain if c not in self.chain)


class _File:
    """Error helpers bound to one profile file."""

    def __init__(self, name: str) -> None:
        self.name = name

    def origin(self, node: yaml.Node) -> Origin:
        return Origin(self.name, node.start_mark.line + 1)

    def error(self, node: yaml.Node | Origin, msg: str) -> ProfileError:
        origin = node if isinstance(node, Origin) else self.origin(node)
        return ProfileError(f"{origin}: {msg}")

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping (key: value)")
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, int] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.error(k, f"{what}: keys must be plain text")
            if k.value in seen:
                raise self.error(
                    k, f"{what} {k.value}: given twice (first at line {seen[k.value]})"
                )
            seen[k.value] = k.start_mark.line + 1
            out.append((k.value, k, v))
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.ScalarNode):
            return [] if node.value == "" else [node]
        raise self.error(node, f"{what} must be a list")


def _display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def load_profile(path: str | Path) -> Profile:
    """Load, merge (``extends``) and validate a profile file."""
    p = Path(path)
    parsed = _load_file(p, [])
    return _finalise(parsed, p)


def _load_file(path: Path, stack: list[Path], via: Origin | None = None) -> _Parsed:
    name = _display_path(path)
    real = path.resolve()
    prefix = f"{via}: extends {name}: " if via else f"{name}: "
    if real in stack:
        cycle = " -> ".join(_display_path(s) for s in [*stack[stack.index(real):], real])
        raise ProfileError(f"{prefix}extends cycle ({cycle})")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{prefix}profile not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{prefix}cannot read the profile ({exc})") from None
    f = _File(name)
    try:
        root = yaml.compose(text, Loader=_TextLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{name}:{line}: not valid YAML ({problem})") from None
    result = _Parsed(chain=[name])
    if root is None:
        return result
    own = _Parsed(chain=[name])
    entries = f.mapping(root, "profile")
    for key, knode, _vnode in entries:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise f.error(knode, f"unknown key {key!r}{hint} (allowed: {', '.join(TOP_KEYS)})")
    parents: list[_Parsed] = []
    for key, _knode, vnode in entries:
        if key == "version":
            v = f.scalar(vnode, "version")
            if v != SCHEMA_VERSION:
                raise f.error(vnode, f"version {v!r} is not supported (this is version 1)")
        elif key == "description":
            own.settings["description"] = _Setting(f.scalar(vnode, "description"), f.origin(vnode))
        elif key == "extends":
            for item in f.items(vnode, "extends"):
                rel = f.scalar(item, "extends")
                parent_path = path.parent / rel
                parents.append(_load_file(parent_path, [*stack, real], f.origin(item)))
        elif key == "identity":
            v = f.scalar(vnode, "identity")
            if v not in {m.value for m in Identity}:
                raise f.error(vnode, f"identity {v!r}: use strip or keep")
            own.settings["identity"] = _Setting(v, f.origin(vnode))
        elif key == "uids":
            _parse_uids(f, vnode, own)
        elif key == "pixel":
            _parse_pixel(f, vnode, own)
        else:
            _parse_rules(f, Action(key), vnode, own)
    for parent in parents:
        result.merge(parent)
    result.merge(own)
    result.chain = [name, *[c for c in result.chain if c != name]]
    return result


def _parse_uids(f: _File, node: yaml.Node, own: _Parsed) -> None:
    for key, knode, vnode in f.mapping(node, "uids"):
        if key not in UID_KEYS:
            raise f.error(knode, f"uids: unknown key {key!r} (allowed: {', '.join(UID_KEYS)})")
        v = f.scalar(vnode, f"uids.{key}")
        if key == "root":
            try:
                check_root(v)
            except ProfileError as exc:
                raise f.error(vnode, f"uids.root: {exc}") from None
        elif key == "key":
            if v == "":
                raise f.error(vnode, "uids.key: empty key")
        else:
            modes = [m.value for m in UidMode]
            if v not in modes:
                raise f.error(vnode, f"uids.{key} {v!r}: use one of {', '.join(modes)}")
            if key == "instance" and v == UidMode.KEEP.value:
                raise f.error(
                    vnode, "uids.instance keep: refused; new pixels are a new instance "
                    "(PS3.3 C.12.1.1.1), use new or hash"
                )
        own.settings[f"uids.{key}"] = _Setting(v, f.origin(vnode))


def _parse_pixel(f: _File, node: yaml.Node, own: _Parsed) -> None:
    for key, knode, vnode in f.mapping(node, "pixel"):
        if key not in PIXEL_KEYS:
            raise f.error(knode, f"pixel: unknown key {key!r} (allowed: {', '.join(PIXEL_KEYS)})")
        v = f.scalar(vnode, f"pixel.{key}")
        if key == "transfer_syntax":
            try:
                resolve(v)
            except DicomRewriteError as exc:
                raise f.error(vnode, f"pixel.transfer_syntax: {exc}") from None
        else:
            modes = [m.value for m in SopClassMode]
            if v not in modes:
                raise f.error(vnode, f"pixel.sop_class {v!r}: use one of {', '.join(modes)}")
        own.settings[f"pixel.{key}"] = _Setting(v, f.origin(vnode))


def _parse_rules(f: _File, action: Action, node: yaml.Node, own: _Parsed) -> None:
    where = action.value
    entries: list[tuple[str, yaml.Node, yaml.Node | None]]
    if action in (Action.SET, Action.DEFAULT):
        entries = [(k, knode, vnode) for k, knode, vnode in f.mapping(node, where)]
    else:
        entries = [(f.scalar(n, where), n, None) for n in f.items(node, where)]
    for text, knode, vnode in entries:
        origin = f.origin(knode)
        rule = _make_rule(f, action, text, origin, vnode)
        if rule.key in own.rules:
            first = own.rules[rule.key]
            raise f.error(
                origin, f"{where} {text}: the same tag is already given a rule "
                f"({first.action.value} at line {first.origin.line}); one rule per tag per file"
            )
        own.rules[rule.key] = rule


def _make_rule(f: _File, action: Action, text: str, origin: Origin,
               vnode: yaml.Node | None) -> Rule:
    where = f"{action.value} {text}"
    if text in WORDS:
        if action not in WORDS[text]:
            raise f.error(origin, f"{where}: {text!r} is only allowed in "
                          + " and ".join(a.value for a in WORDS[text]))
        return Rule(action, text, origin)
    try:
        path = parse_tag(text)
    except ValueError as exc:
        raise f.error(origin, f"{where}: {exc}") from None
    top = path.top
    if isinstance(top, int) and not path.steps:
        if _engine_owned(top):
            raise f.error(origin, f"{where}: {_elem_text(top)} belongs to the engine "
                          "(pixel module, SOP identity, file meta); a profile cannot change it")
        if top in UID_LEVEL_TAGS and action in (Action.REMOVE, Action.BLANK):
            raise f.error(origin, f"{where}: {_elem_text(top)} is Type 1 and owned by the "
                          "uids section; use uids or set")
    if isinstance(path.leaf, int) and (path.leaf >> 16) == 0x0002:
        raise f.error(origin, f"{where}: file meta elements belong to the engine")
    if action is Action.KEEP:
        if path.steps:
            raise f.error(origin, f"{where}: keep takes tags, not paths (a kept tag is kept "
                          "at every depth)")
        return Rule(action, path, origin)
    if action in (Action.REMOVE, Action.BLANK):
        return Rule(action, path, origin)
    # set / default: the value
    assert vnode is not None
    vr_override = None
    if isinstance(vnode, yaml.MappingNode) and isinstance(path.leaf, PrivateTag):
        fields = dict((k, v) for k, _kn, v in f.mapping(vnode, where))
        unknown = set(fields) - {"vr", "value"}
        if unknown or "value" not in fields or "vr" not in fields:
            raise f.error(origin, f"{where}: a private value with its VR is written "
                          "{vr: LO, value: ...}")
        vr_override = f.scalar(fields["vr"], f"{where} vr").upper()
        if not settable(vr_override):
            raise f.error(origin, f"{where}: VR {vr_override!r} cannot be given a value")
        vnode = fields["value"]
    if isinstance(vnode, yaml.SequenceNode):
        texts = [f.scalar(n, where) for n in vnode.value]
        multi = True
        if not texts:
            raise f.error(origin, f"{where}: empty list; use blank for a zero-length value")
    elif isinstance(vnode, yaml.ScalarNode):
        texts, multi = [vnode.value], False
        if vnode.value == "":
            raise f.error(origin, f"{where}: no value; use blank for a zero-length value, "
                          "remove to delete")
    else:
        raise f.error(origin, f"{where}: a value is text or a list of texts")
    templates = []
    for t in texts:
        try:
            templates.append(parse_template(t))
        except ValueError as exc:
            raise f.error(origin, f"{where}: {exc}") from None
    rule = Rule(action, path, origin, tuple(templates), tuple(texts), multi, vr_override)
    # the value against the element's VR and VM, with sample variables
    leaf = path.leaf
    if isinstance(leaf, PrivateTag):
        vr = vr_override
        if vr is None:
            probe = (leaf.group << 16) | 0x1000 | leaf.element
            try:
                vr = str(private_dictionary_VR(probe, leaf.creator))
            except KeyError:
                raise f.error(origin, f"{where}: the VR of this private element is not known; "
                              "write {vr: LO, value: ...}") from None
    else:
        vr = _vr(leaf)
    if vr.split(" or ")[0] in ("SQ",):
        raise f.error(origin, f"{where}: {_elem_text(leaf)} is a sequence; set its items' "
                      "attributes with a path, e.g. Seq[0].Keyword")
    try:
        vr, values = rule.values_for(None, vr)
    except ValueError as exc:
        sample = "" if all(t.is_literal for t in templates) else " (with sample variables)"
        raise f.error(origin, f"{where}: invalid for VR {vr}{sample}: {exc}") from None
    if isinstance(leaf, int):
        vm = str(dictionary_VM(leaf))
        if not _vm_allows(vm, len(values)):
            raise f.error(origin, f"{where}: {len(values)} value(s), but "
                          f"{_elem_text(leaf)} takes VM {vm}")
    return rule


def _finalise(parsed: _Parsed, path: Path) -> Profile:
    s = parsed.settings
    origins: list[tuple[str, str]] = [(k, str(v.origin)) for k, v in s.items()]

    def get(key: str, default: str) -> str:
        return s[key].value if key in s else default

    identity = Identity(get("identity", Identity.STRIP.value))
    modes = {lvl: UidMode(get(f"uids.{lvl}", "new"))
             for lvl in ("study", "series", "instance", "frame_of_reference")}
    key: bytes | None = None
    key_source: str | None = None
    hashing = [lvl for lvl, m in modes.items() if m is UidMode.HASH]
    if "uids.key" in s:
        raw, origin = s["uids.key"].value, s["uids.key"].origin
        if raw.startswith("env:"):
            var = raw[4:]
            key_source = raw
            if var in os.environ and os.environ[var]:
                key = os.environ[var].encode("utf-8")
            elif hashing:
                raise ProfileError(
                    f"{origin}: uids.key {raw}: environment variable {var} is not set "
                    f"(needed by hash mode of uids.{hashing[0]})"
                )
        else:
            key, key_source = raw.encode("utf-8"), "<literal>"
    elif hashing:
        origin = s[f"uids.{hashing[0]}"].origin
        raise ProfileError(f"{origin}: uids.{hashing[0]} hash: needs uids.key "
                           "(env:NAME or a literal secret)")
    root = check_root(s["uids.root"].value) if "uids.root" in s else None
    uids = UidPolicy(root=root, key=key, **modes)
    pixel = PixelPolicy(get("pixel.transfer_syntax", "explicit-vr-little-endian"),
                        SopClassMode(get("pixel.sop_class", "auto")))
    keep_tags: set[int] = set()
    keep_creators: set[tuple[int, str, int]] = set()
    keep_all_private = False
    rules = []
    for rule in parsed.rules.values():
        if rule.action is Action.KEEP:
            if rule.target == "private":
                keep_all_private = True
            elif isinstance(rule.target, TagPath) and isinstance(rule.target.leaf, PrivateTag):
                pt = rule.target.leaf
                keep_creators.add((pt.group, pt.creator, pt.element))
            elif isinstance(rule.target, TagPath) and isinstance(rule.target.leaf, int):
                keep_tags.add(rule.target.leaf)
            continue
        rules.append(rule)
    # under identity: strip a template identity value may not reach an output
    # through {template.Keyword}
    if identity is Identity.STRIP:
        for rule in rules:
            for tpl in rule.templates:
                for name in tpl.fields:
                    kw = template_keyword(name)
                    if kw and int(keyword_dict[kw]) in IDENTITY_TAGS and int(keyword_dict[kw]) not in keep_tags:
                        raise ProfileError(
                            f"{rule.where()}: {{{name}}} is a template identity value, which "
                            f"identity: strip removes; add {kw} to keep, or use identity: keep"
                        )
    desc = s["description"].value if "description" in s else None
    return Profile(
        identity=identity, keep_tags=frozenset(keep_tags), uids=uids, pixel=pixel,
        source=path, rules=tuple(rules), keep_all_private=keep_all_private,
        keep_private_creators=frozenset(keep_creators), chain=tuple(parsed.chain),
        origins=tuple(origins), key_source=key_source, description=desc,
    )


# --------------------------------------------------------- resolved view

def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _kept_rules(profile: Profile) -> Iterator[str]:
    for t in sorted(profile.keep_tags):
        yield _elem_text(t)
    for g, c, e in sorted(profile.keep_private_creators):
        yield str(PrivateTag(g, c, e))
    if profile.keep_all_private:
        yield "private"


def describe(profile: Profile) -> str:
    """The resolved profile (after ``extends``) as YAML, with the origin of
    each rule as a comment. The UID key is never shown."""
    origins = dict(profile.origins)

    def at(key: str) -> str:
        return f"  # {origins[key]}" if key in origins else "  # default"

    lines = [f"# resolved profile: {' <- '.join(profile.chain) or '(built-in default)'}",
             f"version: {SCHEMA_VERSION}"]
    if profile.description:
        lines.append(f"description: {_q(profile.description)}")
    lines.append(f"identity: {profile.identity.value}{at('identity')}")
    u = profile.uids
    lines.append("uids:")
    if u.root:
        lines.append(f"  root: {_q(u.root)}{at('uids.root')}")
    if profile.key_source:
        shown = profile.key_source if profile.key_source.startswith("env:") else "<literal, not shown>"
        lines.append(f"  key: {_q(shown)}{at('uids.key')}")
    for lvl in ("study", "series", "instance", "frame_of_reference"):
        lines.append(f"  {lvl}: {getattr(u, lvl).value}{at('uids.' + lvl)}")
    lines.append("pixel:")
    lines.append(f"  transfer_syntax: {profile.pixel.transfer_syntax}{at('pixel.transfer_syntax')}")
    lines.append(f"  sop_class: {profile.pixel.sop_class.value}{at('pixel.sop_class')}")
    kept = list(_kept_rules(profile))
    lines.append("keep:" + ("" if kept else " []"))
    for k in kept:
        lines.append(f"  - {_q(k)}")
    for action in APPLY_ORDER:
        rules = [r for r in profile.rules if r.action is action]
        if not rules:
            lines.append(f"{action.value}: {{}}" if action in (Action.SET, Action.DEFAULT)
                         else f"{action.value}: []")
            continue
        lines.append(f"{action.value}:")
        for r in rules:
            if action in (Action.SET, Action.DEFAULT):
                value = (json.dumps(list(r.texts), ensure_ascii=False) if r.multi
                         else _q(r.texts[0]))
                if r.vr:
                    value = f"{{vr: {r.vr}, value: {value}}}"
                lines.append(f"  {_q(str(r.target))}: {value}  # {r.origin}")
            else:
                lines.append(f"  - {_q(str(r.target))}  # {r.origin}")
    return "\n".join(lines) + "\n"


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
