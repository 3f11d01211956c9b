"""Collecting a sweep: its table written to ``summary.csv`` and its figures drawn, into its
directory (as the sweeper does when a sweep ends, and ``python -m launcher collect DIR``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from launcher.report.figures import write_figures
from launcher.report.fit_figures import fit_figures
from launcher.report.status import in_order, read_sweep
from launcher.report.table import summary_table
from launcher.report.trees import parameter_units, sweep_config
from launcher.sweep.declared import seed_keys
from launcher.run.jsonfile import write_atomically
from launcher.sweep.manifest import DAMAGED

SUMMARY_FILE = "summary.csv"


@dataclass
class CollectResult:
    """What :func:`collect` wrote, and what it found damaged."""

    csv: Path
    figures: list[Path] = field(default_factory=list)
    #: Why the manifest could not be read, if it could not (the table is then the run directories').
    problem: Optional[str] = None
    #: One line for each job whose results.json is damaged, naming the file.
    damaged: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [self.csv, *self.figures]

    def __str__(self) -> str:
        return ", ".join(str(path) for path in self.paths)


def collect(sweep_dir: Path | str) -> CollectResult:
    """Write ``summary.csv`` and the figures of a sweep into its directory; return their paths
    and what was found damaged (a :class:`ManifestError` for a missing or foreign manifest)."""
    sweep_dir = Path(sweep_dir)
    manifest, problem = read_sweep(sweep_dir)
    table = summary_table(sweep_dir, manifest)
    csv = write_atomically(sweep_dir / SUMMARY_FILE, lambda tmp: table.to_csv(tmp, index=False))
    damaged = [
        f"job #{job.number} is not counted as completed: {job.damage} (running the sweep again reruns it)"
        for job in in_order(manifest.jobs)
        if job.state == DAMAGED
    ]
    if manifest.fit:
        figures = fit_figures(table, sweep_dir, manifest.fit)
    else:
        config = sweep_config(str(sweep_dir), (job.run_dir for job in in_order(manifest.jobs)))
        figures = write_figures(table, sweep_dir, seed_keys(config), parameter_units(config))
    return CollectResult(csv, figures, problem, damaged)
