"""The tag rules: one class per rule kind, in :data:`RULE_KINDS` by YAML key.

Each kind reads its entries (:meth:`Rule.entries`, :meth:`Rule.parse`),
applies itself to an output (:meth:`Rule.apply`), shows itself in the
resolved view (:meth:`Rule.describe`, :meth:`Rule.describe_section`) and
in the JSON Schema (:meth:`Rule.schema`). A new kind is one new class and
its entry in :data:`RULE_KINDS` (and its :class:`Action`, and its place in
:data:`APPLY_ORDER`).

The YAML itself stays in the loader: a kind reads its value through a
:class:`Reader`, for which YAML nodes are opaque.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydicom.config import IGNORE
from pydicom.datadict import dictionary_VM, private_dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicom_rewrite.core.scrub import Change, drop_empty_sequences, is_overlay_or_curve, remove_where
from dicom_rewrite.errors import InputError
from dicom_rewrite.profile.model import Action, Context, Origin
from dicom_rewrite.profile.paths import (
    Elem,
    ItemIndexError,
    PrivateTag,
    TagPath,
    elem_text,
    find_tag,
    items,
    make_tag,
    parse_tag,
)
from dicom_rewrite.profile.policy import UID_LEVEL_TAGS, file_meta_problem, ownership_problem
from dicom_rewrite.profile.reader import Entry, Node, Reader, Schema, quote
from dicom_rewrite.profile.templating import (
    Template,
    is_per_output,
    meta_column,
    parse_template,
    sample_values,
    template_variables,
)
from dicom_rewrite.profile.vr import SINGLE_TEXT, convert_value, pick_vr, settable, tag_vr, vm_allows

_converted = functools.lru_cache(maxsize=1 << 16)(convert_value)  # a batch renders the same values often


@dataclass
class Keeps:
    """What the ``keep`` rules of a profile keep."""

    tags: set[int] = field(default_factory=set)
    creators: set[tuple[int, str, int]] = field(default_factory=set)
    all_private: bool = False


# ------------------------------------------------------------------ base

@dataclass(frozen=True)
class Rule(ABC):
    """One tag rule of a profile (``target`` is a path or a word)."""

    target: TagPath | str
    origin: Origin

    action: ClassVar[Action]
    #: the words (groups of tags) this kind takes besides tags
    words: ClassVar[tuple[str, ...]] = ()
    #: a mapping section (tag: value) rather than a list of tags
    takes_values: ClassVar[bool] = False

    @property
    def key(self) -> str:
        return str(self.target)

    @property
    def top(self) -> Elem | None:
        """The top-level element the rule targets (None for a word)."""
        return self.target.top if isinstance(self.target, TagPath) else None

    @property
    def per_output(self) -> bool:
        """Does a value render a variable that differs between outputs?"""
        return False

    @property
    def template_fields(self) -> tuple[str, ...]:
        """The template fields the values render."""
        return ()

    def where(self) -> str:
        return f"{self.origin}: {self.action.value} {self.target}"

    # ------------------------------------------------------------ parse
    @classmethod
    def entries(cls, r: Reader, node: Node) -> list[Entry]:
        """The entries of this kind's section (a list of tags)."""
        where = cls.action.value
        return [(r.scalar(n, where), r.origin(n), None) for n in r.items(node, where)]

    @classmethod
    def parse(cls, r: Reader, text: str, origin: Origin, value: Node) -> Rule:
        """One entry -> a rule, validated; raise the loader's ProfileError."""
        where = f"{cls.action.value} {text}"
        if text in WORDS:
            if text not in cls.words:
                raise r.error(origin, f"{where}: {text!r} is only allowed in "
                              + " and ".join(k for k, kind in RULE_KINDS.items() if text in kind.words))
            return cls(text, origin)
        try:
            path = parse_tag(text)
        except ValueError as exc:
            raise r.error(origin, f"{where}: {exc}") from None
        problem = ownership_problem(path) or file_meta_problem(path) or cls.path_problem(path)
        if problem:
            raise r.error(origin, f"{where}: {problem}")
        return cls.from_path(r, where, path, origin, value)

    @classmethod
    def path_problem(cls, path: TagPath) -> str | None:
        """Why this kind cannot take ``path``, or None."""
        return None

    @classmethod
    def from_path(cls, r: Reader, where: str, path: TagPath, origin: Origin, value: Node) -> Rule:
        return cls(path, origin)

    # ------------------------------------------------------------ apply
    @abstractmethod
    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        """Apply the rule to one output; one Change per top-level tag."""

    # --------------------------------------------------------- describe
    def describe(self) -> str:
        """The rule's line in the resolved view."""
        return f"  - {quote(str(self.target))}  # {self.origin}"

    @classmethod
    def describe_section(cls, lines: list[str]) -> list[str]:
        if not lines:
            return [f"{cls.action.value}: {{}}" if cls.takes_values else f"{cls.action.value}: []"]
        return [f"{cls.action.value}:", *lines]

    @classmethod
    def schema(cls, tag: Schema) -> Schema:
        """The JSON Schema of this kind's section (``tag``: a tag's)."""
        return {"type": "array", "items": {"anyOf": [tag, {"enum": list(cls.words)}]} if cls.words else tag}


# ------------------------------------------------------------------ keep

@dataclass(frozen=True)
class KeepRule(Rule):
    """``keep``: tags that survive ``identity: strip`` and the private scrub."""

    action = Action.KEEP
    words = ("private",)

    @classmethod
    def path_problem(cls, path: TagPath) -> str | None:
        if path.steps:
            return "keep takes tags, not paths (a kept tag is kept at every depth)"
        return None

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        """Nothing: the engine keeps the tags while it strips the template
        (:attr:`Profile.keep_tags`), before any rule applies."""
        return []

    def add_to(self, keeps: Keeps) -> None:
        if self.target == "private":
            keeps.all_private = True
        elif isinstance(self.target, TagPath) and isinstance(self.target.leaf, PrivateTag):
            pt = self.target.leaf
            keeps.creators.add((pt.group, pt.creator, pt.element))
        elif isinstance(self.target, TagPath) and isinstance(self.target.leaf, int):
            keeps.tags.add(self.target.leaf)


# ----------------------------------------------------------- path rules

def _present(item: Dataset, leaf: Elem) -> int | None:
    """The tag of ``leaf`` if ``item`` has it."""
    tag = find_tag(item, leaf)
    return tag if tag is not None and tag in item else None


def _element_vr(item: Dataset, tag: int, leaf: Elem, override: str | None) -> str:
    """The VR to write ``leaf`` (at ``tag``) with."""
    if override:
        return override
    if isinstance(leaf, PrivateTag):
        if tag in item and item[tag].VR not in ("UN",):
            return str(item[tag].VR)
        try:
            return str(private_dictionary_VR(tag, leaf.creator))
        except KeyError:
            return "UN"
    return tag_vr(tag)


@dataclass(frozen=True)
class PathRule(Rule):
    """A rule applied at the end of its path, in every item it names."""

    #: the Change action reported
    verb: ClassVar[str] = "set"
    #: does the rule create the sequences and items its path names?
    creates: ClassVar[bool] = True

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        path = self.target
        assert isinstance(path, TagPath)
        try:
            found = items(ds, path.steps, create=self.creates and not path.has_star)
        except ItemIndexError as exc:
            raise InputError(f"{self.where()}: {exc}") from None
        changed = False
        for item in found:
            changed |= self.apply_leaf(item, path.leaf, ctx)
        if not changed:
            return []
        top = find_tag(ds, path.top)
        if top is None:
            return []
        self.after_change(ds, path)
        return [Change(top, self.verb, str(self.origin))]

    @abstractmethod
    def apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        """Apply the rule to ``leaf`` in one item; did it change anything?"""

    def after_change(self, ds: Dataset, path: TagPath) -> None:
        """What to tidy in ``ds`` once the rule changed something."""


@dataclass(frozen=True)
class _Emptying(PathRule):
    """A rule that leaves its element absent or empty."""

    @classmethod
    def path_problem(cls, path: TagPath) -> str | None:
        top = path.top
        if isinstance(top, int) and not path.steps and top in UID_LEVEL_TAGS:
            return f"{elem_text(top)} is Type 1 and owned by the uids section; use uids or set"
        return None


def _is_private(tag: int) -> bool:
    return bool((tag >> 16) % 2)  # PS3.5 7.1.1: odd groups are private


def _is_overlay(tag: int) -> bool:
    return is_overlay_or_curve(tag) and (tag >> 16) >= 0x6000  # PS3.3 C.9: groups 6000-601E


def _is_curve(tag: int) -> bool:
    return is_overlay_or_curve(tag) and (tag >> 16) < 0x6000  # groups 5000-501E (retired)


#: the words of ``remove``: which tags each stands for
_WORD_PREDICATES: dict[str, Callable[[int], bool]] = {
    "private": _is_private, "overlays": _is_overlay, "curves": _is_curve,
}


@dataclass(frozen=True)
class RemoveRule(_Emptying):
    """``remove``: delete the element (a word: every element of the group,
    at every depth)."""

    action = Action.REMOVE
    words = tuple(_WORD_PREDICATES)
    verb = "removed"
    creates = False

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        if isinstance(self.target, str):
            return remove_where(ds, _WORD_PREDICATES[self.target], str(self.origin), recursive=True)
        return super().apply(ds, ctx)

    def apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        tag = _present(item, leaf)
        if tag is None:
            return False
        del item[tag]
        return True

    def after_change(self, ds: Dataset, path: TagPath) -> None:
        """Drop the items (and the sequence) the removal left empty."""
        if not path.steps:
            return
        tag = find_tag(ds, path.top)
        if tag is None or tag not in ds:
            return
        wrapper = Dataset()
        wrapper.add(ds[tag])
        drop_empty_sequences(wrapper)
        if tag not in wrapper:
            del ds[tag]


@dataclass(frozen=True)
class BlankRule(_Emptying):
    """``blank``: a zero-length value (an empty sequence for SQ)."""

    action = Action.BLANK
    verb = "blanked"

    def apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        tag = _present(item, leaf)
        tag = tag if tag is not None else make_tag(item, leaf)
        vr = _element_vr(item, tag, leaf, None)
        item[tag] = DataElement(tag, vr if " or " not in vr else pick_vr(vr, []),
                                Sequence() if vr == "SQ" else None)
        return True


# ---------------------------------------------------------- value rules

@dataclass(frozen=True)
class ValueRule(PathRule):
    """A rule that gives its element a value (``tag: value`` entries)."""

    templates: tuple[Template, ...] = ()  # one per value
    texts: tuple[str, ...] = ()  # the values as written
    multi: bool = False  # written as a YAML list
    vr: str | None = None  # private tags: the VR to write

    takes_values = True
    #: the section's description in the JSON Schema
    summary: ClassVar[str] = ""

    @property
    def per_output(self) -> bool:
        return any(is_per_output(f) for f in self.template_fields)

    @property
    def template_fields(self) -> tuple[str, ...]:
        return tuple(f for tpl in self.templates for f in tpl.fields)

    @functools.cached_property
    def meta_columns(self) -> tuple[str, ...]:
        """The manifest columns the values render (``{meta[Column]}``)."""
        return tuple(c for c in map(meta_column, self.template_fields) if c is not None)

    # ------------------------------------------------------------ parse
    @classmethod
    def entries(cls, r: Reader, node: Node) -> list[Entry]:
        return [(k, r.origin(knode), vnode) for k, knode, vnode in r.mapping(node, cls.action.value)]

    @classmethod
    def from_path(cls, r: Reader, where: str, path: TagPath, origin: Origin, value: Node) -> Rule:
        assert value is not None
        vr_override = None
        if r.shape(value) == "mapping" and isinstance(path.leaf, PrivateTag):
            value, vr_override = cls._private_value(r, where, origin, value)
        texts, multi = cls._texts(r, where, origin, value)
        templates = []
        for t in texts:
            try:
                templates.append(parse_template(t))
            except ValueError as exc:
                raise r.error(origin, f"{where}: {exc}") from None
        rule = cls(path, origin, tuple(templates), tuple(texts), multi, vr_override)
        rule._check_samples(r, where)
        return rule

    @classmethod
    def _private_value(cls, r: Reader, where: str, origin: Origin, node: Node) -> tuple[Node, str]:
        """``{vr: LO, value: ...}`` -> the value node and the VR."""
        fields = {k: v for k, _kn, v in r.mapping(node, where)}
        unknown = set(fields) - {"vr", "value"}
        if unknown or "value" not in fields or "vr" not in fields:
            raise r.error(origin, f"{where}: a private value with its VR is written "
                          "{vr: LO, value: ...}")
        vr = r.scalar(fields["vr"], f"{where} vr").upper()
        if not settable(vr):
            raise r.error(origin, f"{where}: VR {vr!r} cannot be given a value")
        return fields["value"], vr

    @classmethod
    def _texts(cls, r: Reader, where: str, origin: Origin, node: Node) -> tuple[list[str], bool]:
        """The value as written: a list of texts, and whether it was a list."""
        shape = r.shape(node)
        if shape == "list":
            texts = [r.scalar(n, where) for n in r.items(node, where)]
            if not texts:
                raise r.error(origin, f"{where}: empty list; use blank for a zero-length value")
            return texts, True
        if shape == "text":
            text = r.scalar(node, where)
            if text == "":
                raise r.error(origin, f"{where}: no value; use blank for a zero-length value, "
                              "remove to delete")
            return [text], False
        raise r.error(origin, f"{where}: a value is text or a list of texts")

    def _check_samples(self, r: Reader, where: str) -> None:
        """The value against the element's VR and VM, with sample variables
        (a manifest value is checked for each output: no sample stands for it)."""
        assert isinstance(self.target, TagPath)
        leaf = self.target.leaf
        vr = self._declared_vr(r, where, leaf)
        if vr.split(" or ")[0] in ("SQ",):
            raise r.error(self.origin, f"{where}: {elem_text(leaf)} is a sequence; set its items' "
                          "attributes with a path, e.g. Seq[0].Keyword")
        if self.meta_columns:
            return
        try:
            _vr, values = self.values_for(None, vr)
        except ValueError as exc:
            sample = "" if all(t.is_literal for t in self.templates) else " (with sample variables)"
            raise r.error(self.origin, f"{where}: invalid for VR {vr}{sample}: {exc}") from None
        if isinstance(leaf, int):
            vm = str(dictionary_VM(leaf))
            if not vm_allows(vm, len(values)):
                raise r.error(self.origin, f"{where}: {len(values)} value(s), but "
                              f"{elem_text(leaf)} takes VM {vm}")

    def _declared_vr(self, r: Reader, where: str, leaf: Elem) -> str:
        if not isinstance(leaf, PrivateTag):
            return tag_vr(leaf)
        if self.vr is not None:
            return self.vr
        # the element in the first block a creator can reserve, (gggg,10ee) (PS3.5 7.8.1);
        # pydicom's private dictionary does not depend on the block
        probe = (leaf.group << 16) | 0x1000 | leaf.element
        try:
            return str(private_dictionary_VR(probe, leaf.creator))
        except KeyError:
            raise r.error(self.origin, f"{where}: the VR of this private element is not known; "
                          "write {vr: LO, value: ...}") from None

    # ----------------------------------------------------------- values
    def values_for(self, ctx: Context | None, vr: str) -> tuple[str, list[Any]]:
        """Render and convert the value for one output (``ctx`` None: the
        values with sample variables, for load-time checks)."""
        texts: list[str] = []
        for tpl in self.templates:
            rendered = self._render(tpl, ctx)
            if not self.multi and vr not in SINGLE_TEXT:
                texts.extend(rendered.split("\\"))  # PS3.5 6.4: backslash separates values
            else:
                texts.append(rendered)
        vr = pick_vr(vr, texts)
        return vr, [_converted(vr, t) for t in texts]

    def _render(self, tpl: Template, ctx: Context | None) -> str:
        if ctx is None:
            return tpl.render(sample_values(tpl.fields))
        try:
            return tpl.render(template_variables(ctx, tpl.fields))
        except (ValueError, TypeError) as exc:
            raise InputError(f"{self._row_where(ctx)}{self.where()}: cannot render ({exc})") from None

    def _row_where(self, ctx: Context) -> str:
        """``meta.csv:12:5: column 'Patient Age': `` for a manifest value."""
        where, columns = getattr(ctx.meta, "where", None), self.meta_columns
        return f"{where(columns[0])}: column {columns[0]!r}: " if where is not None and columns else ""

    # ------------------------------------------------------------ apply
    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        # no row for this input (--metadata-optional): the rule does nothing
        return [] if ctx.meta is None and self.meta_columns else super().apply(ds, ctx)

    def apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        tag = _present(item, leaf)
        tag = tag if tag is not None else make_tag(item, leaf)
        element_vr = _element_vr(item, tag, leaf, self.vr)
        try:
            vr, values = self.values_for(ctx, element_vr)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{self._row_where(ctx)}{self.where()}: invalid for VR {element_vr} "
                             f"({exc})") from None
        try:
            item[tag] = DataElement(tag, vr, values if len(values) != 1 else values[0], validation_mode=IGNORE)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{self.where()}: {exc}") from None
        return True

    # --------------------------------------------------------- describe
    def describe(self) -> str:
        value = json.dumps(list(self.texts), ensure_ascii=False) if self.multi else quote(self.texts[0])
        if self.vr:
            value = f"{{vr: {self.vr}, value: {value}}}"
        return f"  {quote(str(self.target))}: {value}  # {self.origin}"

    @classmethod
    def schema(cls, tag: Schema) -> Schema:
        return {"description": cls.summary, "$ref": "#/definitions/assignments"}


@dataclass(frozen=True)
class DefaultRule(ValueRule):
    """``default``: a value only where the element is absent or empty."""

    action = Action.DEFAULT
    summary = "only where absent or empty"

    def apply_leaf(self, item: Dataset, leaf: Elem, ctx: Context) -> bool:
        tag = _present(item, leaf)
        if tag is not None and item[tag].value not in (None, "", b"") and item[tag].VM:
            return False
        return super().apply_leaf(item, leaf, ctx)


@dataclass(frozen=True)
class SetRule(ValueRule):
    """``set``: create or overwrite the element."""

    action = Action.SET
    summary = "create or overwrite"


@dataclass(frozen=True)
class MetadataRule(ValueRule):
    """``metadata``: a value from the input's manifest row (``{meta[Column]}``),
    or ``{from: TEMPLATE, map: {A: X, "*": Y}}``: ``from`` rendered and looked up
    in ``map`` (``*``: any other value). No row (optional): nothing done."""

    action = Action.METADATA
    summary = "values from the metadata manifest ({meta[Column]}), or {from: ..., map: {...}}"
    #: the ``map`` of the mapping form, (rendered text, value) pairs
    mapping: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_path(cls, r: Reader, where: str, path: TagPath, origin: Origin, value: Node) -> Rule:
        if r.shape(value) != "mapping" or isinstance(path.leaf, PrivateTag):
            return super().from_path(r, where, path, origin, value)
        fields = {k: v for k, _kn, v in r.mapping(value, where)}
        pairs = tuple((k, r.scalar(v, f"{where} map {k}")) for k, _kn, v in r.mapping(fields.get("map", value), where))
        if set(fields) != {"from", "map"} or not pairs:
            raise r.error(origin, f"{where}: a mapped value is written {{from: \"{{meta[Column]}}\", "
                          "map: {A: X, \"*\": Y}} (map not empty)")
        text = r.scalar(fields["from"], f"{where} from")
        try:
            rule = cls(path, origin, (parse_template(text),), (text,), False, None, pairs)
        except ValueError as exc:
            raise r.error(origin, f"{where}: {exc}") from None
        vr = rule._declared_vr(r, where, path.leaf)
        for k, v in pairs:
            try:
                for part in ([v] if vr in SINGLE_TEXT else v.split("\\")):
                    convert_value(pick_vr(vr, [part]), part)
            except ValueError as exc:
                raise r.error(origin, f"{where}: map {k}: invalid for VR {vr}: {exc}") from None
        return rule

    def _render(self, tpl: Template, ctx: Context | None) -> str:
        if not self.mapping:
            return super()._render(tpl, ctx)
        if ctx is None:
            return self.mapping[0][1]
        text = super()._render(tpl, ctx)
        table = dict(self.mapping)
        found = table.get(text, table.get("*"))
        if found is not None:
            return found
        raise InputError(f"{self._row_where(ctx)}{self.where()}: {text!r} is not in the map "
                         "(add \"*\": VALUE for any other value)")

    def describe(self) -> str:
        pairs = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in self.mapping)
        return (f"  {quote(str(self.target))}: {{from: {quote(self.texts[0])}, map: {{{pairs}}}}}  # {self.origin}"
                if self.mapping else super().describe())

    @classmethod
    def describe_section(cls, lines: list[str]) -> list[str]:
        return [f"{cls.action.value}:", *lines] if lines else []

    @classmethod
    def schema(cls, tag: Schema) -> Schema:
        mapped = {"type": "object", "required": ["from", "map"], "additionalProperties": False, "properties": {
            "from": {"type": "string"}, "map": {"additionalProperties": {"$ref": "#/definitions/scalar"}}}}
        return {"description": cls.summary, "type": "object", "propertyNames": tag,
                "additionalProperties": {"anyOf": [{"$ref": "#/definitions/value"}, mapped]}}


#: the rule kinds by YAML key, in the order of the language's sections
RULE_KINDS: dict[str, type[Rule]] = {
    kind.action.value: kind
    for kind in (SetRule, DefaultRule, RemoveRule, BlankRule, KeepRule, MetadataRule)
}
#: every word any kind takes
WORDS = frozenset(w for kind in RULE_KINDS.values() for w in kind.words)

