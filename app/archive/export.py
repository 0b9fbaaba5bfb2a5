"""Exporting archived instances to a folder as plain Part-10 files (byte-for-byte copies)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from app.archive.model import ExportReport, ImportProgress, StoredInstance
from app.archive.paths import relative_instance_path

ProgressCallback = Callable[[ImportProgress], None]


def export_instances(
    instances: Iterable[StoredInstance],
    folder: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ExportReport:
    """Copy each instance to ``folder/<patient>/<study>/<series>/<sop>.dcm`` (same sanitised layout).

    A file that cannot be copied is reported in ``failed`` and the export goes on; ``cancel`` stops
    between files, leaving the files already copied in place.
    """
    report = ExportReport()
    wanted = list(instances)
    folder = Path(folder)
    for done, instance in enumerate(wanted, start=1):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        target = folder / relative_instance_path(
            instance.patient_id,
            instance.study_instance_uid,
            instance.series_instance_uid,
            instance.sop_instance_uid,
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(instance.path, target)
        except OSError as error:
            report.failed[instance.sop_instance_uid] = str(error)
        else:
            report.exported.append(target)
        if progress is not None:
            progress(ImportProgress(done=done, total=len(wanted), current=target))
    return report
