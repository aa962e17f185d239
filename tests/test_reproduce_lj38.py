"""The LJ38 reproduction (Frankenstein paper's Table 2) at its quick size, and its parts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dynopt.cli import main as cli_main
from dynopt.reproduce import reproduce
from dynopt.reproduce import lj38 as L

QUICK = L.PLANS["quick"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("lj38")
    report = reproduce("lj38", size="quick", out=out, workers=1, progress=False)
    return report, out


def _lj_reference(x):
    """Energy and per-atom force norms by a plain double loop (independent of dynopt)."""
    xyz = np.asarray(x, dtype=float).reshape(-1, 3)
    n = len(xyz)
    energy = 0.0
    forces = np.zeros_like(xyz)
    for i in range(n):
        for j in range(i + 1, n):
            d = xyz[i] - xyz[j]
            r2 = float(d @ d)
            energy += 4.0 * (r2**-6 - r2**-3)
            fij = 24.0 * (2.0 * r2**-7 - r2**-4) * d        # force on i from j
            forces[i] += fij
            forces[j] -= fij
    return energy, np.sqrt((forces**2).sum(axis=1))


def _groups(x, cutoff=2.0):
    """Connected groups of atoms closer than ``cutoff``, by a depth-first search."""
    xyz = np.asarray(x, dtype=float).reshape(-1, 3)
    seen, groups = set(), 0
    for first in range(len(xyz)):
        if first in seen:
            continue
        groups += 1
        stack = [first]
        seen.add(first)
        while stack:
            i = stack.pop()
            for j in range(len(xyz)):
                if j not in seen and np.linalg.norm(xyz[i] - xyz[j]) < cutoff:
                    seen.add(j)
                    stack.append(j)
    return groups


def test_fragments_counts_groups():
    x = L.start(0).reshape(-1, 3)
    assert L.fragments(x) == _groups(x) == 1
    apart = np.vstack([x, x + 100.0])
    assert L.fragments(apart) == _groups(apart) == 2


# ------------------------------------------------------------------ the quick run
def test_quick_report_files_and_rows(quick):
    report, out = quick
    for suffix in (".json", ".csv", "_runs.csv", ".txt", "_final_positions.npz"):
        assert (out / f"lj38{suffix}").stat().st_size > 0
    assert len(report.figures) == 2
    for path in report.figures:
        assert path.read_bytes()[:8] == PNG_MAGIC
    data = json.loads((out / "lj38.json").read_text())
    assert data["complete"] is True
    assert len(data["records"]) == len(QUICK["methods"]) * QUICK["seeds"]
    assert [r["method"] for r in data["rows"]] == list(QUICK["methods"])
    table = (out / "lj38.txt").read_text()
    for name in QUICK["methods"]:
        assert name in table
    assert "paper_mean" in table and "656" in table          # the paper's FIRE mean beside ours
    csv_text = (out / "lj38.csv").read_text().splitlines()
    assert csv_text[0].startswith("method,runs,converged") and len(csv_text) == 1 + len(
        QUICK["methods"])


def test_quick_rows_agree_with_records(quick):
    report, _ = quick
    for row in report.rows:
        runs = [r for r in report.records if r["method"] == row["method"]]
        conv = [r for r in runs if r["status"] == "ok" and r["converged"]]
        assert row["runs"] == len(runs) and row["converged"] == len(conv)
        assert row["failures"] == len(runs) - len(conv)
        if conv:
            calls = [r["force_calls"] for r in conv]
            assert row["mean"] == pytest.approx(np.mean(calls))
            assert (row["min"], row["max"]) == (min(calls), max(calls))
            assert row["E_min"] == pytest.approx(min(r["energy"] for r in conv))
        else:
            assert row["mean"] is None


def test_quick_converged_runs_meet_the_criterion(quick):
    """Recompute energy and per-atom forces from the stored final positions."""
    report, out = quick
    stored = np.load(out / "lj38_final_positions.npz")
    checked = 0
    for rec in report.records:
        x = stored[f"{rec['method']}|{rec['seed']}"]
        energy, per_atom = _lj_reference(x)
        assert energy == pytest.approx(rec["energy"], rel=1e-10)
        assert per_atom.max() == pytest.approx(rec["fmax"], rel=1e-8)
        if rec["converged"]:
            assert per_atom.max() < L.FMAX
            assert 1 <= rec["force_calls"] <= QUICK["cap"]
            assert _groups(x) == 1
            checked += 1
        elif rec["outcome"] == "dissociated":     # met the criterion, but blown apart
            assert per_atom.max() < L.FMAX and _groups(x) > 1
        else:                           # a failure really did not meet it within the cap
            assert per_atom.max() >= L.FMAX
            assert rec["outcome"] in ("cap", "diverged", "stopped")
    assert checked >= QUICK["seeds"] * 3


def test_quick_ase_fire_counts_match_ase(quick):
    """Force calls of 'ase FIRE' = ASE's own step count + the first evaluation."""
    from ase import Atoms
    from ase.calculators.lj import LennardJones
    from ase.optimize import FIRE
    report, _ = quick
    rec = next(r for r in report.records if r["method"] == "ase FIRE" and r["seed"] == 1)
    atoms = Atoms("Ar38", positions=L.start(1).reshape(-1, 3))
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=L.ASE_RC, smooth=False)
    opt = FIRE(atoms, logfile=None)
    assert opt.run(fmax=L.FMAX, steps=QUICK["cap"] - 1)
    assert rec["ase_nsteps"] == opt.nsteps
    assert rec["force_calls"] == opt.nsteps + 1
    assert rec["energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    # dynopt's 'fire' is ASE's FIRE: same number of force calls from every start
    for seed in range(QUICK["seeds"]):
        a, b = (next(r for r in report.records if r["method"] == m and r["seed"] == seed)
                for m in ("fire", "ase FIRE"))
        assert a["force_calls"] == b["force_calls"]


def test_ase_calculator_is_dynopts_energy():
    from ase import Atoms
    from dynopt.problems.lennard_jones import lj_energy
    x = L.start(4)
    atoms = Atoms("Ar38", positions=x.reshape(-1, 3))
    atoms.calc = L.runs._counting_lj()
    assert atoms.get_potential_energy() == pytest.approx(lj_energy(x), abs=1e-9)
    atoms.get_forces()
    assert atoms.calc.calls == 1                 # cached: energy and forces in one call


# ------------------------------------------------------------------ determinism and criteria
def test_same_seed_same_result(quick):
    report, _ = quick
    a = L.run_block("adam", 1, 2, cap=QUICK["cap"])["runs"]
    b = L.run_block("adam", 1, 2, cap=QUICK["cap"])["runs"]
    assert a == b
    # the same starts inside another block (batch of 3 in the quick run) give the same runs
    for run_ in a:
        rec = next(r for r in report.records if r["method"] == "adam"
                   and r["seed"] == run_["seed"])
        assert rec["force_calls"] == run_["force_calls"]
        assert rec["energy"] == run_["energy"]
    np.testing.assert_array_equal(L.start(2), L.start(2))
    assert not np.array_equal(L.start(2), L.start(3))


def test_l2_criterion_is_stricter():
    fmax = L.run_block("scipy L-BFGS-B", 0, 1, cap=2000)["runs"][0]
    l2 = L.run_block("scipy L-BFGS-B", 0, 1, cap=2000, criterion="l2")["runs"][0]
    assert fmax["outcome"] == l2["outcome"] == "converged"
    assert fmax["fmax"] < L.FMAX and l2["l2"] < L.L2_TOL
    assert l2["force_calls"] >= fmax["force_calls"]


# ------------------------------------------------------------------ failures
def test_diverging_step_is_a_failure_and_others_kept(monkeypatch):
    monkeypatch.setitem(L.DYNOPT_SETTINGS, "gd", {"lr": 5.0})
    runs = L.run_block("gd", 0, 2, cap=300)["runs"]
    # a huge step throws the atoms apart: tiny forces, but no cluster left
    assert all(r["outcome"] in ("dissociated", "diverged", "cap") for r in runs)
    assert any(r["outcome"] == "dissociated" and r["fmax"] < L.FMAX for r in runs)
    records, _ = L.flatten([{"method": "gd", "first_seed": 0, "count": 2, "status": "ok",
                             "runs": runs, "error": None}])
    (row,) = L.aggregate(records, ["gd"])
    assert row["converged"] == 0 and row["failures"] == 2 and row["mean"] is None
    assert row["dissociated"] == sum(r["outcome"] == "dissociated" for r in runs)


def test_failing_run_is_marked_and_others_report(tmp_path, monkeypatch):
    real_ase, real_dynopt = L.runs._run_ase, L.runs._run_dynopt

    def flaky_ase(method, seed, cap, criterion):
        if seed == 1:
            raise RuntimeError("boom")
        return real_ase(method, seed, cap, criterion)

    def flaky_dynopt(method, seeds, cap, criterion):
        if 2 in seeds:                               # the batch fails: per start then
            raise RuntimeError("bad start 2")
        return real_dynopt(method, seeds, cap, criterion)

    monkeypatch.setattr(L.runs, "_run_ase", flaky_ase)
    monkeypatch.setattr(L.runs, "_run_dynopt", flaky_dynopt)
    monkeypatch.setitem(L.PLANS, "quick", {**QUICK, "methods": ("adam", "ase FIRE")})
    report = reproduce("lj38", size="quick", out=tmp_path, workers=1, progress=False)
    failed = [(r["method"], r["seed"]) for r in report.records if r["status"] == "failed"]
    assert sorted(failed) == [("adam", 2), ("ase FIRE", 1)]
    assert all("RuntimeError" in r["error"] for r in report.records if r["status"] == "failed")
    rows = {r["method"]: r for r in report.rows}
    assert rows["adam"]["errors"] == 1 and rows["adam"]["converged"] == 2
    assert rows["ase FIRE"]["errors"] == 1 and rows["ase FIRE"]["converged"] == 2
    assert sum("FAILED" in n for n in report.notes) == 2
    saved = json.loads((tmp_path / "lj38.json").read_text())
    assert sum(r["status"] == "failed" for r in saved["records"]) == 2


def test_interrupted_sweep_keeps_finished_runs():
    runs = L.run_block("scipy CG", 0, 1, cap=2000)["runs"]
    sweep = [{"method": "scipy CG", "first_seed": 0, "count": 1, "status": "ok", "runs": runs,
              "error": None},
             {"method": "scipy CG", "first_seed": 1, "count": 2, "status": "not run"}]
    records, positions = L.flatten(sweep)
    assert [r["status"] for r in records] == ["ok", "not run", "not run"]
    assert set(positions) == {("scipy CG", 0)}
    (row,) = L.aggregate(records, ["scipy CG"])
    assert row["runs"] == 1 and row["errors"] == 2 and row["converged"] == int(
        runs[0]["outcome"] == "converged")


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="method"):
        L.run_block("newton", 0, 1, cap=10)
    with pytest.raises(ValueError, match="cap"):
        L.run_block("adam", 0, 1, cap=0)
    with pytest.raises(ValueError, match="criterion"):
        L.run_block("adam", 0, 1, cap=10, criterion="energy")
    with pytest.raises(ValueError, match="seed"):
        L.start(-1)


def test_cli_quick_one_start(tmp_path, capsys):
    code = cli_main(["reproduce", "lj38", "--quick", "--seeds", "1", "--out", str(tmp_path),
                     "--no-progress", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ase FIRE" in printed and "paper_mean" in printed
    data = json.loads((tmp_path / "lj38.json").read_text())
    assert len(data["records"]) == len(QUICK["methods"])
    assert (tmp_path / "lj38_force_calls.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "lj38_energies.png").read_bytes()[:8] == PNG_MAGIC
    # the closing line names every file the run wrote, data files included
    listed = printed.rsplit("written to", 1)[1].split(":", 1)[1]
    written = " ".join(listed.split()).split(", ")   # the list is wrapped at 100 columns
    assert sorted(written) == sorted(p.name for p in tmp_path.iterdir())
    assert "lj38_final_positions.npz" in written


def test_cli_l2_criterion_and_option_checks(tmp_path, capsys):
    code = cli_main(["reproduce", "lj38", "--quick", "--seeds", "1", "--criterion", "l2",
                     "--out", str(tmp_path), "--no-progress", "--workers", "1"])
    assert code == 0
    data = json.loads((tmp_path / "lj38_l2.json").read_text())
    assert data["meta"]["criterion"] == "l2"
    for rec in data["records"]:
        if rec["status"] == "ok" and rec["converged"]:
            assert rec["l2"] <= L.L2_TOL
    with pytest.raises(SystemExit, match="lj38 only"):
        cli_main(["reproduce", "mlp", "--quick", "--criterion", "l2", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="criterion"):
        reproduce("rosenbrock", size="quick", out=tmp_path, options={"criterion": "l2"})


# ------------------------------------------------------------------ tuned rows (no grid)
def test_quick_tuned_row_beside_the_set_rows(quick):
    report, _ = quick
    rows = {r["method"]: r for r in report.rows}
    row = rows["heavy_ball (tuned)"]
    runs = [r for r in report.records if r["method"] == "heavy_ball (tuned)"]
    assert row["runs"] == len(runs) == QUICK["seeds"]
    assert row["tune_calls"] == pytest.approx(np.mean([r["tune_calls"] for r in runs]))
    for r in runs:
        assert 0 < r["tune_calls"] < r["force_calls"] <= QUICK["cap"]
        assert r["outcome"] != "cap" or r["force_calls"] == QUICK["cap"]
    assert all(rows[m]["tune_calls"] is None for m in rows if m not in L.TUNED_ROWS)
    assert any(n.startswith("Target: ") for n in report.notes)


@pytest.mark.parametrize("row", ["heavy_ball (tuned)", f"heavy_ball (tuned every {L.TUNE_EVERY})"])
def test_tuned_run_counts_every_force_call_and_uses_no_grid(monkeypatch, row):
    """Counted independently: every energy-and-gradient call, and the options the run got."""
    import dynopt
    import dynopt.problems.lennard_jones as lj
    from dynopt.reproduce.lj38 import runs
    calls = [0]
    kernel = lj.lj_energy_and_gradient_nb

    def counted(x, g):
        calls[0] += 1
        return kernel(x, g)

    seen = []
    minimize = dynopt.minimize

    def spy(fun, x0, **kwargs):
        seen.append(dict(kwargs["options"]))
        return minimize(fun, x0, **kwargs)

    monkeypatch.setattr(lj, "lj_energy_and_gradient_nb", counted)
    monkeypatch.setattr(dynopt, "minimize", spy)
    cap = 160
    out = runs._run_tuned(row, 0, cap, "fmax")
    (opts,) = seen
    method, every = L.TUNED_ROWS[row]
    assert opts["tune"] is True and opts.get("tune_every") == every
    assert not {"lr", "momentum"} & set(opts)
    x0_cost = calls[0] - out["force_calls"]          # the estimate's cost, measured beforehand
    assert x0_cost > 0 and opts["maxfev"] == cap - x0_cost
    assert out["force_calls"] <= cap
    assert out["tune_calls"] >= x0_cost and out["estimates"] >= 1
    if every is None:
        assert out["tune_calls"] == x0_cost and out["estimates"] == 1
    if out["outcome"] == "cap":
        assert out["force_calls"] == cap
