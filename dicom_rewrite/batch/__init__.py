"""The one batch pipeline every command writes through.

``sources`` (inputs walked once, in a fixed order) -> ``make`` (the command's
work for one source, writing through a :class:`~.sinks.Sink`) ->
:class:`~.report.ReportEntry` (one typed record per input), under one error
policy (:func:`~.pipeline.run_batch`).
"""

from dicom_rewrite.batch.pipeline import run_batch
from dicom_rewrite.batch.report import ReportEntry, Status
from dicom_rewrite.batch.sinks import FolderSink, Sink
from dicom_rewrite.batch.sources import Source, walk

__all__ = ["FolderSink", "ReportEntry", "Sink", "Source", "Status", "run_batch", "walk"]
