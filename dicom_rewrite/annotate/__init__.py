"""Annotations: burn bounding boxes and labels into RGB copies of images,
and describe the same boxes in a Grayscale Softcopy Presentation State.

The modules, by job:

* :mod:`.shapes`: :class:`Box` (the :class:`~.shapes.Shape` of today), box
  and colour parsing;
* :mod:`.boxfile`: shape files (our JSON and CSV, COCO, COCO predictions);
* :mod:`.layout`: boxes checked against an image, label placement;
* :mod:`.draw`: labels and outlines burned in (the only Pillow user);
* :mod:`.background`: the window and the gray background;
* :mod:`.derive`: what makes the engine's output a derived annotation;
* :mod:`.engines`: one engine per source series;
* :mod:`.repair`: a sloppy source's values repaired (with notes) first;
* :mod:`.contours`: pixel geometry (polygons rasterised, masks eroded and traced);
* :mod:`.masks`: label maps (PNG, volumes aligned with the series) -> masks;
* :mod:`.gsps`: the presentation state;
* :mod:`.sr`: the structured report (TID 1500);
* :mod:`.run`: the :class:`Annotator`, one dataset;
* :mod:`.files`: the batch of files (the command line's).

Boxes are ``[x0, y0, x1, y1]`` pixel coordinates (column, row), 0-based, both
corners inclusive.

References:
    PS3.3 C.7.6.1 (General Image: Burned In Annotation, Image Type,
    Derivation Description), C.7.6.1.1.4 (Source Image Sequence),
    C.11.2.1.2.1 (LINEAR window), C.10.5 (Graphic Annotation),
    C.11.6 (Softcopy Presentation LUT), A.33.1 (Grayscale Softcopy
    Presentation State IOD).
"""

from __future__ import annotations

from dicom_rewrite.annotate.background import WindowUsed, render_background, resolve_window
from dicom_rewrite.annotate.boxfile import load_boxes
from dicom_rewrite.annotate.derive import Annotation
from dicom_rewrite.annotate.draw import draw_boxes, draw_shapes, outline_mask
from dicom_rewrite.annotate.files import ShapeInputs, annotate_files
from dicom_rewrite.annotate.layout import DEFAULT_LABEL_FORMAT, PlacedBox, place_boxes
from dicom_rewrite.annotate.masks import load_masks, parse_mask_labels
from dicom_rewrite.annotate.run import Annotator, annotate_dataset, annotate_with_gsps
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    MAX_THICKNESS,
    Box,
    BoxError,
    Mask,
    Polygon,
    Shape,
    color_text,
    make_box,
    make_polygon,
    parse_box,
    parse_color,
)

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_LABEL_FORMAT",
    "DEFAULT_THICKNESS",
    "MAX_THICKNESS",
    "Annotation",
    "Annotator",
    "Box",
    "BoxError",
    "Mask",
    "PlacedBox",
    "ShapeInputs",
    "Polygon",
    "Shape",
    "WindowUsed",
    "annotate_dataset",
    "annotate_files",
    "annotate_with_gsps",
    "color_text",
    "draw_boxes",
    "draw_shapes",
    "load_boxes",
    "load_masks",
    "make_box",
    "make_polygon",
    "outline_mask",
    "parse_box",
    "parse_color",
    "parse_mask_labels",
    "place_boxes",
    "render_background",
    "resolve_window",
]
