"""The private scrub: remove the template's private elements, but the ones
the profile keeps (``keep: [private]`` keeps them all and skips this).

PS3.5 7.8.1: a private creator element ``(gggg,00xx)``, xx in 10-FF,
reserves the block ``(gggg,xx00-xxFF)`` for its creator; a kept element
keeps its creator element, a creator whose block keeps nothing goes.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from dicom_rewrite.core.scrub import Change

RULE = "private tags removed"

Block = tuple[int, int]  # (group, xx of the creator element)


def _is_private(tag: int) -> bool:
    return bool((tag >> 16) % 2)  # PS3.5 7.1.1: odd groups are private


def _creators(ds: Dataset) -> dict[Block, str]:
    """The private creators of ``ds`` by block."""
    creators: dict[Block, str] = {}
    for elem in ds:
        t = int(elem.tag)
        if _is_private(t) and 0x10 <= (t & 0xFFFF) <= 0xFF:
            creators[(t >> 16, t & 0xFF)] = str(elem.value or "")
    return creators


def remove_private(ds: Dataset, keep_tags: frozenset[int],
                   keep: frozenset[tuple[int, str, int]]) -> list[Change]:
    """Remove private elements at every depth except the kept ones (a kept
    element keeps its whole value, and its creator element)."""
    changes: list[Change] = []
    for elem in ds:
        if not _is_private(int(elem.tag)) and elem.VR == "SQ" and elem.value:
            for item in elem.value:
                changes += remove_private(item, keep_tags, keep)
    kept_blocks, doomed = _private_data(ds, keep_tags, keep)
    doomed += _unused_creators(ds, keep_tags, kept_blocks)
    for t in doomed:
        del ds[t]
        changes.append(Change(t, "removed", RULE))
    return changes


def _private_data(ds: Dataset, keep_tags: frozenset[int],
                  keep: frozenset[tuple[int, str, int]]) -> tuple[set[Block], list[int]]:
    """The blocks that keep an element, and the private data elements
    (gggg,xxyy), xx >= 10, that go."""
    creators = _creators(ds)
    kept_blocks: set[Block] = set()
    doomed: list[int] = []
    for elem in ds:
        t = int(elem.tag)
        low = t & 0xFFFF
        if not _is_private(t) or low < 0x1000:
            continue  # creators: decided by _unused_creators
        group = t >> 16
        block = (group, low >> 8)
        creator = creators.get(block)
        if t in keep_tags or (creator is not None and (group, creator, low & 0xFF) in keep):
            kept_blocks.add(block)
        else:
            doomed.append(t)
    return kept_blocks, doomed


def _unused_creators(ds: Dataset, keep_tags: frozenset[int], kept_blocks: set[Block]) -> list[int]:
    """The private elements below (gggg,1000) that go: creators whose block
    keeps nothing, and (gggg,0000-000F), which no creator reserves."""
    doomed: list[int] = []
    for elem in ds:
        t = int(elem.tag)
        low = t & 0xFFFF
        if _is_private(t) and low < 0x1000 and t not in keep_tags:
            if (t >> 16, t & 0xFF) not in kept_blocks or low < 0x10:
                doomed.append(t)
    return doomed
