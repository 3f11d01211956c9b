"""Read time and peak memory of the safe mozaik reader (launcher.mozaik.parameter_files.read_parameters).

    python3 benchmarks/mozaik_reader.py [--repeat 20]

Each file is read in a child process of its own (its peak resident memory is its own, Python's start and the
imports included, some 35 MB), under a 1 GB address-space cap and a 60 s timeout: the LSV1M-style test model
(tests/data/lsv1m_style, the fastest of --repeat reads), a generated 5 MB plain literal file (``'kN': [100
floats]`` lines), the same file read by NeuralEnsemble's ``parameters`` as mozaik reads it (eval()), and the
hard files of tests/mozaik_files.py (each read or refused, naming the limit). Ends with a JSON line of the
figures. The generated files are written to a temporary directory, never committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import mozaik_files  # noqa: E402  (tests/mozaik_files.py: the hard files, and the child that reads one)

MODEL = REPO / "tests" / "data" / "lsv1m_style"


def measure(name: str, root: Path, **options: object) -> dict:
    """Read ``root`` in a child, print a line of the result, and return it."""
    result = mozaik_files.read_in_child(root, timeout=60.0, **options)  # type: ignore[arg-type]
    seconds, peak = result.get("seconds", float("nan")), result.get("peak_mb", float("nan"))
    message = result["message"].split(": ", 1)[-1][-90:] if result["outcome"] != "read" else ""
    print(f"{name:28} {result['outcome']:8} {seconds * 1000:10.1f} ms {peak:7.0f} MB  {message}")
    return {key: result[key] for key in ("outcome", "seconds", "peak_mb", "message") if key in result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="reads of the test model, the fastest counted")
    args = parser.parse_args()
    print(f"{'file':28} {'outcome':8} {'read time':>13} {'peak':>10}")
    figures: dict[str, object] = {}
    figures["lsv1m_style"] = measure(
        "lsv1m_style model", MODEL / "param" / "defaults", base_dir=MODEL, repeat=args.repeat
    )
    with tempfile.TemporaryDirectory() as directory:
        plain = mozaik_files.plain_literal(Path(directory), 5 * mozaik_files.MB)
        figures["plain_5mb"] = measure("plain 5 MB", plain)
        figures["plain_5mb_parameters"] = measure("plain 5 MB, parameters+eval", plain, reader="parameters")
    hostile = {}
    for name, case in mozaik_files.HOSTILE.items():
        with tempfile.TemporaryDirectory() as directory:
            hostile[name] = measure(name, case.make(Path(directory)))
    figures["hostile"] = hostile
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
