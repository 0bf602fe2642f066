"""Per-image metadata for a batch: the manifest's rows matched to the
batch's inputs once, before anything is written, and each input's
:class:`~dicom_rewrite.profile.model.Context` (its row, its path).

Checked up front (a :class:`ManifestError`, nothing written): the columns the
profile uses exist, no key is given twice, and every input has a row and
every row an input (unless ``optional``: then an input without a row is
converted without the metadata rules, and rows without an input are left).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from dicom_rewrite.batch.sources import Source
from dicom_rewrite.engine.converter import Converter
from dicom_rewrite.errors import ManifestError, UsageError
from dicom_rewrite.io.manifest import Manifest, Matched, Row, match, read_manifest
from dicom_rewrite.profile import Context, Profile
from dicom_rewrite.profile.model import UID_KEY_TEMPLATES
from dicom_rewrite.profile.rules import Rule
from dicom_rewrite.profile.templating import meta_column, parse_template

MetadataLike = str | Path | Manifest | None


def _parts(source: Source) -> tuple[str, ...]:
    """The input's path relative to its input folder (a file given by
    name: the path as given), the file name last."""
    if source.explicit:
        return PurePath(source.given or str(source.path)).parts or (source.path.name,)
    return (*source.folder.parts, source.path.name) if source.folder != PurePath(".") else (source.path.name,)


@dataclass
class Metadata:
    """The manifest rows of one batch's inputs (None: no manifest)."""

    matched: Matched | None = None

    def row(self, source: Source) -> Row | None:
        return self.matched.rows.get(str(source.path)) if self.matched is not None else None

    def context(self, conv: Converter, source: Source, index: int, stem: str, name: str) -> Context:
        """What the profile's templates see for one output of ``source``."""
        parent = source.path.absolute().parent.name
        return conv.context(index, stem, name, meta=self.row(source), parts=_parts(source), parent=parent)

    def note(self, source: Source) -> str | None:
        """The report's note for an input without a row (``optional``)."""
        if self.matched is None or str(source.path) in self.matched.rows:
            return None
        return f"no row in {self.matched.manifest.file}: the profile's metadata values were not applied"


def meta_columns_used(rules: tuple[Rule, ...], *templates: tuple[str, str | None]) -> list[tuple[str, str]]:
    """The manifest columns (``{meta[Column]}``) a profile's rules and other
    ``(where, template text)`` settings render, with where each is used."""
    used: list[tuple[str, str]] = []
    for rule in rules:
        used += [(c, rule.where()) for c in getattr(rule, "meta_columns", ())]
    for where, text in templates:
        if text is not None and "{" in text:
            used += [(c, where) for c in map(meta_column, parse_template(text).fields) if c is not None]
    return used


def _check_columns(profile: Profile, manifest: Manifest | None) -> None:
    origins = dict(profile.origins)
    settings = [(f"{origins.get('uids.' + k, 'uids')}: uids.{k}", getattr(profile.uids, k))
                for k in UID_KEY_TEMPLATES]
    settings.append((f"{origins.get('pixel.spacing', 'pixel')}: pixel.spacing", profile.pixel.spacing))
    used = meta_columns_used(profile.rules, *settings)
    if manifest is None:
        if used:
            column, where = used[0]
            raise UsageError(f"{where}: uses {{meta[{column}]}}, but no metadata manifest was given "
                             "(--metadata FILE)")
        return
    for column, where in used:
        if column not in manifest.columns:
            shown = ", ".join(repr(c) for c in manifest.columns[:12])
            raise manifest.error(1, f"no column {column!r} (used by {where}); columns: {shown}")


def _check_matched(matched: Matched, optional: bool) -> None:
    if optional:
        return
    file, key = matched.manifest.file, matched.key
    if matched.missing:
        more = f" (and {len(matched.missing) - 1} more input(s))" if len(matched.missing) > 1 else ""
        raise ManifestError(f"{matched.missing[0]}: no row in {file} (key column {key!r}){more}; "
                            "--metadata-optional converts inputs without a row")
    if matched.unused:
        row = matched.unused[0]
        more = f" (and {len(matched.unused) - 1} more row(s))" if len(matched.unused) > 1 else ""
        raise ManifestError(f"{row.where(key)}: {row.cells.get(key, '')!r} matches no input{more}; "
                            "--metadata-optional allows rows without an input")


def plan_metadata(sources: Sequence[Source], profile: Profile, metadata: MetadataLike, *,
                  key: str | None = None, optional: bool = False) -> Metadata:
    """Read and match the manifest for ``sources`` (see the module)."""
    manifest = metadata if isinstance(metadata, Manifest) or metadata is None else read_manifest(metadata)
    _check_columns(profile, manifest)
    if manifest is None:
        if key is not None or optional:
            raise UsageError("--metadata-key and --metadata-optional need --metadata FILE")
        return Metadata()
    matched = match(manifest, [(str(s.path), s.keys or (s.path.name,)) for s in sources], key)
    _check_matched(matched, optional)
    return Metadata(matched)
