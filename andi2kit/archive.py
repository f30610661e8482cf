"""``andi2kit zip``: a validated submission folder → the archive the challenge accepts.

The archive holds ``track_<N>/exp_<E>/fov_<F>.txt`` and ``ensemble_labels.txt`` at its root
and nothing else (no ``.segments/``, no scores). It is written only when
:func:`andi2kit.validation.validate` finds nothing that would cost points, through a
temporary file and a rename, so a refused or interrupted call leaves no archive behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

from andi2kit import layout
from andi2kit.validation import Problem, has_errors, validate

log = logging.getLogger(__name__)


def submission_files(submission: Path) -> list[Path]:
    """The files of a submission that go into the archive, sorted."""
    files = []
    for track in layout.TRACKS:
        for exp in layout.experiments(submission, track):
            edir = layout.exp_dir(submission, track, exp)
            files += [layout.prediction_path(submission, track, exp, f)
                      for f in layout.fovs(submission, track, exp, "prediction")]
            if (edir / layout.ENSEMBLE_FILE).is_file():
                files.append(edir / layout.ENSEMBLE_FILE)
    return sorted(files)


def write_zip(submission: str | Path, out: str | Path, data: str | Path | None = None
              ) -> tuple[Path | None, list[Problem]]:
    """Validate ``submission`` and, if nothing would cost points, write ``out``.

    Parameters
    ----------
    submission : path-like
        Submission folder.
    out : path-like
        Archive to write (replaced if it exists).
    data : path-like, optional
        The public_data folder answered; without it, only the files present are checked
        (a missing FOV or trajectory goes unnoticed).

    Returns
    -------
    path : Path or None
        The archive, or None when validation found an error (nothing was written).
    problems : list of Problem
    """
    submission, out = Path(submission), Path(out)
    problems = validate(submission, data)
    if has_errors(problems):
        return None, problems
    files = submission_files(submission)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.relative_to(submission).as_posix())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("%s: %d files from %s", out, len(files), submission)
    return out, problems
