"""Per-run outputs: the completion record, the resolved tree, the recording, provenance.

``results.json`` is the completion marker. It is written last, atomically
(temporary file, fsync, rename: :func:`launcher.run.jsonfile.write_json_atomic`), so a job killed at any point leaves either no
``results.json`` or one from a finished attempt, never a partial one. A file
damaged later all the same (a full disk, a hand edit) is read by
:func:`load_results`, the one reader, as a :class:`~launcher.run.jsonfile.Damage`
saying why, never as an exception.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from launcher.run.jsonfile import NUMBERS, OPTIONAL_TEXT, TEXT, TEXTS, Damage, Kind, field_problem, is_text, one_of, read_json_object
from launcher.run.h5file import read_h5_recording, write_h5_recording  # noqa: F401  (read_h5_recording: public here)
from launcher.run.matfile import NotEncodable, mat5_file

if TYPE_CHECKING:
    import neo

RESULTS_FILE = "results.json"
PARAMETERS_FILE = "parameters.yaml"
#: The same resolved tree in mozaik's parameter-file format (what mozaik run scripts read).
MOZAIK_PARAMETERS_FILE = "parameters"
#: The run's recording (launcher/run/h5file.py: the layout, and why HDF5).
RECORDING_FILE = "recording.h5"
#: The recording of run directories written before recording.h5 (Neo's MATLAB format): still read.
MAT_RECORDING_FILE = "recording.mat"

#: States a results.json can hold.
COMPLETED, FAILED = "completed", "failed"

_REPO_DIR = Path(__file__).resolve().parent.parent


#: What each field of a results.json must hold, of those its readers use (a task may add fields
#: of its own: see :func:`launcher.run.job.current_record`).
_RESULTS_KINDS = {
    "state": one_of(COMPLETED, FAILED),
    "config_hash": TEXT,
    "metrics": NUMBERS,
    "overrides": TEXTS,
    "timings": Kind(
        lambda value: isinstance(value, dict) and all(is_text(value.get(k, "")) for k in ("started", "finished")),
        "an object whose 'started' and 'finished' are strings",
    ),
    "error": OPTIONAL_TEXT,
    "log": OPTIONAL_TEXT,
    "slurm_job_id": OPTIONAL_TEXT,
}
#: Without these a record cannot say whether its job is done.
_REQUIRED_RESULTS_KINDS = ("state", "config_hash", "metrics")


def now() -> str:
    """The current time as the manifest and results.json write it (UTC, ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_results(run_dir: Path | str) -> dict[str, Any] | Damage | None:
    """The results.json of a run directory, checked: its record; a :class:`Damage` saying why
    it cannot be used (not UTF-8, not JSON, not an object, a field missing or of another
    kind); None if the directory has none. Every reader of results.json reads it here."""
    path = os.path.join(run_dir, RESULTS_FILE)  # a str: pathlib would double the time of a large sweep's table
    record = read_json_object(path)
    if not isinstance(record, dict):
        return record
    problem = field_problem(record, _RESULTS_KINDS, _REQUIRED_RESULTS_KINDS)
    return Damage(Path(path), problem) if problem else record


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The record of a run directory's results.json, or None if it has none or a damaged one."""
    record = load_results(run_dir)
    return record if isinstance(record, dict) else None


def write_recording(block: neo.Block, run_dir: Path) -> Path:
    """Save the run's Neo block (spikes, and v where recorded) as ``recording.h5``: a tenth of the
    size of :func:`write_mat_recording`'s file, read back ten times faster (launcher/run/h5file.py)."""
    return write_h5_recording(block, Path(run_dir) / RECORDING_FILE)


def recording_file(run_dir: Path | str) -> Path | None:
    """A run directory's recording: ``recording.h5``, else the ``recording.mat`` of a run
    directory written before it; None if it holds neither."""
    for name in (RECORDING_FILE, MAT_RECORDING_FILE):
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    return None


def read_recording(run_dir: Path | str) -> neo.Block:
    """The Neo block of a run's recording (:func:`recording_file`). The spike trains of
    recording.h5 are built only when iterated."""
    path = recording_file(run_dir) or Path(run_dir) / RECORDING_FILE  # none: h5py names the missing file
    if path.name == RECORDING_FILE:
        return read_h5_recording(path)
    from neo.io import NeoMatlabIO

    return NeoMatlabIO(str(path)).read_block()


def write_mat_recording(block: neo.Block, run_dir: Path) -> Path:
    """Save the run's Neo block in Neo's MATLAB format, as ``recording.mat`` (the recording's
    format before recording.h5: for comparison, and for whoever needs MATLAB files).

    The file holds what ``neo.io.NeoMatlabIO(path).write_block(block)`` writes
    (byte for byte; for spike trains still in multiplexed form, but for the
    ``neo_id`` numbers that only link objects to groups) and reads back with it,
    in 0.3 s for the default 4,000-cell run instead of 4 s. Neo's NIX writer would
    be the obvious choice but stores every spike train as its own HDF5 object:
    50 s and 100 MB for that run, against 6 MB here. Every spike train keeps
    PyNN's annotations (``source_population``, ``source_index``).
    """
    from neo.io import NeoMatlabIO

    path = Path(run_dir) / MAT_RECORDING_FILE
    variables = {"block": _neo_matlab_struct(NeoMatlabIO(str(path)), block)}
    try:
        data = mat5_file(variables)
    except NotEncodable:  # beyond launcher.run.matfile: scipy's writer, as write_block does
        import scipy.io

        scipy.io.savemat(str(path), variables, oned_as="row")
    else:
        path.write_bytes(data)
    return path


def _neo_matlab_struct(io: Any, block: neo.Block) -> dict[str, Any]:
    """The MATLAB structure of a block, as ``NeoMatlabIO.write_block`` builds it (with Neo's own methods)."""
    from neo.core import ChannelView
    from neo.core.regionofinterest import RegionOfInterest

    bl_struct = io.create_struct_from_obj(block)
    for seg in block.segments:
        seg_struct = io.create_struct_from_obj(seg)
        bl_struct["segments"].append(seg_struct)
        for container_name in seg._child_containers:
            children = getattr(seg, container_name)
            structs = _multiplexed_spiketrain_structs(io, children) if container_name == "spiketrains" else None
            if structs is None:
                structs = [io.create_struct_from_obj(child) for child in children]
            seg_struct[container_name].extend(structs)
    for group in block.groups:
        group_struct = io.create_struct_from_obj(group)
        bl_struct["groups"].append(group_struct)
        for container_name in group._child_containers:
            for child in getattr(group, container_name):
                if isinstance(child, (ChannelView, RegionOfInterest)):
                    group_struct[container_name].append(io.create_struct_from_view(child))
                else:
                    group_struct[container_name].append(id(child))
    return bl_struct


def _multiplexed_spiketrain_structs(io: Any, trains: Any) -> list[dict[str, Any]] | None:
    """The structures of a SpikeTrainList still in multiplexed form, without a SpikeTrain object per train.

    What ``[io.create_struct_from_obj(st) for st in trains]`` gives, but
    iterating builds every SpikeTrain (1.2 s for the default 4,000 cells,
    mostly in quantities' unit checks). Here Neo builds and maps only the first
    train, as ``SpikeTrainList`` would build it; every other train takes that
    structure with its own times, ``channel_id`` and per-train annotations.
    The tests compare the result with Neo's writer. None (build them all) for
    a list that is not multiplexed, or holds what this does not cover. Reads
    the list's private fields, which ``SpikeTrainList`` keeps for this form.
    """
    import quantities as pq
    from neo.core import SpikeTrain

    times, channel_of_spike = getattr(trains, "_spike_time_array", None), getattr(trains, "_channel_id_array", None)
    channels, annotations = getattr(trains, "_all_channel_ids", None), getattr(trains, "_annotations", None)
    metadata = getattr(trains, "_spiketrain_metadata", None)
    if getattr(trains, "_items", ()) is not None or not isinstance(times, pq.Quantity) or channel_of_spike is None:
        return None
    if channels is None or not len(channels):
        return None
    if not isinstance(annotations, dict) or set(metadata or ()) != {"t_start", "t_stop"}:
        return None
    n = len(channels)
    per_train = {
        key: value
        for key, value in annotations.items()
        if not isinstance(value, str) and hasattr(value, "__len__") and len(value) == n
    }
    # values the writer stores as they are (a Quantity or a mapping would be converted)
    if not all(isinstance(v, np.ndarray) and v.dtype.kind in "iuU" for v in per_train.values()):
        return None
    if times.size and (times.min() < metadata["t_start"] or times.max() > metadata["t_stop"]):
        return None  # SpikeTrain refuses such times: let Neo say so
    order = np.argsort(channel_of_spike, kind="stable")  # each train's spikes in the list's order
    sorted_channels = np.asarray(channel_of_spike)[order]
    sorted_times = times[order]
    starts = np.searchsorted(sorted_channels, channels, side="left")
    ends = np.searchsorted(sorted_channels, channels, side="right")

    first = SpikeTrain(sorted_times[starts[0] : ends[0]], **metadata)  # as SpikeTrainList builds its trains
    for key, value in annotations.items():
        first.annotate(**{key: value[0] if key in per_train else value})
    first.annotate(channel_id=channels[0])
    template = io.create_struct_from_obj(first)
    if set(template) != {"neo_id", "times", "times_units", "t_start", "t_start_units", "t_stop", "t_stop_units",
                         "sampling_rate", "sampling_rate_units", "annotations"}:
        return None
    magnitudes = np.asarray(sorted_times.magnitude, dtype=template["times"].dtype)
    structs = []
    for i, channel in enumerate(channels):
        struct = dict(template)
        struct["times"] = magnitudes[starts[i] : ends[i]]
        struct["annotations"] = {
            **template["annotations"],
            **{key: value[i] for key, value in per_train.items()},
            "channel_id": channel,
        }
        struct["neo_id"] = id(struct)  # any unique number: it only links objects in groups
        structs.append(struct)
    return structs


@functools.lru_cache(maxsize=16)
def code_version(directory: Path | str = _REPO_DIR) -> dict[str, Any]:
    """Git commit of the code in ``directory`` (by default this project's) and whether its work
    tree had uncommitted changes; both None outside a git work tree. Looked up once per
    process and directory: a sweep's code does not change under its jobs."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def host_info() -> dict[str, Any]:
    """Where the run happened, including its Slurm job when there is one."""
    slurm_job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        slurm_job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return {"host": socket.gethostname(), "python": platform.python_version(), "slurm_job_id": slurm_job}
