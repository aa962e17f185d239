"""One LJ38 sweep point: a block of starts relaxed by one row's optimizer.

dynopt's methods run as one batched :func:`dynopt.minimize` call, ASE's
optimizers through a calculator counting its calls, SciPy's through an
objective that counts and stops at the first point meeting the criterion.
"""
from __future__ import annotations

import math

import numpy as np

from ..base import single_threaded_blas
from .protocol import (_ALL, ASE_METHODS, ASE_RC, CRITERIA, DYNOPT_SETTINGS, FMAX, N_ATOMS,
                       SCIPY_METHODS, TUNED_ROWS, criterion_value, fragments, lj_batch, start)

__all__ = ["run_block"]


def run_block(method: str, first_seed: int, count: int, *, cap: int,
              criterion: str = "fmax") -> dict:
    """Relax starts ``first_seed .. first_seed + count - 1`` with one method.

    Parameters
    ----------
    method : str
        A key of :data:`DYNOPT_SETTINGS`, :data:`TUNED_ROWS` (no grid: tuned from the
        measured spectrum, one start at a time), :data:`ASE_METHODS` or
        :data:`SCIPY_METHODS`.
    first_seed, count : int
        The starts (see :func:`start`).
    cap : int
        Force calls after which a run stops unconverged.
    criterion : {'fmax', 'l2'}
        The stopping rule (see :data:`CRITERIA`).

    Returns
    -------
    dict
        ``runs``: one dict per start with ``seed``, ``outcome`` (``'converged'``,
        ``'dissociated'``, ``'cap'``, ``'diverged'``, ``'stopped'`` or
        ``'error'``), ``force_calls``, ``energy``, ``fmax``, ``l2`` (at the
        final point), ``fragments`` (see :func:`fragments`),
        ``positions`` (the final flat positions), ``detail`` (the optimizer's
        own step count or message) and ``error``; a tuned row's runs also
        ``tune_calls`` (force calls of the estimates, part of ``force_calls``),
        ``estimates``, ``x0_options`` and ``x0_negative``. A start that raises is
        reported as ``'error'`` with its message; the others are kept.
    """
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
        raise ValueError(f"cap must be a positive integer, got {cap!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {sorted(CRITERIA)}, got {criterion!r}")
    if method not in _ALL:
        raise ValueError(f"method must be one of {list(_ALL)}, got {method!r}")
    seeds = list(range(int(first_seed), int(first_seed) + int(count)))
    with single_threaded_blas():
        if method in DYNOPT_SETTINGS:
            try:
                runs = _run_dynopt(method, seeds, cap, criterion)
            except Exception:          # one bad start must not take the block with it
                runs = [_guarded(_run_dynopt_one, method, s, cap, criterion) for s in seeds]
        elif method in TUNED_ROWS:
            runs = [_guarded(_run_tuned, method, s, cap, criterion) for s in seeds]
        else:
            one = _run_ase if method in ASE_METHODS else _run_scipy
            runs = [_guarded(one, method, s, cap, criterion) for s in seeds]
    return {"runs": runs}


def _guarded(fn, method, seed, cap, criterion):
    try:
        return fn(method, seed, cap, criterion)
    except Exception as exc:  # noqa: BLE001 - reported in the record
        message = str(exc)
        return {"seed": seed, "outcome": "error", "force_calls": None, "energy": None,
                "fmax": None, "l2": None, "fragments": None, "positions": None, "detail": None,
                "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__}


def _finish(seed, x, force_calls, criterion, detail, stopped_outcome):
    """The record of a finished run, with its measures recomputed at ``x``."""
    from ...problems.lennard_jones import force_l2, lj_energy_and_gradient, max_atom_force
    x = np.asarray(x, dtype=float).ravel()
    energy, grad = lj_energy_and_gradient(x)
    fmax, l2 = max_atom_force(grad), force_l2(grad)
    value = fmax if criterion == "fmax" else l2
    finite = bool(np.all(np.isfinite(x)) and math.isfinite(energy))
    parts = fragments(x) if finite else None
    if not finite:
        outcome = "diverged"
    elif value < CRITERIA[criterion][1]:
        outcome = "converged" if parts == 1 else "dissociated"
    else:
        outcome = stopped_outcome
    return {"seed": seed, "outcome": outcome, "force_calls": int(force_calls),
            "energy": float(energy), "fmax": float(fmax), "l2": float(l2), "fragments": parts,
            "positions": x.tolist(), "detail": detail, "error": None}


def _dynopt_options(method, cap, criterion):
    from ...problems.lennard_jones import force_l2, max_atom_force
    norm = max_atom_force if criterion == "fmax" else force_l2
    # dynopt stops at norm <= gtol; one ulp below the threshold makes that "< threshold"
    gtol = float(np.nextafter(CRITERIA[criterion][1], 0.0))
    return {**DYNOPT_SETTINGS[method], "maxiter": int(cap) - 1, "gtol": gtol, "norm": norm,
            "vectorized": True, "seed": 0}


def _run_dynopt(method, seeds, cap, criterion):
    import dynopt
    X0 = np.stack([start(s) for s in seeds])
    res = dynopt.minimize(lj_batch, X0, jac=True, method=method,
                          options=_dynopt_options(method, cap, criterion))
    status = np.atleast_1d(res.status)
    X = np.atleast_2d(res.x)
    out = []
    for i, s in enumerate(seeds):
        outcome = "diverged" if int(status[i]) in (3, 4) else "cap"
        out.append(_finish(s, X[i], int(np.atleast_1d(res.nfev)[i]), criterion,
                           f"dynopt status {int(status[i])}", outcome))
    return out


def _run_dynopt_one(method, seed, cap, criterion):
    return _run_dynopt(method, [seed], cap, criterion)[0]


def _lj_one(x):
    """Energy and gradient of one flat cluster (the kernel :func:`lj_batch` runs per row)."""
    from ...problems.lennard_jones import lj_energy_and_gradient_nb
    x = np.ascontiguousarray(x, dtype=np.float64)
    g = np.empty_like(x)
    return float(lj_energy_and_gradient_nb(x, g)), g


def _run_tuned(row, seed, cap, criterion):
    r"""A tuned row on one start: ``dynopt.minimize(..., options={'tune': True})``, no grid.

    The estimate at :math:`x_0` spends :math:`J` force calls; the run gets
    ``maxfev`` :math:`= \text{cap} - J` (retunes count against it), so the
    row's force calls, estimates included, stay within the cap. The count is
    the objective's own (a wrapper), checked against the result's ``nfev``.
    """
    import dynopt
    from ..rosenbrock.runs import x0_estimate_cost
    method, every = TUNED_ROWS[row]
    x0 = start(seed)
    spent = x0_estimate_cost(_lj_one, x0)
    if spent >= cap - 1:
        raise ValueError(f"{row}: the estimate at x0 spent {spent} force calls, the cap "
                         f"{cap} leaves no step")
    calls = [0]

    def fun(x):
        calls[0] += 1
        return _lj_one(x)

    options = {k: v for k, v in _dynopt_options("gd", cap, criterion).items()
               if k in ("gtol", "norm")}
    options.update({"tune": True, "maxiter": int(cap), "maxfev": int(cap) - spent, "seed": 0})
    if every is not None:
        options["tune_every"] = every
    res = dynopt.minimize(fun, x0, jac=True, method=method, options=options)
    history = res.tuning["history"]
    if history[0]["nfev"] != spent or int(res.nfev) != calls[0]:
        raise RuntimeError(f"{row}: force calls do not add up: the estimate at x0 spent "
                           f"{history[0]['nfev']} (expected {spent}), the run reports nfev "
                           f"{int(res.nfev)}, the objective was called {calls[0]} times")
    status = int(res.status)
    outcome = "diverged" if status in (3, 4) else "cap"
    result = _finish(seed, res.x, calls[0], criterion, f"dynopt status {status}", outcome)
    result["tune_calls"] = int(sum(e["nfev"] for e in history))
    result["estimates"] = len(history)
    result["x0_options"] = {k: float(v) for k, v in history[0]["hyperparameters"].items()}
    result["x0_negative"] = bool(history[0]["negative_curvature"])
    return result


def _counting_lj():
    """ASE's LennardJones (no effective cut-off) counting its energy-and-force evaluations."""
    from ...problems.lennard_jones import counting_ase_calculator
    return counting_ase_calculator(rc=ASE_RC)


def _run_ase(method, seed, cap, criterion):
    import ase.optimize
    from ase import Atoms
    atoms = Atoms(f"Ar{N_ATOMS}", positions=start(seed).reshape(-1, 3))
    atoms.calc = _counting_lj()
    opt = getattr(ase.optimize, ASE_METHODS[method])(atoms, logfile=None)
    if criterion == "fmax":
        # ASE's own loop and test: converged when max_i |F_i| < fmax
        opt.run(fmax=FMAX, steps=int(cap) - 1)
    else:
        for _ in opt.irun(fmax=0.0, steps=int(cap) - 1):
            if criterion_value(atoms.get_forces(), criterion) < CRITERIA[criterion][1]:
                break
    result = _finish(seed, atoms.get_positions(), atoms.calc.calls, criterion,
                     f"ase nsteps {opt.nsteps}", "cap")
    result["ase_nsteps"] = int(opt.nsteps)
    return result


class _Stop(Exception):
    """Raised inside SciPy's objective to end a run (criterion met or cap reached)."""


def _run_scipy(method, seed, cap, criterion):
    import scipy.optimize as so
    from ...problems.lennard_jones import lj_energy_and_gradient
    threshold = CRITERIA[criterion][1]
    state = {"calls": 0, "x": None, "met": False}

    def fun(x):
        state["calls"] += 1
        energy, grad = lj_energy_and_gradient(x)
        state["x"] = np.array(x, dtype=float)
        if criterion_value(grad, criterion) < threshold:
            state["met"] = True
            raise _Stop
        if state["calls"] >= cap:
            raise _Stop
        return energy, grad

    options = ({"gtol": 0.0, "maxiter": 10 * cap} if method == "scipy CG" else
               {"gtol": 0.0, "ftol": 0.0, "maxiter": 10 * cap, "maxfun": 10 * cap})
    detail = "stopped by the force criterion or the cap"
    try:
        res = so.minimize(fun, start(seed), jac=True, method=SCIPY_METHODS[method],
                          options=options)
        detail = f"scipy stopped by itself: {res.message}"
        x = res.x
    except _Stop:
        x = state["x"]
    outcome = "cap" if state["calls"] >= cap else "stopped"
    return _finish(seed, x, state["calls"], criterion, detail, outcome)
