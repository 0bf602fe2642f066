"""What a batch keeps per kind of image, within a memory budget.

A :class:`Memo` holds the most recently used entries whose sizes (as the
caller estimates them) fit its byte budget, dropping the least recently used
beyond it. Bounding by bytes rather than by count lets a batch keep as many
kinds as fit (a kind is a few tens of kB; one of a template with a large
element, more), so memory stays flat however many kinds a batch meets.

A least-recently-used memo that is too small for a batch's cycle of kinds
evicts every kind before it is met again. The memo remembers (keys only,
a bounded number) the entries it evicted before they were ever *useful*
(as the caller's ``useful`` says, e.g. a kind whose stamp never filled an
output), so that the caller need not invest in such a kind again when it
returns (:meth:`returning`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from pydicom.dataset import Dataset

from dicom_rewrite.engine.facts import same_matrix
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.io.images import Raster

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: how many entries the small memos of a Converter keep (pixel plans, IOD
#: modules and completion per set of tags present)
KINDS_KEPT = 64

#: the bytes a Converter may keep for its kinds of raster (prototypes and
#: stamps; a kind takes some 15-35 kB with the shipped templates, so this
#: keeps about a thousand), and its estimate of a prototype's bytes per
#: element (its values are shared with the scrubbed base)
KINDS_BUDGET = 32 << 20
PROTOTYPE_BYTES_PER_ELEMENT = 400


def kind_key(raster: Raster, plan: PixelPlan, template: Dataset, exact_shape: bool = False) -> tuple[object, ...]:
    """Rasters of one kind (:attr:`Raster.kind`: dtype, colour space, bits,
    source encoding...) and plan, of the template's matrix or not (its facts
    are lent only to its own: ``engine.facts``), and of any size: Rows and
    Columns are set per output (of a single frame's shape, the Image Pixel
    module holds nothing else); multi-frame rasters (Number of Frames) and
    ``exact_shape`` keep theirs."""
    shape = raster.array.shape
    exact = exact_shape or raster.frames > 0
    return (plan, shape if exact else shape[2:], *raster.kind[1:], same_matrix(template, *raster.rows_columns))


def keep(memo: OrderedDict[Any, Any], key: object, value: object) -> None:
    """Store ``value`` as the most recent entry, dropping the oldest beyond
    :data:`KINDS_KEPT`."""
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > KINDS_KEPT:
        memo.popitem(last=False)


class Memo(Generic[K, V]):
    """Least-recently-used entries within ``budget`` bytes (at least one
    entry is always kept)."""

    def __init__(self, budget: int, useful: Callable[[V], bool], ghosts: int = 4096) -> None:
        self.budget = budget
        self._useful = useful
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._nbytes = 0
        self._ghosts: OrderedDict[K, None] = OrderedDict()
        self._ghosts_kept = ghosts

    def get(self, key: K) -> V | None:
        """The entry of ``key`` (now the most recent), or None."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)
        return hit[0]

    def put(self, key: K, value: V, nbytes: int) -> None:
        """Keep ``value`` as the most recent entry, of ``nbytes`` bytes."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._nbytes -= old[1]
        self._entries[key] = (value, nbytes)
        self._nbytes += nbytes
        self._evict()

    def grow(self, key: K, nbytes: int) -> None:
        """The entry of ``key`` now holds ``nbytes`` more bytes."""
        hit = self._entries.get(key)
        if hit is not None:
            self._entries[key] = (hit[0], hit[1] + nbytes)
            self._nbytes += nbytes
            self._evict()

    def returning(self, key: K) -> bool:
        """Was ``key`` evicted before it was useful? (Asked once: the answer
        is forgotten.)"""
        return self._ghosts.pop(key, 0) is None

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> Iterator[V]:
        return (value for value, _n in self._entries.values())

    def _evict(self) -> None:
        while self._nbytes > self.budget and len(self._entries) > 1:
            key, (value, nbytes) = self._entries.popitem(last=False)
            self._nbytes -= nbytes
            if not self._useful(value):
                self._ghosts[key] = None
                if len(self._ghosts) > self._ghosts_kept:
                    self._ghosts.popitem(last=False)
