"""``dicom-rewrite convert``: images -> DICOM in a template's dialect."""

from __future__ import annotations

import argparse

from dicom_rewrite import api
from dicom_rewrite.cli.common import (
    EXIT_OK,
    add_batch_options,
    add_metadata_options,
    add_output_options,
    add_send_options,
    batch_executor,
    check_report_path,
    collect,
    metadata_options,
    send_sinks,
    summarise,
)
from dicom_rewrite.encode.syntax import TRANSFER_SYNTAXES, Options
from dicom_rewrite.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("--template", required=True, metavar="REF.dcm", help="reference DICOM")
    p.add_argument("--profile", metavar="P.yaml", help="site profile (default: safe defaults)")
    p.add_argument("--out", metavar="DIR", help="output folder (required unless --dry-run)")
    p.add_argument("--report", metavar="report.json", help="report of every input (.jsonl: a line each, as it goes)")
    p.add_argument("--dry-run", action="store_true",
                   help="write nothing; print the tag differences for the first input")
    p.add_argument("--transfer-syntax", choices=sorted(TRANSFER_SYNTAXES),
                   help="output transfer syntax (default explicit-vr-little-endian, or the profile's)")
    p.add_argument("--quality", type=int, default=90, metavar="Q",
                   help="jpeg-baseline/jpeg-extended encoding quality 1..95 (default 90); "
                        "JPEG inputs are stored as they are, not re-encoded")
    p.add_argument("--near", type=int, default=2, metavar="N",
                   help="jpeg-ls-near-lossless: largest error per sample (default 2)")
    p.add_argument("--ratio", type=float, default=10.0, metavar="R",
                   help="jpeg2000 (lossy): target compression ratio (default 10)")
    p.add_argument("--passthrough-only", action="store_true",
                   help="with jpeg-baseline/jpeg-extended: refuse inputs that would need "
                        "(re-)encoding (progressive, CMYK, EXIF-rotated JPEG, non-JPEG)")
    p.add_argument("--multiframe", nargs="?", const="pages", choices=("pages", "batch"),
                   help="one multi-frame instance per multi-page file (pages, the default), "
                        "or of all inputs in order (batch)")
    p.add_argument("--frame-time", type=float, metavar="MS",
                   help="with --multiframe: Frame Time in ms (default: GIF durations; none: pages)")
    p.add_argument("--keep-tree", action="store_true",
                   help="images found in a folder go to the same sub-folder of --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files left by an earlier run (default: a taken name gets _2, _3...)")
    p.add_argument("--keep-color", action="store_true",
                   help="keep RGB images whose channels are equal everywhere as RGB (default: stored gray)")
    add_metadata_options(p)
    add_output_options(p)
    add_send_options(p)
    add_batch_options(p)


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        name, rows = api.dry_run(args.inputs, args.template, args.profile,
                                 transfer_syntax=args.transfer_syntax, encoding=_encoding(args),
                                 passthrough_only=args.passthrough_only, **metadata_options(args))
        print(f"# {name} vs template {args.template}: {len(rows)} attribute(s) differ")
        for row in rows:
            print(row.format())
        return EXIT_OK
    if not args.out and not args.send:
        raise UsageError("convert: --out DIR or --send AET@HOST:PORT is required (or use --dry-run)")
    check_report_path(args.report)
    files = api.expand_inputs(args.inputs)
    if not files:
        raise UsageError("convert: no input images found in " + " ".join(args.inputs))
    results = api.convert_files(args.inputs, args.template, args.out, args.profile,
                                transfer_syntax=args.transfer_syntax, overwrite=args.overwrite,
                                keep_tree=args.keep_tree, durable=args.durable, send_to=send_sinks(args),
                                keep_color=args.keep_color, encoding=_encoding(args),
                                passthrough_only=args.passthrough_only, multiframe=args.multiframe,
                                frame_time=args.frame_time, **metadata_options(args),
                                workers=args.workers, resume=args.resume, executor=batch_executor(args))
    entries = collect(results, args.report, total=len(files), desc="convert")
    return summarise(entries)


def _encoding(args: argparse.Namespace) -> Options:
    return Options(quality=args.quality, near=args.near, ratio=args.ratio).check()
