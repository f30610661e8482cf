"""What produced an output file, so that a resumed run never serves a stale result.

Every cached output (a FOV's segments under ``<submission>/.segments/``, a tracked
``trajs_fov_<F>.csv`` of a ``--tracks`` folder) gets a small record beside it,
``.<name>.source.json``: the method or tracker, its settings (checkpoint identity, options)
and the size and SHA-256 of each input file. An output is reused only when its record equals
the record the current run would write; anything different (another method, checkpoint,
penalty, input bytes) redoes it. A submission folder is marked as ours by
``<submission>/.segments/run.json``; a folder holding a submission without it is refused
unless the caller forces (see :func:`claim_output_folder`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

from andi2kit.errors import InputError, StaleOutputError
from andi2kit.io import write_text_atomic

log = logging.getLogger(__name__)

#: Bumped when the meaning of a record changes: older records are then stale.
RECORD_FORMAT = 1
#: Marker of a submission folder written by ``andi2kit run`` (inside ``.segments/``).
RUN_MARKER = "run.json"

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> dict:
    """Name, size and SHA-256 of a file (cached per path, size and modification time).

    Raises
    ------
    InputError
        If the file is missing.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return {"name": path.name, "size": st.st_size, "sha256": _DIGESTS[key]}


def digest(obj: object) -> str:
    """SHA-256 of a JSON-able object (keys sorted; other objects by ``str``)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def record_path(output: str | Path) -> Path:
    """Where the record of ``output`` lives: ``.<name>.source.json`` beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.source.json")


def make_record(**parts: object) -> dict:
    """A record: the given parts plus :data:`RECORD_FORMAT`, normalised through JSON."""
    return json.loads(json.dumps({"format": RECORD_FORMAT, **parts}, sort_keys=True,
                                 default=str))


def tracks_record(video: str | Path, params: object) -> dict:
    """The record of a video's tracked VIP trajectories: the video file and the tracker's
    settings (``repr`` of its parameters)."""
    return make_record(video=file_digest(video), tracker=tracker_digest(params))


def tracker_digest(params: object) -> str:
    """Identity of a tracker: its settings (``repr``) and its code (the source of
    :mod:`andi2kit.tracking` and of :mod:`andi2kit.io`, which decodes the VIP frame), so that
    tracks made by another version of the tracker are never reused."""
    return digest([repr(params), _tracker_source()])


@functools.cache
def _tracker_source() -> str:
    root = Path(__file__).parent
    files = sorted((root / "tracking").glob("*.py")) + [root / "io.py"]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def stale_reason(output: str | Path, record: dict) -> str | None:
    """Why ``output`` cannot be reused for ``record`` (None: it can).

    Returns
    -------
    str or None
        ``"missing"``, ``"no record"``, ``"unreadable record"`` or ``"<keys> changed"``.
    """
    output = Path(output)
    if not output.is_file():
        return "missing"
    rp = record_path(output)
    if not rp.is_file():
        return "no record"
    try:
        old = json.loads(rp.read_text())
    except (OSError, ValueError):
        return "unreadable record"
    if old == record:
        return None
    changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
    return f"{', '.join(changed)} changed"


def forget(output: str | Path) -> None:
    """Remove ``output`` and its record (before it is redone, so that a failure or an
    interruption cannot leave the old result looking current)."""
    output = Path(output)
    record_path(output).unlink(missing_ok=True)
    output.unlink(missing_ok=True)


def write_record(output: str | Path, record: dict) -> Path:
    """Write the record of a freshly written ``output`` (after the output itself)."""
    return write_text_atomic(record_path(output), json.dumps(record, indent=1, sort_keys=True))


def claim_output_folder(out: str | Path, segments_dir: str, force: bool) -> None:
    """Make sure ``out`` may be written by ``andi2kit run``; mark it as ours.

    Parameters
    ----------
    out : path-like
        Submission folder.
    segments_dir : str
        Name of the run's private folder inside ``out`` (holds the marker).
    force : bool
        Take over a folder holding a submission without a record (its results are redone,
        and experiments not in the input are removed).

    Raises
    ------
    InputError
        If ``out`` exists and is not a folder.
    StaleOutputError
        If ``out`` holds a submission (``track_<N>/``) not written by ``andi2kit run`` and
        ``force`` is False.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (--out must be a folder)")
    marker = out / segments_dir / RUN_MARKER
    if marker.is_file():
        return
    held = [p for p in (out / "track_1", out / "track_2") if p.exists()]
    if held and not force:
        raise StaleOutputError(
            f"{out}: holds a submission ({held[0].name}/) without a record of what produced "
            "it; pass --force to redo it there, or choose another --out")
    if held:
        log.warning("%s: taking over a submission without a record (--force)", out)
    write_text_atomic(marker, json.dumps({"format": RECORD_FORMAT}) + "\n")
