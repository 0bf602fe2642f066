"""``dicom-rewrite series``: a volume (.npy, .npz, NIfTI) -> one DICOM series."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from dicom_rewrite import series as series_api
from dicom_rewrite.batch import ReportEntry
from dicom_rewrite.cli.common import (
    add_name_option,
    add_output_options,
    add_send_options,
    check_report_path,
    progress,
    require_destination,
    send_sinks,
    summarise,
    write_report,
)
from dicom_rewrite.encode.syntax import TRANSFER_SYNTAXES
from dicom_rewrite.errors import InputError, UsageError, one_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    # let "--origin -12.5,40,100" through: argparse (before 3.13) only takes a
    # bare negative number as a value, not a list of them
    p._negative_number_matcher = re.compile(r"^-\.?\d")
    p.add_argument("volume", metavar="VOLUME",
                   help=".npy (axes slice,row,column; memory-mapped), .npz (see --key) or .nii/.nii.gz")
    p.add_argument("--template", metavar="REF.dcm",
                   help="reference DICOM whose IOD has the Image Plane module (CT, MR); with --reference "
                        "the default is each source slice")
    p.add_argument("--reference", nargs="+", metavar="SOURCE",
                   help="the source series the volume was computed from (a folder, a DICOMDIR or files): "
                        "the output lies on its slices, in its patient, study and frame of reference")
    p.add_argument("--series-uid", metavar="UID",
                   help="which series of --reference, when it holds several")
    p.add_argument("--as", dest="output_kind", choices=("images", "seg"), default="images",
                   help="with --reference: a series of images (default) or one DICOM Segmentation (seg)")
    p.add_argument("--segments", metavar="SEGMENTS.yaml",
                   help="--as seg: segment labels, codes, colours and the algorithm (default: one per label)")
    p.add_argument("--fractional", action="store_true",
                   help="--as seg: the volume is a probability map (0..1), a FRACTIONAL Segmentation")
    p.add_argument("--out", metavar="DIR", help="output folder, one file per slice (required unless sending)")
    p.add_argument("--spacing", metavar="S,R,C",
                   help="voxel spacing in mm in the array's axis order (slice, row, column)")
    p.add_argument("--origin", metavar="X,Y,Z",
                   help="patient position (LPS, mm) of the centre of the first voxel")
    p.add_argument("--orientation", metavar="RX,RY,RZ,CX,CY,CZ",
                   help="row and column direction cosines (default: the NIfTI affine's, "
                        "else the template's)")
    p.add_argument("--key", metavar="NAME", help="array to use from a .npz file")
    p.add_argument("--volume", dest="volume_index", type=_volume_index, metavar="N",
                   help="which 3-D volume of a 4-D NIfTI file (0-based; e.g. a time point)")
    p.add_argument("--profile", metavar="P.yaml", help="site profile (default: safe defaults)")
    p.add_argument("--transfer-syntax", choices=sorted(TRANSFER_SYNTAXES),
                   help="output transfer syntax (default explicit-vr-little-endian, or the profile's)")
    p.add_argument("--report", metavar="report.json", help="write a JSON report")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the slice files of an earlier (e.g. interrupted) run instead of adding _2 names")
    add_name_option(p)
    add_output_options(p)
    add_send_options(p)


def _volume_index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a volume number (0, 1, 2, ...)")
    return int(text)


def _numbers(text: str, option: str, count: int) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).replace("\\", ",").split(",")]
    if len(parts) != count or any(not p for p in parts):
        raise UsageError(f"{option} {text!r}: expected {count} comma-separated numbers")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected {count} comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} {text!r}: values must be finite")
    return values


def parse_spacing(text: str) -> tuple[float, float, float]:
    """``--spacing S,R,C`` in mm (slice, row, column), each > 0."""
    v = _numbers(text, "--spacing", 3)
    if any(x <= 0 for x in v):
        raise UsageError(f"--spacing {text!r}: spacings must be > 0 mm")
    return v  # type: ignore[return-value]


def parse_origin(text: str) -> tuple[float, float, float]:
    """``--origin X,Y,Z`` in mm (LPS)."""
    return _numbers(text, "--origin", 3)  # type: ignore[return-value]


def parse_orientation(text: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``--orientation RX,RY,RZ,CX,CY,CZ``: row then column direction cosines."""
    v = _numbers(text, "--orientation", 6)
    return series_api.check_orientation(((v[0], v[1], v[2]), (v[3], v[4], v[5])), "--orientation")


def run(args: argparse.Namespace) -> int:
    # parse every option before anything is opened or written
    spacing = parse_spacing(args.spacing) if args.spacing is not None else None
    origin = parse_origin(args.origin) if args.origin is not None else None
    orientation = parse_orientation(args.orientation) if args.orientation is not None else None
    check_report_path(args.report)
    _check_combination(args, spacing, origin, orientation)
    require_destination(args, "series")
    try:
        result = _write(args, spacing, origin, orientation)
    except InputError as exc:  # the volume cannot be converted: report it, exit 1
        write_report(args.report, [ReportEntry.failed(args.volume, one_line(exc)).as_dict()])
        raise
    entries = [result.as_entry()]
    write_report(args.report, entries)
    return summarise(entries)


def _check_combination(args: argparse.Namespace, *geometry: object) -> None:
    if args.reference is None:
        if args.template is None:
            raise UsageError("series: give --template REF.dcm, or --reference SOURCE to put the volume "
                             "on a source series")
        if args.series_uid is not None:
            raise UsageError("--series-uid chooses a series of --reference; give --reference too")
    elif any(g is not None for g in geometry):
        raise UsageError("--spacing, --origin and --orientation cannot be given with --reference: "
                         "the geometry is the source series'")
    if args.output_kind == "seg":
        if args.reference is None:
            raise UsageError("--as seg needs --reference: a Segmentation references its source series")
        if args.template is not None or args.transfer_syntax is not None:
            raise UsageError("--as seg takes neither --template nor --transfer-syntax (highdicom writes "
                             "the Segmentation IOD, explicit VR little endian)")
    elif args.segments is not None or args.fractional:
        raise UsageError("--segments and --fractional describe a Segmentation: give --as seg too")


def _write(args: argparse.Namespace, spacing: tuple[float, float, float] | None,
           origin: tuple[float, float, float] | None,
           orientation: tuple[tuple[float, float, float], tuple[float, float, float]] | None,
           ) -> series_api.SeriesResult:
    bar = lambda outputs, n: progress(outputs, total=n, desc="series")  # noqa: E731
    destinations: dict[str, Any] = {"send_to": send_sinks(args), "dicomdir": args.dicomdir, "name": args.name}
    if args.output_kind == "seg":
        return series_api.write_segmentation(
            args.volume, args.reference, args.out, args.segments, args.profile,
            fractional=args.fractional, series_uid=args.series_uid, key=args.key,
            volume_index=args.volume_index, durable=args.durable, overwrite=args.overwrite,
            **destinations)
    if args.reference is not None:
        return series_api.write_derived_series(
            args.volume, args.reference, args.out, args.profile, series_uid=args.series_uid,
            template=args.template, key=args.key, volume_index=args.volume_index,
            transfer_syntax=args.transfer_syntax, durable=args.durable, overwrite=args.overwrite,
            progress=bar, **destinations)
    return series_api.write_series(
            args.volume, args.template, args.out, args.profile,
            spacing=spacing, origin=origin, orientation=orientation, key=args.key,
            volume_index=args.volume_index,
            transfer_syntax=args.transfer_syntax, durable=args.durable, overwrite=args.overwrite,
            progress=bar, **destinations,
        )
