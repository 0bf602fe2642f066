"""What each target IOD accepts: module tables and pixel rules.

The module and attribute tables come from the DICOM standard as packaged by
highdicom, shipped in the compact form :mod:`dicom_rewrite.core.iod_tables`
builds (top-level attributes only); the pixel rules below are the
IOD-specific constraints on the Image Pixel module that dciodvfy enforces,
each citing its section of PS3.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom import uid as _uid
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dicom_rewrite.core import iod_tables

SECONDARY_CAPTURE = _uid.SecondaryCaptureImageStorage


@lru_cache(1)
def _tables() -> dict[str, Any]:
    return iod_tables.load()


@lru_cache(1)
def _iod_module_map() -> dict[str, tuple[tuple[str, str], ...]]:
    """IOD key -> ``((module key, usage), ...)``."""
    return {iod: tuple((m, usage) for m, usage in modules) for iod, modules in _tables()["iods"].items()}


def _sop_class_iod_map() -> dict[str, str]:
    table: dict[str, str] = _tables()["sop_classes"]
    return table


def iod_key(sop_class: str) -> str | None:
    """The IOD name (e.g. ``ct-image``) of a SOP class, or None if unknown."""
    return _sop_class_iod_map().get(str(sop_class))


def iod_modules(sop_class: str) -> list[tuple[str, str]]:
    """``[(module key, usage M|C|U), ...]`` of the IOD of ``sop_class``."""
    key = iod_key(sop_class)
    if key is None:
        return []
    return list(_iod_module_map()[key])


@lru_cache(512)
def module_top_level(module: str) -> tuple[tuple[str, str], ...]:
    """``((keyword, type), ...)`` of the top-level attributes of a module.

    Repeating-group attributes (overlays, 60xx) have no single tag and are
    left out."""
    attributes = _tables()["modules"].get(module, ())
    return tuple((str(kw), str(type_)) for kw, type_ in attributes if tag_for_keyword(kw) is not None)


@lru_cache(64)
def iod_keywords(sop_class: str) -> frozenset[str]:
    """Every top-level keyword any module of the IOD may carry."""
    return frozenset(kw for mod, _ in iod_modules(sop_class) for kw, _t in module_top_level(mod))


def has_module(sop_class: str, module: str) -> bool:
    """Does the IOD of ``sop_class`` include ``module`` (any usage)?"""
    return any(mod == module for mod, _ in iod_modules(sop_class))


def has_pixel_module(sop_class: str) -> bool:
    return any(mod == "image-pixel" for mod, _ in iod_modules(sop_class))


def modules_present(ds: Dataset, sop_class: str) -> list[str]:
    """Modules of the IOD that apply to ``ds``: mandatory ones, plus C/U
    modules of which at least one attribute is present."""
    present = []
    for mod, usage in iod_modules(sop_class):
        if usage == "M":
            present.append(mod)
            continue
        if any(kw in ds for kw, _t in module_top_level(mod)):
            present.append(mod)
    return present


@dataclass(frozen=True)
class PixelRules:
    """Constraints of an IOD on the Image Pixel module.

    ``gray_bits``: the Bits Allocated values allowed for one-sample images;
    ``color``: whether 3-sample RGB is allowed (always 8 bits here);
    ``signed``: whether Pixel Representation 1 is allowed;
    ``min_bits_stored``: the smallest Bits Stored allowed;
    ``rescale``: "required" (write identity Rescale Slope/Intercept), or "none";
    ``rescale_type``: value of Rescale Type when it is required;
    ``presentation_lut``: whether Presentation LUT Shape is required.
    ``modality``: Modality to write when the template has none.
    """

    gray_bits: tuple[int, ...]
    color: bool
    signed: bool
    min_bits_stored: int = 1
    rescale: str = "none"
    rescale_type: str | None = None
    presentation_lut: bool = False
    voi_required: bool = False
    modality: str = "OT"


PIXEL_RULES: dict[str, PixelRules] = {
    # PS3.3 C.8.2.1.1.3/.4: CT: 1 sample, MONOCHROME1/2, Bits Allocated 16, Bits Stored 12-16;
    # C.8.2.1.1: Rescale Intercept/Slope Type 1 (Rescale Type absent means HU)
    _uid.CTImageStorage: PixelRules((16,), False, True, 12, "required", None, modality="CT"),
    # PS3.3 C.8.3.1.1.3/.4: MR: 1 sample, MONOCHROME1/2, Bits Allocated 16
    _uid.MRImageStorage: PixelRules((16,), False, True, modality="MR"),
    # PS3.3 C.8.1.2: CR: 1 sample, MONOCHROME1/2
    _uid.ComputedRadiographyImageStorage: PixelRules((8, 16), False, False, modality="CR"),
    # PS3.3 C.8.11.3.1: DX: Bits Allocated 8 or 16, Bits Stored 6-16, unsigned,
    # Rescale Intercept 0 / Slope 1 / Type US, Presentation LUT Shape Type 1;
    # C.8.11.1.1.1: a For Presentation image needs a VOI (C.8.11.3.1.5)
    _uid.DigitalXRayImageStorageForPresentation: PixelRules(
        (8, 16), False, False, 6, "required", "US", True, True, "DX"
    ),
    _uid.DigitalMammographyXRayImageStorageForPresentation: PixelRules(
        (8, 16), False, False, 6, "required", "US", True, True, "MG"
    ),
    _uid.DigitalIntraOralXRayImageStorageForPresentation: PixelRules(
        (8, 16), False, False, 6, "required", "US", True, True, "IO"
    ),
    # PS3.3 C.8.5.6.1.x: US: MONOCHROME2 8 bits, RGB 8 bits (and palette/YBR)
    _uid.UltrasoundImageStorage: PixelRules((8,), True, False, modality="US"),
    # PS3.3 C.8.6.2: SC: any photometric interpretation, 8 or 16 bits
    _uid.SecondaryCaptureImageStorage: PixelRules((8, 16), True, True, modality="OT"),
    # PS3.3 A.8.2-A.8.5, C.8.6.3: Multi-frame SC: Grayscale Byte (8 bits
    # stored), Grayscale Word (16 allocated, 9-16 stored), True Color
    # and for gray, identity Rescale (Type US) and Presentation LUT Shape Type 1
    _uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage: PixelRules(
        (8,), False, False, 8, "required", "US", True),
    _uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage: PixelRules(
        (16,), False, False, 9, "required", "US", True),
    _uid.MultiFrameTrueColorSecondaryCaptureImageStorage: PixelRules((), True, False),
    # PS3.3 C.8.5.6.1: US Multi-frame: as US
    _uid.UltrasoundMultiFrameImageStorage: PixelRules((8,), True, False, modality="US"),
    # PS3.3 C.8.12.1.1: VL: MONOCHROME2 or RGB/YBR, 8 bits
    _uid.VLPhotographicImageStorage: PixelRules((8,), True, False, modality="XC"),
}


def rules_for(sop_class: str) -> PixelRules | None:
    return PIXEL_RULES.get(str(sop_class))


def fits(sop_class: str, *, samples: int, bits: int, signed: bool) -> tuple[bool, int]:
    """Can pixels with ``samples`` samples of ``bits`` bits be stored in ``sop_class``?

    Returns ``(fits, bits_allocated)``: when gray 8-bit data must widen to 16
    bits (CT, MR) the second value says so.
    """
    rules = rules_for(sop_class)
    if rules is None:
        return False, bits
    if samples == 3:
        return (rules.color and bits == 8), 8
    if signed and not rules.signed:
        return False, bits
    allowed = [b for b in rules.gray_bits if b >= bits]
    if not allowed:
        return False, bits
    return True, min(allowed)


def tag(keyword_: str) -> int:
    t = tag_for_keyword(keyword_)
    if t is None:
        raise KeyError(keyword_)
    return t
