"""A mozaik run's single values, read from the results mozaik stored, in the model's own environment.

Run by the job after the run script, with the interpreter that ran it (``task.env``'s)::

    python datastore_values.py RUN_DIR                      # mozaik's stored results
    python datastore_values.py RUN_DIR module.function      # a function of the user's: function(run_dir) -> mapping

It prints one JSON object on its last line of standard output: ``{"values": {name: number}}``, or
``{"problem": "..."}`` saying why there are none. mozaik's datastore is pickled and can only be read with
mozaik's classes, so this file needs mozaik and the standard library only (never this project's package,
which the model's environment need not have), and it is run as a file, not imported.

From each mozaik datastore under RUN_DIR (a folder holding ``datastore.analysis.pickle``):

- each ``SingleValue`` result as ``<sheet>.<value name>`` (``V1_Exc_L4.Firing_rate``);
- each ``PerNeuronValue`` as its mean over the neurons, ``<sheet>.<value name>.mean``, and their spread
  (standard deviation), ``<sheet>.<value name>.std``, over the neurons with a finite value (a silent neuron's
  irregularity is NaN); a result of the whole model (no sheet) is named without one;

names made of letters, digits and ``_ . -`` (others become ``_``), in the order of their names; a name met again
(another stimulus, another datastore) gets ``#2``, ``#3``... in the order of the results' stimuli (mozaik's
stimulus id, as text), then of their analyses: never in the order mozaik stored them, which changes from run to
run (mozaik's ``PopulationMeanAndVar`` stores its values in a different order in each run of the same model), so
that a name means the same result in every job of a sweep.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import sys
from collections import Counter

#: The file mozaik's PickledDataStore keeps its analysis results in, in its root directory.
ANALYSIS_FILE = "datastore.analysis.pickle"
#: How deep under the run directory datastores are looked for (mozaik writes them one or two levels down).
MAX_DEPTH = 3


def datastores(run_dir: str) -> list[str]:
    """The mozaik datastore directories under ``run_dir``, sorted."""
    found = []
    for root, dirs, files in os.walk(run_dir):
        if ANALYSIS_FILE in files:
            found.append(root)
        if root[len(run_dir) :].count(os.sep) >= MAX_DEPTH:
            dirs[:] = []
    return sorted(found)


def _name(sheet: object, *parts: object) -> str:
    """``<sheet>.<parts>``, or ``<parts>`` for a result of the whole model (no sheet)."""
    named = [sheet, *parts] if sheet is not None else list(parts)
    return ".".join(re.sub(r"[^\w.-]+", "_", str(part)).strip("_") or "_" for part in named)


def _order(store: int, result: object) -> tuple:
    """Where a result goes among those of its name: its datastore, its stimulus, its analysis (as text)."""
    return (store, *(str(getattr(result, field, None)) for field in ("stimulus_id", "analysis_algorithm", "tags")))


def mozaik_values(run_dir: str) -> dict:
    """The SingleValue and PerNeuronValue results of every datastore under ``run_dir``, as single values."""
    stores = datastores(run_dir)
    if not stores:
        return {"problem": f"no mozaik datastore ({ANALYSIS_FILE}) under {run_dir}: did the run script save it?"}
    from mozaik.storage.datastore import PickledDataStore
    from parameters import ParameterSet

    entries: list = []  # (name, what tells results of one name apart, value)
    found: Counter = Counter()
    for number, root in enumerate(stores):
        store = PickledDataStore(load=True, parameters=ParameterSet({"root_directory": root, "store_stimuli": False}), replace=False)
        for result in store.get_analysis_result():  # every analysis result, by its identifier (its class's name)
            found[getattr(result, "identifier", type(result).__name__)] += 1
        for result in store.get_analysis_result(identifier="SingleValue"):
            entries.append((_name(result.sheet_name, result.value_name), _order(number, result), float(result.value)))
        for result in store.get_analysis_result(identifier="PerNeuronValue"):
            numbers = [float(v) for v in result.values if math.isfinite(float(v))]  # a silent neuron's CV is NaN
            if not numbers:
                continue
            mean = math.fsum(numbers) / len(numbers)
            spread = math.sqrt(math.fsum((v - mean) ** 2 for v in numbers) / len(numbers))
            entries.append((_name(result.sheet_name, result.value_name, "mean"), _order(number, result), mean))
            entries.append((_name(result.sheet_name, result.value_name, "std"), _order(number, result), spread))
    values: dict = {}
    for name, _, value in sorted(entries, key=lambda entry: entry[:2]):
        unique, number = name, 2
        while unique in values:
            unique, number = f"{name}#{number}", number + 1
        values[unique] = value
    if not values:
        held = ", ".join(f"{count} {kind}" for kind, count in sorted(found.items())) or "no analysis results"
        return {"problem": f"the mozaik datastore ({', '.join(stores)}) holds no SingleValue or PerNeuronValue: it holds {held}"}
    return {"values": values}


def function_values(run_dir: str, target: str) -> dict:
    """The mapping a user's ``module.function(run_dir)`` returns (the model's directory on the path)."""
    module_name, _, function_name = target.rpartition(".")
    if not module_name:
        return {"problem": f"{target!r}: name a function as module.function"}
    module = importlib.import_module(module_name)
    values = getattr(module, function_name)(run_dir)
    if not isinstance(values, dict):
        return {"problem": f"{target}({run_dir!r}) returned {type(values).__name__}, not a mapping of names to numbers"}
    return {"values": values}


def main(argv: list[str]) -> int:
    run_dir, target = argv[0], (argv[1] if len(argv) > 1 else "mozaik")
    try:
        answer = mozaik_values(run_dir) if target == "mozaik" else function_values(run_dir, target)
    except ImportError as exc:
        answer = {"problem": f"cannot import {exc.name or exc} in {sys.executable}: install it in the model's environment (task.env)"}
    print(json.dumps(answer, allow_nan=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
