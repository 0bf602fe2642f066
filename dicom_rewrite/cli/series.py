"""``dicom-rewrite series``: a volume (.npy, .npz, NIfTI) -> one DICOM series."""

from __future__ import annotations

import argparse
import re

from dicom_rewrite import series as series_api
from dicom_rewrite.cli.common import progress, write_report
from dicom_rewrite.encode.syntax import TRANSFER_SYNTAXES
from dicom_rewrite.errors import EXIT_OK, InputError, one_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    # let "--origin -12.5,40,100" through: argparse (before 3.13) only takes a
    # bare negative number as a value, not a list of them
    p._negative_number_matcher = re.compile(r"^-\.?\d")
    p.add_argument("volume", metavar="VOLUME",
                   help=".npy (axes slice,row,column; memory-mapped), .npz (see --key) or .nii/.nii.gz")
    p.add_argument("--template", required=True, metavar="REF.dcm",
                   help="reference DICOM whose IOD has the Image Plane module (CT, MR)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (one file per slice)")
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


def _volume_index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a volume number (0, 1, 2, ...)")
    return int(text)


def run(args: argparse.Namespace) -> int:
    # parse every option before anything is opened or written
    spacing = series_api.parse_spacing(args.spacing) if args.spacing is not None else None
    origin = series_api.parse_origin(args.origin) if args.origin is not None else None
    orientation = (series_api.parse_orientation(args.orientation)
                   if args.orientation is not None else None)
    try:
        result = series_api.write_series(
            args.volume, args.template, args.out, args.profile,
            spacing=spacing, origin=origin, orientation=orientation, key=args.key,
            volume_index=args.volume_index,
            transfer_syntax=args.transfer_syntax,
            progress=lambda outputs, n: progress(outputs, total=n, desc="series"),
        )
    except InputError as exc:  # the volume cannot be converted: report it, exit 1
        write_report(args.report, [{"input": args.volume, "status": "error",
                                    "error": one_line(exc), "outputs": []}])
        raise
    write_report(args.report, [result.as_entry()])
    return EXIT_OK
