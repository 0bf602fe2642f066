#!/usr/bin/env python3
"""Build the synthetic reference templates shipped in ``templates/``.

Usage::

    python templates/build_templates.py [OUTPUT_DIR]

Writes ``ct.dcm``, ``mr.dcm``, ``cr.dcm``, ``dx.dcm``, ``us.dcm`` and ``sc.dcm``
into OUTPUT_DIR (default: the directory holding this script).

Each file imitates what a real modality would send: vendor/equipment
attributes, acquisition attributes of its modality, a (fictional) patient
identity, and the "dialect" items a converter has to scrub (private blocks,
window presets, icon image, overlay, referenced images ...).

The output is deterministic: every UID is derived from a fixed name with
UUID version 5 (``2.25.<uuid-as-integer>``), the pixels are computed from
closed-form integer arithmetic (no random numbers), and the file meta
implementation identifiers are fixed, so re-running gives byte-identical
files.  Only pydicom and numpy are needed.

ALL PATIENT, PHYSICIAN AND INSTITUTION DATA HERE IS FICTIONAL.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

# ---------------------------------------------------------------------------
# deterministic identifiers
# ---------------------------------------------------------------------------

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.invalid/dicom-rewrite/templates")


def det_uid(*parts: str) -> str:
    """A UUID-derived UID (PS3.5 B.2) that depends only on ``parts``."""
    return "2.25." + str(uuid.uuid5(_NAMESPACE, "/".join(parts)).int)


IMPLEMENTATION_CLASS_UID = det_uid("implementation", "dicom-rewrite-templates")
IMPLEMENTATION_VERSION_NAME = "DCMRW_TPL_1"

SOP_CLASS = {
    "ct": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "mr": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "cr": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "dx": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "us": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "sc": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
}

# ---------------------------------------------------------------------------
# the fictional patient (shared by every template)
# ---------------------------------------------------------------------------

PATIENT = {
    "PatientName": "DOE^JANE^Q",
    "PatientID": "TPL-000123",
    "IssuerOfPatientID": "TPL-HOSP",
    "PatientBirthDate": "19710824",
    "PatientSex": "F",
}
PATIENT_AGE = "052Y"  # at the 2024 study dates below


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def add_private_block(ds: Dataset, group: int, creator: str, elements: list[tuple[int, str, object]]) -> None:
    """Add a private block ``group,0010`` = ``creator`` with elements ``(offset, VR, value)``."""
    block = ds.private_block(group, creator, create=True)
    for offset, vr, value in elements:
        block.add_new(offset, vr, value)


def pack_bits(mask: np.ndarray) -> bytes:
    """Pack a 0/1 array into DICOM overlay bit order (little-endian bits), padded to even length."""
    data = np.packbits(mask.astype(np.uint8).ravel(), bitorder="little").tobytes()
    if len(data) % 2:
        data += b"\x00"
    return data


def grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:rows, 0:cols]
    return y.astype(np.int64), x.astype(np.int64)


def inside_ellipse(y, x, cy, cx, ry, rx) -> np.ndarray:
    # integer arithmetic: ((x-cx)/rx)^2 + ((y-cy)/ry)^2 <= 1
    return (x - cx) ** 2 * ry * ry + (y - cy) ** 2 * rx * rx <= rx * rx * ry * ry


def texture(y, x, amplitude: int) -> np.ndarray:
    """A deterministic, noise-like integer texture in [-amplitude, amplitude]."""
    h = (x * 73856093) ^ (y * 19349663)
    return (h % (2 * amplitude + 1)) - amplitude


def new_dataset(kind: str, charset: str | None) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = SOP_CLASS[kind]
    ds.SOPInstanceUID = det_uid(kind, "sop-instance")
    return ds


def add_patient(ds: Dataset, **extra) -> None:
    for k, v in PATIENT.items():
        setattr(ds, k, v)
    for k, v in extra.items():
        setattr(ds, k, v)


def add_study(ds: Dataset, kind: str, *, date: str, time: str, accession: str, study_id: str,
              referring: str, description: str) -> None:
    ds.StudyInstanceUID = det_uid(kind, "study")
    ds.StudyDate = date
    ds.StudyTime = time
    ds.ReferringPhysicianName = referring
    ds.StudyID = study_id
    ds.AccessionNumber = accession
    ds.StudyDescription = description
    ds.PatientAge = PATIENT_AGE


def finish(ds: Dataset, kind: str, pixels: np.ndarray) -> Dataset:
    """Attach pixel data and file meta."""
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW" if ds.BitsAllocated > 8 else "OB"

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    meta.SourceApplicationEntityTitle = ds.get("StationName", "TEMPLATE")[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


# ---------------------------------------------------------------------------
# CT
# ---------------------------------------------------------------------------


def build_ct() -> Dataset:
    rows = cols = 128
    ds = new_dataset("ct", "ISO_IR 100")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = "20240315"
    ds.InstanceCreationTime = "101544.512000"
    ds.InstanceCreatorUID = IMPLEMENTATION_CLASS_UID
    ds.TimezoneOffsetFromUTC = "+0100"

    # PatientAddress is not part of the CT IOD (Patient Demographic module), but
    # real scanners copy it from the worklist; dciodvfy warns, which is intended.
    other = Dataset()
    other.PatientID = "ALT-99812"
    other.IssuerOfPatientID = "KLINIKUM-SUED"
    other.TypeOfPatientID = "TEXT"
    add_patient(ds, PatientAddress="Musterstraße 12^^München^^81371^DE",
                OtherPatientIDsSequence=Sequence([other]))
    add_study(ds, "ct", date="20240315", time="101203.000000", accession="ACC240315001",
              study_id="4711", referring="BEISPIEL^KARL^^DR.", description="CT ABDOMEN MIT KM")
    ds.PatientSize = "1.68"
    ds.PatientWeight = "64"

    # General Series / Frame of Reference
    ds.Modality = "CT"
    ds.SeriesInstanceUID = det_uid("ct", "series")
    ds.SeriesNumber = 3
    ds.SeriesDate = "20240315"
    ds.SeriesTime = "101407.000000"
    ds.SeriesDescription = "Abdomen 5.0 B30f"
    ds.ProtocolName = "ABDOMEN_KM_PORTAL"
    ds.OperatorsName = "MEYER^ANNA"
    ds.BodyPartExamined = "ABDOMEN"
    ds.PatientPosition = "FFS"
    ds.FrameOfReferenceUID = det_uid("ct", "frame-of-reference")
    ds.PositionReferenceIndicator = ""

    # General Equipment
    ds.Manufacturer = "Northwind Medical Systems"
    ds.InstitutionName = "Klinikum Süd"
    ds.InstitutionAddress = "Krankenhausweg 1, 81371 München, Deutschland"
    ds.StationName = "NWCT01"
    ds.InstitutionalDepartmentName = "Radiologie"
    ds.ManufacturerModelName = "Aurora CT 64"
    ds.DeviceSerialNumber = "NW64-20931"
    ds.SoftwareVersions = "AUR_CT 4.2.1"
    ds.SpatialResolution = "0.35"

    # General Acquisition / General Image
    ds.AcquisitionNumber = 2
    ds.AcquisitionDate = "20240315"
    ds.AcquisitionTime = "101355.250000"
    ds.InstanceNumber = 17
    ds.ContentDate = "20240315"
    ds.ContentTime = "101402.875000"
    ds.ImageComments = "Portalvenöse Phase"
    ds.LossyImageCompression = "00"
    ref = Dataset()
    ref.ReferencedSOPClassUID = SOP_CLASS["ct"]
    ref.ReferencedSOPInstanceUID = det_uid("ct", "topogram")
    ds.ReferencedImageSequence = Sequence([ref])

    # Image Plane
    ds.PixelSpacing = ["2.734375", "2.734375"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.ImagePositionPatient = ["-175", "-175", "-412.5"]
    ds.SliceThickness = "5"
    ds.SliceLocation = "-412.5"

    # Image Pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.add(DataElement(0x00280120, "SS", -2000))  # Pixel Padding Value

    # CT Image
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.KVP = "120"
    ds.ScanOptions = "HELICAL MODE"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = "350"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "148"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = 231
    ds.Exposure = 115
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = 28
    ds.FocalSpots = "1.2"
    ds.ConvolutionKernel = "B30f"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.TableSpeed = 46.1
    ds.TableFeedPerRotation = 23.04
    ds.SpiralPitchFactor = 0.6
    ds.CTDIvol = 9.87
    ds.CTDIPhantomTypeCodeSequence = Sequence([code_item("113691", "DCM", "IEC Body Dosimetry Phantom")])
    ds.ContrastBolusAgent = "IOMEPROL 350"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "90"

    # VOI LUT: window presets
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1600"]
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]

    # pixels: body phantom in HU, stored = HU + 1024, padding outside the FOV
    y, x = grid(rows, cols)
    hu = np.full((rows, cols), -1000, dtype=np.int64)
    body = inside_ellipse(y, x, 64, 64, 46, 58)
    hu[body] = 40 + texture(y, x, 12)[body]
    hu[inside_ellipse(y, x, 54, 40, 12, 14)] = -820  # "lung"/bowel gas pocket
    hu[inside_ellipse(y, x, 52, 84, 14, 16)] = 60  # liver-like
    hu[inside_ellipse(y, x, 88, 64, 9, 9)] = 900  # vertebral body
    hu[inside_ellipse(y, x, 64, 64, 52, 62) & ~body] = -90  # subcutaneous fat ring
    hu[y >= 116] = 250  # table
    stored = hu + 1024
    fov = inside_ellipse(y, x, 64, 64, 63, 63)
    stored[~fov] = -2000  # padding outside reconstruction circle
    pixels = stored.astype(np.int16)

    # Icon Image Sequence (32x32, 8-bit, abdomen window)
    icon_src = np.clip((hu - (40 - 200)) * 255 // 400, 0, 255)[::4, ::4]
    icon = Dataset()
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.Rows = 32
    icon.Columns = 32
    icon.BitsAllocated = 8
    icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = icon_src.astype(np.uint8).tobytes()
    icon["PixelData"].VR = "OB"
    ds.IconImageSequence = Sequence([icon])

    add_private_block(ds, 0x0009, "NORTHWIND CT 1.0", [
        (0x01, "LO", "AUR_CT 4.2.1 recon pipeline"),
        (0x02, "SH", "B30f"),
        (0x03, "DS", ["0.6", "38.4"]),
        (0x04, "US", 64),
        (0x05, "SL", -2000),
        (0x10, "OB", bytes(range(16))),
    ])
    add_private_block(ds, 0x0043, "NORTHWIND CT DOSE", [
        (0x01, "FD", 9.87),
        (0x02, "LO", "Dose Report Pending"),
    ])
    return finish(ds, "ct", pixels)


# ---------------------------------------------------------------------------
# MR
# ---------------------------------------------------------------------------


def build_mr() -> Dataset:
    rows = cols = 128
    ds = new_dataset("mr", "ISO_IR 100")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER", "ND", "NORM"]
    ds.InstanceCreationDate = "20240402"
    ds.InstanceCreationTime = "143012.000000"

    add_patient(ds)
    add_study(ds, "mr", date="20240402", time="141500.000000", accession="ACC240402017",
              study_id="9034", referring="SMITH^JOHN^A^DR.", description="MRT Schädel nativ")
    ds.PatientSize = "1.68"
    ds.PatientWeight = "65"

    ds.Modality = "MR"
    ds.SeriesInstanceUID = det_uid("mr", "series")
    ds.SeriesNumber = 4
    ds.SeriesDate = "20240402"
    ds.SeriesTime = "142731.000000"
    ds.SeriesDescription = "t2_tse_tra_512"
    ds.ProtocolName = "t2_tse_tra"
    ds.BodyPartExamined = "HEAD"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = det_uid("mr", "frame-of-reference")
    ds.PositionReferenceIndicator = ""

    ds.Manufacturer = "Helix Imaging"
    ds.InstitutionName = "Klinikum Süd"
    ds.InstitutionAddress = "Krankenhausweg 1, 81371 München, Deutschland"
    ds.StationName = "HXMR15"
    ds.ManufacturerModelName = "Helix Vista 1.5T"
    ds.DeviceSerialNumber = "HV15-4410"
    ds.SoftwareVersions = "syngo-like VX20"

    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = "20240402"
    ds.AcquisitionTime = "142802.412500"
    ds.InstanceNumber = 12
    ds.ContentDate = "20240402"
    ds.ContentTime = "142906.000000"

    ds.PixelSpacing = ["1.796875", "1.796875"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0.9961947", "-0.0871557"]
    ds.ImagePositionPatient = ["-115", "-104.3", "32.1"]
    ds.SliceThickness = "5"
    ds.SliceLocation = "32.1"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0

    # MR Image
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP", "OSP"]
    ds.ScanOptions = ["PFP", "FS"]
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "*tse2d1_15"
    ds.AngioFlag = "N"
    ds.RepetitionTime = "4120"
    ds.EchoTime = "96"
    ds.EchoTrainLength = 15
    ds.NumberOfAverages = "2"
    ds.ImagingFrequency = "63.676"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = "1.5"
    ds.SpacingBetweenSlices = "6.5"
    ds.NumberOfPhaseEncodingSteps = 358
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "87.5"
    ds.PixelBandwidth = "190"
    ds.ReceiveCoilName = "Head_20"
    ds.TransmitCoilName = "Body"
    ds.AcquisitionMatrix = [0, 512, 358, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = "150"
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = "1.23"
    ds.dBdt = "0"

    ds.WindowCenter = "1100"
    ds.WindowWidth = "2300"
    ds.WindowCenterWidthExplanation = "Algo1"

    y, x = grid(rows, cols)
    img = np.zeros((rows, cols), dtype=np.int64)
    head = inside_ellipse(y, x, 64, 64, 56, 46)
    img[head] = 300  # skull/scalp
    brain = inside_ellipse(y, x, 64, 64, 50, 40)
    img[brain] = 1100 + texture(y, x, 40)[brain]  # grey/white matter
    img[inside_ellipse(y, x, 58, 56, 14, 5)] = 2600  # lateral ventricles (CSF bright on T2)
    img[inside_ellipse(y, x, 58, 72, 14, 5)] = 2600
    img[inside_ellipse(y, x, 90, 64, 6, 10)] = 1700
    pixels = np.clip(img, 0, 4095).astype(np.uint16)

    # Overlay plane (group 6000): an annotation box + crosshair
    ov = np.zeros((rows, cols), dtype=bool)
    ov[8:10, 8:40] = ov[8:24, 8:10] = True
    ov[22:24, 8:40] = ov[8:24, 38:40] = True
    ov[64, 56:73] = ov[56:73, 64] = True
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", cols)
    ds.add_new(0x60000022, "LO", "Measurement ROI")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60001500, "LO", "ROI1")
    ds.add_new(0x60003000, "OW", pack_bits(ov))

    add_private_block(ds, 0x0019, "HELIX MR HEADER", [
        (0x08, "CS", "IMAGE NUM 4"),
        (0x09, "LO", "1.0"),
        (0x0B, "DS", "40"),
        (0x0F, "SH", "Fast"),
        (0x12, "SL", [0, 0, -1520]),
        (0x14, "IS", ["0", "0", "0"]),
        (0x18, "IS", "3600"),
    ])
    add_private_block(ds, 0x0029, "HELIX CSA HEADER", [
        (0x08, "CS", "IMAGE NUM 4"),
        (0x09, "LO", "20240402"),
        (0x10, "OB", b"HXCSA2\x00\x00" + bytes(24)),
    ])
    return finish(ds, "mr", pixels)


# ---------------------------------------------------------------------------
# CR
# ---------------------------------------------------------------------------


def chest_pattern(rows: int, cols: int, maxval: int) -> np.ndarray:
    """A crude PA chest: dark lungs, bright mediastinum/spine, bright edges (collimation)."""
    y, x = grid(rows, cols)
    img = np.full((rows, cols), maxval * 55 // 100, dtype=np.int64)
    img += texture(y, x, maxval // 80)
    lung_l = inside_ellipse(y, x, rows * 45 // 100, cols * 30 // 100, rows * 30 // 100, cols * 17 // 100)
    lung_r = inside_ellipse(y, x, rows * 45 // 100, cols * 70 // 100, rows * 30 // 100, cols * 17 // 100)
    img[lung_l | lung_r] = maxval * 20 // 100 + texture(y, x, maxval // 50)[lung_l | lung_r]
    spine = (x > cols * 46 // 100) & (x < cols * 54 // 100)
    img[spine] = maxval * 75 // 100
    heart = inside_ellipse(y, x, rows * 62 // 100, cols * 56 // 100, rows * 14 // 100, cols * 16 // 100)
    img[heart] = maxval * 68 // 100
    edge = (x < 4) | (x >= cols - 4) | (y < 4) | (y >= rows - 4)
    img[edge] = maxval * 95 // 100
    return np.clip(img, 0, maxval)


def build_cr() -> Dataset:
    rows = cols = 128
    ds = new_dataset("cr", None)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = "20240118"
    ds.InstanceCreationTime = "083355"

    add_patient(ds)
    add_study(ds, "cr", date="20240118", time="082910", accession="A24011800042",
              study_id="CR18042", referring="GREEN^MARGARET^^DR.", description="CHEST 2 VIEWS")

    ds.Modality = "CR"
    ds.SeriesInstanceUID = det_uid("cr", "series")
    ds.SeriesNumber = 1
    ds.SeriesDate = "20240118"
    ds.SeriesTime = "083012"
    ds.SeriesDescription = "CHEST PA"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PlateType = "ST-VI"
    ds.PhosphorType = "BaFBr"

    ds.Manufacturer = "Bluefield Imaging"
    ds.InstitutionName = "Riverside General Hospital"
    ds.InstitutionAddress = "1200 Harbor Road, Springfield, XX 00000, USA"
    ds.StationName = "BFCR02"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.ManufacturerModelName = "CR Reader 750"
    ds.DeviceSerialNumber = "CR750-0815"
    ds.SoftwareVersions = "V3.4.2"

    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = "20240118"
    ds.AcquisitionTime = "083011"
    ds.InstanceNumber = 1
    ds.ContentDate = "20240118"
    ds.ContentTime = "083321"
    ds.PatientOrientation = ["L", "F"]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 10
    ds.HighBit = 9
    ds.PixelRepresentation = 0
    ds.PixelSpacing = ["2.8", "2.8"]

    # CR Image
    ds.KVP = "110"
    ds.PlateID = "PLATE-3348"
    ds.DistanceSourceToDetector = "1800"
    ds.ExposureTime = "12"
    ds.XRayTubeCurrent = 320
    ds.Exposure = 4
    ds.ExposureInuAs = 3840
    ds.ImagerPixelSpacing = ["2.8", "2.8"]
    ds.AcquisitionDeviceProcessingDescription = "CHEST PA STANDARD"
    ds.AcquisitionDeviceProcessingCode = "CH101"
    ds.CassetteOrientation = "PORTRAIT"
    ds.CassetteSize = "35CMX43CM"
    ds.RelativeXRayExposure = 1880
    ds.Sensitivity = "200"

    ds.WindowCenter = "512"
    ds.WindowWidth = "1024"

    # MONOCHROME1: low stored values are displayed bright, so invert the pattern
    pixels = (1023 - chest_pattern(rows, cols, 1023)).astype(np.uint16)

    add_private_block(ds, 0x0019, "BLUEFIELD CR 1.0", [
        (0x10, "LO", "CHEST PA STANDARD"),
        (0x11, "DS", "2.1"),
        (0x12, "US", 1880),
        (0x15, "CS", "GRID IN"),
    ])
    return finish(ds, "cr", pixels)


# ---------------------------------------------------------------------------
# DX (For Presentation)
# ---------------------------------------------------------------------------


def build_dx() -> Dataset:
    rows = cols = 128
    ds = new_dataset("dx", None)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = "20240205"
    ds.InstanceCreationTime = "112209"

    add_patient(ds)
    add_study(ds, "dx", date="20240205", time="111840", accession="A24020500113",
              study_id="DX0205113", referring="GREEN^MARGARET^^DR.", description="XR KNEE LEFT")

    ds.Modality = "DX"
    ds.SeriesInstanceUID = det_uid("dx", "series")
    ds.SeriesNumber = 1
    ds.SeriesDate = "20240205"
    ds.SeriesTime = "111950"
    ds.SeriesDescription = "KNEE AP LEFT"
    ds.BodyPartExamined = "KNEE"
    ds.PresentationIntentType = "FOR PRESENTATION"

    ds.Manufacturer = "Bluefield Imaging"
    ds.InstitutionName = "Riverside General Hospital"
    ds.InstitutionAddress = "1200 Harbor Road, Springfield, XX 00000, USA"
    ds.StationName = "BFDR07"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.ManufacturerModelName = "DirectRad 9"
    ds.DeviceSerialNumber = "DR9-11532"
    ds.SoftwareVersions = "DR9 2.11.0"

    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = "20240205"
    ds.AcquisitionTime = "111948"
    ds.InstanceNumber = 1
    ds.ContentDate = "20240205"
    ds.ContentTime = "112201"
    ds.PatientOrientation = ["R", "F"]
    ds.ImageLaterality = "L"
    ds.AnatomicRegionSequence = Sequence([code_item("72696002", "SCT", "Knee")])
    ds.ViewPosition = "AP"
    ds.ViewCodeSequence = Sequence([code_item("399348003", "SCT", "antero-posterior")])
    ds.PatientOrientationCodeSequence = Sequence([code_item("10904000", "SCT", "erect")])
    ds.AcquisitionContextSequence = Sequence()
    ds.PositionerType = "COLUMN"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.AcquisitionDeviceProcessingDescription = "KNEE AP"
    ds.CalibrationImage = "NO"

    # DX Detector
    ds.DetectorType = "SCINTILLATOR"
    ds.DetectorConfiguration = "AREA"
    ds.DetectorID = "DET-7781"
    ds.DetectorManufacturerName = "Bluefield Imaging"
    ds.DetectorManufacturerModelName = "FP4343-CsI"
    ds.ImagerPixelSpacing = ["1.5", "1.5"]
    ds.PixelSpacing = ["1.5", "1.5"]
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = "Corrected for geometric magnification at detector"
    ds.DetectorBinning = ["1", "1"]
    ds.DetectorTemperature = "31.5"
    ds.DetectorActiveShape = "RECTANGLE"
    ds.DetectorActiveDimensions = ["192", "192"]

    # X-Ray acquisition dose / generation
    ds.KVP = "65"
    ds.XRayTubeCurrent = 250
    ds.ExposureTime = "20"
    ds.Exposure = 5
    ds.ExposureInuAs = 5000
    ds.DistanceSourceToDetector = "1150"
    ds.DistanceSourceToPatient = "1050"
    ds.ImageAndFluoroscopyAreaDoseProduct = "0.98"
    ds.Grid = "NONE"
    ds.ExposureIndex = 412.0
    ds.TargetExposureIndex = 400.0
    ds.DeviationIndex = 0.1

    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.WindowCenterWidthExplanation = "DEFAULT"

    y, x = grid(rows, cols)
    img = np.full((rows, cols), 500, dtype=np.int64) + texture(y, x, 20)
    soft = (x > 24) & (x < 104)
    img[soft] = 1500 + texture(y, x, 30)[soft]
    femur = (x > 48) & (x < 80) & (y < 58)
    tibia = (x > 46) & (x < 82) & (y > 68)
    condyles = inside_ellipse(y, x, 56, 64, 10, 22)
    plateau = inside_ellipse(y, x, 70, 64, 6, 22)
    bone = femur | tibia | condyles | plateau
    img[bone] = 3000 + texture(y, x, 60)[bone]
    img[12:20, 100:116] = 4000  # lead marker "L"
    pixels = np.clip(img, 0, 4095).astype(np.uint16)

    add_private_block(ds, 0x0019, "BLUEFIELD DR 1.0", [
        (0x10, "LO", "KNEE AP"),
        (0x11, "FL", 412.0),
        (0x12, "UL", 5000),
    ])
    return finish(ds, "dx", pixels)


# ---------------------------------------------------------------------------
# US (RGB)
# ---------------------------------------------------------------------------


def build_us() -> Dataset:
    rows, cols = 96, 128
    ds = new_dataset("us", None)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0011"]
    ds.InstanceCreationDate = "20240226"
    ds.InstanceCreationTime = "154512"

    add_patient(ds)
    add_study(ds, "us", date="20240226", time="153801", accession="A24022600077",
              study_id="US26077", referring="PATEL^ARJUN^^DR.", description="US ABDOMEN COMPLETE")

    ds.Modality = "US"
    ds.SeriesInstanceUID = det_uid("us", "series")
    ds.SeriesNumber = 1
    ds.SeriesDate = "20240226"
    ds.SeriesTime = "153812"
    ds.SeriesDescription = "Abdomen"
    ds.BodyPartExamined = "ABDOMEN"

    ds.Manufacturer = "Sonora Diagnostics"
    ds.InstitutionName = "Riverside General Hospital"
    ds.InstitutionAddress = "1200 Harbor Road, Springfield, XX 00000, USA"
    ds.StationName = "SONO-3"
    ds.ManufacturerModelName = "EchoLine S8"
    ds.DeviceSerialNumber = "ES8-55102"
    ds.SoftwareVersions = "S8 7.0.3"

    ds.InstanceNumber = 5
    ds.ContentDate = "20240226"
    ds.ContentTime = "154510"
    ds.AcquisitionDateTime = "20240226154509.000000"
    ds.PatientOrientation = None
    ds.BurnedInAnnotation = "YES"
    ds.LossyImageCompression = "00"

    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0

    # US Image
    ds.TransducerData = ["C5-1", "", ""]
    ds.ProcessingFunction = "ABD_GEN"
    ds.MechanicalIndex = "1.1"
    ds.BoneThermalIndex = "0.3"
    ds.CranialThermalIndex = "0.2"
    ds.SoftTissueThermalIndex = "0.2"
    ds.DepthOfScanField = 160

    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 16
    region.RegionLocationMinY0 = 8
    region.RegionLocationMaxX1 = 111
    region.RegionLocationMaxY1 = 87
    region.PhysicalUnitsXDirection = 3  # cm
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = 0.2
    region.PhysicalDeltaY = 0.2
    region.ReferencePixelX0 = 64
    region.ReferencePixelY0 = 8
    ds.SequenceOfUltrasoundRegions = Sequence([region])

    y, x = grid(rows, cols)
    rgb = np.zeros((rows, cols, 3), dtype=np.int64)
    # sector: apex at (x=64,y=8), 80 rows deep, +-40 degrees (|dx| <= 0.84*dy)
    dy = y - 8
    dx = x - 64
    sector = (dy >= 0) & (dy * dy + dx * dx <= 80 * 80) & (100 * np.abs(dx) <= 84 * dy)
    speckle = 70 + texture(y, x, 35) + (np.abs(((y * 7) % 23) - 11) * 3)
    organ = inside_ellipse(y, x, 50, 58, 18, 26) & sector
    vessel = inside_ellipse(y, x, 44, 76, 5, 5) & sector
    grey = np.where(sector, speckle, 0)
    grey = np.where(organ, grey + 40, grey)
    grey = np.where(vessel, 8, grey)
    for c in range(3):
        rgb[..., c] = grey
    # colour Doppler blob inside the vessel
    doppler = inside_ellipse(y, x, 44, 76, 4, 4)
    rgb[doppler] = [220, 30, 20]
    rgb[doppler & (x > 76)] = [20, 60, 230]
    # burned-in text bar (green) and a colour bar at the right edge
    rgb[1:5, 2:40] = [0, 200, 0]
    for i in range(64):
        rgb[16 + i, 122:126] = [min(255, i * 8), 40, max(0, 255 - i * 8)]
    pixels = np.clip(rgb, 0, 255).astype(np.uint8)

    add_private_block(ds, 0x7FD1, "SONORA US 1.0", [
        (0x01, "LO", "ABD_GEN"),
        (0x02, "US", 3),
        (0x10, "OB", bytes(12)),
    ])
    return finish(ds, "us", pixels)


# ---------------------------------------------------------------------------
# SC (8-bit MONOCHROME2)
# ---------------------------------------------------------------------------


def build_sc() -> Dataset:
    rows, cols = 64, 80
    ds = new_dataset("sc", None)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.InstanceCreationDate = "20240315"
    ds.InstanceCreationTime = "120401"

    add_patient(ds)
    add_study(ds, "sc", date="20240315", time="101203", accession="ACC240315001",
              study_id="4711", referring="BEISPIEL^KARL^^DR.", description="CT ABDOMEN MIT KM")

    ds.Modality = "OT"
    ds.SeriesInstanceUID = det_uid("sc", "series")
    ds.SeriesNumber = 901
    ds.SeriesDate = "20240315"
    ds.SeriesTime = "120355"
    ds.SeriesDescription = "Screen Save"
    ds.BodyPartExamined = "ABDOMEN"

    ds.Manufacturer = "Meridian Informatics"
    ds.InstitutionName = "Riverside General Hospital"
    ds.InstitutionAddress = "1200 Harbor Road, Springfield, XX 00000, USA"
    ds.StationName = "RADWS12"
    ds.ManufacturerModelName = "Meridian Viewer"
    ds.SoftwareVersions = "MV 12.4"

    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceID = "RADWS12"
    ds.SecondaryCaptureDeviceManufacturer = "Meridian Informatics"
    ds.SecondaryCaptureDeviceManufacturerModelName = "Meridian Viewer"
    ds.SecondaryCaptureDeviceSoftwareVersions = "MV 12.4"
    ds.DateOfSecondaryCapture = "20240315"
    ds.TimeOfSecondaryCapture = "120401"

    ds.InstanceNumber = 1
    ds.ContentDate = "20240315"
    ds.ContentTime = "120401"
    ds.PatientOrientation = None
    ds.BurnedInAnnotation = "YES"
    ds.DerivationDescription = "Screen capture of 3D reformat"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0

    y, x = grid(rows, cols)
    img = (x * 255 // (cols - 1)) * 3 // 4 + (y * 255 // (rows - 1)) // 4
    img[inside_ellipse(y, x, 32, 40, 20, 20)] = 230
    img[inside_ellipse(y, x, 32, 40, 10, 10)] = 30
    img[2:8, 2:30] = 255  # burned-in text bar
    pixels = np.clip(img, 0, 255).astype(np.uint8)

    add_private_block(ds, 0x0011, "MERIDIAN VIEWER", [
        (0x01, "LO", "3D MPR"),
        (0x02, "DS", ["40", "400"]),
    ])
    return finish(ds, "sc", pixels)


BUILDERS = {
    "ct": build_ct,
    "mr": build_mr,
    "cr": build_cr,
    "dx": build_dx,
    "us": build_us,
    "sc": build_sc,
}


def build_all(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, builder in BUILDERS.items():
        ds = builder()
        path = outdir / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for path in build_all(outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
