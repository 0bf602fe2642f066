"""Copies of a dataset that share its values: every element and sequence
item is new, so setting a value on the copy, at any depth, never changes the
original; values themselves (immutable, or never mutated in place) are shared,
which makes the copy far cheaper than ``copy.deepcopy``."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag


def copy_dataset(base: Dataset) -> Dataset:
    """A copy of ``base`` that shares its (immutable or never mutated in
    place) values: every element and sequence item is new, so setting a value
    on the copy, at any depth, never changes ``base``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    copy_elements(base, ds)
    return ds


def copy_elements(src: Dataset, dst: Dataset, tags: Iterable[int] | None = None) -> None:
    """Copy ``src``'s elements (only ``tags``, if given) into ``dst``, as
    :func:`copy_dataset` does."""
    target = dst._dict
    pairs = src._dict.items() if tags is None else [
        (t, src._dict[t]) for t in map(BaseTag, tags) if t in src._dict]
    for tag, elem in pairs:
        if type(elem) is DataElement and elem.VR != "SQ":
            # a new element object with the same (shared, immutable) value:
            # what Dataset.__setitem__ stores for a converted element
            new = object.__new__(DataElement)
            new.__dict__.update(elem.__dict__)
            target[tag] = new
            continue
        elem = src[tag]  # converts a raw element, if any
        if elem.VR == "SQ":
            items = []
            for item in elem.value or []:
                copy_item = Dataset()
                copy_elements(item, copy_item)
                items.append(copy_item)
            dst.add(DataElement(elem.tag, elem.VR, Sequence(items), already_converted=True))
        else:
            dst.add(DataElement(elem.tag, elem.VR, elem.value, already_converted=True))
