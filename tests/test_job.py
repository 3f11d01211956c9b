"""The job wrapper every launcher puts around a task (launcher/run/job.py), on its own."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from launcher.run import results
from launcher.mozaik.script_task import METRICS_FILE, read_metrics
from launcher.run.job import RecordedTask, TaskResultError, current_record, current_run_dir, recorded, single_values


@pytest.mark.parametrize(
    "value, metrics",
    [
        ({"rate_hz": 5.0, "n": 3}, {"rate_hz": 5.0, "n": 3}),
        ({"rate": np.float64(2.5), "count": np.int64(4)}, {"rate": 2.5, "count": 4}),
        ({"cv": float("nan")}, {"cv": float("nan")}),
        (0.25, {"value": 0.25}),
        (np.float32(0.5), {"value": 0.5}),
        (None, {}),
    ],
)
def test_single_values_of_a_task(value, metrics):
    found = single_values(value)
    assert found.keys() == metrics.keys()
    for key in metrics:
        assert type(found[key]) in (int, float)
        assert found[key] == metrics[key] or (math.isnan(found[key]) and math.isnan(metrics[key]))


@pytest.mark.parametrize("value", ["text", [1, 2], {"rate": "high"}, {"ok": True}, {1: 2.0}, {"nested": {"a": 1}}])
def test_what_is_not_single_values_is_named(value):
    with pytest.raises(TaskResultError, match="a mapping of names"):
        single_values(value)


def test_a_recorded_task_writes_its_record_and_returns_its_value(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"a": 1})

    def task(cfg):
        current_record()["extra"] = "noted"
        assert current_run_dir() == tmp_path
        return {"twice": cfg.a * 2.0}

    assert RecordedTask(task)(cfg, tmp_path, ["a=1"]) == {"twice": 2.0}
    record = results.read_results(tmp_path)
    assert record["state"] == "completed" and record["metrics"] == {"twice": 2.0} and record["extra"] == "noted"
    assert record["overrides"] == ["a=1"] and record["config_hash"] and "total_s" in record["timings"]
    assert recorded(recorded(task)).task is task  # wrapped once, however many wrap it


def test_a_task_that_returns_something_else_completes_without_metrics(tmp_path: Path) -> None:
    # Hydra's own launcher tests return strings: the job completes, with no metrics and a warning.
    assert RecordedTask(lambda cfg: "foo")(OmegaConf.create({}), tmp_path, []) == "foo"
    record = results.read_results(tmp_path)
    assert record["state"] == "completed" and record["metrics"] == {} and "no metrics" in record["warning"]


def test_a_failing_task_is_recorded_failed_and_raises(tmp_path: Path) -> None:
    def task(cfg):
        raise RuntimeError("exploded")

    with pytest.raises(RuntimeError):
        RecordedTask(task)(OmegaConf.create({}), tmp_path, [])
    record = results.read_results(tmp_path)
    assert record["state"] == "failed" and record["error"] == "RuntimeError: exploded" and "Traceback" in record["traceback"]


def test_a_recorded_task_inside_a_recorded_job_just_runs(tmp_path: Path) -> None:
    inner = RecordedTask(lambda cfg: {"x": 1.0})
    outer = RecordedTask(lambda cfg: inner(cfg))
    assert outer(OmegaConf.create({}), tmp_path, []) == {"x": 1.0}
    assert results.read_results(tmp_path)["metrics"] == {"x": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == [results.RESULTS_FILE]


@pytest.mark.parametrize("content", ["[1, 2]", '{"rate": "high"}', "{not json", '{"a": {"b": 1}}'])
def test_a_damaged_metrics_file_is_named(tmp_path: Path, content: str) -> None:
    (tmp_path / METRICS_FILE).write_text(content)
    with pytest.raises(TaskResultError, match=METRICS_FILE):
        read_metrics(tmp_path)


def test_metrics_file_of_a_run_script(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == {}
    (tmp_path / METRICS_FILE).write_text(json.dumps({"rate_hz": 3.5, "cv": float("nan")}))
    found = read_metrics(tmp_path)
    assert found["rate_hz"] == 3.5 and math.isnan(found["cv"])
