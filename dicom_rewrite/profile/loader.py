"""Loading a profile: YAML (the only module of the package that reads it),
``extends``, validation, and the frozen :class:`Profile`.

Every error is one :class:`ProfileError` line naming the profile file, the
line, the rule and the tag.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydicom.datadict import keyword_dict

from dicom_rewrite.core.scrub import IDENTITY_TAGS
from dicom_rewrite.core.uids import check_root
from dicom_rewrite.encode.syntax import resolve
from dicom_rewrite.errors import DicomRewriteError, ProfileError
from dicom_rewrite.profile.model import (
    SCHEMA_VERSION,
    SPACING_MODES,
    UID_KEY_TEMPLATES,
    UID_LEVELS,
    Identity,
    Origin,
    PixelPolicy,
    Profile,
    SopClassMode,
    UidMode,
    UidPolicy,
    number_pair,
)
from dicom_rewrite.profile.reader import Shape
from dicom_rewrite.profile.rules import RULE_KINDS, KeepRule, Keeps, Rule
from dicom_rewrite.profile.templating import parse_template, template_keyword


class _TextLoader(yaml.SafeLoader):
    """A YAML loader that resolves nothing: every scalar stays text
    (``NO`` stays "NO", ``00123`` stays "00123", ``12:30:00`` stays text)."""


_TextLoader.yaml_implicit_resolvers = {}

TOP_KEYS = ("version", "description", "extends", "identity", "uids", *RULE_KINDS, "pixel")
UID_KEYS = ("root", "key", *UID_LEVELS, *UID_KEY_TEMPLATES)
PIXEL_KEYS = ("transfer_syntax", "sop_class", "spacing", "spacing_size", "rescale")


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
    """One profile file's YAML nodes, with errors that name the file and
    line (the :class:`~dicom_rewrite.profile.rules.Reader` of the rules)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def origin(self, node: yaml.Node) -> Origin:
        return Origin(self.name, node.start_mark.line + 1)

    def error(self, node: yaml.Node | Origin, msg: str) -> ProfileError:
        origin = node if isinstance(node, Origin) else self.origin(node)
        return ProfileError(f"{origin}: {msg}")

    def shape(self, node: yaml.Node) -> Shape:
        if isinstance(node, yaml.MappingNode):
            return "mapping"
        return "list" if isinstance(node, yaml.SequenceNode) else "text"

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


def load_text_yaml(path: str | Path, what: str = "file") -> object:
    """A YAML file of text, lists and mappings (every scalar stays text, no
    tags: read as a profile is), as plain Python values; for the other YAML
    inputs (e.g. ``series --segments``). Errors name the file (and line)."""
    p = Path(path)
    name = _display_path(p)
    root = _compose(name, _read(p, f"{name}: ", what))
    return None if root is None else _plain(root)


def _plain(node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return {str(_plain(k)): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v) for v in node.value]
    return str(node.value)


def _load_file(path: Path, stack: list[Path], via: Origin | None = None) -> _Parsed:
    name = _display_path(path)
    real = path.resolve()
    prefix = f"{via}: extends {name}: " if via else f"{name}: "
    if real in stack:
        cycle = " -> ".join(_display_path(s) for s in [*stack[stack.index(real):], real])
        raise ProfileError(f"{prefix}extends cycle ({cycle})")
    root = _compose(name, _read(path, prefix))
    result = _Parsed(chain=[name])
    if root is None:
        return result
    one = _OneFile(_File(name), path, [*stack, real])
    one.read(root)
    for parent in one.parents:
        result.merge(parent)
    result.merge(one.own)
    result.chain = [name, *[c for c in result.chain if c != name]]
    return result


#: the largest profile file read (a site profile is a few kB; a larger file is a mistake)
MAX_PROFILE_BYTES = 4 * 1024 * 1024
#: YAML tags a profile may hold: every scalar is text (no !!python/..., !!binary, ...)
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _read(path: Path, prefix: str, what: str = "profile") -> str:
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{prefix}{what} is {size} bytes; {what}s are at most {MAX_PROFILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{prefix}{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{prefix}cannot read the {what} ({exc})") from None


def _compose(name: str, text: str) -> yaml.Node | None:
    try:
        root = yaml.compose(text, Loader=_TextLoader)
    except RecursionError:
        raise ProfileError(f"{name}: the YAML is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "1"
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
        raise ProfileError(f"{name}:{line}: not valid YAML ({problem})") from None
    _check_tags(name, root)
    return root


def _check_tags(name: str, root: yaml.Node | None) -> None:
    """Refuse explicit YAML tags (``!!python/object``, ``!!binary``, ``!custom``):
    a profile holds text, lists and mappings only (walked without recursion)."""
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        if node.tag not in _PLAIN_TAGS:
            raise ProfileError(f"{name}:{node.start_mark.line + 1}: YAML tag {node.tag!r} is not allowed "
                               "(a profile holds text, lists and mappings)")
        if isinstance(node, yaml.MappingNode):
            todo.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


class _OneFile:
    """The top-level sections of one file, read in the order they appear
    (a parent is loaded where its ``extends`` is)."""

    def __init__(self, f: _File, path: Path, stack: list[Path]) -> None:
        self.f = f
        self.path = path
        self.stack = stack  # the files that extend this one, and this one
        self.own = _Parsed(chain=[f.name])
        self.parents: list[_Parsed] = []

    def read(self, root: yaml.Node) -> None:
        f = self.f
        entries = f.mapping(root, "profile")
        for key, knode, _vnode in entries:
            if key not in TOP_KEYS:
                close = difflib.get_close_matches(key, TOP_KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise f.error(knode, f"unknown key {key!r}{hint} (allowed: {', '.join(TOP_KEYS)})")
        for key, _knode, vnode in entries:
            section = _SECTIONS.get(key)
            if section is not None:
                section(self, vnode)
            else:
                self.rules(key, vnode)

    def setting(self, key: str, value: str, node: yaml.Node) -> None:
        self.own.settings[key] = _Setting(value, self.f.origin(node))

    def version(self, node: yaml.Node) -> None:
        v = self.f.scalar(node, "version")
        if v != SCHEMA_VERSION:
            raise self.f.error(node, f"version {v!r} is not supported (this is version 1)")

    def description(self, node: yaml.Node) -> None:
        self.setting("description", self.f.scalar(node, "description"), node)

    def extends(self, node: yaml.Node) -> None:
        for item in self.f.items(node, "extends"):
            rel = self.f.scalar(item, "extends")
            self.parents.append(_load_file(self.path.parent / rel, self.stack, self.f.origin(item)))

    def identity(self, node: yaml.Node) -> None:
        v = self.f.scalar(node, "identity")
        if v not in {m.value for m in Identity}:
            raise self.f.error(node, f"identity {v!r}: use strip or keep")
        self.setting("identity", v, node)

    def uids(self, node: yaml.Node) -> None:
        f = self.f
        for key, knode, vnode in f.mapping(node, "uids"):
            if key not in UID_KEYS:
                raise f.error(knode, f"uids: unknown key {key!r} (allowed: {', '.join(UID_KEYS)})")
            v = f.scalar(vnode, f"uids.{key}")
            _UID_CHECKS.get(key, _check_uid_mode)(f, key, v, vnode)
            self.setting(f"uids.{key}", v, vnode)

    def pixel(self, node: yaml.Node) -> None:
        f = self.f
        for key, knode, vnode in f.mapping(node, "pixel"):
            if key not in PIXEL_KEYS:
                raise f.error(knode, f"pixel: unknown key {key!r} (allowed: {', '.join(PIXEL_KEYS)})")
            v = f.scalar(vnode, f"pixel.{key}")
            if key == "transfer_syntax":
                try:
                    resolve(v)
                except DicomRewriteError as exc:
                    raise f.error(vnode, f"pixel.transfer_syntax: {exc}") from None
            elif key in ("spacing", "spacing_size"):
                _check_spacing(f, vnode, v, key)
            elif key == "rescale":
                _check_rescale(f, vnode, v)
            else:
                modes = [m.value for m in SopClassMode]
                if v not in modes:
                    raise f.error(vnode, f"pixel.sop_class {v!r}: use one of {', '.join(modes)}")
            self.setting(f"pixel.{key}", v, vnode)

    def rules(self, key: str, node: yaml.Node) -> None:
        """A rule section: one rule per entry, one rule per tag per file."""
        kind = RULE_KINDS[key]
        rules = self.own.rules
        for text, origin, vnode in kind.entries(self.f, node):
            rule = kind.parse(self.f, text, origin, vnode)
            if rule.key in rules:
                first = rules[rule.key]
                raise self.f.error(
                    origin, f"{key} {text}: the same tag is already given a rule "
                    f"({first.action.value} at line {first.origin.line}); one rule per tag per file"
                )
            rules[rule.key] = rule


#: the sections of a file that are not rules
_SECTIONS: dict[str, Callable[[_OneFile, yaml.Node], None]] = {
    "version": _OneFile.version, "description": _OneFile.description, "extends": _OneFile.extends,
    "identity": _OneFile.identity, "uids": _OneFile.uids, "pixel": _OneFile.pixel,
}


def _check_root(f: _File, key: str, v: str, node: yaml.Node) -> None:
    try:
        check_root(v)
    except ProfileError as exc:
        raise f.error(node, f"uids.root: {exc}") from None


def _check_key(f: _File, key: str, v: str, node: yaml.Node) -> None:
    if v == "":
        raise f.error(node, "uids.key: empty key")


def _check_uid_mode(f: _File, key: str, v: str, node: yaml.Node) -> None:
    modes = [m.value for m in UidMode]
    if v not in modes:
        raise f.error(node, f"uids.{key} {v!r}: use one of {', '.join(modes)}")
    if key == "instance" and v == UidMode.KEEP.value:
        raise f.error(node, "uids.instance keep: refused; new pixels are a new instance "
                      "(PS3.3 C.12.1.1.1), use new or hash")


def _check_key_template(f: _File, key: str, v: str, node: yaml.Node) -> None:
    """``uids.study_key``/``series_key``: a value template, e.g.
    ``"{meta[Patient ID]}/{meta[Follow-up #]}"``."""
    try:
        if not parse_template(v).fields:
            raise ValueError("a constant key puts every output in one study; use a template such as "
                             "\"{meta[Study]}\" or \"{path[-2]}\"")
    except ValueError as exc:
        raise f.error(node, f"uids.{key}: {exc}") from None


_UID_CHECKS = {"root": _check_root, "key": _check_key, "study_key": _check_key_template,
               "series_key": _check_key_template}


def _check_spacing(f: _File, node: yaml.Node, value: str, key: str = "spacing") -> None:
    """``pixel.spacing``: auto, keep, drop, or ``"R\\C"``: two positive
    decimal strings in mm (PS3.3 10.7.1.3; DS, PS3.5 6.2), or a template of
    them; ``pixel.spacing_size``: a template of the matrix it was measured on."""
    if value in SPACING_MODES and key == "spacing":
        return
    if "{" in value:  # a template, e.g. from the metadata: checked per output
        try:
            parse_template(value)
        except ValueError as exc:
            raise f.error(node, f"pixel.{key}: {exc}") from None
        return
    if key == "spacing_size":
        raise f.error(node, "pixel.spacing_size: a template of ROWS\\COLUMNS, e.g. "
                            "\"{meta[Height]}\\\\{meta[Width]}\" (with a templated pixel.spacing)")
    pair = number_pair(value)
    if pair is None or not all(0 < x < 1e6 for x in pair):
        raise f.error(node, f"pixel.spacing {value!r}: use {', '.join(SPACING_MODES)} or a spacing "
                            "in mm as \"ROW\\\\COLUMN\" (two positive numbers), e.g. \"0.143\\\\0.143\"")


def _check_rescale(f: _File, node: yaml.Node, value: str) -> None:
    """``pixel.rescale``: ``"SLOPE\\INTERCEPT"``, two finite decimal strings
    (Rescale Slope/Intercept are DS, PS3.5 6.2: at most 16 characters), the
    slope not zero."""
    pair = number_pair(value)
    if pair is None or pair[0] == 0:
        raise f.error(node, f"pixel.rescale {value!r}: use \"SLOPE\\\\INTERCEPT\" (two numbers, slope not 0), "
                            "e.g. \"1\\\\-1024\" for a PNG holding HU + 1024")


# ------------------------------------------------------------ finalising

def _finalise(parsed: _Parsed, path: Path) -> Profile:
    s = parsed.settings
    identity = Identity(_get(s, "identity", Identity.STRIP.value))
    modes = {lvl: UidMode(_get(s, f"uids.{lvl}", "new")) for lvl in UID_LEVELS}
    key, key_source = _uid_key(s, [lvl for lvl, m in modes.items() if m is UidMode.HASH])
    root = check_root(s["uids.root"].value) if "uids.root" in s else None
    study_key, series_key = (s[f"uids.{k}"].value if f"uids.{k}" in s else None for k in UID_KEY_TEMPLATES)
    pixel = PixelPolicy(_get(s, "pixel.transfer_syntax", "explicit-vr-little-endian"),
                        SopClassMode(_get(s, "pixel.sop_class", "auto")),
                        _get(s, "pixel.spacing", "auto"), _get(s, "pixel.rescale", ""),
                        _get(s, "pixel.spacing_size", ""))
    if pixel.spacing_size and not pixel.spacing_template:
        raise ProfileError(f"{s['pixel.spacing_size'].origin}: pixel.spacing_size needs a templated "
                           "pixel.spacing (e.g. \"{meta[Spacing]}\\\\{meta[Spacing]}\")")
    keeps = Keeps()
    rules = []
    for rule in parsed.rules.values():
        if isinstance(rule, KeepRule):
            rule.add_to(keeps)
        else:
            rules.append(rule)
    if identity is Identity.STRIP:
        _check_stripped_fields(rules, keeps.tags)
    desc = s["description"].value if "description" in s else None
    return Profile(
        identity=identity, keep_tags=frozenset(keeps.tags),
        uids=UidPolicy(root=root, key=key, **modes, study_key=study_key, series_key=series_key),
        pixel=pixel, source=path, rules=tuple(rules), keep_all_private=keeps.all_private,
        keep_private_creators=frozenset(keeps.creators), chain=tuple(parsed.chain),
        origins=tuple((k, str(v.origin)) for k, v in s.items()), key_source=key_source, description=desc,
    )


def _get(s: dict[str, _Setting], key: str, default: str) -> str:
    return s[key].value if key in s else default


def _uid_key(s: dict[str, _Setting], hashing: list[str]) -> tuple[bytes | None, str | None]:
    """The UID key and how it was given (``env:NAME`` or ``<literal>``);
    an error if a hash mode needs a key there is none of."""
    if "uids.key" not in s:
        if hashing:
            origin = s[f"uids.{hashing[0]}"].origin
            raise ProfileError(f"{origin}: uids.{hashing[0]} hash: needs uids.key "
                               "(env:NAME or a literal secret)")
        return None, None
    raw, origin = s["uids.key"].value, s["uids.key"].origin
    if not raw.startswith("env:"):
        return raw.encode("utf-8"), "<literal>"
    var = raw[4:]
    if var in os.environ and os.environ[var]:
        return os.environ[var].encode("utf-8"), raw
    if hashing:
        raise ProfileError(
            f"{origin}: uids.key {raw}: environment variable {var} is not set "
            f"(needed by hash mode of uids.{hashing[0]})"
        )
    return None, raw


def _check_stripped_fields(rules: list[Rule], keep_tags: set[int]) -> None:
    """Under ``identity: strip`` a template identity value may not reach an
    output through ``{template.Keyword}`` (unless the tag is kept)."""
    for rule in rules:
        for name in rule.template_fields:
            keyword = template_keyword(name)
            if keyword is None:
                continue
            tag = int(keyword_dict[keyword])
            if tag in IDENTITY_TAGS and tag not in keep_tags:
                raise ProfileError(
                    f"{rule.where()}: {{{name}}} is a template identity value, which "
                    f"identity: strip removes; add {keyword} to keep, or use identity: keep"
                )
