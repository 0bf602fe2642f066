"""The core engine: a template, a profile and new pixels -> a valid dataset.

A :class:`Converter` parses and scrubs the template once per batch; each call
to :meth:`Converter.convert` copies the scrubbed base, swaps in the pixels,
applies the profile, completes what the target IOD requires and fills in the
file meta. Nothing here touches the file system except :meth:`Template.load`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

from dicom_rewrite import __version__
from dicom_rewrite.core import clock, iod
from dicom_rewrite.core.charset import fix_character_set, text_values
from dicom_rewrite.core.dataset_copy import copy_dataset, copy_elements
from dicom_rewrite.core.scrub import (
    Change,
    drop_empty_sequences,
    remap_uids,
    remove_stale,
    strip_identity,
)
from dicom_rewrite.core.uids import UidMap
from dicom_rewrite.encode import fastpath as stamp
from dicom_rewrite.encode import syntax
from dicom_rewrite.encode.writer import Buffer, DatasetWriter
from dicom_rewrite.engine import facts
from dicom_rewrite.engine.completion import (
    TYPE1_DEFAULTS,
    complete_iod,
    drop_outside_iod,
    missing_attributes,
)
from dicom_rewrite.engine.memo import KINDS_BUDGET, PROTOTYPE_BYTES_PER_ELEMENT, Memo, keep, kind_key
from dicom_rewrite.engine.pixels import (
    PixelPlan,
    apply_pixel_module,
    pixel_payload,
    plan_pixels,
    set_pixel_values,
    window_values,
)
from dicom_rewrite.engine.placement import ImageSpacing, Place, Placement
from dicom_rewrite.engine.repairs import repair_template
from dicom_rewrite.engine.template import Template
from dicom_rewrite.io.images import Raster
from dicom_rewrite.profile import DEFAULT_PROFILE, Context, Identity, Profile

log = logging.getLogger(__name__)

#: signature of the per-output hook of :meth:`Converter.convert`
Adjust = Callable[[Dataset, PixelPlan], list[Change]]

#: Our Implementation Class UID (PS3.7 D.3.3.2), UUID-derived (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = UID(f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'dicom-rewrite').int}")
IMPLEMENTATION_VERSION_NAME = f"DCMREWRITE_{__version__.replace('.', '')}"[:16]

DEIDENTIFICATION_METHOD = "dicom-rewrite identity strip (PS3.15 E basic)"

#: attributes set from the batch clock when absent (the outputs are new)
_CLOCK_ATTRS = (
    ("StudyDate", "StudyTime"),
    ("SeriesDate", "SeriesTime"),
    ("ContentDate", "ContentTime"),
    ("InstanceCreationDate", "InstanceCreationTime"),
)

_UID_TAGS = {kw: BaseTag(iod.tag(kw)) for kw in
             ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")}
_INSTANCE_NUMBER = BaseTag(0x00200013)  # (0020,0013) Instance Number
_PATIENT_ID = BaseTag(0x00100020)  # (0010,0020) Patient ID
_LOSSY_RATIO = BaseTag(0x00282112)  # (0028,2112) Lossy Image Compression Ratio
_CLOCK_TAGS = tuple((BaseTag(iod.tag(d)), BaseTag(iod.tag(t))) for d, t in _CLOCK_ATTRS)

#: levels whose UIDs the engine owns: (level, keyword)
UID_LEVELS = (
    ("study", "StudyInstanceUID"),
    ("series", "SeriesInstanceUID"),
    ("frame_of_reference", "FrameOfReferenceUID"),
)

#: top-level attributes :meth:`Converter.convert` reads after the profile
#: applies (UID scope, character set, IOD completion, clock): a profile that
#: renders them per output gets no stamp (see :mod:`dicom_rewrite.encode.fastpath`)
_READ_AFTER_PROFILE = frozenset(
    [int(iod.tag(kw)) for kw in (
        "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID",
        "BodyPartExamined", "Laterality", "ImageLaterality", "PatientPosition",
        "PatientOrientation", "PatientOrientationCodeSequence", "SpecimenDescriptionSequence",
        "AnatomicRegionSequence", *(kw for _lvl, kw in UID_LEVELS),
    )]
    + [int(t) for pair in _CLOCK_TAGS for t in pair]
)


@dataclass
class Output:
    """One converted dataset and what the engine did to make it."""

    dataset: Dataset
    plan: PixelPlan
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    place: Place | None = None
    #: the top-level tags the engine set from the place (UIDs, Series Number)
    placed: frozenset[int] = frozenset()
    kept_facts: list[facts.KeptFact] = field(default_factory=list)  # template facts that reached it


@dataclass
class _Kind:
    """What a batch keeps per kind of raster (see :meth:`Converter._kind`)."""

    prototype: Dataset
    changes: list[Change]
    notes: list[str]
    stamp: stamp.Stamp | None = None
    stamp_tried: bool = False  # _make_stamp ran (its answer is in ``stamp``)
    trusted: bool = False  # the stamp's first fill matched the ordinary path
    key: tuple[object, ...] = ()  # its key in the memo (:func:`kind_key`)
    returning: bool = False  # dropped before its stamp filled an output (see :class:`Memo`)
    fills: int = 0  # outputs filled into the stamp
    #: the prototype's elements a per-output scratch dataset starts from
    seed_tags: frozenset[int] = frozenset()
    #: (hook given, ``adjust_tags``) of the call the stamp was made for
    stamp_mode: tuple[bool, frozenset[int]] = (False, frozenset())
    #: the tags the engine set from the first output's place (see :class:`Place`)
    placed: frozenset[int] = frozenset()
    #: the spacing attributes rendered per output (``pixel.spacing`` template)
    spacing_tags: tuple[int, ...] = ()
    kept: list[facts.KeptFact] = field(default_factory=list)  # template facts in the prototype
    kept_out: list[facts.KeptFact] = field(default_factory=list)  # those that reached the last output


@dataclass
class Rendered:
    """One output as the parts of its file (see :meth:`Converter.render`)."""

    parts: list[Buffer]
    plan: PixelPlan
    notes: list[str] = field(default_factory=list)
    #: the dataset, when the output was built the ordinary way
    dataset: Dataset | None = None
    #: (0020,000D) Study, (0020,000E) Series and (0008,0018) SOP Instance UID
    uids: tuple[str, str, str] = ("", "", "")
    kept_facts: list[facts.KeptFact] = field(default_factory=list)  # template facts that reached it


class Converter:
    """Converts rasters into datasets in one template's dialect.

    One Converter is one batch: the template is scrubbed once, and the batch
    shares one new study and one new series per patient (see
    :class:`dicom_rewrite.core.uids.UidMap`).
    """

    def __init__(
        self,
        template: Template,
        profile: Profile = DEFAULT_PROFILE,
        *,
        transfer_syntax: str | None = None,
        started: datetime | None = None,
        uid_map: UidMap | None = None,
        encoding: syntax.Options | None = None, passthrough_only: bool = False,
        own_pixels: bool = False,
    ) -> None:
        """``uid_map``: one map shared between Converters (templates of one run sharing a
        series); ``encoding``, ``passthrough_only``: :class:`syntax.Options`, :func:`syntax.keep_jpeg`;
        ``own_pixels``: the template's own pixels (annotate): its facts hold (engine.facts)."""
        self.template, self.own_pixels = template, own_pixels
        self.profile = profile
        self.started = started or clock.now()
        self.transfer_syntax = syntax.resolve(transfer_syntax or profile.pixel.transfer_syntax)
        self.encoding = (encoding or syntax.Options()).check()
        self.keep_jpeg = syntax.keep_jpeg(self.transfer_syntax, passthrough_only)  # JPEG inputs kept?
        self.uid_map = uid_map or UidMap(profile.uids.root, profile.uids.key)
        #: notes of the template defects repaired (every output carries them)
        self.base_notes: list[str] = []
        self.base, self.base_changes = self._scrubbed_base()
        # memos, each bounded (KINDS_KEPT; kinds: KINDS_BUDGET) so memory stays flat however many
        # kinds of image a batch holds
        self._missing_cache: OrderedDict[tuple[str, frozenset[int]], list[tuple[str, str]]] = (
            OrderedDict())
        self._modules_cache: OrderedDict[tuple[str, frozenset[int]], list[str]] = OrderedDict()
        self._kinds: Memo[tuple[object, ...], _Kind] = Memo(KINDS_BUDGET, lambda k: k.fills > 0)
        self._plans: OrderedDict[tuple[object, ...], PixelPlan] = OrderedDict()
        self._gap = "" if own_pixels else facts.class_gap(self.template.dataset)
        self._scratch = Dataset()  # reused by _per_output_elements
        self.placement = Placement(profile.uids, self.uid_map, template.dataset)
        px = profile.pixel
        self._spacing = ImageSpacing(px.spacing, px.spacing_size) if px.spacing_template else None
        self._read_after = _READ_AFTER_PROFILE | (
            {0x00200011} if self.placement.series_key is not None else set())  # (0020,0011) Series Number

    def _scrubbed_base(self) -> tuple[Dataset, list[Change]]:
        ds = copy.deepcopy(self.template.dataset)
        ds.file_meta = FileMetaDataset()
        changes = remove_stale(ds)
        # private elements, except those the profile keeps (keep: private / creator tags)
        changes += self.profile.scrub_private(ds)
        if self.profile.identity == Identity.STRIP:
            changes += strip_identity(ds, self.profile.keep_tags)
            # PS3.3 C.7.1.1: say that identity was removed, and how
            ds.PatientIdentityRemoved = "YES"
            ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
        level_tags = frozenset(int(iod.tag(kw)) for _lvl, kw in UID_LEVELS) | {
            int(iod.tag("SOPInstanceUID"))
        }
        changes += remap_uids(ds, self.uid_map, skip=level_tags)
        drop_empty_sequences(ds)
        self.base_notes = repair_template(ds) + facts.unknown_tags_note(changes)
        self._kept_base = [] if self.own_pixels else facts.withhold_template_facts(
            ds, self.template.sop_class, self.profile.keep_tags, TYPE1_DEFAULTS, self.base_notes)
        # once for the values every output shares (see fix_character_set's base)
        fix_character_set(ds)
        return ds, changes

    # ------------------------------------------------------------------ one
    def context(self, index: int = 1, stem: str = "image", name: str = "",
                meta: Mapping[str, str] | None = None, parts: tuple[str, ...] = (),
                parent: str = "") -> Context:
        """What the profile's value templates see for one output."""
        return Context(stem, name or stem, index, self.started, self.template.dataset, meta,
                       parts or (name or stem,), parent)

    def convert(self, raster: Raster, *, index: int = 1, stem: str = "image",
                name: str = "", adjust: Adjust | None = None, ctx: Context | None = None) -> Output:
        """Build the output dataset for one raster (no I/O).

        ``adjust(ds, plan)``, if given, is called once the pixels and image
        attributes are set and before the profile applies: the hook through
        which commands add their own attributes (slice geometry, rescale,
        derivation references). It returns a list of :class:`Change`.
        ``ctx``: the input's :meth:`context` (its metadata row and path)."""
        raster = self._rescaled(raster)
        plan = self._plan(raster)
        kind = self._kind(raster, plan)
        ds = copy_dataset(kind.prototype)
        changes = list(self.base_changes) + kind.changes
        notes = list(raster.notes) + self.base_notes + kind.notes
        ctx = ctx or self.context(index, stem, name)
        for value in stamp.shape_values(*raster.rows_columns):  # the prototype may have another size
            ds.add(stamp.value_element(value))
        set_pixel_values(ds, raster, plan)
        for tag, vr, text in [*self._instance_values(raster, index), *self._spacing_values(kind, ctx)]:
            ds.add(DataElement(tag, vr, text))
        for tag in kind.spacing_tags if self._spacing is not None and not self._spacing.known(ctx) else ():
            del ds[tag]  # no row: not known (the IOD completion says so)
        if adjust is not None:
            changes += adjust(ds, plan)
        profile_changes = self.profile.apply(ds, ctx)
        changes += profile_changes
        set_by_profile = {c.tag for c in profile_changes if c.action != "removed"}
        kind.kept_out = facts.after_profile(ds, kind.kept, profile_changes, set_by_profile, notes)
        self._set_clock(ds)
        place, placed = self._set_uids(ds, set_by_profile, ctx)
        self._complete_iod(ds, plan.sop_class, notes)
        fix_character_set(ds, self.base)
        self._set_file_meta(ds)
        syntax.encode(ds, self.transfer_syntax, self.encoding, raster.source, raster.encoded is None)
        return Output(ds, plan, changes, notes, place, placed, kind.kept_out)

    def render(self, raster: Raster, writer: DatasetWriter, *, index: int = 1,
               stem: str = "image", name: str = "", adjust: Adjust | None = None,
               adjust_tags: frozenset[int] = frozenset(), ctx: Context | None = None) -> Rendered:
        """The Part 10 file of :meth:`convert`'s output, as parts to write in
        order: byte for byte what ``writer`` encodes for that dataset.

        The first output of each kind of raster is built and encoded as
        usual; later ones of the same kind are filled into its
        :class:`~dicom_rewrite.encode.fastpath.Stamp` when the profile and transfer
        syntax allow (see :mod:`dicom_rewrite.encode.fastpath`). ``adjust`` is
        :meth:`convert`'s hook; ``adjust_tags`` must name every top-level
        attribute it reads or writes (it is run on just those)."""
        raster = self._rescaled(raster)
        plan = self._plan(raster)
        kind = self._kind(raster, plan)
        ctx = ctx or self.context(index, stem, name)
        # a stamp serves calls like the one it was made for (hook or not, same tags)
        found = kind.stamp if kind.stamp_mode == (adjust is not None, adjust_tags) else None
        if found is not None:
            filled = self._fill(kind, found, raster, plan, ctx, writer, adjust)
            if filled is not None:
                return filled
        out = self.convert(raster, index=index, stem=stem, name=name, adjust=adjust, ctx=ctx)
        if kind.returning:
            kind.returning = False
        elif not kind.stamp_tried:
            kind.stamp_tried = True
            kind.stamp = self._make_stamp(kind, out, raster, ctx, writer, adjust, adjust_tags)
            self._kinds.grow(kind.key, kind.stamp.nbytes if kind.stamp else 0)
        return Rendered([writer.encode(out.dataset)], out.plan, out.notes, out.dataset,
                        _uids(out.dataset), out.kept_facts)

    def _fill(self, kind: _Kind, found: stamp.Stamp, raster: Raster, plan: PixelPlan, ctx: Context,
              writer: DatasetWriter, adjust: Adjust | None) -> Rendered | None:
        """One output filled into its kind's stamp; None when the stamp does
        not fit it (then it is built the ordinary way)."""
        if adjust is None:
            encoded = self._per_output_elements(kind, found, plan, [], ctx, writer, None)
            per_output = _PATIENT_ID in found.caller_tags and _PATIENT_ID in self._scratch
            place = self.placement.place(str(self._scratch[_PATIENT_ID].value or "") if per_output
                                         else found.scope, ctx)
            arr, vr, values = self._varying(raster, plan, place.instance_number, ctx, kind)
        else:
            arr, vr, values = self._varying(raster, plan, ctx.index, ctx, kind)
            encoded = self._per_output_elements(kind, found, plan, values, ctx, writer, adjust)
            values = []  # the hook may change them: encoded holds them all
            place = self.placement.place(found.scope, ctx)
        placed = self.placement.values(place, kind.placed)
        values += placed
        if encoded is None or not found.fits(values, encoded):
            return None
        if kind.trusted:
            kind.fills += 1
            uid = str(self._instance_uid(place.patient, ctx.name, ctx.index))
            by_tag = {t: text for t, _vr, text in placed}
            uids = (by_tag.get(_UID_TAGS["StudyInstanceUID"], found.study_series[0]),
                    by_tag.get(_UID_TAGS["SeriesInstanceUID"], found.study_series[1]), uid)
            return Rendered(found.fill(uid, arr, vr, values, encoded), plan, [*raster.notes, *found.notes],
                            None, uids, kind.kept_out)
        # a stamp's first fill is checked against the ordinary path
        out = self.convert(raster, index=ctx.index, stem=ctx.stem, name=ctx.name, adjust=adjust, ctx=ctx)
        data = writer.encode(out.dataset)
        check = found.fill(str(out.dataset.SOPInstanceUID), arr, vr, values, encoded)
        if stamp.same_bytes(check, data):
            kind.trusted = True
        else:  # pragma: no cover - a bug: never fill this stamp
            log.debug("stamp differs from the ordinary path; not used")
            kind.stamp = None
        return Rendered([data], out.plan, out.notes, out.dataset, _uids(out.dataset), out.kept_facts)

    def _make_stamp(self, kind: _Kind, out: Output, raster: Raster, ctx: Context,
                    writer: DatasetWriter, adjust: Adjust | None,
                    adjust_tags: frozenset[int]) -> stamp.Stamp | None:
        if self.transfer_syntax != ExplicitVRLittleEndian or out.place is None:
            return None
        if adjust is not None and self.placement.keyed:
            return None  # the hook's Instance Numbers are not the series'
        # the profile may not touch what the hook (or the engine, per output) sets: it applies after it
        varying = stamp.VARYING | adjust_tags | frozenset(kind.spacing_tags)
        tags = self.profile.per_output_tags(varying, self._read_after)
        if tags is None:
            return None
        kind.seed_tags = tags | adjust_tags
        kind.stamp_mode = (adjust is not None, adjust_tags)
        kind.placed = out.placed
        placed = self.placement.values(out.place, out.placed)
        arr, vr, values = self._varying(raster, out.plan, out.place.instance_number, ctx, kind)
        if adjust is None:
            return stamp.build(writer, out.dataset, arr, vr, [*values, *placed],
                               out.notes[len(raster.notes):], tags)
        # the hook's attributes and the varying ones it may change are all
        # encoded per output (checked on the kind's second output)
        present = frozenset(out.dataset.keys())
        caller = (tags | adjust_tags | (stamp.VARYING - stamp.ALWAYS)) & present
        return stamp.build(writer, out.dataset, arr, vr, placed, out.notes[len(raster.notes):],
                           frozenset(int(t) for t in caller))

    def _per_output_elements(self, kind: _Kind, found: stamp.Stamp, plan: PixelPlan,
                             values: list[tuple[int, str, str]], ctx: Context,
                             writer: DatasetWriter,
                             adjust: Adjust | None) -> dict[int, bytes] | None:
        """The encoded top-level elements that the caller fills into the
        stamp for this output, built as :meth:`convert` builds them: the hook
        (if any) and the profile's per-output rules (``{stem}`` and the like)
        applied to a copy of the prototype's elements they concern (with the
        varying ``values``, which the hook may change). None (build it the
        ordinary way) when a value is not ASCII, which may change the
        character set."""
        if adjust is None and not found.caller_tags:
            return {}
        scratch = self._scratch
        scratch.clear()
        copy_elements(kind.prototype, scratch, kind.seed_tags)
        if adjust is not None:
            for value in values:
                scratch.add(stamp.value_element(value))
            adjust(scratch, plan)
        self.profile.apply_per_output(scratch, ctx)
        if not all(t.isascii() for t in text_values(scratch)):
            return None
        wanted = found.caller_tags | kind.seed_tags | stamp.VARYING
        if not scratch.keys() <= wanted:
            # the hook set an attribute it did not declare in adjust_tags:
            # only the ordinary path can be trusted with that
            return None
        return {int(tag): stamp.element_bytes(writer, scratch[tag], found.encodings) for tag in scratch.keys()}

    def _varying(self, raster: Raster, plan: PixelPlan, number: int, ctx: Context | None = None,
                 kind: _Kind | None = None) -> tuple[np.ndarray, str, list[tuple[int, str, str]]]:
        """What differs between outputs of one kind (:data:`stamp.VARYING`)
        but the SOP Instance UID and the UIDs of the output's place, computed
        by the functions :meth:`convert` uses: the stored pixels, their VR and
        the other varying elements (and spacing) as ``(tag, VR, text)``."""
        arr, vr = pixel_payload(raster, plan)
        spacing = self._spacing_values(kind, ctx) if kind is not None and ctx is not None else []
        return arr, vr, [*stamp.shape_values(*raster.rows_columns), *window_values(arr, raster, plan),
                         *self._instance_values(raster, number), *spacing]

    def _spacing_values(self, kind: _Kind, ctx: Context) -> list[tuple[int, str, str]]:
        return self._spacing.values(kind.spacing_tags, ctx, kind.prototype) if self._spacing else []
    # ------------------------------------------------------------- stages
    def _kind(self, raster: Raster, plan: PixelPlan) -> _Kind:
        """What the batch keeps for this kind of raster (:func:`kind_key`):
        above all the prototype, the scrubbed base with the SOP class, pixel
        module and image attributes, i.e. everything that does not depend on
        the pixel values, size or the output's index. Built once per kind;
        the most recently used kinds are kept within :data:`KINDS_BUDGET`."""
        # a spacing template scaled to the matrix reads the prototype's (ImageSpacing)
        key = kind_key(raster, plan, self.template.dataset, exact_shape=self._spacing is not None)
        hit = self._kinds.get(key)
        if hit is not None:
            return hit
        ds = copy_dataset(self.base)
        changes: list[Change] = []
        notes: list[str] = []
        if plan.switched_from is not None:
            notes.append(
                f"SOP class switched from {plan.switched_from.name} to {plan.sop_class.name}: "
                f"{plan.reason}"
            )
            changes += drop_outside_iod(ds, plan.sop_class)
        elif plan.bits_allocated != raster.bits:
            notes.append(
                f"{raster.bits}-bit pixels stored as {plan.bits_allocated}-bit "
                f"({plan.sop_class.name} requires it), values unchanged"
            )
        rows, columns = raster.rows_columns
        tpl, px, keep = self.template.dataset, self.profile.pixel, self.profile.keep_tags
        notes += facts.lend_matrix_facts(ds, tpl, (rows, columns), px, keep)
        kept = facts.kept_in_kind(ds, self._kept_base, tpl, (rows, columns), px, keep, plan.sop_class, notes)
        spacing_tags: tuple[int, ...] = ()
        if self._spacing is not None:
            # rendered per output (:meth:`_spacing_values`); here only its place
            spacing_tags = facts.spacing_targets(self.template.dataset)
            for tag in spacing_tags:
                ds.add(DataElement(tag, "DS", "1\\1"))
            notes.append("pixel spacing of each image from the profile's pixel.spacing template")
        apply_pixel_module(ds, raster, plan)
        self._set_image_attributes(ds, raster, plan)
        del ds.PixelData  # per output: set_pixel_values
        # what the IOD requires and the template lacks (empty Type 2, neutral
        # Type 1): done here once; per output only what the profile removed
        # comes back (profile `default` treats empty as absent, so this is
        # the same as completing each output)
        self._complete_iod(ds, plan.sop_class, notes)
        kind = _Kind(ds, changes, notes, spacing_tags=spacing_tags, kept=[k for k in kept if k.tag in ds],
                     key=key, returning=self._kinds.returning(key))
        self._kinds.put(key, kind, PROTOTYPE_BYTES_PER_ELEMENT * len(ds))
        return kind

    def _rescaled(self, raster: Raster) -> Raster:
        """The raster with the profile's ``pixel.rescale`` as its Modality LUT
        (PS3.3 C.11.1: output = slope * stored + intercept), for gray pixels
        that do not carry their own (a png16 export does)."""
        given = self.profile.pixel.rescale_values
        if given is None or raster.samples != 1 or raster.rescale is not None:
            return raster
        return dataclasses.replace(raster, rescale=given)

    def _plan(self, raster: Raster) -> PixelPlan:
        """:func:`plan_pixels` for this batch's template and profile, memoised
        on what it depends on (a refusal is not kept: it names its file)."""
        rows, columns = raster.rows_columns
        if not (0 < rows <= 0xFFFF and 0 < columns <= 0xFFFF):  # plan_pixels refuses it
            return plan_pixels(self.template.sop_class, raster, self.profile.pixel.sop_class.value, self._gap)
        shape = raster.array.shape  # of any size (see kind_key)
        key = (shape if raster.frames else shape[2:], *raster.kind[1:])
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_pixels(self.template.sop_class, raster, self.profile.pixel.sop_class.value, self._gap)
            keep(self._plans, key, plan)
        return plan

    def _set_clock(self, ds: Dataset) -> None:
        """Dates and times the outputs need and neither the template (after
        the scrub) nor the profile gave: the batch start."""
        date, time = self.started.strftime("%Y%m%d"), self.started.strftime("%H%M%S")
        elements = ds._dict
        for date_tag, time_tag in _CLOCK_TAGS:
            old = elements.get(date_tag)
            if old is None or not old.value:
                ds.add(DataElement(date_tag, "DA", date))
                ds.add(DataElement(time_tag, "TM", time))

    def _set_image_attributes(self, ds: Dataset, raster: Raster, plan: PixelPlan) -> None:
        """Image attributes shared by every output of this kind of raster."""
        old_type = [str(v) for v in self.template.dataset.get("ImageType", []) or []]
        image_type = ["DERIVED", "SECONDARY", *old_type[2:]]
        if plan.sop_class == CTImageStorage and len(image_type) < 3:
            image_type.append("AXIAL")  # PS3.3 C.8.2.1.1.1: Value 3 AXIAL or LOCALIZER
        elif plan.sop_class == MRImageStorage and len(image_type) < 3:
            image_type.append("OTHER")  # PS3.3 C.8.3.1.1.1: Value 3 required; OTHER a defined term
        ds.ImageType = image_type
        if plan.sop_class == iod.SECONDARY_CAPTURE:
            ds.ConversionType = "WSD"
        if not ds.get("Modality"):
            ds.Modality = plan.rules.modality
        # the template's content/instance-creation times describe its own
        # pixels: stale (set again from the batch clock after the profile)
        for kw in ("ContentDate", "ContentTime", "InstanceCreationDate", "InstanceCreationTime"):
            if kw in ds:
                del ds[kw]
        if raster.lossy_method:
            # PS3.3 C.7.6.1.1.5: once lossy, always flagged, with ratio and method
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = raster.lossy_method
        else:
            ds.LossyImageCompression = "00"

    @staticmethod
    def _instance_values(raster: Raster, index: int) -> list[tuple[int, str, str]]:
        """``(tag, VR, text)`` of this one output's attributes (but its UID
        and pixels)."""
        out: list[tuple[int, str, str]] = [(_INSTANCE_NUMBER, "IS", str(index))]
        if raster.lossy_method and raster.lossy_ratio:
            out.append((_LOSSY_RATIO, "DS", f"{raster.lossy_ratio:.2f}"))
        return out

    def _set_uids(self, ds: Dataset, set_by_profile: set[int],
                  ctx: Context) -> tuple[Place, frozenset[int]]:
        """The UIDs, numbers (:meth:`Placement.apply`) and SOP Instance UID of
        the output's place; returns it and the tags set from it."""
        place = self.placement.place(str(ds.get("PatientID", "") or ""), ctx)
        # a Frame of Reference only where the output has one (engine.facts: none invented)
        frame_of_reference = ("FrameOfReferenceUID" in ds
                              or "frame-of-reference" in self._modules(ds, ds.SOPClassUID))
        tags = self.placement.apply(ds, place, set_by_profile, frame_of_reference)
        if _UID_TAGS["SOPInstanceUID"] not in set_by_profile:
            ds.add(DataElement(_UID_TAGS["SOPInstanceUID"], "UI",
                               self._instance_uid(place.patient, ctx.name, ctx.index)))
        return place, tags

    def _instance_uid(self, scope: str, name: str, index: int) -> UID:
        """The SOP Instance UID of one output (``scope``: its Patient ID)."""
        return self.uid_map.level("instance", self.profile.uids.instance.value,
                                  self.template.dataset.get("SOPInstanceUID"), scope,
                                  f"{name}\x00{index}")

    def _modules(self, ds: Dataset, sop_class: UID) -> list[str]:
        """:func:`iod.modules_present`, memoised on the set of tags present
        (every output of a batch has the same set, so this runs once)."""
        key = (str(sop_class), frozenset(ds._dict))
        found = self._modules_cache.get(key)
        if found is None:
            found = iod.modules_present(ds, sop_class)
            keep(self._modules_cache, key, found)
        return found

    def _complete_iod(self, ds: Dataset, sop_class: UID, notes: list[str]) -> None:
        """Add what the IOD requires and the template lacked (memoised on
        the set of tags present: every output of a kind has the same)."""
        key = (str(sop_class), frozenset(ds._dict))
        missing = self._missing_cache.get(key)
        if missing is None:
            missing = missing_attributes(ds, self._modules(ds, sop_class))
            keep(self._missing_cache, key, missing)
        complete_iod(ds, sop_class, missing, notes)

    @staticmethod
    def _set_file_meta(ds: Dataset) -> None:
        # PS3.10 7.1; native pixels at this point (syntax.encode may compress)
        meta = FileMetaDataset()
        for tag, vr, value in (
            (0x00020001, "OB", b"\x00\x01"),
            (0x00020002, "UI", ds.SOPClassUID),
            (0x00020003, "UI", ds.SOPInstanceUID),
            (0x00020010, "UI", ExplicitVRLittleEndian),
            (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
            (0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
        ):
            meta.add(DataElement(tag, vr, value))
        ds.file_meta = meta


def _uids(ds: Dataset) -> tuple[str, str, str]:
    return (str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")),
            str(ds.get("SOPInstanceUID", "")))
