"""Reproductions never lose a finished run: the output folder, the run log, resuming,
writing beside an earlier run, figures after the tables, lazy points, bad counts.

Every test runs the quadratics reproduction at its quick size on two methods, in
this process (``workers=1``), so that ``run_point`` can be watched.
"""
from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from dynopt.cli import main as cli_main
from dynopt.reproduce import OutputFolderError, reproduce
from dynopt.reproduce import quadratic as Q
from dynopt.reproduce.base import RUNLOG_SUFFIX, RunLog, open_run

METHODS = ("gd", "heavy_ball")
SEEDS = Q.PLANS["quick"]["seeds"]
N_RUNS = len(Q.KAPPAS) * len(METHODS) * SEEDS
LOG = f"quadratic{RUNLOG_SUFFIX}"


@pytest.fixture
def watched(monkeypatch):
    """Two methods; every call of run_point listed in ``calls`` (kappa, method, seed)."""
    real = Q.run_point
    calls = []
    hooks = {}

    def run_point(kappa, method, seed, **kw):
        calls.append((kappa, method, seed))
        if "before" in hooks:
            hooks["before"](len(calls))
        return real(kappa, method, seed, **kw)

    monkeypatch.setattr(Q, "METHODS", METHODS)
    monkeypatch.setattr(Q, "TUNED_METHODS", ())   # the grid rows only: N_RUNS points
    monkeypatch.setattr(Q, "run_point", run_point)
    return calls, hooks


def _run(out, **kw):
    kw.setdefault("size", "quick")
    return reproduce("quadratic", out=out, workers=1, progress=False, **kw)


def _log_lines(path):
    lines = path.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def _table(path):
    data = json.loads(path.read_text())
    return data["rows"], data["records"], data["complete"]


# --------------------------------------------------------------------------- the folder
def test_out_is_checked_before_any_run(tmp_path, watched, capsys):
    calls, _ = watched
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    for out, reason in ((a_file, "is a file"), (a_file / "sub", "cannot be created")):
        code = cli_main(["reproduce", "quadratic", "--quick", "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and f"--out {out}" in err and reason in err
        with pytest.raises(OutputFolderError, match="out="):
            _run(out)
    assert calls == [] and a_file.read_text() == "keep me"


# --------------------------------------------------------------------------- the run log
def test_every_run_is_logged_as_it_finishes(tmp_path, watched):
    calls, hooks = watched
    seen_in_log = []

    def count_logged(n_calls):
        seen_in_log.append(len(_log_lines(tmp_path / LOG)[1]))

    hooks["before"] = count_logged
    report = _run(tmp_path)
    # when run k starts, the k - 1 runs before it are in the log already
    assert seen_in_log == list(range(N_RUNS))
    header, entries = _log_lines(tmp_path / LOG)
    assert header["reproduction"] == "quadratic" and header["settings"]["size"] == "quick"
    points = [(e["task"]["point"]["kappa"], e["task"]["point"]["method"],
               e["task"]["point"]["seed"]) for e in entries]
    assert points == calls
    config = entries[0]["task"]["config"]
    assert config["steps"] == Q.PLANS["quick"]["steps"] and config["task"].endswith("sweep_task")
    assert all(e["record"]["status"] == "ok" for e in entries)
    assert LOG in report.meta["files"] and report.meta["new_runs"] == N_RUNS


def test_interrupted_run_resumes_with_only_the_missing_runs(tmp_path, watched):
    calls, hooks = watched
    whole = _run(tmp_path / "whole")
    assert len(calls) == N_RUNS and whole.complete

    calls.clear()

    def interrupt_fifth(n_calls):
        if n_calls == 5:
            raise KeyboardInterrupt

    hooks["before"] = interrupt_fifth
    out = tmp_path / "parts"
    with pytest.warns(RuntimeWarning, match="interrupted"):
        first = _run(out)
    assert not first.complete and len(_log_lines(out / LOG)[1]) == 4
    assert _table(out / "quadratic.json")[2] is False

    calls.clear()
    del hooks["before"]
    second = _run(out)
    assert second.meta["output"].startswith("quadratic: resuming the run in")
    assert len(calls) == N_RUNS - 4 and second.complete
    assert second.meta["reused_runs"] == 4 and second.meta["new_runs"] == N_RUNS - 4
    # the resumed run's table and records are those of the run never interrupted
    rows, records, complete = _table(out / "quadratic.json")
    want_rows, want_records, _ = _table(tmp_path / "whole" / "quadratic.json")
    assert complete is True and rows == want_rows
    key = lambda r: (r["kappa"], r["method"], r["lr"], r["seed"])  # noqa: E731
    assert sorted(records, key=key) == sorted(want_records, key=key)


def test_a_complete_run_is_never_overwritten(tmp_path, watched):
    calls, _ = watched
    out = tmp_path / "results"
    _run(out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}

    calls.clear()
    again = _run(out)                                  # same settings: resumed, nothing to run
    assert calls == [] and again.complete and again.meta["reused_runs"] == N_RUNS
    assert _table(out / "quadratic.json")[0] == json.loads(before["quadratic.json"])["rows"]

    other = _run(out, seeds=1)                         # other settings: beside it
    assert other.meta["out"] == str(tmp_path / "results-2")
    assert "holds an earlier quadratic run" in other.meta["output"]
    assert len(calls) == len(Q.KAPPAS) * len(METHODS)
    fresh = _run(out, resume=False)                    # --fresh: beside both
    assert fresh.meta["out"] == str(tmp_path / "results-3") and "--fresh" in fresh.meta["output"]
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".png"}
    assert after["quadratic_runlog.jsonl"] == before["quadratic_runlog.jsonl"]
    assert _table(out / "quadratic.json")[1] == json.loads(before["quadratic.json"])["records"]


def test_cli_resume_and_fresh_say_which_in_one_line(tmp_path, watched, capsys):
    calls, _ = watched
    args = ["reproduce", "quadratic", "--quick", "--out", str(tmp_path / "r"), "--no-progress",
            "--workers", "1"]
    assert cli_main(args) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("quadratic: writing to")
    assert cli_main(args + ["--resume"]) == 0
    assert "resuming" in capsys.readouterr().out.splitlines()[0]
    assert cli_main(args + ["--fresh"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "writing beside it to" in line and line.endswith(f"r-2{'/'}")
    assert len(calls) == 2 * N_RUNS


def test_interrupt_while_plotting_keeps_tables_and_log(tmp_path, watched, monkeypatch, capsys):
    def ctrl_c(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Q, "plot_curves", ctrl_c)
    code = cli_main(["reproduce", "quadratic", "--quick", "--out", str(tmp_path),
                     "--no-progress", "--workers", "1"])
    assert code == 130 and "resumes" in capsys.readouterr().err
    rows, records, complete = _table(tmp_path / "quadratic.json")
    assert complete and len(records) == N_RUNS * len(Q.PLANS["quick"]["lrs"])
    assert (tmp_path / "quadratic.csv").stat().st_size > 0
    assert len(_log_lines(tmp_path / LOG)[1]) == N_RUNS
    assert not (tmp_path / "quadratic_curves.png").exists()


def test_torn_last_line_is_dropped_and_the_run_resumes(tmp_path, watched):
    calls, _ = watched
    _run(tmp_path)
    path = tmp_path / LOG
    header, entries = _log_lines(path)
    # lose the last two runs, and leave half a line as a kill mid-write would
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]) + lines[-1][: len(lines[-1]) // 2])
    calls.clear()
    with pytest.warns(RuntimeWarning, match="unfinished last line"):
        report = _run(tmp_path)
    assert report.complete and len(calls) == 2
    assert len(_log_lines(path)[1]) == N_RUNS


def test_a_log_in_use_sends_a_second_run_beside_it(tmp_path):
    settings = {"size": "quick", "seeds": None, "options": {}}
    folder, log, message = open_run(tmp_path / "r", "quadratic", "quadratic", settings)
    try:
        other, log2, message2 = open_run(tmp_path / "r", "quadratic", "quadratic", settings)
        log2.close()
    finally:
        log.close()
    assert folder == tmp_path / "r" and other == tmp_path / "r-2"
    assert "in use by another process" in message2
    reopened = RunLog.open_existing(folder / LOG)
    assert reopened.settings == settings
    reopened.close()


# --------------------------------------------------------------------------- lazy points
def test_a_million_seeds_are_not_built_up_front(tmp_path, watched):
    calls, hooks = watched

    def interrupt_third(n_calls):
        if n_calls == 3:
            raise KeyboardInterrupt

    hooks["before"] = interrupt_third
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.warns(RuntimeWarning, match="not yet drawn"):
            report = _run(tmp_path, seeds=10**6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 3 kappas x 2 methods x 10**6 seeds as a list would be gigabytes and minutes
    assert peak < 100e6 and time.perf_counter() - t0 < 60
    assert len(calls) == 3 and not report.complete
    assert {r["seed"] for r in report.records} == {0, 1, 2}


# --------------------------------------------------------------------------- bad counts
@pytest.mark.parametrize("args, flag", [
    (["--seeds", "0"], "--seeds"), (["--seeds", "-2"], "--seeds"),
    (["--seeds", "many"], "--seeds"), (["--workers", "0"], "--workers"),
    (["--workers", "-1"], "--workers"), (["--workers", "2.5"], "--workers"),
])
def test_bad_counts_are_one_line_naming_the_flag(args, flag, tmp_path, watched, capsys):
    calls, _ = watched
    with pytest.raises(SystemExit) as exc:
        cli_main(["reproduce", "quadratic", "--quick", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and flag in err and args[1] in err and "Traceback" not in err
    assert calls == [] and not any(tmp_path.iterdir())


def test_bad_counts_in_python_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        reproduce("quadratic", size="quick", out=tmp_path, workers=0)
    with pytest.raises(ValueError, match="seeds"):
        reproduce("quadratic", size="quick", out=tmp_path, seeds=-1)
    with pytest.raises(TypeError, match="resume"):
        reproduce("quadratic", size="quick", out=tmp_path, resume="yes")
    assert not any(tmp_path.iterdir())
