"""Tests of the parallel sweep engine (dynopt.sweep) and its statistics (dynopt.stats)."""

from __future__ import annotations

import csv
import functools
import itertools
import json
import math
import os
import statistics
import time
import uuid

import numpy as np
import pytest
from scipy import stats as sps

from dynopt.stats import best_by, bootstrap_ci, format_table, summarize
from dynopt.sweep import SweepResult, grid, run_sweep

# ----------------------------------------------------------------------------
# task functions (module level so that process pools pickle them by reference)
# ----------------------------------------------------------------------------
SCALES = np.array([1.0, 2.0, 5.0])
N_STEPS = 40


def quadratic_task(method, lr, seed):
    """Gradient descent (optionally heavy ball) on f(x) = 1/2 sum s_i x_i^2 from a seeded start."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=SCALES.size)
    beta = 0.9 if method == "momentum" else 0.0
    x, v = x0.copy(), np.zeros_like(x0)
    for _ in range(N_STEPS):
        v = beta * v - lr * SCALES * x
        x = x + v
    return {
        "final_loss": 0.5 * np.sum(SCALES * x**2),  # NumPy scalar: converted by the engine
        "x0": x0,
        "metrics": {"max_abs_x": float(np.max(np.abs(x)))},
    }


def flaky_task(index):
    if index % 3 == 1:
        raise ValueError(f"index {index} is bad")
    if index == 5:
        return [index]  # not a dict: also a failure
    return {"square": index * index}


def interrupting_task(index):
    if index == 3:
        raise KeyboardInterrupt
    return {"square": index * index}


def slow_square(index):
    time.sleep(0.15)
    return {"square": index * index}


def first_is_slow(index):
    time.sleep(0.3 if index == 0 else 0.0)
    return {"square": index * index}


def counted_task(index, *, log_dir, fail_on=()):
    """Leave one file per call in log_dir, so a test can count calls across processes."""
    with open(os.path.join(log_dir, f"{index}-{uuid.uuid4().hex}"), "w"):
        pass
    if index in fail_on:
        raise RuntimeError(f"index {index} fails")
    return {"cube": index**3}


def calls_in(log_dir):
    return sorted(int(name.split("-")[0]) for name in os.listdir(log_dir))


def pid_then_sleep(index, *, log_dir):
    """Leave ``<index>-<pid>`` in log_dir; every point but 0 then sleeps for a minute."""
    with open(os.path.join(log_dir, f"{index}-{os.getpid()}"), "w"):
        pass
    if index:
        time.sleep(60.0)
    return {"square": index * index}


def counted_points(drawn, stop_at):
    """Points index = 0, 1, ... without end; fails if drawn up to ``stop_at``."""
    for i in itertools.count():
        if i >= stop_at:
            raise AssertionError(f"point {i} drawn: the sweep reads ahead without bound")
        drawn.append(i)
        yield {"index": i}


# ----------------------------------------------------------------------------
# grid
# ----------------------------------------------------------------------------
def test_grid_order_and_size():
    methods, lrs, seeds = ["gd", "momentum", "adam"], [1e-3, 1e-2], range(4)
    points = grid(method=methods, lr=lrs, seed=seeds)
    expected = []
    for m in methods:
        for lr in lrs:
            for s in seeds:
                expected.append({"method": m, "lr": lr, "seed": s})
    assert len(points) == len(methods) * len(lrs) * len(seeds)
    assert points == expected
    assert list(points[0]) == ["method", "lr", "seed"]
    # NumPy axes become plain Python scalars
    pts = grid(lr=np.array([0.1, 0.2]), seed=np.arange(2))
    assert all(type(p["lr"]) is float and type(p["seed"]) is int for p in pts)


@pytest.mark.parametrize(
    "axes, err",
    [
        ({}, ValueError),
        ({"lr": []}, ValueError),
        ({"method": "adam"}, TypeError),
        ({"seed": 3}, TypeError),
        ({"status": [1]}, ValueError),
    ],
)
def test_grid_rejects_bad_axes(axes, err):
    with pytest.raises(err):
        grid(**axes)


# ----------------------------------------------------------------------------
# determinism across executors
# ----------------------------------------------------------------------------
POINTS = grid(method=["gd", "momentum"], lr=[0.01, 0.05, 0.1], seed=[0, 1])


def closed_form_gd_loss(lr, seed):
    x0 = np.random.default_rng(seed).normal(size=SCALES.size)
    x = (1.0 - lr * SCALES) ** N_STEPS * x0
    return 0.5 * np.sum(SCALES * x**2)


@pytest.fixture(scope="module")
def serial_result():
    return run_sweep(quadratic_task, POINTS, executor="serial")


def test_serial_records_match_points_and_closed_form(serial_result):
    assert serial_result.complete and not serial_result.failed
    assert serial_result.points == POINTS
    for rec in serial_result.records:
        assert rec["status"] == "ok" and rec["error"] is None
        assert type(rec["final_loss"]) is float
        if rec["method"] == "gd":
            ref = closed_form_gd_loss(rec["lr"], rec["seed"])
            assert rec["final_loss"] == pytest.approx(ref, rel=1e-10)
    # heavy ball differs from plain descent, so records are not mixed up
    gd = [r["final_loss"] for r in serial_result.records if r["method"] == "gd"]
    hb = [r["final_loss"] for r in serial_result.records if r["method"] == "momentum"]
    assert gd != hb


def test_max_workers_one_is_serial(serial_result):
    assert run_sweep(quadratic_task, POINTS, max_workers=1).records == serial_result.records


def test_process_pool_gives_identical_records(serial_result):
    seen = []
    pooled = run_sweep(quadratic_task, POINTS, max_workers=2, on_result=seen.append)
    assert pooled.records == serial_result.records
    assert sorted(json.dumps(r, sort_keys=True) for r in seen) == sorted(
        json.dumps(r, sort_keys=True) for r in serial_result.records
    )


def test_pool_records_follow_point_order():
    seen = []
    result = run_sweep(first_is_slow, grid(index=range(6)), max_workers=2, on_result=seen.append)
    assert [r["index"] for r in result.records] == list(range(6))
    assert [r["square"] for r in result.records] == [i * i for i in range(6)]
    assert sorted(r["index"] for r in seen) == list(range(6))


def test_dask_local_cluster_gives_identical_records(serial_result):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as cluster, distributed.Client(cluster) as client:
        result = run_sweep(quadratic_task, POINTS, executor=client.get_executor())
        pids = set(client.run(os.getpid).values())
    assert os.getpid() not in pids and len(pids) == 2
    assert result.records == serial_result.records


def test_progress_bar_runs(capsys):
    result = run_sweep(flaky_task, grid(index=range(3)), executor="serial", progress=True)
    assert len(result) == 3
    assert "3/3" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# failures and interruptions
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"executor": "serial"}, {"max_workers": 2}])
def test_failing_task_is_marked_failed(kwargs):
    points = grid(index=range(8))
    result = run_sweep(flaky_task, points, **kwargs)
    assert result.complete
    for rec in result.records:
        i = rec["index"]
        if i % 3 == 1:
            assert rec["status"] == "failed"
            assert rec["error"] == f"ValueError: index {i} is bad"
            assert "square" not in rec
        elif i == 5:
            assert rec["status"] == "failed" and rec["error"].startswith("TypeError:")
        else:
            assert rec["status"] == "ok" and rec["square"] == i * i and rec["error"] is None
    assert [r["index"] for r in result.failed] == [1, 4, 5, 7]


def test_serial_interrupt_keeps_finished_records():
    seen = []
    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = run_sweep(
            interrupting_task, grid(index=range(7)), executor="serial", on_result=seen.append
        )
    assert not result.complete
    assert [r["status"] for r in result.records] == ["ok"] * 3 + ["not run"] * 4
    assert [r["square"] for r in result.ok] == [0, 1, 4]
    assert [r["index"] for r in seen] == [0, 1, 2]


def test_pool_interrupt_from_callback_keeps_finished_records():
    n = 10
    seen = []

    def stop_after_first(record):
        seen.append(record)
        raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = run_sweep(
            slow_square, grid(index=range(n)), max_workers=2, on_result=stop_after_first
        )
    assert not result.complete
    # the record being reported is kept, and so is any that finished meanwhile
    assert seen and all(rec in result.ok for rec in seen)
    assert {r["status"] for r in result.records} <= {"ok", "not run"}
    assert 1 <= len(result.ok) < n and len(result.not_run) >= 1
    for rec in result.ok:
        assert rec["square"] == rec["index"] ** 2
    assert [r["index"] for r in result.records] == list(range(n))
    # finishing the sweep from the partial result runs only the missing points
    finished = run_sweep(slow_square, grid(index=range(n)), executor="serial", previous=result)
    assert finished.complete
    assert [r["square"] for r in finished.records] == [i * i for i in range(n)]


def test_pool_interrupt_keeps_and_reports_records_finished_but_not_yet_collected(tmp_path):
    n = 6
    seen = []

    def wait_then_interrupt(record):
        seen.append(record)
        if len(seen) > 1:
            return
        # let the other points finish in the workers before interrupting
        deadline = time.monotonic() + 20.0
        while len(os.listdir(tmp_path)) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = run_sweep(
            functools.partial(counted_task, log_dir=str(tmp_path)),
            grid(index=range(n)),
            max_workers=2,
            window=n,  # every point submitted at once
            on_result=wait_then_interrupt,
        )
    assert len(result.ok) > 1  # finished in the workers while the parent was interrupted
    for rec in result.ok:
        assert rec["cube"] == rec["index"] ** 3
    # a checkpoint written from on_result holds every record the result holds
    assert sorted(r["index"] for r in seen) == sorted(r["index"] for r in result.ok)


# ----------------------------------------------------------------------------
# lazy points and signals
# ----------------------------------------------------------------------------
def test_generator_points_give_the_records_of_the_list():
    points = grid(index=range(12))
    want = run_sweep(slow_square_fast, points, executor="serial")
    got = run_sweep(slow_square_fast, (dict(p) for p in points), max_workers=2, window=3)
    assert got.complete and got.records == want.records
    assert [r["square"] for r in got.records] == [i * i for i in range(12)]


def slow_square_fast(index):
    return {"square": index * index}


def test_serial_sweep_draws_one_point_at_a_time():
    drawn = []
    with pytest.warns(RuntimeWarning, match="not yet drawn"):
        result = run_sweep(interrupting_task, counted_points(drawn, 10**9), executor="serial")
    assert drawn == [0, 1, 2, 3]  # point 3 interrupted, nothing drawn after it
    assert [r["status"] for r in result.records] == ["ok"] * 3 + ["not run"]
    assert result.complete is False


def test_pool_sweep_keeps_at_most_window_points_in_flight():
    drawn, seen, window = [], [], 3

    def stop_after_four(record):
        seen.append(record)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = run_sweep(slow_square_fast, counted_points(drawn, 10**9), max_workers=2,
                           window=window, on_result=stop_after_four)
    # each finished point frees one place: never more than `window` drawn ahead
    assert len(drawn) <= len(seen) + window
    assert len(result.records) == len(drawn) and result.complete is False
    for rec in result.ok:
        assert rec["square"] == rec["index"] ** 2
    # finishing from the partial result: the list of every point, only the rest run
    finished = run_sweep(slow_square_fast, grid(index=range(len(drawn) + 2)), executor="serial",
                         previous=result)
    assert finished.complete and len(finished.ok) == len(drawn) + 2


def test_generator_point_errors_name_the_point():
    def points():
        yield {"index": 0}
        yield {"index": 1}
        yield {"index": 0}

    with pytest.raises(ValueError, match=r"points\[2\].*repeats points\[0\]"):
        run_sweep(slow_square_fast, points(), executor="serial")
    with pytest.raises(ValueError, match="window"):
        run_sweep(slow_square_fast, grid(index=range(2)), window=0)


_SIGTERM_SCRIPT = """
import functools, json, sys
sys.path.insert(0, {tests!r})
from test_sweep import pid_then_sleep
from dynopt.sweep import grid, run_sweep
result = run_sweep(functools.partial(pid_then_sleep, log_dir={log!r}), grid(index=range(4)),
                   max_workers=2, window=4)
print(json.dumps({{"complete": result.complete,
                  "ok": [r["index"] for r in result.ok],
                  "not_run": [r["index"] for r in result.not_run]}}))
"""


def test_sigterm_ends_the_workers_and_keeps_finished_records(tmp_path):
    import signal
    import subprocess
    import sys

    log = tmp_path / "calls"
    log.mkdir()
    script = _SIGTERM_SCRIPT.format(tests=os.path.dirname(__file__), log=str(log))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60.0
        # point 0 finished, two workers asleep in points 1 and 2
        while time.monotonic() < deadline:
            names = os.listdir(log)
            if sum(not n.startswith("0-") for n in names) >= 2 and any(
                    n.startswith("0-") for n in names):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the sweep did not start: {os.listdir(log)}")
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - t0 < 20.0  # not the workers' minute of sleep
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["complete"] is False and summary["ok"] == [0]
    assert set(summary["not_run"]) == {1, 2, 3}
    sleepers = {int(n.split("-")[1]) for n in os.listdir(log) if not n.startswith("0-")}
    for pid in sleepers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ----------------------------------------------------------------------------
# files and resume
# ----------------------------------------------------------------------------
def test_json_and_csv_round_trip(tmp_path, serial_result):
    extra = SweepResult(
        serial_result.records
        + [
            {"method": "gd", "lr": 1.0, "seed": 9, "status": "failed", "error": "ValueError: x"},
            {"method": "gd", "lr": 2.0, "seed": 9, "status": "ok", "final_loss": math.inf,
             "x0": [], "metrics": {"max_abs_x": 1e300}, "error": None},
            {"method": "gd", "lr": 3.0, "seed": 9, "status": "not run", "error": None},
        ]
    )
    path = extra.to_json(tmp_path / "sub" / "sweep.json")
    back = SweepResult.from_json(path)
    assert back.records == extra.records
    assert [list(r) for r in back.records] == [list(r) for r in extra.records]  # key order kept
    assert back.complete is False and len(back.failed) == 1

    with open(extra.to_csv(tmp_path / "sweep.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(extra.records)
    assert list(rows[0]) == ["method", "lr", "seed", "status", "final_loss",
                             "metrics.max_abs_x", "error"]
    for row, rec in zip(rows, extra.records):
        assert row["method"] == rec["method"] and row["status"] == rec["status"]
        assert float(row["lr"]) == rec["lr"] and int(row["seed"]) == rec["seed"]
        if "final_loss" in rec:
            assert float(row["final_loss"]) == rec["final_loss"]  # exact: repr round trip
            assert float(row["metrics.max_abs_x"]) == rec["metrics"]["max_abs_x"]
        else:
            assert row["final_loss"] == ""
        assert row["error"] == (rec["error"] or "")


def test_from_json_rejects_other_files(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="not a"):
        SweepResult.from_json(path)


def test_resume_runs_only_unfinished_points(tmp_path):
    log_dir = tmp_path / "calls"
    log_dir.mkdir()
    first = run_sweep(
        functools.partial(counted_task, log_dir=str(log_dir), fail_on=(1, 4)),
        grid(index=range(6)),
        max_workers=2,
    )
    assert calls_in(log_dir) == list(range(6))
    assert [r["index"] for r in first.failed] == [1, 4]
    previous = SweepResult.from_json(first.to_json(tmp_path / "first.json"))

    seen = []
    second = run_sweep(
        functools.partial(counted_task, log_dir=str(log_dir)),
        grid(index=range(8)),  # two new points as well
        max_workers=2,
        previous=previous,
        on_result=seen.append,
    )
    assert calls_in(log_dir) == sorted(list(range(6)) + [1, 4, 6, 7])
    assert sorted(r["index"] for r in seen) == [1, 4, 6, 7]
    assert second.complete and not second.failed
    assert [r["cube"] for r in second.records] == [i**3 for i in range(8)]
    for rec in first.ok:
        assert rec in second.records


def test_run_sweep_rejects_bad_arguments():
    pts = grid(index=range(2))
    with pytest.raises(TypeError, match="task"):
        run_sweep(42, pts)
    with pytest.raises(ValueError, match="max_workers"):
        run_sweep(flaky_task, pts, max_workers=0)
    with pytest.raises(ValueError, match="executor"):
        run_sweep(flaky_task, pts, executor="threads")
    with pytest.raises(ValueError, match="repeats"):
        run_sweep(flaky_task, [{"index": 1}, {"index": 1}], executor="serial")
    with pytest.raises(TypeError, match="pickled"):
        run_sweep(lambda index: {}, pts, max_workers=2)
    with pytest.raises(TypeError, match="JSON"):
        run_sweep(flaky_task, [{"index": object()}], executor="serial")


# ----------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------
def test_bootstrap_ci_matches_t_interval():
    x = np.random.default_rng(7).normal(3.0, 2.0, size=40)
    low, high = bootstrap_ci(x)
    t_low, t_high = sps.t.interval(0.95, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    width = t_high - t_low
    assert low < x.mean() < high
    assert abs((high - low) - width) < 0.2 * width
    assert abs(low - t_low) < 0.2 * width and abs(high - t_high) < 0.2 * width
    assert bootstrap_ci(x) == (low, high)  # same seed, same answer
    assert bootstrap_ci(x, seed=1) != (low, high)
    # a wider confidence gives a wider interval
    low99, high99 = bootstrap_ci(x, confidence=0.99)
    assert low99 < low and high99 > high


def test_bootstrap_ci_coverage_of_true_mean():
    rng = np.random.default_rng(11)
    hits = 0
    trials = 300
    for k in range(trials):
        x = rng.normal(1.0, 1.0, size=30)
        low, high = bootstrap_ci(x, n_resamples=2000, seed=k)
        hits += low <= 1.0 <= high
    assert 0.87 <= hits / trials <= 0.99


def test_bootstrap_ci_statistic_without_axis_gives_same_interval():
    x = np.random.default_rng(3).exponential(size=25)
    vectorised = bootstrap_ci(x, statistic=np.median, n_resamples=3000)
    row_by_row = bootstrap_ci(x, statistic=lambda s: float(np.median(s)), n_resamples=3000)
    assert vectorised == row_by_row
    assert vectorised[0] <= np.median(x) <= vectorised[1]


@pytest.mark.parametrize(
    "values, kwargs",
    [([1.0], {}), ([1.0, np.nan, 2.0], {}), ([[1.0, 2.0]], {}), ([1.0, 2.0], {"confidence": 1.5}),
     ([1.0, 2.0], {"n_resamples": 1})],
)
def test_bootstrap_ci_rejects_bad_input(values, kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(values, **kwargs)


def test_summarize_matches_statistics_module():
    x = list(np.random.default_rng(5).normal(size=17))
    s = summarize(x)
    assert s["n"] == 17
    assert s["mean"] == pytest.approx(statistics.fmean(x), rel=1e-12)
    assert s["std"] == pytest.approx(statistics.stdev(x), rel=1e-12)
    assert s["median"] == pytest.approx(statistics.median(x), rel=1e-12)
    assert (s["min"], s["max"]) == (min(x), max(x))
    assert (s["ci_low"], s["ci_high"]) == bootstrap_ci(x)
    one = summarize([2.5])
    assert one["mean"] == 2.5 and math.isnan(one["std"]) and math.isnan(one["ci_low"])


def test_best_by_matches_brute_force():
    rng = np.random.default_rng(0)
    methods, lrs, seeds = ["a", "b", "c"], [1e-3, 1e-2, 1e-1], range(5)
    records = []
    for m, lr, s in itertools.product(methods, lrs, seeds):
        records.append({"method": m, "lr": lr, "seed": s, "status": "ok",
                        "loss": float(rng.lognormal()), "error": None})
    # a failed record that would otherwise win must be ignored
    records.append({"method": "a", "lr": 0.5, "seed": 0, "status": "failed", "loss": -1e9,
                    "error": "RuntimeError: diverged"})
    for minimize in (True, False):
        best = best_by(records, "loss", "method", minimize, over="lr")
        assert list(best) == methods
        for m in methods:
            means = {lr: statistics.fmean(r["loss"] for r in records
                                          if r["method"] == m and r["lr"] == lr
                                          and r["status"] == "ok") for lr in lrs}
            want = (min if minimize else max)(means, key=means.get)
            row = best[m]
            assert row["lr"] == want and row["method"] == m and row["n"] == len(seeds)
            assert row["loss"] == pytest.approx(means[want], rel=1e-12)
    # without `over`, the single best record of each group
    single = best_by(records, "loss", "method")
    for m in methods:
        assert single[m]["loss"] == min(r["loss"] for r in records
                                        if r["method"] == m and r["status"] == "ok")


def test_best_by_nan_loses_and_groups_by_several_fields():
    records = [
        {"method": "a", "problem": "p", "lr": 0.1, "loss": math.nan},
        {"method": "a", "problem": "p", "lr": 0.2, "loss": 5.0},
        {"method": "a", "problem": "q", "lr": 0.1, "loss": 1.0},
        {"method": "a", "problem": "q", "lr": 0.2, "loss": 2.0},
    ]
    best = best_by(records, "loss", ["method", "problem"], over="lr")
    assert best[("a", "p")]["lr"] == 0.2
    assert best[("a", "q")]["lr"] == 0.1
    with pytest.raises(ValueError, match="no field"):
        best_by(records, "loss", "seed", over="lr")


def test_format_table_aligns_columns():
    rows = [
        {"method": "gd", "lr": 0.001, "loss": 1.23456789, "n": 10},
        {"method": "momentum", "lr": 0.1, "loss": 1234.5, "n": 5},
        {"method": "fanos", "lr": 0.03, "loss": None, "n": 10},
    ]
    text = format_table(rows, ["method", "lr", "loss", "n"], ".3e")
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert len({len(line) for line in lines}) == 1  # every line padded to the same width
    assert set(lines[1]) <= {"-", " "}
    header = lines[0]
    # numeric columns are right-aligned: their cells end where the header name ends
    for name, fmt_values in [("lr", [format(r["lr"], ".3e") for r in rows]),
                             ("n", [str(r["n"]) for r in rows])]:
        end = header.index(name) + len(name)
        for line, cell in zip(lines[2:], fmt_values):
            assert line[end - len(cell):end] == cell
    # text columns are left-aligned
    for line, row in zip(lines[2:], rows):
        assert line.startswith(row["method"])
    assert format(1.23456789, ".3e") in lines[2]
    with pytest.raises(ValueError, match="floatfmt"):
        format_table(rows, ["lr"], "not-a-format")
