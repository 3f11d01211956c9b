"""The time-left estimate of the progress line, and the model's seed keys it and a fit read:
plain functions, no sweep (launcher.sweep.progress, launcher.sweep.declared)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import List, Optional

import pytest
from omegaconf import OmegaConf

from launcher.sweep.declared import SeedKeysError, produced_metrics, seed_keys
from launcher.sweep.fit import refuse_searched_seeds
from launcher.sweep.progress import Progress, configuration, predict_durations, time_left
from launcher.sweep.tree import ParameterError


def job(*overrides: str, seeds=("pynn_seed",)) -> dict:
    """A job's swept values, seeds aside."""
    return dict(configuration(list(overrides), seeds))


def left_time(elapsed: float, done: int, finished: list, left: list) -> float:
    durations = [duration for _, duration in finished]
    return time_left(elapsed, done, (sum(durations), len(durations)), sum(predict_durations(finished, left)), len(left))


def test_jobs_left_are_predicted_by_the_finished_jobs_of_their_configuration_seeds_aside() -> None:
    """The issue's case: density 1000 then 4000, three seeds each, run in order. After the three
    short jobs and one long one, the two long jobs left take 45 s each, not the mean 21 s."""
    finished = [(job("d=1000", f"pynn_seed={s}"), 10.0) for s in (1, 2, 3)] + [(job("d=4000", "pynn_seed=1"), 45.0)]
    left = [job("d=4000", "pynn_seed=2"), job("d=4000", "pynn_seed=3")]
    assert predict_durations(finished, left) == [45.0, 45.0]
    # one job at a time: 75 s elapsed for 75 s of work, 90 s of work left (a plain mean: 37.5 s)
    assert left_time(75.0, 4, finished, left) == pytest.approx(90.0)


def test_the_seed_keys_a_model_declares_make_jobs_alike() -> None:
    finished = [(job("net.w=1", "net.seed=1", seeds=("net.seed",)), 30.0), (job("net.w=2", "net.seed=2", seeds=("net.seed",)), 5.0),
                (job("net.w=2", "net.seed=3", seeds=("net.seed",)), 7.0)]
    assert predict_durations(finished, [job("net.w=1", "net.seed=2", seeds=("net.seed",))]) == [30.0]
    # with the default seed key, net.seed is a parameter, whose values spread the durations most (25 s):
    # the job left is taken for one of net.seed=2
    as_parameter = [(job("net.w=1", "net.seed=1"), 30.0), (job("net.w=2", "net.seed=2"), 5.0), (job("net.w=2", "net.seed=3"), 7.0)]
    assert predict_durations(as_parameter, [job("net.w=1", "net.seed=2")]) == [5.0]


def test_numeric_keys_not_run_yet_are_predicted_by_a_line_through_the_finished_configurations() -> None:
    finished = [(job("d=1000"), 10.0), (job("d=2000"), 21.0), (job("d=2000", "pynn_seed=2"), 19.0), (job("d=3000"), 30.0)]
    assert predict_durations(finished, [job("d=4000"), job("d=5000")]) == pytest.approx([40.0, 50.0])
    # two configurations draw no line (it would pass through any two): the jobs of its value of m, as d=4000 is new
    assert predict_durations([(job("d=1000", "m=a"), 10.0), (job("d=2000", "m=b"), 20.0)], [job("d=4000", "m=a")]) == [10.0]
    # a line never predicts less than nothing
    assert predict_durations([(job("d=1"), 10.0), (job("d=2"), 5.5), (job("d=3"), 1.0)], [job("d=10")]) == [0.0]


def test_durations_the_swept_numbers_do_not_explain_draw_no_line() -> None:
    """Four jobs of tiny noisy durations over two numeric keys: a plane through them would put the
    far corner at 2.0 s; it explains too little of their variation, so the overall mean is taken."""
    finished = [(job("w=1", "r=1"), 0.5), (job("w=1", "r=2"), 0.7), (job("w=2", "r=1"), 0.9), (job("w=2", "r=2"), 0.6)]
    assert predict_durations(finished, [job("w=4", "r=4")]) == [pytest.approx(0.675)]


def test_other_values_are_predicted_by_the_key_whose_values_most_change_the_duration() -> None:
    finished = [(job("model=a", "size=big", "sim=nest"), 40.0), (job("model=b", "size=small", "sim=nest"), 4.0),
                (job("model=a", "size=small", "sim=brian"), 6.0)]
    # per-value means spread by 35 s over size, 19 s over model, 16 s over sim
    assert predict_durations(finished, [job("model=b", "size=big", "sim=brian")]) == [40.0]
    assert predict_durations(finished, [job("model=b", "size=huge", "sim=brian")]) == [4.0]  # size not seen: model
    assert predict_durations(finished, [job("model=c", "size=tiny", "sim=neuron")]) == [pytest.approx(50.0 / 3)]  # none: the mean


def test_the_time_left_follows_the_launchers_parallelism_and_falls_back_to_the_plain_mean() -> None:
    # two at a time: 10 s elapsed for 20 s of work; two more 10 s jobs take 10 s more
    finished = [(job("a=1"), 10.0), (job("a=2"), 10.0)]
    assert left_time(10.0, 2, finished, [job("a=1", "pynn_seed=2"), job("a=2", "pynn_seed=2")]) == pytest.approx(10.0)
    # one job of three known (10 s): the other two counted at 10 s; 15 s elapsed for 30 s of work
    assert time_left(15.0, 3, (10.0, 1), 20.0, 2) == pytest.approx(10.0)
    # no duration known (a launcher that tells no start, failed jobs only): elapsed per job done
    assert time_left(30.0, 3, (0.0, 0), math.nan, 2) == pytest.approx(20.0)
    assert math.isnan(time_left(0.0, 0, (0.0, 0), math.nan, 1))


@dataclass
class FakeJob:
    number: int
    overrides: List[str]
    started: Optional[str] = None
    finished: Optional[str] = None


def test_the_progress_line_takes_durations_from_the_manifest_times_and_leaves_failed_jobs_out(caplog: pytest.LogCaptureFixture) -> None:
    jobs = [FakeJob(0, ["d=1", "pynn_seed=1"]), FakeJob(1, ["d=1", "pynn_seed=2"]), FakeJob(2, ["d=4", "pynn_seed=1"]),
            FakeJob(3, ["d=4", "pynn_seed=2"])]
    progress = Progress(jobs, ("pynn_seed",))
    jobs[0].started, jobs[0].finished = "2026-12-07T10:00:00+00:00", "2026-12-07T10:00:10+00:00"
    jobs[1].started, jobs[1].finished = "2026-12-07T10:00:10+00:00", "2026-12-07T10:00:11+00:00"
    jobs[2].started, jobs[2].finished = "2026-12-07T10:00:11+00:00", "2026-12-07T10:01:01+00:00"
    with caplog.at_level(logging.INFO, logger="launcher.sweep.progress"):
        progress.job_finished(jobs[0], failed=False)
        progress.job_finished(jobs[1], failed=True)  # failed after 1 s: not how long its configuration takes
        progress.job_finished(jobs[2], failed=False)
    assert progress.finished == [((("d", "1"),), 10.0), ((("d", "4"),), 50.0)] and progress.known == (60.0, 2)
    assert progress.left == {(("d", "4"),): 1}
    assert caplog.records[-1].getMessage().startswith("Progress: 3/4 jobs done (1 failed), about ")


def test_the_predictions_are_made_again_at_most_every_second_and_kept_between(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two refreshes a job's end takes its prediction off the work left: a 100,000-job sweep
    does not predict every job left at every job's end."""
    clock = [0.0]
    monkeypatch.setattr("launcher.sweep.progress.time.monotonic", lambda: clock[0])
    jobs = [FakeJob(n, [f"d={1 if n < 2 else 4}", f"pynn_seed={n}"]) for n in range(6)]
    progress = Progress(jobs, ("pynn_seed",))
    progress.job_started(0)
    progress.job_started(2)
    clock[0] = 10.0
    progress.job_finished(jobs[0], failed=False)  # the first end: every job left predicted at 10 s
    assert progress.predicted == {(("d", "1"),): 10.0, (("d", "4"),): 10.0} and progress.work_left == pytest.approx(50.0)
    clock[0] = 10.5
    progress.job_finished(jobs[2], failed=False)  # within the second: its 10 s taken off, nothing predicted again
    assert progress.predicted == {(("d", "1"),): 10.0, (("d", "4"),): 10.0} and progress.work_left == pytest.approx(40.0)
    progress.job_started(1)
    clock[0] = 11.5
    progress.job_finished(jobs[1], failed=False)  # a second later: predicted again from what finished
    assert progress.predicted == {(("d", "4"),): 10.5} and progress.work_left == pytest.approx(31.5)


def test_a_model_declares_its_seed_keys_and_metrics_in_its_task_node() -> None:
    assert seed_keys(None) == ("pynn_seed",) and seed_keys(OmegaConf.create({"task": {"_target_": "m.f"}})) == ("pynn_seed",)
    assert seed_keys(OmegaConf.create({"task": {"_seed_keys_": ["net.seed", "stim.seed"]}})) == ("net.seed", "stim.seed")
    assert seed_keys(OmegaConf.create({"task": {"_seed_keys_": "net.seed"}})) == ("net.seed",)
    with pytest.raises(SeedKeysError, match=r"task._seed_keys_ = \{'a': 1\}: expected a list of dotted keys"):
        seed_keys(OmegaConf.create({"task": {"_seed_keys_": {"a": 1}}}))
    assert produced_metrics(OmegaConf.create({"task": {"_metrics_": ["rate_hz"]}})) == ["rate_hz"]
    assert produced_metrics(OmegaConf.create({"x": 1})) is None


def test_a_fit_refuses_to_search_a_seed_key() -> None:
    refuse_searched_seeds({"net.w": object()}, ("net.seed",))
    with pytest.raises(ParameterError, match=r"net.seed is the model's seed \(task._seed_keys_: net.seed\): a fit does not search it"):
        refuse_searched_seeds({"net.w": object(), "net.seed": object()}, ("net.seed",))
