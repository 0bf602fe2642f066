"""Tag paths: how a profile names an element, and how a rule reaches it.

A tag is a keyword (``PatientName``), a public tag ``(gggg,eeee)``, or a
private element addressed by its creator ``(gggg,"Creator",ee)``; a path
steps through sequence items: ``Seq[0].Keyword``, ``Seq[*].Keyword``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TypeAlias

from pydicom.datadict import dictionary_VR, keyword_dict, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicom_rewrite.profile.vr import tag_vr


@dataclass(frozen=True)
class PrivateTag:
    """A private element addressed by its creator: ``(gggg,"Creator",ee)``
    (PS3.5 7.8.1: the creator reserves a block ``(gggg,xx00-xxFF)``)."""

    group: int
    creator: str
    element: int  # 0x00-0xFF, the offset inside the creator's block

    def __str__(self) -> str:
        return f'({self.group:04X},"{self.creator}",{self.element:02X})'


Elem: TypeAlias = int | PrivateTag


@dataclass(frozen=True)
class TagPath:
    """``Seq[i].Seq2[*].Attr``: sequence steps (index ``None`` is ``*``) and
    the leaf element."""

    steps: tuple[tuple[Elem, int | None], ...]
    leaf: Elem

    @property
    def top(self) -> Elem:
        return self.steps[0][0] if self.steps else self.leaf

    @property
    def has_star(self) -> bool:
        return any(i is None for _e, i in self.steps)

    def __str__(self) -> str:
        parts = [f"{elem_text(e)}[{'*' if i is None else i}]" for e, i in self.steps]
        return ".".join([*parts, elem_text(self.leaf)])


def elem_text(e: Elem) -> str:
    """The keyword of a tag, or ``(gggg,eeee)``; a private tag as written."""
    if isinstance(e, PrivateTag):
        return str(e)
    return keyword_for_tag(e) or f"({e >> 16:04X},{e & 0xFFFF:04X})"


# ---------------------------------------------------------------- grammar

_STEP = re.compile(
    r"""(?:(?P<kw>[A-Za-z][A-Za-z0-9]*)
         |\(\s*(?P<g>[0-9A-Fa-f]{4})\s*,\s*(?P<e>[0-9A-Fa-f]{4})\s*\)
         |\(\s*(?P<pg>[0-9A-Fa-f]{4})\s*,\s*"(?P<creator>[^"\\]{1,64})"\s*,\s*(?P<pe>[0-9A-Fa-f]{2})\s*\))
        (?:\[(?P<idx>[0-9]+|\*)\])?""",
    re.X,
)

#: what a tag looks like, for the JSON Schema
TAG_PATTERN = (
    r'^(([A-Za-z][A-Za-z0-9]*|\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)|\([0-9A-Fa-f]{4},"[^"\\]+",'
    r'[0-9A-Fa-f]{2}\))(\[([0-9]+|\*)\])?\.)*([A-Za-z][A-Za-z0-9]*|\([0-9A-Fa-f]{4},'
    r'[0-9A-Fa-f]{4}\)|\([0-9A-Fa-f]{4},"[^"\\]+",[0-9A-Fa-f]{2}\))$'
)


def suggest_keyword(word: str) -> str:
    """``; did you mean 'X'?`` for a misspelt keyword, or ``""``."""
    lowered = {k.lower(): k for k in keyword_dict}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(keyword_dict), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_tag(text: str) -> TagPath:
    """Parse a tag or tag path; raise ``ValueError`` with the reason."""
    text = text.strip()
    if not text:
        raise ValueError("empty tag")
    # read the structure first, then resolve the names
    matches = _read_steps(text)
    steps = tuple(_sequence_step(m, text) for m in matches[:-1])
    last = matches[-1]
    leaf = _parse_elem(last)
    if last["idx"] is not None:
        raise ValueError(f"{text!r} ends with an item index; name an attribute of the item")
    return TagPath(steps, leaf)


def _read_steps(text: str) -> list[re.Match[str]]:
    matches: list[re.Match[str]] = []
    pos = 0
    while True:
        m = _STEP.match(text, pos)
        if not m:
            raise ValueError(
                f"cannot read {text!r} at {text[pos:]!r}: a tag is a keyword, (gggg,eeee), "
                '(gggg,"Creator",ee) or a path Seq[0].Keyword / Seq[*].Keyword'
            )
        matches.append(m)
        pos = m.end()
        if pos == len(text):
            return matches
        if text[pos] != "." or pos + 1 == len(text):
            raise ValueError(f"cannot read {text!r} at {text[pos:]!r}")
        pos += 1


def _sequence_step(m: re.Match[str], text: str) -> tuple[Elem, int | None]:
    elem = _parse_elem(m)
    if m["idx"] is None:
        raise ValueError(f"{elem_text(elem)} in {text!r} needs an item index ([0], [1], ... or [*])")
    if isinstance(elem, int) and tag_vr(elem) != "SQ":
        raise ValueError(f"{elem_text(elem)} in {text!r} is not a sequence")
    return elem, None if m["idx"] == "*" else int(m["idx"])


def _parse_elem(m: re.Match[str]) -> Elem:
    if m["kw"]:
        kw = m["kw"]
        if kw not in keyword_dict:
            raise ValueError(f"unknown keyword {kw!r}{suggest_keyword(kw)}")
        return int(keyword_dict[kw])
    if m["creator"] is not None:
        group, element = int(m["pg"], 16), int(m["pe"], 16)
        # PS3.5 7.1.1: private groups are odd, and not 0001, 0003, 0005 or 0007
        if group % 2 == 0 or group < 0x0009:
            raise ValueError(f"group {group:04X} of {m.group(0)!r} is not a private group")
        return PrivateTag(group, m["creator"], element)
    tag = (int(m["g"], 16) << 16) | int(m["e"], 16)
    group = tag >> 16
    if group % 2:  # PS3.5 7.1.1: odd groups are private
        raise ValueError(
            f"{m.group(0)} is a private tag; address it with its creator as "
            f'({group:04X},"Creator",{tag & 0xFF:02X})'
        )
    if tag & 0xFFFF == 0:  # PS3.5 7.2: (gggg,0000) is a group length
        raise ValueError(f"{m.group(0)} is a group length, written by the encoder")
    try:
        dictionary_VR(tag)
    except KeyError:
        raise ValueError(f"{m.group(0)} is not in the DICOM dictionary") from None
    return tag


# ------------------------------------------------------- finding elements

class ItemIndexError(Exception):
    """A path names a sequence item that cannot be created (the message
    says why; the rule adds where it comes from)."""


def find_tag(ds: Dataset, elem: Elem) -> int | None:
    """The tag of ``elem`` in ``ds`` (private: through its creator's block),
    or None when its private creator is absent."""
    if isinstance(elem, int):
        return elem
    try:
        return int(ds.private_block(elem.group, elem.creator).get_tag(elem.element))
    except KeyError:
        return None


def make_tag(ds: Dataset, elem: Elem) -> int:
    """The tag of ``elem`` in ``ds``, reserving its creator's block if needed."""
    if isinstance(elem, int):
        return elem
    return int(ds.private_block(elem.group, elem.creator, create=True).get_tag(elem.element))


def items(ds: Dataset, steps: tuple[tuple[Elem, int | None], ...], *, create: bool) -> list[Dataset]:
    """The datasets a path's steps lead to, from ``ds`` (``ds`` itself for
    no steps). ``create``: add the sequences and the next item the path
    names; an item further on raises :class:`ItemIndexError`."""
    current = [ds]
    for elem, idx in steps:
        nxt: list[Dataset] = []
        for d in current:
            seq = _sequence(d, elem, idx, create=create)
            if seq is not None:
                nxt += _pick_items(seq, elem, idx, create=create)
        current = nxt
    return current


def _sequence(d: Dataset, elem: Elem, idx: int | None, *, create: bool) -> Sequence | None:
    tag = find_tag(d, elem)
    if tag is None or tag not in d:
        if not create or idx is None:
            return None
        tag = make_tag(d, elem)
        d.add(DataElement(tag, "SQ", Sequence()))
    de = d[tag]
    if de.VR != "SQ":
        return None
    if de.value is None:
        de.value = Sequence()
    seq: Sequence = de.value
    return seq


def _pick_items(seq: Sequence, elem: Elem, idx: int | None, *, create: bool) -> list[Dataset]:
    if idx is None:
        return list(seq)
    if idx < len(seq):
        return [seq[idx]]
    if create and idx == len(seq):
        seq.append(Dataset())
        return [seq[idx]]
    if create:
        raise ItemIndexError(
            f"{elem_text(elem)} has {len(seq)} item(s); "
            f"item [{idx}] can only be created after item [{len(seq) - 1}]"
        )
    return []
