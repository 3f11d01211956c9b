"""Per-run outputs: the completion record, the resolved tree, the recording, provenance.

``results.json`` is the completion marker. It is written last, atomically
(temporary file, fsync, rename), so a job killed at any point leaves either no
``results.json`` or one from a finished attempt, never a partial one.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping as AnyMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from omegaconf import OmegaConf

if TYPE_CHECKING:
    import neo

RESULTS_FILE = "results.json"
PARAMETERS_FILE = "parameters.yaml"
#: The same resolved tree in mozaik's parameter-file format (what mozaik run scripts read).
MOZAIK_PARAMETERS_FILE = "parameters"
RECORDING_FILE = "recording.mat"

#: States a results.json can hold.
COMPLETED, FAILED = "completed", "failed"

_REPO_DIR = Path(__file__).resolve().parent.parent


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so that readers see the old file or the whole new one, nothing between."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The results.json of a run directory, or None if it has none (or a damaged one)."""
    try:
        with open(Path(run_dir) / RESULTS_FILE, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_parameters(tree: Mapping[str, Any], run_dir: Path) -> Path:
    """Save the fully resolved parameter tree the run used, as YAML and in mozaik's format.

    Returns the path of the mozaik-format file.
    """
    from launcher.mozaik_format import from_hydra, write_parameters as write_mozaik

    OmegaConf.save(OmegaConf.create(dict(tree)), Path(run_dir) / PARAMETERS_FILE)
    path = Path(run_dir) / MOZAIK_PARAMETERS_FILE
    write_mozaik(from_hydra(dict(tree)), path)
    return path


def write_recording(block: neo.Block, run_dir: Path) -> Path:
    """Save the run's Neo block (spikes, and v where recorded) in Neo's MATLAB format.

    The file holds what ``neo.io.NeoMatlabIO(path).write_block(block)`` writes
    (byte for byte; for spike trains still in multiplexed form, but for the
    ``neo_id`` numbers that only link objects to groups) and reads back with it,
    in 0.3 s for the default 4,000-cell run instead of 4 s. Neo's NIX writer would
    be the obvious choice but stores every spike train as its own HDF5 object:
    50 s and 100 MB for that run, against 6 MB here. Every spike train keeps
    PyNN's annotations (``source_population``, ``source_index``).
    """
    from neo.io import NeoMatlabIO

    path = Path(run_dir) / RECORDING_FILE
    variables = {"block": _neo_matlab_struct(NeoMatlabIO(str(path)), block)}
    try:
        data = _mat5_file(variables)
    except _NotEncodable:  # beyond the small encoder below: scipy's writer, as write_block does
        import scipy.io

        scipy.io.savemat(str(path), variables, oned_as="row")
    else:
        path.write_bytes(data)
    return path


def read_recording(run_dir: Path) -> neo.Block:
    """The Neo block of a run's recording."""
    from neo.io import NeoMatlabIO

    return NeoMatlabIO(str(Path(run_dir) / RECORDING_FILE)).read_block()


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


# Why a hand-written MAT-file encoder: NeoMatlabIO.write_block ends in
# scipy.io.savemat, whose pure-Python writer spends about 3 s on the default
# run's recording (56,000 small elements, 14 per spike train), a sixth of a whole
# run and most of what a run adds to the simulation itself. This encoder covers
# only what Neo's structures hold (structs, cells of structs, strings, numeric
# arrays and scalars), writes the bytes savemat(..., oned_as="row") writes (the
# tests compare them byte for byte and read the file back with Neo) about ten
# times faster, and leaves anything else to scipy (_NotEncodable).
class _NotEncodable(Exception):
    pass


_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_UTF8 = 1, 5, 6, 14, 16
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
#: numpy dtype (without byte order) -> (MAT data type, MAT array class); booleans are logical uint8
_MAT_NUMERIC = {
    "f8": (9, 6), "f4": (7, 7), "i8": (12, 14), "i4": (5, 12), "i2": (3, 10), "i1": (1, 8),
    "u8": (13, 15), "u4": (6, 13), "u2": (4, 11), "u1": (2, 9), "b1": (2, 9),
}


def _mat5_file(variables: Mapping[str, Any]) -> bytes:
    """A whole MAT-file (level 5, uncompressed): the 128-byte header, then each variable."""
    if sys.byteorder != "little":
        raise _NotEncodable("big-endian machine")
    text = f"MATLAB 5.0 MAT-file Platform: {os.name}, Created on: {time.asctime()}".encode("ascii")
    parts = [text[:116].ljust(116, b"\0"), bytes(8), struct.pack("<H", 0x0100), b"IM"]
    memo: dict = {}
    parts += [_mat5_value(value, name.encode("latin1"), memo) for name, value in variables.items()]
    return b"".join(parts)


def _mat5_element(mtype: int, data: bytes) -> bytes:
    n = len(data)
    if n <= 4:  # small data element: tag and data in 8 bytes
        return struct.pack("<I", n << 16 | mtype) + data.ljust(4, b"\0")
    return struct.pack("<II", mtype, n) + data + bytes(-n % 8)


def _mat5_matrix(mclass: int, shape: tuple[int, ...], body: list[bytes], name: bytes = b"", logical: bool = False) -> bytes:
    content = b"".join([
        struct.pack("<IIII", _MI_UINT32, 8, mclass | logical << 9, 0),  # array flags
        _mat5_element(_MI_INT32, struct.pack(f"<{len(shape)}i", *shape)),
        _mat5_element(_MI_INT8, name),
        *body,
    ])
    return struct.pack("<II", _MI_MATRIX, len(content)) + content


def _mat5_value(value: Any, name: bytes = b"", memo: dict | None = None) -> bytes:
    """One variable (``name``) or element of a struct or cell (no name).

    ``memo`` holds the encoding of strings, scalars and struct headers met
    before in the same file: the spike trains repeat them (units, t_start,
    t_stop, population, field names) and their encoding is most of the time.
    """
    memo = {} if memo is None else memo
    if isinstance(value, str):
        key: Any = ("str", value)
        if name or key not in memo:
            if "\0" in value:
                raise _NotEncodable("NUL in a string")
            shape = (1, len(value)) if value else (0, 0)
            encoded = _mat5_matrix(_MX_CHAR, shape, [_mat5_element(_MI_UTF8, value.encode("utf-8"))], name)
            if name:
                return encoded
            memo[key] = encoded
        return memo[key]
    if isinstance(value, AnyMapping):
        fields = tuple(value)
        key = ("fields", fields)
        if key not in memo:
            memo[key] = _mat5_struct_head(fields)
        return _mat5_matrix(_MX_STRUCT, (1, 1), [memo[key], *(_mat5_value(value[f], memo=memo) for f in fields)], name)
    if isinstance(value, list) and value and all(isinstance(v, AnyMapping) for v in value):
        return _mat5_matrix(_MX_CELL, (1, len(value)), [_mat5_value(v, memo=memo) for v in value], name)
    if not isinstance(value, (np.ndarray, np.generic, int, float, list)):
        raise _NotEncodable(f"type {type(value).__name__}")
    array = np.asanyarray(value)
    key = ("scalar", array.dtype.str, array.tobytes()) if array.ndim == 0 and not name else None
    if key in memo:
        return memo[key]
    dtype = array.dtype.str[1:]
    if dtype not in _MAT_NUMERIC:
        raise _NotEncodable(f"dtype {array.dtype}")
    mtype, mclass = _MAT_NUMERIC[dtype]
    if array.ndim == 0:
        shape = (1, 1)
    elif array.ndim == 1:
        shape = (1, array.shape[0]) if array.shape[0] else (0, 0)
    else:
        shape = array.shape
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    encoded = _mat5_matrix(mclass, shape, [_mat5_element(mtype, array.tobytes(order="F"))], name, logical=dtype == "b1")
    if key is not None:
        memo[key] = encoded
    return encoded


def _mat5_struct_head(fields: tuple[Any, ...]) -> bytes:
    """What follows a 1x1 struct's header: the length and the names of its fields."""
    if not all(isinstance(f, str) and f.isascii() and f.isidentifier() and f[0] != "_" for f in fields):
        raise _NotEncodable(f"field names {fields}")
    if not fields:  # an empty struct, as scipy writes it
        return _mat5_element(_MI_INT32, struct.pack("<i", 1)) + _mat5_element(_MI_INT8, b"")
    length = max(len(f) for f in fields) + 1
    if length > 32:
        raise _NotEncodable("field name longer than 31 characters")
    names = b"".join(f.encode("ascii").ljust(length, b"\0") for f in fields)
    return _mat5_element(_MI_INT32, struct.pack("<i", length)) + _mat5_element(_MI_INT8, names)


def code_version() -> dict[str, Any]:
    """Git commit of this code and whether the work tree had uncommitted changes."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(_REPO_DIR), *args], capture_output=True, text=True, timeout=10, check=True
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
