"""Annotations: burn bounding boxes and labels into RGB copies of images,
and describe the same boxes in a Grayscale Softcopy Presentation State.

The modules, by job:

* :mod:`.shapes`: :class:`Box` (the :class:`~.shapes.Shape` of today), box
  and colour parsing;
* :mod:`.boxfile`: box files (JSON, CSV);
* :mod:`.layout`: boxes checked against an image, label placement;
* :mod:`.draw`: labels and outlines burned in (the only Pillow user);
* :mod:`.background`: the window and the gray background;
* :mod:`.derive`: what makes the engine's output a derived annotation;
* :mod:`.engines`: one engine per source series;
* :mod:`.repair`: a sloppy source's values repaired (with notes) first;
* :mod:`.gsps`: the presentation state (the only highdicom user);
* :mod:`.run`: the :class:`Annotator` and the batch of files.

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
from dicom_rewrite.annotate.draw import draw_boxes, outline_mask
from dicom_rewrite.annotate.layout import PlacedBox, place_boxes
from dicom_rewrite.annotate.run import Annotator, annotate_dataset, annotate_files, annotate_with_gsps
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    MAX_THICKNESS,
    Box,
    BoxError,
    Shape,
    color_text,
    make_box,
    parse_box,
    parse_color,
)

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_THICKNESS",
    "MAX_THICKNESS",
    "Annotation",
    "Annotator",
    "Box",
    "BoxError",
    "PlacedBox",
    "Shape",
    "WindowUsed",
    "annotate_dataset",
    "annotate_files",
    "annotate_with_gsps",
    "color_text",
    "draw_boxes",
    "load_boxes",
    "make_box",
    "outline_mask",
    "parse_box",
    "parse_color",
    "place_boxes",
    "render_background",
    "resolve_window",
]
