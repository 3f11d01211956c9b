"""A sweep's table of single values: one row per job, one column per parameter any job
overrides (each job's value: its override, else its resolved tree's), its state, one column per
metric (NaN where a job has no value), and a fit's objective columns.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from launcher.report.status import in_order, read_sweep
from launcher.report.trees import UNKNOWN, RunTrees
from launcher.run.jsonfile import is_number
from launcher.run.results import load_results
from launcher.sweep.lock import is_swept
from launcher.sweep.compose import simple_override
from launcher.sweep.overrides import literal_text
from launcher.sweep.consistency import fit_tolerance, is_consistent
from launcher.sweep.manifest import COMPLETED, JobEntry, Manifest


def parse_overrides(overrides: Sequence[str], typed: bool = False) -> dict[str, Any]:
    """``["a=1", "+b='x y'", "c=true", "d=a\\,b"]`` -> ``{"a": "1", "b": "x y", "c": "true", "d": "a,b"}``;
    ``typed``: each value as Hydra reads it (:func:`hydra_value`): ``{"a": 1, "b": "x y", "c": True, ...}``.
    A string is the one the job got in both (Hydra's escapes read, a ``${`` escaped for OmegaConf
    as itself). Deletions (``~a``) carry no value."""
    values = {}
    for override in overrides:
        key, sep, text = override.partition("=")
        if sep:
            if typed:
                value = hydra_value(override)
            else:  # Hydra's parser only where the text holds an escape (parsing every line would cost 0.3 ms each)
                value = hydra_value(override) if "\\" in text else None
                value = value if isinstance(value, str) else _unquote(text)
            # a list or dict of the cache is shared: each job gets its own, to change as it likes
            values[key.lstrip("+~")] = copy.deepcopy(value) if isinstance(value, (list, dict)) else value
    return values


#: A float in Hydra's grammar (a fraction or an exponent: ``1.5e-05``, ``.5``; not ``007.5``, a
#: string to Hydra), which Python's float() reads as Hydra does; tests compare the two.
_FLOAT = re.compile(r"[+-]?(?:(?:0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+|(?:0|[1-9][0-9]*)(?=[eE]))(?:[eE][+-]?[0-9]+)?")


@functools.lru_cache(maxsize=1 << 16)
def hydra_value(override: str) -> Any:
    """The value of a ``key=value`` override as Hydra reads it; the text after ``=`` (unquoted)
    if Hydra cannot read it (a hand-edited manifest). Cached: a grid repeats each line over
    many jobs, and Hydra's parser takes about 0.3 ms a line where it is not bypassed."""
    text = override.partition("=")[2]
    if _FLOAT.fullmatch(text):  # first: a fit's values each differ, and str() writes small ones 1.5e-05
        return float(text)
    simple = simple_override(override)
    if simple is not None:
        return simple.value()
    try:
        parsed = _parser().parse_override(override)
    except HydraException:
        parsed = None
    if parsed is None or parsed.is_sweep_override():
        return _unquote(text)
    value = parsed.value()
    return literal_text(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=None)
def _parser() -> OverridesParser:
    return OverridesParser.create()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


#: An integer as an override or a YAML file writes it (a column of them is one of integers).
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _integral(values: pd.Series) -> bool:
    """Every number of a float column (NaN aside) is a whole number."""
    present = values.dropna()
    return bool(np.isfinite(present).all() and (present == np.round(present)).all())


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    """The column of texts as numbers if every value is one: integers (nullable Int64 where some
    are missing) when every value is a whole number and one at least is written as an integer
    (``1``, and ``4000.0`` read from a tree), else floats."""
    try:
        numbers = pd.to_numeric(column)
    except (ValueError, TypeError):
        return column
    if pd.api.types.is_float_dtype(numbers) and _integral(numbers) and any(
        isinstance(text, str) and _INTEGER.fullmatch(text) for text in column
    ):  # (the texts read last: most float columns are not whole numbers)
        return _as_integers(numbers, column)
    return numbers


def _as_integers(numbers: pd.Series, fallback: pd.Series) -> pd.Series:
    """``numbers`` as int64 (Int64 where some are missing); ``fallback`` if they do not fit in 64 bits."""
    try:
        return numbers.astype("int64" if numbers.notna().all() else "Int64")
    except (OverflowError, TypeError, ValueError):
        return fallback


def _typed_column(values: list[Any]) -> pd.Series:
    """Python values as a column of their type: int64 (Int64 with <NA> where some miss; whole
    floats read from a tree, such as ``4000.0``, among integers count as integers), float64 (NaN
    for None), bool, else object (each value as it is, None where a job has none)."""
    kinds = {type(value) for value in values if value is not None}
    complete = bool(kinds) and all(value is not None for value in values)
    if kinds == {int} and complete:
        return pd.Series(values, dtype="int64")
    if kinds and kinds <= {int, float}:
        numbers = pd.Series([np.nan if value is None else value for value in values], dtype="float64")
        if int in kinds and _integral(numbers):
            return _as_integers(numbers, numbers)
        return numbers
    if kinds == {bool} and complete:
        return pd.Series(values, dtype=bool)
    return pd.Series(values, dtype=object)


def _duration(record: Optional[dict[str, Any]]) -> float:
    """A run's time in seconds (``timings.total_s`` of its results.json), NaN if not recorded."""
    total = (record or {}).get("timings", {}).get("total_s")
    return float(total) if is_number(total) else np.nan


def _job_results(job: JobEntry, sweep_dir: str) -> tuple[dict[str, Any], list[str], Optional[dict[str, Any]]]:
    """The metrics of a completed job (nothing for any other), the names of the metrics its
    results.json holds, whatever its state or config, and the record if it is this job's (its
    config's); folds results.json into the job's entry.

    A results.json written for another config (an earlier sweep into the same
    directory) is not this job's: its metrics are not the job's, but their names say
    which columns the model's table has when no job of this sweep has a value.
    """
    found = load_results(os.path.join(sweep_dir, job.run_dir))
    record = job.take_results(found)
    names = list(found["metrics"]) if isinstance(found, dict) else []
    if record is None or job.state != COMPLETED:
        return {}, names, record
    return dict(record["metrics"]), names, record


def _first_seen(dicts: Iterable[Iterable[str]]) -> list[str]:
    """The keys of all dicts (or names of all lists), each once, in the order they first appear."""
    return list(dict.fromkeys(key for d in dicts for key in d))


def summary_table(sweep_dir: Path | str, manifest: Optional[Manifest] = None, full: bool = False) -> pd.DataFrame:
    """One row per job (in job order): ``job``, the swept parameters, ``state``, the metrics.
    A job's value of a key it did not override (another job of the directory did) is its
    resolved tree's (:func:`_fill_from_trees`); integers stay integers (Int64 where some miss).

    A metric has its column if any job's results.json names it, even when no job has a
    value: a sweep whose every job failed keeps the columns of an earlier run of the
    same directories; with no metric named anywhere, there are no metric columns.
    ``manifest``: the sweep's, if already read (else read here, see :func:`read_sweep`).

    ``full`` (for :func:`launcher.report.load.load`): parameters as Hydra reads their overrides
    (:func:`parse_overrides` ``typed``: ``true`` a bool, ``'1'`` a string) rather than numbers where every
    value is one (summary.csv), and two more columns at the end: ``run_dir`` (the sweep directory
    joined with the job's) and ``duration_s`` (its run's ``timings.total_s``, NaN if none).
    """
    sweep_dir = Path(sweep_dir)
    manifest = manifest or read_sweep(sweep_dir)[0]
    jobs = in_order(manifest.jobs)
    read = [_job_results(job, str(sweep_dir)) for job in jobs]  # also updates each job's state
    manifest.settle(swept=is_swept(sweep_dir))  # a job no process runs any more is interrupted
    metrics = [values for values, _, _ in read]
    params = [parse_overrides(job.overrides, typed=full) for job in jobs]
    keys = _first_seen(params)
    _fill_from_trees(params, keys, jobs, str(sweep_dir), typed=full)
    columns: dict[str, pd.Series] = {"job": pd.Series([job.number for job in jobs], dtype="int64")}
    for key in keys:
        values = [row.get(key) for row in params]
        columns[key] = _typed_column(values) if full else _numeric_if_possible(pd.Series(values, dtype=object))
    columns["state"] = pd.Series([job.state for job in jobs], dtype=object)
    for key in _first_seen([*metrics, *(names for _, names, _ in read)]):
        columns[key] = pd.to_numeric(_column(metrics, key), errors="coerce")  # anything but a number: NaN
    if manifest.fit:
        columns.update(fit_columns(jobs, manifest.fit, metrics))
    if full:
        columns["run_dir"] = pd.Series([os.path.join(sweep_dir, job.run_dir) for job in jobs], dtype=object)
        columns["duration_s"] = pd.Series([_duration(record) for _, _, record in read], dtype="float64")
    return pd.DataFrame(columns)


def _fill_from_trees(params: list[dict[str, Any]], keys: list[str], jobs: Sequence[JobEntry], sweep_dir: str, typed: bool) -> None:
    """Give each job's row (``params``) the value it ran with of every key any job overrides
    (``keys``): read from its resolved tree (:class:`launcher.report.trees.RunTrees`), only for
    the rows that lack a key, so that a sweep whose jobs all set the same keys reads no tree. A value its files do not give (a
    job that never started, a key its tree does not have) stays missing. ``typed``: as YAML reads
    it, else as the text an override would give (what summary.csv's columns are read from)."""
    trees = RunTrees(sweep_dir)
    for job, row in zip(jobs, params):
        if len(row) == len(keys):  # it sets every key itself
            continue
        for key in keys:
            if key not in row:
                value = trees.value(job.run_dir, key)
                if value is not UNKNOWN:
                    row[key] = value if typed else _override_text(value)


def _override_text(value: Any) -> Optional[str]:
    """A tree's value written as in an override (``true``, ``4000.0``), None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def objective_columns(fit: dict[str, Any]) -> list[str]:
    """The table's columns of a fit's objective: ``objective`` (one value: a metric, or the loss of
    targets), or ``objective:<metric>`` for each metric of a multi-objective fit."""
    directions = fit.get("directions") or ["minimize"]
    return ["objective"] if len(directions) == 1 else [f"objective:{name}" for name in fit.get("metrics", [])]


def fit_columns(jobs: Sequence[JobEntry], fit: dict[str, Any], metrics: Optional[Sequence[dict[str, Any]]] = None) -> dict[str, pd.Series]:
    """A fit's columns: the value(s) told to the sampler for each trial (NaN: none, the trial
    failed), ``best``: the best trial (of several objectives, every trial no other beats in all),
    and for a fit to targets, given each job's ``metrics``: ``consistent``, every target metric
    within the fit's tolerance of its target (:mod:`launcher.sweep.consistency`)."""
    names = objective_columns(fit)
    values = np.array([job.values if job.values and len(job.values) == len(names) else [np.nan] * len(names) for job in jobs], dtype=float)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in (fit.get("directions") or ["minimize"])])
    scores = values.reshape(len(jobs), len(names)) * signs  # lower is better in every column
    valid = ~np.isnan(scores).any(axis=1)
    best = np.zeros(len(jobs), dtype=bool)
    for i in np.flatnonzero(valid):  # not dominated: no trial at least as good in all, better in one
        others = scores[valid]
        best[i] = not np.any(np.all(others <= scores[i], axis=1) & np.any(others < scores[i], axis=1))
    columns = {name: pd.Series(values[:, k] if len(jobs) else [], dtype="float64") for k, name in enumerate(names)}
    columns["best"] = pd.Series(best, dtype=bool)
    if fit.get("targets") and metrics is not None:
        tolerance = fit_tolerance(fit)
        columns["consistent"] = pd.Series([is_consistent(row, fit["targets"], tolerance) for row in metrics], dtype=bool)
    return columns


def _column(rows: list[dict[str, Any]], key: str) -> pd.Series:
    """The values of ``key`` in each row, None where a row has none."""
    return pd.Series([row.get(key) for row in rows], dtype=object)


def split_columns(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The parameter columns (between ``job`` and ``state``) and the metric columns (after ``state``)."""
    columns = list(table.columns)
    state = columns.index("state")
    return columns[1:state], columns[state + 1 :]
