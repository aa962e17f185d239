"""The command line fits a terminal: 100 columns, plain help texts, ``--version``,
one overall progress bar for ``dynopt reproduce all``.

The reproduction runs are the quadratics at their quick size (the quickest
reproduction), in this process (``--workers 1``).
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from importlib import metadata

import pytest

from dynopt import cli
from dynopt.reproduce import ESTIMATES, REPRODUCTIONS, OverallProgress, duration, estimate
from dynopt.reproduce import quadratic as Q
from dynopt.reproduce.base import Report, fit_table
from dynopt.stats import format_table

WIDTH = 100


# --------------------------------------------------------------------------- helpers
def _is_rule(line: str) -> bool:
    return bool(line.strip()) and set(line) <= {"-", " "}


def parse_tables(lines):
    """The tables in ``lines`` as lists of rows (dicts column -> stripped cell text).

    A table is a header line, a rule of dashes (whose runs give the columns'
    spans) and rows up to a blank line. A line whose first column is blank
    continues the row above (a wrapped cell): its pieces are joined with a space.
    """
    tables = []
    for i, line in enumerate(lines):
        if not _is_rule(line) or i == 0:
            continue
        spans = [m.span() for m in re.finditer(r"-+", line)]
        header = lines[i - 1]
        names = [header[a:b].strip() for a, b in spans]
        rows = []
        for text in lines[i + 1:]:
            if not text.strip():
                break
            cells = [text[a:b].strip() for a, b in spans]
            if rows and not cells[0]:
                for name, cell in zip(names, cells):
                    if cell:
                        rows[-1][name] = f"{rows[-1][name]} {cell}".strip()
                continue
            rows.append(dict(zip(names, cells)))
        tables.append(rows)
    return tables


def merged(tables):
    """Stacked blocks of one table back as one list of rows."""
    rows = [dict(r) for r in tables[0]]
    for block in tables[1:]:
        assert len(block) == len(rows)
        for row, more in zip(rows, block):
            for key, value in more.items():
                assert row.get(key, value) == value   # the repeated key columns agree
                row[key] = value
    return rows


def expected_cells(rows, columns):
    """Each cell as :func:`dynopt.stats.format_table` prints it, stripped."""
    out = [{} for _ in rows]
    for c in columns:
        for row, line in zip(out, format_table(rows, [c]).split("\n")[2:]):
            row[c] = line.strip()
    return out


# --------------------------------------------------------------------------- tables
def test_wide_table_is_stacked_in_blocks_keeping_every_cell():
    columns = ["kappa", "method"] + [f"quantity_{k}" for k in range(14)] + ["remark"]
    rows = [{"kappa": 10.0 ** (2 * k), "method": m,
             **{f"quantity_{j}": (k + 1) * 1.2345678e-5 * 10 ** j for j in range(14)},
             "remark": ("a remark long enough to be wrapped onto more than one line when it "
                        "sits beside the key columns in a block of its own, " * 2) + m}
            for k in range(3) for m in ("gd", "heavy_ball")]
    text = fit_table(rows, columns, WIDTH)
    lines = text.split("\n")
    assert len(format_table(rows, columns).split("\n")[0]) > 2 * WIDTH
    assert max(map(len, lines)) <= WIDTH
    tables = parse_tables(lines)
    assert len(tables) >= 3
    for block in tables:                      # every block names its rows
        assert all({"kappa", "method"} <= set(r) for r in block)
    got = merged(tables)
    want = expected_cells(rows, columns)
    want_remarks = [" ".join(r["remark"].split()) for r in rows]
    for g, w, remark in zip(got, want, want_remarks):
        assert g.pop("remark") == remark
        w.pop("remark")
        assert g == w


def test_narrow_table_is_printed_as_before():
    rows = [{"method": "gd", "f": 1.5}, {"method": "adam", "f": 2.25}]
    assert fit_table(rows, ["method", "f"]) == format_table(rows, ["method", "f"])


def test_report_wraps_title_and_notes():
    note = "word " * 60 + "/a/path/that/is/long/" * 3
    report = Report("x", "title " * 40, ["a"], [{"a": 1}], notes=[note])
    lines = str(report).split("\n")
    assert max(map(len, lines)) <= WIDTH
    body = [ln for ln in lines if ln.startswith(("- ", "  "))]
    assert body[0].startswith("- word") and all(ln.startswith("  ") for ln in body[1:])
    assert " ".join(ln[2:] for ln in body).split() == note.split()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # short relative paths in the printed lines
    return tmp_path


def _as_terminal(monkeypatch, terminal):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal, raising=False)


@pytest.mark.parametrize("terminal", [True, False])
def test_reproduce_quick_output_fits_100_columns_and_keeps_every_number(in_tmp, capsys,
                                                                         monkeypatch, terminal):
    _as_terminal(monkeypatch, terminal)
    code = cli.main(["reproduce", "quadratic", "--quick", "--out", "r", "--no-progress",
                     "--workers", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.split("\n")
    too_wide = [ln for ln in lines + err.split("\n") if len(ln) > WIDTH]
    files = sorted(p.name for p in (in_tmp / "r").iterdir())
    assert not too_wide, too_wide      # on a terminal and in a pipe
    import json
    data = json.loads((in_tmp / "r" / "quadratic.json").read_text())
    assert len(format_table(data["rows"], data["columns"]).split("\n")[0]) > WIDTH
    got = merged(parse_tables(lines))
    assert got == expected_cells(data["rows"], data["columns"])
    for note in data["notes"]:                # the notes are all there, wrapped
        assert " ".join(note.split()) in " ".join(out.split())
    written = next(k for k, ln in enumerate(lines) if ln.startswith("written to r/"))
    listed = " ".join(lines[written:]).split(": ", 1)[1]
    assert sorted(" ".join(listed.split()).split(", ")) == files
    # the saved table file is the printed report, line for line
    assert (in_tmp / "r" / "quadratic.txt").read_text() == "\n".join(lines[1:written - 1]) + "\n"


# --------------------------------------------------------------------------- reproduce all
def test_all_shows_one_overall_bar_with_the_estimate(in_tmp, capsys, monkeypatch):
    """Two quick reproductions (the quadratics, twice: the second resumes the first)."""
    from dynopt import reproduce as R
    monkeypatch.setattr(Q, "METHODS", ("gd", "heavy_ball"))
    _as_terminal(monkeypatch, True)   # stdout only: the bar's stderr stays captured as a file
    args = cli.build_parser().parse_args(["reproduce", "all", "--quick", "--out", "r",
                                          "--workers", "1"])
    assert R.run_reproductions(["quadratic", "quadratic"], args) == 0
    out, err = capsys.readouterr()
    assert max(len(ln) for ln in (out + err).split("\n")) <= WIDTH
    assert "sweep:" not in err                     # no per-sweep bar beside the overall one
    assert "\r" not in err                         # captured stderr is no terminal
    first = err.split("\n")[0]
    total = duration(2 * estimate("quadratic", "default"))
    assert first.startswith(f"dynopt reproduce: the default size takes about {total}")
    bars = [ln for ln in err.split("\n") if ln.startswith("all [")]
    assert any("1/2 quadratic" in b for b in bars) and any("2/2 quadratic" in b for b in bars)
    assert all("ETA ~" in b for b in bars)
    assert out.count("quadratic: ") == 2 and "resuming the run in r" in out


def test_all_leaves_out_what_cannot_run_and_a_named_one_is_an_error(monkeypatch, capsys):
    # a reproduction whose optional requirement is missing (as the PyTorch ones are without
    # torch): 'all' runs the others and says what it left out; named alone it is an error
    import dataclasses

    from dynopt import reproduce as R
    from dynopt.reproduce.command import _runnable
    lacking = dataclasses.replace(R.REPRODUCTIONS["quadratic"], name="needs_it",
                                  requires={"dynopt_no_such_module": "torch"})
    real = R.REPRODUCTIONS.__class__.__getitem__
    monkeypatch.setattr(R.REPRODUCTIONS.__class__, "__getitem__",
                        lambda self, k: lacking if k == "needs_it" else real(self, k))
    assert _runnable(["quadratic", "needs_it", "rosenbrock"]) == ["quadratic", "rosenbrock"]
    err = capsys.readouterr().err
    assert "needs_it left out" in err and "dynopt-physics[torch]" in err
    with pytest.raises(SystemExit, match="needs_it reproduction needs dynopt_no_such_module"):
        _runnable(["needs_it"])


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_overall_progress_eta_from_the_estimates():
    stream = io.StringIO()
    bar = OverallProgress(["rosenbrock", "lj38"], "default", stream=stream, interval=3600)
    try:
        clock = bar._clock = _Clock()
        bar.started = 0.0
        w0, w1 = estimate("rosenbrock", "default"), estimate("lj38", "default")
        bar.start(0)
        clock.now = w0 / 2
        left, fraction = bar.remaining()
        assert left == pytest.approx(w0 / 2 + w1)
        assert fraction == pytest.approx((w0 / 2) / (w0 + w1))
        clock.now = 2 * w0                       # it took twice its estimate:
        bar.finish(0)
        bar.start(1)                             # the next one is expected to as well
        left, fraction = bar.remaining()
        assert left == pytest.approx(2 * w1) and fraction == pytest.approx(w0 / (w0 + w1))
        for _ in range(7):
            bar.record({})
        line = bar.line()
        assert "2/2 lj38" in line and f"ETA ~{duration(2 * w1)}" in line and "(7 runs)" in line
        assert len(line) <= WIDTH
    finally:
        bar.close()
    lines = stream.getvalue().split("\n")
    assert lines[0].startswith("all [") and "1/2 rosenbrock" in lines[0]
    assert "2/2 lj38" in lines[1]


def test_overall_progress_redraws_in_place_on_a_terminal():
    stream = _Terminal()
    bar = OverallProgress(["quadratic"], "quick", stream=stream, interval=0.01)
    bar.start(0)
    import time
    time.sleep(0.2)
    with bar.pause():
        stream.write("TABLE\n")
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") >= 3 and "\n" not in text.replace("TABLE\n", "")
    before = text.split("TABLE")[0]
    assert before.endswith("\r" + " " * len(bar.line()) + "\r") or before.endswith("\r")


def test_every_reproduction_has_a_default_estimate():
    assert set(ESTIMATES) == set(REPRODUCTIONS)
    for name in REPRODUCTIONS:
        assert estimate(name, "default") > 0
    with pytest.raises(KeyError, match="nope"):
        estimate("nope")
    with pytest.raises(ValueError, match="size"):
        estimate("lj38", "huge")


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (45, "45 s"), (89, "89 s"),
                                           (90, "2 min"), (185, "3 min"), (3900, "1 h 05 min")])
def test_duration_words(seconds, text):
    assert duration(seconds) == text


def test_methods_listing_fits_100_columns(capsys):
    import dynopt
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.split("\n")) <= WIDTH
    starts = [ln.split()[0] for ln in out.split("\n") if ln and not ln.startswith(" ")]
    assert starts == list(dynopt.METHODS)
    for name, info in dynopt.describe_methods().items():   # every summary whole, rewrapped
        assert " ".join(info["summary"].split()) in " ".join(out.split())


# --------------------------------------------------------------------------- help, version
def _parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_is_plain_and_every_option_has_help(capsys):
    parser = cli.build_parser()
    seen = 0
    for p in _parsers(parser):
        assert "``" not in p.format_help(), p.prog
        for action in p._actions:
            assert action.help not in (None, "", argparse.SUPPRESS), (p.prog, action.dest)
            seen += 1
    assert seen >= 15
    for argv in (["--help"], ["reproduce", "--help"], ["demo", "--help"], ["methods", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: dynopt") and "``" not in out and ":class:" not in out


def test_version_prints_the_installed_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"dynopt-physics {metadata.version('dynopt-physics')}"
    assert re.fullmatch(r"dynopt-physics \d+\.\d+(\.\d+)?\S*", out)


def test_version_from_a_fresh_interpreter():
    done = subprocess.run([sys.executable, "-m", "dynopt", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split()[-1] == metadata.version("dynopt-physics")


def test_version_falls_back_to_the_module_attribute(monkeypatch):
    import dynopt

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    monkeypatch.setattr(metadata, "packages_distributions", lambda: {})
    assert cli.version() == f"dynopt {dynopt.__version__}"
