"""``dicom-rewrite annotate``: burn boxes and labels into RGB copies of
DICOM images (a new derived series), optionally with a presentation state."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from dicom_rewrite import annotate as annotate_api
from dicom_rewrite.cli.common import (
    add_name_option,
    add_output_options,
    add_send_options,
    check_report_path,
    collect,
    require_destination,
    send_sinks,
    summarise,
)
from dicom_rewrite.errors import UsageError
from dicom_rewrite.render.windowing import PRESETS


class _BoxAction(argparse.Action):
    """``--box`` starts a box; ``--label``/``--frame`` attach to the last one."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        boxes = list(getattr(namespace, "boxes_raw", None) or [])
        if self.dest == "boxes_raw":
            boxes.append({"box": values})
        else:
            if not boxes:
                parser.error(f"{option_string} must follow a --box")
            key = self.dest.removeprefix("box_")
            if key in boxes[-1]:
                parser.error(f"{option_string} given twice for --box {boxes[-1]['box']}")
            boxes[-1][key] = values
        namespace.boxes_raw = boxes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="DICOM", help="DICOM files or folders (recursive)")
    p.add_argument("--box", dest="boxes_raw", action=_BoxAction, metavar="X0,Y0,X1,Y1",
                   help="a box in pixel coordinates (column,row), inclusive corners; repeatable; "
                        "applies to every input")
    p.add_argument("--label", dest="box_label", action=_BoxAction, metavar="TEXT",
                   help="label of the preceding --box")
    p.add_argument("--frame", dest="box_frame", action=_BoxAction, type=int, metavar="N",
                   help="frame (1-based) of a multi-frame input for the preceding --box (default 1)")
    p.add_argument("--boxes", metavar="FILE",
                   help="box file: our JSON or CSV keyed by input, COCO, or a COCO prediction list")
    p.add_argument("--polygons", metavar="FILE",
                   help="polygon file: our JSON with \"points\", or COCO with segmentation polygons")
    p.add_argument("--masks", metavar="FILE|DIR",
                   help="label maps: a volume (.npy/.npz/.nii/.nii.gz) aligned with the source series, "
                        "a PNG for the one input, or a folder of <input stem>.png")
    p.add_argument("--mask-labels", metavar="V=LABEL,...",
                   help="labels of the label-map values, e.g. 1=liver,2=lesion (default: segment V)")
    p.add_argument("--min-score", type=float, metavar="S",
                   help="leave out shapes whose score is below S (shapes without a score are kept)")
    p.add_argument("--label-format", default=annotate_api.DEFAULT_LABEL_FORMAT, metavar="FMT",
                   help="label text of a scored shape, with {label} and {score} "
                        "(default '{label} {score:.2f}')")
    p.add_argument("--font-size", type=int, metavar="PX",
                   help="label font size in pixels (default about 2%% of the image height, at least 10)")
    p.add_argument("--window", metavar="C,W|NAME",
                   help=f"window center,width in modality units, or a preset: {', '.join(PRESETS)} "
                        "(default: the file's first window, else min-max)")
    p.add_argument("--color", default="#FF0000", metavar="#RRGGBB",
                   help="outline colour of boxes without their own (default #FF0000)")
    p.add_argument("--thickness", type=int, default=annotate_api.DEFAULT_THICKNESS, metavar="N",
                   help="outline thickness in pixels, drawn from the box edge inward (default 2)")
    p.add_argument("--clip", action="store_true",
                   help="clip boxes that reach outside the image (default: error)")
    p.add_argument("--all", dest="all_slices", action="store_true",
                   help="also write inputs (and frames) that have no boxes")
    p.add_argument("--gsps", action="store_true",
                   help="also write a Grayscale Softcopy Presentation State per source series")
    p.add_argument("--sr", action="store_true",
                   help="also write a Comprehensive 3D SR (TID 1500 measurement report) per study")
    p.add_argument("--profile", metavar="P.yaml",
                   help="site profile (identity, study and series are kept/decided here)")
    p.add_argument("--out", metavar="DIR", help="output folder (required unless sending)")
    p.add_argument("--report", metavar="report.json", help="report of every input (.jsonl: a line each, as it goes)")
    add_name_option(p)
    add_output_options(p)
    add_send_options(p)


def _boxes(raw: Sequence[dict[str, Any]] | None) -> list[annotate_api.Box]:
    return [annotate_api.parse_box(item["box"], label=item.get("label"), frame=item.get("frame"))
            for item in raw or []]


def run(args: argparse.Namespace) -> int:
    from dicom_rewrite import api

    if args.boxes_raw and args.boxes:
        raise UsageError("annotate: give --box X0,Y0,X1,Y1 (with optional --label) or --boxes FILE, not both")
    if not (args.boxes_raw or args.boxes or args.polygons or args.masks):
        raise UsageError("annotate: give --box X0,Y0,X1,Y1, --boxes FILE, --polygons FILE or --masks FILE")
    color = annotate_api.parse_color(args.color)
    boxes = _boxes(args.boxes_raw)
    window = annotate_api.resolve_window(args.window)
    profile = api.as_profile(args.profile) if args.profile else None
    check_report_path(args.report)
    require_destination(args, "annotate")
    results = annotate_api.annotate_files(
        args.inputs,
        args.out,
        boxes=boxes,
        box_file=args.boxes,
        window=window,
        color=color,
        thickness=args.thickness,
        clip=args.clip,
        all_slices=args.all_slices,
        gsps=args.gsps,
        profile=profile,
        durable=args.durable,
        polygon_file=args.polygons,
        masks=args.masks,
        mask_labels=annotate_api.parse_mask_labels(args.mask_labels),
        font_size=args.font_size,
        label_format=args.label_format,
        min_score=args.min_score,
        sr=args.sr,
        send_to=send_sinks(args),
        dicomdir=args.dicomdir,
        name=args.name,
    )
    entries = collect(results, args.report, desc="annotate")
    return summarise(entries)
