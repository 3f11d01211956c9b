"""recording.h5: a run's Neo block as compressed HDF5 arrays of a documented layout.

Why HDF5 through h5py, with this layout, measured on the default run (4,000
cells, 1 s, 58,525 spikes, 4 voltage traces of 10,501 samples):

- Neo's MATLAB format (the former ``recording.mat``) takes 90 bytes a spike
  (5.26 MB) and 1.6 s to read: a MATLAB structure per spike train;
- Neo's NIX format (HDF5 through nixio) stores an HDF5 object per spike
  train: 100 MB and 50 s to write;
- NWB through pynwb (a ``Units`` table) would hold the same arrays, but
  ``import pynwb`` alone (its namespaces loaded from YAML) takes 0.7-1.7 s here,
  against 0.04 s for h5py and 0.02 s for a whole read of this file, and Neo's
  NWBIO goes through pynwb;
- here, every spike time of a segment is one float64 array, grouped by cell
  (NWB's ragged-array convention: ``times`` and the end ``index`` of each
  cell), compressed with HDF5's own shuffle + gzip filters, which any HDF5
  reader decodes: 2.8 bytes a spike, and the float64 numbers NEST gave, bit for
  bit (integer time steps compress better, 1.7 bytes, but NEST's times are not
  ``step * dt`` in float64 for 18% of spikes: a decoding formula would tie the
  file to NEST's clock). Voltage is float64 too, shuffled and gzipped (4.1
  bytes a spike of the default run, rather than 5.7). Everything together: 7.4
  bytes a spike, read back by :func:`read_h5_recording` in 0.02 s
  (``python benchmarks/recording.py``).

Layout (every name below is an HDF5 group, dataset or attribute; text is UTF-8;
``annotations`` attributes are JSON objects, a numpy array in them
``{"__array__": [items], "dtype": "<i8"}``)::

    /                       attrs: format = "mozaik-hydra recording", format_version = 1,
                                   name, description, rec_datetime (ISO 8601 or ""), annotations
    /segments/<k>           k = 0, 1, ...; attrs: name, annotations
      spikes/               attrs: units (of times, t_start, t_stop), t_start, t_stop, annotations
                                   (those shared by every train)
        times               float64 [spikes]: each cell's spike times, cell after cell
        index               int64 [cells]: end of each cell's spikes in ``times``
        channel_id          int64 [cells]: the cell's id (PyNN's ``channel_id``)
        <annotation>        [cells]: a per-cell annotation, e.g. source_population
                            (text), source_index (int64)
      signals/<j>           float [samples, channels]: an AnalogSignal, j = 0, 1, ...;
                            attrs: name, units, sampling_rate, sampling_rate_units, t_start,
                            t_start_units, annotations, array_annotations (one item per channel)

Read without this package, e.g. the spike trains of the first segment::

    import h5py, numpy as np; s = h5py.File("recording.h5")["segments/0/spikes"]; trains = np.split(s["times"][:], s["index"][:-1])

(``trains[i]`` is the cell ``s["channel_id"][i]``, ``s["source_population"][i]``,
``s["source_index"][i]``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from launcher import compat
from launcher.run.jsonfile import write_atomically

FORMAT = "mozaik-hydra recording"
FORMAT_VERSION = 1
#: HDF5's own filters (every HDF5 reader has them): byte shuffle then gzip. Level 4: level 9
#: saves 1% more for twice the writing time.
_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class NotWritable(ValueError):
    """A block holds what this layout does not (events, epochs, groups...)."""


def write_h5_recording(block: Any, path: Path) -> Path:
    """Write a Neo block (segments of spike trains and analog signals) to ``path`` in the layout above."""
    import h5py

    _check_writable(block)
    path = Path(path)
    # Built in memory, then written as plain bytes: HDF5 meeting a full disk itself leaves its file
    # objects half-closed, and their later release by the garbage collector crashed the process
    # (a segfault after the sweep's report). Written so, a full disk is one OSError (ENOSPC) of
    # the atomic writer, naming the file, and nothing of HDF5 is left open.
    with h5py.File(f"{path.name}.in-memory", "w", driver="core", backing_store=False) as f:
        f.attrs.update(
            format=FORMAT, format_version=FORMAT_VERSION, name=block.name or "", description=block.description or "",
            rec_datetime=block.rec_datetime.isoformat() if block.rec_datetime else "",
            annotations=_json(block.annotations),
        )
        segments = f.create_group("segments")
        for k, seg in enumerate(block.segments):
            group = segments.create_group(str(k))
            group.attrs.update(name=seg.name or "", annotations=_json(seg.annotations))
            _write_spikes(group.create_group("spikes"), seg.spiketrains)
            signals = group.create_group("signals")
            for j, signal in enumerate(seg.analogsignals):
                data = signals.create_dataset(str(j), data=np.asarray(signal.magnitude), **_COMPRESSION)
                data.attrs.update(
                    name=signal.name or "", units=_units(signal),
                    sampling_rate=float(signal.sampling_rate.magnitude), sampling_rate_units=_units(signal.sampling_rate),
                    t_start=float(signal.t_start.magnitude), t_start_units=_units(signal.t_start),
                    annotations=_json(signal.annotations),
                    array_annotations=_json(dict(signal.array_annotations)),
                )
        f.flush()
        image = f.id.get_file_image()
    write_atomically(path, lambda tmp: tmp.write_bytes(image), what="recording")
    return path


def read_h5_recording(path: Path) -> Any:
    """The Neo block of a file of this layout; its spike trains are built only when iterated (a
    ``SpikeTrainList`` from the arrays, as PyNN returns a recording)."""
    import h5py
    import neo
    import quantities as pq
    from neo.core.spiketrainlist import SpikeTrainList

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file")
        if f.attrs["format_version"] > FORMAT_VERSION:
            raise ValueError(f"{path} is of format version {f.attrs['format_version']}, newer than this reader's {FORMAT_VERSION}")
        rec = f.attrs["rec_datetime"]
        block = neo.Block(
            name=f.attrs["name"] or None, description=f.attrs["description"] or None,
            rec_datetime=datetime.fromisoformat(rec) if rec else None, **_annotations(f.attrs["annotations"]),
        )
        for k in range(len(f["segments"])):
            group = f["segments"][str(k)]
            seg = neo.Segment(name=group.attrs["name"] or None, **_annotations(group.attrs["annotations"]))
            block.segments.append(seg)
            spikes = group["spikes"]
            units = spikes.attrs["units"]
            channels = spikes["channel_id"][:]
            if len(channels):
                ends = spikes["index"][:]
                per_cell = {name: _text(spikes[name][:]) for name in spikes if name not in ("times", "index", "channel_id")}
                seg.spiketrains = SpikeTrainList.from_spike_time_array(
                    spikes["times"][:], np.repeat(channels, np.diff(ends, prepend=0)), channels,
                    t_start=spikes.attrs["t_start"] * pq.Quantity(1, units), t_stop=spikes.attrs["t_stop"] * pq.Quantity(1, units),
                    units=units, **per_cell, **_annotations(spikes.attrs["annotations"]),
                )
            for j in range(len(group["signals"])):
                data = group["signals"][str(j)]
                signal = neo.AnalogSignal(
                    data[:], units=data.attrs["units"], name=data.attrs["name"] or None,
                    sampling_rate=pq.Quantity(data.attrs["sampling_rate"], data.attrs["sampling_rate_units"]),
                    t_start=pq.Quantity(data.attrs["t_start"], data.attrs["t_start_units"]),
                    array_annotations=_annotations(data.attrs["array_annotations"]),
                    **_annotations(data.attrs["annotations"]),
                )
                signal.segment = seg
                seg.analogsignals.append(signal)
    return block


def _write_spikes(group: Any, trains: Any) -> None:
    """One segment's spike trains as the ``spikes/`` arrays, without building a SpikeTrain per cell."""
    import quantities as pq
    from neo.core.spiketrainlist import SpikeTrainList

    if not isinstance(trains, SpikeTrainList):
        trains = SpikeTrainList(items=list(trains))
    channels = np.asarray(trains.all_channel_ids if len(trains) else [], dtype=np.int64)
    if len(trains) and compat.spike_trains_given_one_by_one(trains):
        raise NotWritable("spike trains given one by one: build them with SpikeTrainList.from_spike_time_array")
    units = "ms"
    t_start = t_stop = 0.0
    times, ends, per_cell, shared = np.zeros(0), np.zeros(0, dtype=np.int64), {}, {}
    if len(channels):
        channel_of_spike, all_times = trains.multiplexed
        units = _units(all_times)
        t_start = float(trains.t_start.rescale(units).magnitude)
        t_stop = float(trains.t_stop.rescale(units).magnitude)
        # each cell's spikes in the list's order (a stable sort): the trains Neo builds from the list
        position = np.empty(channels.max() + 1 if channels.min() >= 0 else 0, dtype=np.int64)
        if not len(position) or len(np.unique(channels)) != len(channels):
            raise NotWritable("spike trains need distinct, non-negative channel ids")
        position[channels] = np.arange(len(channels))
        cell_of_spike = position[np.asarray(channel_of_spike, dtype=np.int64)]
        order = np.argsort(cell_of_spike, kind="stable")
        times = np.asarray(all_times.magnitude, dtype=np.float64)[order]
        ends = np.cumsum(np.bincount(cell_of_spike, minlength=len(channels)))
        for key, value in compat.spike_train_annotations(trains).items():
            if isinstance(value, np.ndarray) and value.shape == (len(channels),) and value.dtype.kind in "iuU":
                per_cell[key] = value
            else:
                shared[key] = value
    group.attrs.update(units=units, t_start=t_start, t_stop=t_stop, annotations=_json(shared))
    group.create_dataset("times", data=times, **_COMPRESSION)
    group.create_dataset("index", data=ends.astype(np.int64), **_COMPRESSION)
    group.create_dataset("channel_id", data=channels, **_COMPRESSION)
    for key, value in per_cell.items():
        data = np.char.encode(value, "utf-8") if value.dtype.kind == "U" else value.astype(np.int64)
        group.create_dataset(key, data=data, **_COMPRESSION)


def _text(values: np.ndarray) -> np.ndarray:
    """Per-cell values as written: UTF-8 bytes back to text."""
    return np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values


def _units(quantity: Any) -> str:
    """The units of a Quantity as quantities spells them (what ``pq.Quantity(x, units)`` reads)."""
    return quantity.units.dimensionality.string


def _check_writable(block: Any) -> None:
    if block.groups:
        raise NotWritable("the block has groups")
    for seg in block.segments:
        for name in ("irregularlysampledsignals", "events", "epochs", "imagesequences"):
            if getattr(seg, name, None):
                raise NotWritable(f"a segment holds {name}")


def _json(annotations: dict[str, Any]) -> str:
    """Annotations as a JSON object: numpy numbers as numbers, a numpy array as ``{"__array__": its
    items, "dtype": its dtype}`` (read back as that array); NotWritable for what JSON does not hold."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
            return {"__array__": value.tolist(), "dtype": value.dtype.str}
        raise TypeError(type(value).__name__)

    try:
        return json.dumps(annotations, default=plain)
    except TypeError as exc:
        raise NotWritable(f"an annotation JSON does not hold: {exc}") from None


def _annotations(text: str) -> dict[str, Any]:
    """What :func:`_json` wrote."""
    def arrays(value: dict[str, Any]) -> Any:
        return np.array(value["__array__"], dtype=value["dtype"]) if set(value) == {"__array__", "dtype"} else value

    return json.loads(text, object_hook=arrays)
