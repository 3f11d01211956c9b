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
from launcher.sweep.progress import Progress, predict_durations, swept_values, time_left
from launcher.sweep.tree import ParameterError


def job(*overrides: str, seeds=("pynn_seed",)) -> dict:
    return swept_values(list(overrides), seeds)


def test_jobs_left_are_predicted_by_the_finished_jobs_of_their_configuration_seeds_aside() -> None:
    """The issue's case: density 1000 then 4000, three seeds each, run in order. After the three
    short jobs and one long one, the two long jobs left take 45 s each, not the mean 21 s."""
    finished = [(job("d=1000", f"pynn_seed={s}"), 10.0) for s in (1, 2, 3)] + [(job("d=4000", "pynn_seed=1"), 45.0)]
    left = [job("d=4000", "pynn_seed=2"), job("d=4000", "pynn_seed=3")]
    assert predict_durations(finished, left) == [45.0, 45.0]
    # one job at a time: 75 s elapsed for 75 s of work, 90 s of work left (a plain mean: 37.5 s)
    assert time_left(75.0, 4, finished, left) == pytest.approx(90.0)


def test_the_seed_keys_a_model_declares_make_jobs_alike() -> None:
    finished = [(job("net.w=1", "net.seed=1", seeds=("net.seed",)), 30.0), (job("net.w=2", "net.seed=2", seeds=("net.seed",)), 5.0)]
    assert predict_durations(finished, [job("net.w=1", "net.seed=2", seeds=("net.seed",))]) == [30.0]
    # with the default seed key, net.seed is a parameter: the job left shares one value with each
    as_parameter = [(job("net.w=1", "net.seed=1"), 30.0), (job("net.w=2", "net.seed=2"), 5.0)]
    assert predict_durations(as_parameter, [job("net.w=1", "net.seed=2")]) == [17.5]


def test_numeric_keys_not_run_yet_are_predicted_by_a_line_through_the_finished_configurations() -> None:
    finished = [(job("d=1000"), 10.0), (job("d=2000"), 21.0), (job("d=2000", "pynn_seed=2"), 19.0), (job("d=3000"), 30.0)]
    assert predict_durations(finished, [job("d=4000"), job("d=5000")]) == pytest.approx([40.0, 50.0])
    # two configurations draw no line (it would pass through any two): the mean of the jobs sharing most values
    assert predict_durations([(job("d=1000", "m=a"), 10.0), (job("d=2000", "m=b"), 20.0)], [job("d=4000", "m=a")]) == [10.0]
    # a line never predicts less than nothing
    assert predict_durations([(job("d=1"), 10.0), (job("d=2"), 5.5), (job("d=3"), 1.0)], [job("d=10")]) == [0.0]


def test_durations_the_swept_numbers_do_not_explain_draw_no_line() -> None:
    """Four jobs of tiny noisy durations over two numeric keys: a plane through them would put the
    far corner at 2.0 s; it explains too little of their variation, so the overall mean is taken."""
    finished = [(job("w=1", "r=1"), 0.5), (job("w=1", "r=2"), 0.7), (job("w=2", "r=1"), 0.9), (job("w=2", "r=2"), 0.6)]
    assert predict_durations(finished, [job("w=4", "r=4")]) == [pytest.approx(0.675)]


def test_other_values_are_predicted_by_the_finished_jobs_sharing_most_of_them() -> None:
    finished = [(job("model=a", "size=big", "sim=nest"), 40.0), (job("model=b", "size=small", "sim=nest"), 4.0),
                (job("model=a", "size=small", "sim=brian"), 6.0)]
    assert predict_durations(finished, [job("model=c", "size=big", "sim=nest")]) == [40.0]  # 2 values shared, not 1
    assert predict_durations(finished, [job("model=b", "size=big", "sim=nest")]) == [22.0]  # 2 with each of two: their mean
    assert predict_durations(finished, [job("model=c", "size=tiny", "sim=neuron")]) == [pytest.approx(50.0 / 3)]  # none: the mean


def test_the_time_left_follows_the_launchers_parallelism_and_falls_back_to_the_plain_mean() -> None:
    # two at a time: 10 s elapsed for 20 s of work; two more 10 s jobs take 10 s more
    finished = [(job("a=1"), 10.0), (job("a=2"), 10.0)]
    assert time_left(10.0, 2, finished, [job("a=1", "pynn_seed=2"), job("a=2", "pynn_seed=2")]) == pytest.approx(10.0)
    # no duration known (a launcher that tells no start, failed jobs only): elapsed per job done
    assert time_left(30.0, 3, [], [job("a=1")] * 2) == pytest.approx(20.0)
    assert math.isnan(time_left(0.0, 0, [], [job("a=1")]))


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
    assert progress.finished == [({"d": "1"}, 10.0), ({"d": "4"}, 50.0)]
    assert predict_durations(progress.finished, list(progress.left.values())) == [50.0]
    assert caplog.records[-1].getMessage().startswith("Progress: 3/4 jobs done (1 failed), about ")


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
