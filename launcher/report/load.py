"""A whole sweep in one call: :func:`load` gives its table (one row per job: number, parameters
with their types, state, metrics, run directory, duration), :func:`recordings` the recordings of
chosen rows, one at a time.

The table is :func:`launcher.report.table.summary_table`'s (the table behind summary.csv and
the figures), with the parameters as Hydra reads them and the ``run_dir`` and ``duration_s``
columns: one reader of a sweep, whether for the CSV or for a session. It reads the manifest and
the jobs' results.json (0.6 to 0.7 s for 10,000 jobs: ``python benchmarks/load.py``), and the
resolved tree of a job only where it lacks a key another job overrides; the recordings, far
larger, are read only when asked for.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from launcher.report.status import read_sweep
from launcher.report.table import summary_table
from launcher.run.results import read_recording, recording_file

if TYPE_CHECKING:
    import neo
    import pandas as pd


def load(sweep_dir: Path | str) -> pd.DataFrame:
    """The table of a sweep directory (``hydra.sweep.dir``), one row per job in job order.

    Columns: ``job`` (its number), one per parameter any job overrides (named by its key; each
    value as Hydra reads the override: ``density=2000`` an int, ``0.5`` a float, ``true`` a bool,
    ``null`` None, ``'2000'`` or ``lif`` a string; for a key the job did not override, the value
    of its resolved tree; a column is int64, float64 or bool when every value is of that type,
    Int64 with <NA> where whole numbers miss, float64 with NaN where others miss, else object), ``state``
    (``completed``, ``failed``, ``damaged``, ``pending``, ``running``, ``interrupted``), one
    per metric (NaN where a job has no value), a fit's ``objective`` and ``best``, then
    ``run_dir`` (the job's run directory: ``sweep_dir`` joined with its name) and
    ``duration_s`` (the run's ``timings.total_s``, NaN for a job that did not end).

    A damaged or missing ``manifest.json`` does not stop it: the rows are then the run
    directories holding a results.json, with a warning saying so (also in
    ``table.attrs["problem"]``). Raises :class:`launcher.sweep.manifest.ManifestError` for a
    directory with neither (not a sweep) or with another program's manifest.json.
    """
    manifest, problem = read_sweep(Path(sweep_dir), rebuild_missing=True)
    if problem:
        warnings.warn(problem, stacklevel=2)
    table = summary_table(sweep_dir, manifest, full=True)
    table.attrs.update(sweep_dir=str(sweep_dir), problem=problem)
    return table


def recordings(rows: pd.DataFrame) -> Iterator[tuple[pd.Series, neo.Block]]:
    """``(row, block)`` for each row of ``rows`` (a table of :func:`load`, or any selection of its
    rows) whose run directory holds a recording, in the rows' order: the Neo block of
    :func:`launcher.run.results.read_recording`, read only when the loop reaches its row, so
    that a loop over a large sweep holds one recording at a time. Rows without a recording (a
    failed job, a model that records nothing) are skipped."""
    for _, row in rows.iterrows():
        if recording_file(row["run_dir"]) is not None:
            yield row, read_recording(row["run_dir"])
