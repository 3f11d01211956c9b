"""mozaik's Slurm job shape, in-process: the sbatch file submitit writes for a job of one task and for an MPI
job (``--ntasks`` of ``--cpus-per-task``, the wrapper once in the batch step), the limits a job asks for only when
given, the shape of each job read from its overrides, and the command that starts a run script's ranks.

The live counterpart (a real MPI program on the local cluster):
``slurm/test_slurm.py::test_an_mpi_search_runs_each_job_as_ranks_under_srun_with_no_limit_it_did_not_give``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hydra.errors import HydraException
from omegaconf import OmegaConf

from launcher.launchers import slurm, slurm_queue
from launcher.launchers.slurm import IGNORE_WARNING, MozaikSlurmConf, SlurmSweepLauncher
from launcher.mozaik.script_task import script_command, telling_line

#: What the ``submitit_slurm`` preset gives the launcher, resolved for a model without threads or task.mpi.
PRESET = dict(cpus_per_task=1, ntasks=1, nodes=None, mem_gb=None, timeout_min=None, signal_delay_s=60, max_num_timeout=0, tasks_per_node=1)


def sbatch_file(tmp_path: Path, *shapes: tuple[int, int], **settings) -> str:
    """The sbatch file of a job of the last of ``shapes`` (CPUs per task, tasks; by default (1, 1)) under the preset
    with ``settings``, after the groups of jobs of the others in the same launch."""
    launcher = SlurmSweepLauncher(submitit_folder=str(tmp_path / "%j"), **{**PRESET, **settings})
    executor = launcher._executor()
    for shape in shapes or [(1, 1)]:
        executor.update_parameters(**launcher._shape_parameters(*shape))
    return executor._executor._make_submission_file_text("python -c pass", "x")


def flags(sbatch: str) -> dict[str, str]:
    return dict(line[len("#SBATCH --") :].partition("=")[::2] for line in sbatch.splitlines() if line.startswith("#SBATCH --"))


def test_a_job_asks_for_no_memory_and_the_partition_s_own_time_unless_given(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(slurm, "partition_time_limit", lambda partition: None)  # an unlimited partition
    default = flags(sbatch_file(tmp_path))
    assert "mem" not in default and "time" not in default, default  # submitit alone would write --time=5
    monkeypatch.setattr(slurm, "partition_time_limit", lambda partition: 2880 if partition == "long" else None)
    launcher = SlurmSweepLauncher(submitit_folder=str(tmp_path / "%j"), **{**PRESET, "partition": "long"})
    executor = launcher._executor()
    assert "time" not in flags(executor._executor._make_submission_file_text("python -c pass", "x"))
    assert launcher.unasked_time_limit == 2880  # what Slurm gives the job, for submitit's handler of the warning
    given = flags(sbatch_file(tmp_path, partition="long", timeout_min=30, mem_gb=2))
    assert given["time"] == "30" and given["mem"] == "2GB"


def test_a_partition_s_time_limit_is_its_default_time_else_its_max_time(monkeypatch) -> None:
    answers = {
        None: "PartitionName=a Default=NO MaxTime=10:00\nPartitionName=b Default=YES DefaultTime=01:00:00 MaxTime=2-00:00:00\n",
        "c": "PartitionName=c Default=NO DefaultTime=NONE MaxTime=2-00:00:00\n",
        "d": "PartitionName=d Default=NO DefaultTime=NONE MaxTime=UNLIMITED\n",
        "e": "",  # no such partition
    }
    monkeypatch.setattr(slurm_queue, "_run", lambda command: subprocess.CompletedProcess(command, 0, answers[command[4] if len(command) > 4 else None], ""))
    assert [slurm_queue.partition_time_limit(p) for p in (None, "c", "d", "e")] == [60, 2880, None, None]


def test_an_mpi_job_is_ntasks_of_its_threads_with_its_wrapper_once_in_the_batch_step(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(slurm, "partition_time_limit", lambda partition: None)
    sbatch = sbatch_file(tmp_path, (3, 2), additional_parameters={"hint": "nomultithread"}, setup=["module load mpi"])
    given = flags(sbatch)
    assert (given["ntasks"], given["cpus-per-task"], given["nodes"]) == ("2", "3", "1-2")  # -n num_mpi -c num_threads
    assert given["ntasks-per-node"] == "2" and given["hint"] == "nomultithread"
    # the wrapper is not under srun (the script's ranks are); the warning before the limit goes to the batch
    # shell only, which ignores it: sent to the steps, it would kill the ranks
    assert "srun" not in sbatch and given["signal"] == "B:USR2@60", sbatch
    assert sbatch.index("module load mpi") < sbatch.index(IGNORE_WARNING) < sbatch.index("python -c pass")
    assert flags(sbatch_file(tmp_path, (1, 2), nodes=1))["nodes"] == "1"  # -N 1-1 from slurm_options
    one = sbatch_file(tmp_path, (1, 2), (4, 1))  # a sweep of task.mpi=2,1: nothing of the MPI group is left
    assert "srun --unbuffered" in one and "ntasks" not in flags(one) and IGNORE_WARNING not in one, one
    assert flags(one)["signal"] == "USR2@60" and flags(one)["nodes"] == "1" and flags(one)["cpus-per-task"] == "4"


def test_each_job_s_shape_comes_from_its_overrides_else_the_launcher_s(tmp_path) -> None:
    launcher = SlurmSweepLauncher(**{**PRESET, "cpus_per_task": 2, "ntasks": 3})
    assert launcher._shape([]) == (2, 3)
    assert launcher._shape(["task.mpi=4", "task.threads=1", "a=5"]) == (1, 4)
    assert launcher._shape(["threads=8"]) == (8, 3)
    with pytest.raises(HydraException, match="task.mpi = 0"):
        launcher._shape(["task.mpi=0"])
    with pytest.raises(HydraException, match="hydra.launcher.ntasks = 0"):
        SlurmSweepLauncher(**{**PRESET, "ntasks": 0})
    with pytest.raises(HydraException, match="tasks_per_node = 2: each job's wrapper would run once per task"):
        SlurmSweepLauncher(**{**PRESET, "tasks_per_node": 2})


def test_the_preset_takes_a_mozaik_model_s_threads_and_mpi() -> None:
    def resolved(model: dict) -> tuple[int, int]:
        cfg = OmegaConf.create({**model, "hydra": {"launcher": OmegaConf.structured(MozaikSlurmConf)}})
        return cfg.hydra.launcher.cpus_per_task, cfg.hydra.launcher.ntasks

    assert resolved({"task": {"threads": 1, "mpi": 2}}) == (1, 2)  # import-mozaik's task
    assert resolved({"threads": 4}) == (4, 1)  # the default model
    assert resolved({}) == (1, 1)


def test_a_script_s_ranks_start_under_srun_in_a_slurm_job_and_mpirun_elsewhere(monkeypatch) -> None:
    def command(mpi: int, mpirun="auto") -> list[str]:
        return script_command("py", "run.py", "nest", 2, mpi, mpirun, Path("p"))

    arguments = ["run.py", "nest", "2", "p", "ParameterSearch"]  # mozaik's command line
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("MOZAIK_SRUN_MPI", raising=False)
    assert command(1) == ["py", *arguments]
    assert command(3) == ["mpirun", "-n", "3", "py", "-m", "mpi4py", *arguments]
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert command(3)[:5] == ["srun", "--mpi=pmi2", "--ntasks=3", "--cpus-per-task=2", "--kill-on-bad-exit=1"]
    monkeypatch.setenv("MOZAIK_SRUN_MPI", "pmix")
    assert command(3)[1] == "--mpi=pmix"
    assert command(3, ["srun", "--mpi=pmix"])[:4] == ["srun", "--mpi=pmix", "-n", "3"]
    assert command(3, "mpiexec")[:3] == ["mpiexec", "-n", "3"]
    with pytest.raises(ValueError, match=r"task.mpirun = \[\]: give auto, a program"):
        command(3, [])


def test_a_failed_script_is_told_by_its_own_last_line_not_the_mpi_launcher_s() -> None:
    srun = "RuntimeError: rank 1 of 2 fails\nAbort(1) on node 1 (rank 1 in comm 0): application called MPI_Abort\n" \
        "slurmstepd-vm: error: *** STEP 1136.0 ON vm CANCELLED ***\nsrun: error: vm: tasks 0-1: Killed\n"
    assert telling_line(srun) == "RuntimeError: rank 1 of 2 fails"
    assert telling_line("a\nValueError: x\n\n") == "ValueError: x" and telling_line("") == "no output"
    assert telling_line("srun: error: vm: task 0: Exited with exit code 2\n") == "srun: error: vm: task 0: Exited with exit code 2"
