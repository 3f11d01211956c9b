"""The launcher protocol's own logic (launcher.launchers.protocol), the one reading of the Slurm
queue (launcher.launchers.slurm_queue.task_states) and the one atomic writer: plain functions, fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus

from launcher.launchers import slurm_queue
from launcher.launchers.protocol import (
    JobFailed, StateChange, StateReporting, TakesJobNumbers, ended_state, failed_return, failure_log, failure_message,
    queued_job_id, queued_return, returned_value, waits_for_jobs,
)  # fmt: skip
from launcher.launchers.slurm import SlurmJobFailed
from launcher.run.jsonfile import write_atomically, write_json_atomic
from launcher.sweep.manifest import JobEntry


def completed(value: object) -> JobReturn:
    ret = JobReturn(overrides=["a=1"], status=JobStatus.COMPLETED)
    ret.return_value = value
    return ret


# --- what a launcher returns ----------------------------------------------------------------------


def test_a_failed_return_holds_its_error_readable_without_raising() -> None:
    error = ValueError("x=4 is refused")
    ret = failed_return(("a=1", "b=2"), error)
    assert ret.status == JobStatus.FAILED and ret.overrides == ["a=1", "b=2"]
    assert returned_value(ret) is error
    assert ret.status == JobStatus.FAILED  # read from a copy: the return itself is left as it was
    with pytest.raises(ValueError):
        ret.return_value  # Hydra's own property still re-raises


def test_returned_value_of_a_completed_job_is_its_value() -> None:
    assert returned_value(completed({"rate": 3.0})) == {"rate": 3.0}


def test_a_queued_return_names_the_launchers_job_and_nothing_else_does() -> None:
    ret = queued_return(["a=1"], "123_4")
    assert ret.status == JobStatus.UNKNOWN and ret.overrides == ["a=1"]
    assert queued_job_id(ret) == "123_4"
    assert queued_job_id(completed("123_4")) is None
    assert queued_job_id(failed_return([], RuntimeError("123_4"))) is None
    assert queued_job_id(JobReturn()) is None  # unknown, but not left queued by a launcher


def test_the_end_state_of_a_return() -> None:
    assert ended_state(completed(None)) == "completed"
    assert ended_state(failed_return([], RuntimeError())) == "failed"


def test_a_failure_with_an_end_state_is_reported_as_its_message_says() -> None:
    error = SlurmJobFailed("TIMEOUT", "Slurm job 12_0: ended by Slurm", Path("/logs/12_0.err"))
    assert isinstance(error, JobFailed) and error.state == "TIMEOUT"
    assert failure_message(error) == "TIMEOUT: Slurm job 12_0: ended by Slurm"
    assert failure_log(error) == Path("/logs/12_0.err")


def test_any_other_failure_is_reported_with_its_type() -> None:
    assert failure_message(ValueError("x=4 is refused")) == "ValueError: x=4 is refused"
    assert failure_message(JobFailed("no state")) == "JobFailed: no state"
    assert failure_log(ValueError("x")) is None

    class Stateful(Exception):  # a `state` attribute alone does not make an end state
        state = "CANCELLED"

    assert failure_message(Stateful("CANCELLED here")) == "Stateful: CANCELLED here"


def test_a_job_failed_message_starts_with_its_state() -> None:
    assert str(JobFailed("left the queue", "NODE_FAIL")) == "NODE_FAIL: left the queue"
    assert str(JobFailed("", "CANCELLED")) == "CANCELLED"
    assert str(JobFailed("plain")) == "plain"


# --- what the sweeper asks of a launcher ----------------------------------------------------------


class Reporting(StateReporting, TakesJobNumbers):
    pass


def test_notify_tells_the_listener_only_of_changes() -> None:
    launcher = Reporting()
    launcher.notify([StateChange(0, "running")])  # nobody listens: nothing happens
    told: list = []
    launcher.on_state = told.append
    launcher.notify([])
    launcher.notify((StateChange(1, "completed", "7_1"),))
    assert told == [[(1, "completed", "7_1")]]
    assert told[0][0].launcher_job_id == "7_1" and StateChange(2, "failed") == (2, "failed", None)


def test_job_numbers_are_the_sweepers_once_else_consecutive() -> None:
    launcher = Reporting()
    assert launcher.take_job_numbers(3, 10) == [10, 11, 12]
    launcher.job_numbers = [4, 9]
    assert launcher.take_job_numbers(2, 0) == [4, 9]
    assert launcher.job_numbers is None and launcher.take_job_numbers(2, 0) == [0, 1]


def test_listeners_and_numbers_are_per_launcher() -> None:
    a, b = Reporting(), Reporting()
    a.on_state, a.job_numbers = print, [5]
    assert b.on_state is None and b.job_numbers is None


def test_only_a_reporting_launcher_that_says_so_does_not_wait() -> None:
    assert waits_for_jobs(object()) and waits_for_jobs(Reporting())
    launcher = Reporting()
    launcher.wait_for_jobs = False
    assert not waits_for_jobs(launcher)


# --- the one reading of the Slurm queue -----------------------------------------------------------


@pytest.fixture
def fake_queue(monkeypatch):
    """fake_queue(in_queue, finals): squeue answers ``in_queue`` (None: unreachable), scontrol and
    sacct ``finals``; returns the arrays asked for final states."""

    def install(in_queue, finals):
        asked: list = []
        monkeypatch.setattr(slurm_queue, "queued_tasks", lambda arrays: (list(arrays), in_queue)[1])
        monkeypatch.setattr(slurm_queue, "final_states", lambda arrays: (asked.append(set(arrays)), finals)[1])
        return asked

    return install


def test_task_states_split_queued_and_ended_tasks(fake_queue) -> None:
    asked = fake_queue({"7_0": "RUNNING ", "7_1": "PENDING", "8_5": "PENDING"}, {"7_2": "CANCELLED"})
    states = slurm_queue.task_states(["7_0", "7_1", "7_2", "7_3"])
    assert states == slurm_queue.TaskStates(queued={"7_0": "RUNNING", "7_1": "PENDING"}, ended={"7_2": "CANCELLED", "7_3": ""})
    assert asked == [{"7"}]


def test_task_states_ask_no_final_state_while_every_task_is_queued(fake_queue) -> None:
    asked = fake_queue({"7_0": "PENDING"}, {})
    assert slurm_queue.task_states(["7_0"]).ended == {} and asked == []


def test_task_states_of_an_unreachable_controller_are_unknown(fake_queue) -> None:
    fake_queue(None, {})
    assert slurm_queue.task_states(["7_0"]) is None


def test_refresh_states_follows_the_queue(fake_queue) -> None:
    fake_queue({"7_0": "RUNNING", "7_1": "PENDING"}, {"7_2": "TIMEOUT"})
    jobs = [JobEntry(number=i, overrides=[f"a={i}"], run_dir=f"a={i}", config_hash="h", state="pending", slurm_job_id=f"7_{i}") for i in range(4)]
    done = JobEntry(number=4, overrides=["a=4"], run_dir="a=4", config_hash="h", state="completed", slurm_job_id="7_4")
    slurm_queue.refresh_states([*jobs, done])
    assert [job.state for job in jobs] == ["running", "pending", "failed", "failed"]
    assert jobs[2].error == "TIMEOUT: Slurm job 7_2 left the queue without a result"
    assert jobs[3].error.startswith("CANCELLED or LOST")
    assert done.state == "completed"


# --- the one atomic writer ------------------------------------------------------------------------


def test_an_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"state": "completed"})
    assert json.loads(path.read_text()) == {"state": "completed"}

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("{")
        raise OSError("no space left on device")

    with pytest.raises(OSError):
        write_atomically(path, half_then_fail, durable=True)
    assert json.loads(path.read_text()) == {"state": "completed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary file left
    assert write_atomically(tmp_path / "summary.csv", lambda tmp: tmp.write_text("job\n")).read_text() == "job\n"


# --- packed Slurm tasks (launcher.launchers.slurm_pack) ------------------------------------------


def test_auto_packs_to_the_target_time_but_never_leaves_slots_idle_nor_nears_the_time_limit() -> None:
    from launcher.launchers.slurm_pack import auto_jobs_per_task

    # 200 short jobs on 2 CPUs: one task per CPU, 100 jobs each (3 minutes hold 180 of them)
    assert auto_jobs_per_task(200, [], slots=2, array_parallelism=256, timeout_min=60, target_s=180, default_job_s=1.0) == 100
    # 10-second jobs by their earlier runs (the median): 18 fill the 3 minutes
    assert auto_jobs_per_task(10_000, [9.0, 10.0, 500.0], 100, 256, 60, 180, 1.0) == 18
    # array_parallelism bounds the tasks at once as the cluster's slots do
    assert auto_jobs_per_task(40, [], 1000, 4, 60, 180, 1.0) == 10
    # jobs of 20 minutes: one a task (two would fill 40 of its 60 minutes: more than half)
    assert auto_jobs_per_task(50, [1200.0], 10, 256, 60, 180, 1.0) == 1
    assert auto_jobs_per_task(50, [], None, 256, 60, 180, 1.0) == 1  # slots unknown: array_parallelism=256


class _FakeTask:
    def __init__(self, job_id: str, folder: Path) -> None:
        self.job_id = job_id
        self.paths = type("Paths", (), {"result_pickle": folder / f"{job_id}_result.pkl", "stderr": folder / f"{job_id}.err"})()


def test_a_cancelled_pack_keeps_its_completed_jobs_and_gives_the_others_its_state(tmp_path: Path, monkeypatch) -> None:
    from launcher.launchers import slurm
    from launcher.launchers.slurm_pack import _write_return, return_file

    # Two packs of two jobs (numbers 10-13): the first ran its first job, then was cancelled;
    # the second ran both.
    for number in (10, 12, 13):
        _write_return(return_file(tmp_path, number), completed({"rate": number}))
    monkeypatch.setattr(slurm, "task_states", lambda ids: slurm_queue.TaskStates(queued={}, ended={"5_0": "CANCELLED", "5_1": "FAILED"}))
    launcher = slurm.SlurmSweepLauncher(poll_interval_s=0.0, jobs_per_task=2)
    told: list[StateChange] = []
    launcher.on_state = told.extend
    tasks = [_FakeTask("5_0", tmp_path), _FakeTask("5_1", tmp_path)]
    overrides = [[f"a={i}"] for i in range(4)]
    rets = launcher.wait_packs(tasks, [[0, 1], [2, 3]], overrides, tmp_path, initial_job_idx=10)
    assert [ret.status for ret in rets] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.COMPLETED]
    assert returned_value(rets[0]) == {"rate": 10}
    assert failure_message(returned_value(rets[1])) == "CANCELLED: Slurm job 5_0: ended by Slurm before this job ended"
    assert sorted(told) == [StateChange(0, "completed", "5_0"), StateChange(1, "failed", "5_0"), StateChange(2, "completed", "5_1"), StateChange(3, "completed", "5_1")]


def test_jobs_per_task_must_be_a_count_or_auto() -> None:
    from hydra.errors import HydraException

    from launcher.launchers.slurm import SlurmSweepLauncher

    assert SlurmSweepLauncher(jobs_per_task="auto").jobs_per_task == "auto"
    for wrong in (0, "3", 2.5, True):
        with pytest.raises(HydraException, match="jobs_per_task"):
            SlurmSweepLauncher(jobs_per_task=wrong)


def test_the_warning_before_a_short_time_limit_is_a_fraction_of_it(tmp_path) -> None:
    from launcher.launchers.slurm import SlurmSweepLauncher, signal_delay

    assert signal_delay(60, 60) == 60 and signal_delay(240, 90) == 90  # a long limit: as given
    assert signal_delay(1, 60) == 20 and signal_delay(2, 60) == 40 and signal_delay(0.01, 60) == 1
    assert signal_delay(None, 60) == 60 and signal_delay(1, None) is None
    launcher = SlurmSweepLauncher(submitit_folder=str(tmp_path / "%j"), timeout_min=1, signal_delay_s=60, max_num_timeout=0)
    executor = launcher._executor()
    sbatch = executor._executor._make_submission_file_text("python -c pass", "x")
    assert "#SBATCH --signal=USR2@20" in sbatch and "#SBATCH --time=1" in sbatch, sbatch
