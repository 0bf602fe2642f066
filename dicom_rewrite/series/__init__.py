"""Volumes -> a DICOM series: one file per slice, stacked the way ITK and
viewers expect.

A volume is a 3-D array with axes ``(slice, row, column)`` (a 2-D array is
one slice), read from ``.npy`` (memory-mapped), ``.npz`` or NIfTI. Each
slice goes through the engine (:class:`dicom_rewrite.engine.converter.Converter`), so
the template's dialect, identity handling and UIDs are exactly those of
``convert``; this module adds the slice geometry (PS3.3 C.7.6.2 Image Plane)
and, for data that are not 16-bit integers, a Modality LUT rescale
(PS3.3 C.11.1) and a window (PS3.3 C.11.2) that shows the data.

Memory: the volume is never copied. Slices are converted and written one at
a time from the memory-mapped array (or the NIfTI array proxy); the value
range needed for the rescale comes from a chunked pass over the same map.

Modules: :mod:`~dicom_rewrite.series.geometry` (where the slices are),
:mod:`~dicom_rewrite.series.encoding` (how values are stored),
:mod:`~dicom_rewrite.series.writer` (making and writing the series); volumes
are read by :mod:`dicom_rewrite.io.volumes`.
"""

from dicom_rewrite.io.volumes import CHUNK_BYTES, VOLUME_SUFFIXES, Volume
from dicom_rewrite.series.align import VOXEL_TOLERANCE, align
from dicom_rewrite.series.derived import DerivedSeriesMaker, prepare_derived, write_derived_series
from dicom_rewrite.series.encoding import Encoding, plan_encoding
from dicom_rewrite.series.geometry import DIRECTION_TOLERANCE, Geometry, check_orientation, volume_geometry
from dicom_rewrite.series.seg import Segment, Segments, load_segments, write_segmentation
from dicom_rewrite.series.source import SourceSeries, load_reference
from dicom_rewrite.series.writer import (
    ADJUST_TAGS,
    SeriesMaker,
    SeriesResult,
    iter_series,
    open_volume,
    prepare_series,
    resolve_geometry,
    write_series,
)

__all__ = [
    "ADJUST_TAGS",
    "VOXEL_TOLERANCE",
    "DerivedSeriesMaker",
    "SourceSeries",
    "align",
    "load_reference",
    "prepare_derived",
    "write_derived_series",
    "Segment",
    "Segments",
    "load_segments",
    "write_segmentation",
    "CHUNK_BYTES",
    "DIRECTION_TOLERANCE",
    "VOLUME_SUFFIXES",
    "Encoding",
    "Geometry",
    "SeriesMaker",
    "SeriesResult",
    "Volume",
    "check_orientation",
    "iter_series",
    "open_volume",
    "plan_encoding",
    "prepare_series",
    "resolve_geometry",
    "volume_geometry",
    "write_series",
]
