"""Engine-owned tags: what a profile may not touch.

The engine writes these attributes from the pixels, or owns them outright
(SOP identity, file meta); a rule on one of them is refused at load time.
"""

from __future__ import annotations

from pydicom.datadict import keyword_dict

from dicom_rewrite.profile.paths import TagPath, elem_text

#: Attributes the engine writes from the pixels or owns outright; a profile
#: may not set, default, blank or remove them (PS3.3 C.7.6.3 Image Pixel,
#: C.11 LUTs, C.12.1 SOP Common, PS3.10 7.1 File Meta).
ENGINE_OWNED_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID",
    "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "Rows", "Columns",
    "PixelAspectRatio", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingRangeLimit",
    "PixelPaddingValue", "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "ICCProfile", "ColorSpace", "PixelDataProviderURL",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "PixelData", "FloatPixelData",
    "DoubleFloatPixelData", "NumberOfFrames", "FrameIncrementPointer",
    "RescaleSlope", "RescaleIntercept", "RescaleType", "PresentationLUTShape",
    "ModalityLUTSequence", "LossyImageCompression", "LossyImageCompressionRatio",
    "LossyImageCompressionMethod", "DataSetTrailingPadding",
)
ENGINE_OWNED = frozenset(int(keyword_dict[k]) for k in ENGINE_OWNED_KEYWORDS)

#: UID levels the ``uids`` section owns: ``set``/``default`` may give them a
#: value, but ``remove``/``blank`` would leave a Type 1 attribute empty.
UID_LEVEL_TAGS = frozenset(
    int(keyword_dict[k]) for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
)

#: PS3.10 7.1: group 0002 is the File Meta Information
FILE_META_GROUP = 0x0002
#: PS3.7 E.1: group 0000 is the command set; PS3.5 8: group 7FE0 is the pixel data
_OWNED_GROUPS = (0x0000, FILE_META_GROUP, 0x7FE0)


def engine_owned(tag: int) -> bool:
    """Does the engine own ``tag`` (a public tag)?"""
    return tag in ENGINE_OWNED or (tag >> 16) in _OWNED_GROUPS


def is_file_meta(tag: int) -> bool:
    return (tag >> 16) == FILE_META_GROUP


def ownership_problem(path: TagPath) -> str | None:
    """Why no rule may name ``path`` (it belongs to the engine), or None."""
    top = path.top
    if isinstance(top, int) and not path.steps and engine_owned(top):
        return (f"{elem_text(top)} belongs to the engine (pixel module, SOP identity, file meta); "
                "a profile cannot change it")
    return None


def file_meta_problem(path: TagPath) -> str | None:
    """A file meta element at any depth belongs to the engine."""
    if isinstance(path.leaf, int) and is_file_meta(path.leaf):
        return "file meta elements belong to the engine"
    return None
