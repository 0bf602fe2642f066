"""``dicom-rewrite export``: DICOM files, folders, DICOMDIR -> PNG/JPEG."""

from __future__ import annotations

import argparse

from dicom_rewrite import export as export_api
from dicom_rewrite.cli.common import add_output_options, check_report_path, collect, summarise
from dicom_rewrite.errors import UsageError
from dicom_rewrite.render.windowing import PRESETS, VOI_FUNCTIONS, parse_window


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="DICOM files, folders (recursive) or DICOMDIR files")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--format", choices=sorted(export_api.FORMATS), default="png",
                   help="png/jpeg: 8-bit rendered image; png16: stored values, lossless (default png)")
    voi = p.add_mutually_exclusive_group()
    voi.add_argument("--window", metavar="C,W",
                     help=f"window center,width in modality units, or a preset: {', '.join(PRESETS)}")
    voi.add_argument("--window-index", type=int, metavar="N",
                     help="use the file's N-th window (1-based)")
    voi.add_argument("--voi", choices=["minmax", "none"],
                     help="minmax: map the frame's min..max; none: no VOI step")
    p.add_argument("--voi-function", choices=VOI_FUNCTIONS, type=str.upper,
                   help="override (0028,1056) VOI LUT Function (default: the file's, LINEAR for --window)")
    p.add_argument("--frames", default="all", metavar="all|N[,M-K]",
                   help="frames to export, 1-based (default all)")
    p.add_argument("--overlays", action="store_true", help="burn in (60xx,3000) overlays")
    p.add_argument("--name", metavar="TEMPLATE", default=None,
                   help=f"output name template (default {export_api.DEFAULT_NAME!r}); "
                        "fields: DICOM keywords, {stem}, {frame}")
    p.add_argument("--jpeg-quality", type=int, default=90, metavar="Q", help="JPEG quality 1..100 (default 90)")
    p.add_argument("--sidecar", action="store_true",
                   help="write IMAGE.json next to each image with the transforms applied")
    p.add_argument("--report", metavar="report.json", help="report of every input (.jsonl: a line each, as it goes)")
    add_output_options(p)


def run(args: argparse.Namespace) -> int:
    window = parse_window(args.window) if args.window else None
    window_index = None
    if args.window_index is not None:
        if args.window_index < 1:
            raise UsageError(f"--window-index {args.window_index}: window numbers start at 1")
        window_index = args.window_index - 1
    check_report_path(args.report)
    results = export_api.export(
        args.inputs,
        args.out,
        format=args.format,
        window=window,
        window_index=window_index,
        voi=args.voi,
        voi_function=args.voi_function,
        frames=args.frames,
        overlays=args.overlays,
        name=args.name,
        sidecar=args.sidecar,
        jpeg_quality=args.jpeg_quality,
        durable=args.durable,
    )
    entries = collect(results, args.report, desc="export")
    return summarise(entries)
