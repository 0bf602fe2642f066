"""UID policy: new, kept or keyed-hash UIDs, one consistent map per batch.

* ``new``: a random UID, ``2.25.<UUID4 as integer>`` (PS3.5 B.2) or under an
  organisation root.
* ``hash``: HMAC-SHA256 keyed with a secret over the level, the template UID
  and the input, with fields joined by NUL so that no two different inputs
  give the same message (unlike ``generate_uid(entropy_srcs=...)``, which joins
  them with nothing). Same key + same inputs -> same UID on every run.
* Standard UIDs (SOP classes, transfer syntaxes, coding schemes) are never
  remapped; any other UID copied from the template is remapped consistently,
  so no template UID ever reaches an output.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID

from dicom_rewrite.errors import ProfileError

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
MAX_UID = 64


def is_valid_uid(value: str) -> bool:
    return len(value) <= MAX_UID and bool(_UID_RE.match(value))


def is_standard_uid(value: str) -> bool:
    """True for UIDs defined by the standard (PS3.6 Annex A)."""
    return str(value) in UID_dictionary


def check_root(root: str | None) -> str | None:
    """Validate an organisation root (leaves room for a suffix)."""
    if root is None:
        return None
    root = str(root).rstrip(".")
    if not is_valid_uid(root) or len(root) > 40:
        raise ProfileError(
            f"UID root {root!r} is not a valid UID prefix (digits and dots, "
            "no leading zeros, at most 40 characters)"
        )
    return root


def _from_int(n: int, root: str | None) -> UID:
    if root is None:
        # PS3.5 B.2: 2.25 followed by a 128-bit integer
        return UID(f"2.25.{n % (1 << 128)}")
    room = MAX_UID - len(root) - 1
    return UID(f"{root}.{n % (10 ** room)}".rstrip(".") if room > 0 else root)


def new_uid(root: str | None = None) -> UID:
    """A fresh random UID (``2.25.`` form, or under ``root``)."""
    return _from_int(uuid.uuid4().int, root)


def batch_seed() -> bytes:
    """A new batch's secret seed (256 random bits; see :class:`UidMap`)."""
    return secrets.token_bytes(32)


def hashed_uid(key: bytes, *parts: str, root: str | None = None) -> UID:
    """A keyed, deterministic UID over ``parts`` (joined unambiguously)."""
    msg = "\x00".join(parts).encode("utf-8")
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    n = int.from_bytes(digest[:16], "big")
    if n == 0:
        n = 1
    uid = _from_int(n, root)
    # a component may not start with 0: _from_int gives a plain decimal, fine
    return uid


class UidMap:
    """One map per batch from template UIDs to new ones (or keyed hashes).

    ``seed``: the batch's own secret (random, drawn once per batch): ``new``
    UIDs are then keyed hashes of it, so that every worker process of the
    batch, and a resumed run of it, gives each output the same new UIDs
    (for outsiders they are as random as UUIDs: the seed never leaves the
    batch's state file)."""

    def __init__(self, root: str | None = None, key: bytes | None = None,
                 seed: bytes | None = None) -> None:
        self.root = root
        self.key = key
        self.seed = seed
        self._map: dict[tuple[str, str], UID] = {}

    def _new(self, *parts: str) -> UID:
        if self.seed is None:
            return new_uid(self.root)
        return hashed_uid(self.seed, "new", *parts, root=self.root)

    def get(self, old: str, scope: str = "") -> UID:
        """The replacement for ``old`` (stable for this map and scope)."""
        k = (scope, str(old))
        if k not in self._map:
            if self.key is not None:
                self._map[k] = hashed_uid(self.key, "remap", scope, str(old), root=self.root)
            else:
                self._map[k] = self._new("remap", scope, str(old))
        return self._map[k]

    def level(self, level: str, mode: str, template_uid: str | None, scope: str = "",
              input_id: str = "") -> UID:
        """UID of a level (study, series, instance, frame_of_reference).

        ``mode`` is ``new`` (one per batch and scope), ``keep`` (the template's)
        or ``hash`` (keyed on template UID, level, scope and input).
        """
        if mode == "keep":
            if not template_uid:
                return self.get(f"<missing {level}>", scope)
            return UID(template_uid)
        if mode == "hash":
            if self.key is None:
                raise ProfileError(f"uids.{level}: hash mode needs uids.key")
            return hashed_uid(
                self.key, level, str(template_uid or ""), scope, input_id, root=self.root
            )
        if level == "instance":
            return self._new(level, str(template_uid or ""), scope, input_id)
        return self.get(f"<{level}:{template_uid}>", scope)


class KeptUidMap(UidMap):
    """A UID map that keeps the UIDs of a source (``kept``) and remaps every
    other one: a derived object of the same patient (a series on a source
    series' grid) keeps the source's study, frame of reference and the
    references its headers carry, while a UID of another template still
    never reaches an output."""

    def __init__(self, kept: frozenset[str], root: str | None = None, key: bytes | None = None) -> None:
        super().__init__(root, key)
        self.kept = kept

    def get(self, old: str, scope: str = "") -> UID:
        if str(old) in self.kept:
            return UID(str(old))
        return super().get(old, scope)
