r"""Predicted against observed rates, side by side, from vectorised runs.

:func:`compare_rates` runs a method once on the diagonal quadratic

.. math::

    f(x) = \tfrac12 \sum_i \lambda_i x_i^2 ,

and reads the run coordinate by coordinate. On a quadratic the eigen-directions
do not interact, so coordinate :math:`i` of that one run *is* an independent
run on :math:`\tfrac12\lambda_i x^2` for every method whose step acts
coordinate-wise (the linear methods this module analyses): :math:`n` runs for
the price of one vectorised call. Each :math:`|x_i(k)|` is then fitted on its own
(:func:`~dynopt.analysis.observed.fit_contraction`) and set next to the spectral
radius of the one-step map (:func:`~dynopt.analysis.discrete.predicted_rate`)
and the per-step factor :math:`e^{-\sigma h}` of the continuous system.

:func:`sweep_rates` builds on it: a sweep of the damping ratio at fixed
hyperparameters is a choice of :math:`\lambda_i` (for heavy ball,
:math:`\zeta = (1-\alpha)/(2\sqrt{\eta\lambda})`, so
:math:`\lambda_i = ((1-\alpha)/(2\zeta_i))^2/\eta`); a sweep of the step size,
which is a hyperparameter, uses the batch dimension of :func:`dynopt.minimize`
instead (one member per step size, each stopping on its own).

:func:`compare_spectrum` measures the rate of the whole vector instead: on a
rotated quadratic :math:`f(x) = \tfrac12 (x - x^\star)^\top Q\Lambda Q^\top (x - x^\star)`
the error :math:`\|x_k - x^\star\|` is a sum over the eigen-directions, and
its asymptotic factor is the slowest mode's, :math:`\max_i \rho(M(\lambda_i))`.
A sweep of one hyperparameter (a damping, a step) is run as the members of one
batched, vectorised :func:`dynopt.minimize` call.

A coordinate that grows makes the whole single run diverge (the run stops at
``options['divergence']``). The coordinates seen to grow are then set aside
and the others run again, so that a divergent member of a sweep does not cut
the record of the converging ones short.
"""
from __future__ import annotations

import csv
import html
import json
import math
import numbers

import numpy as np

from .continuous import classify_damping
from .discrete import _plain_options, continuous_numeric, resolve_program, step_matrix
from .observed import RateFit, continuous_rate_to_per_step, fit_contraction, fit_energy_decay

__all__ = ["RateTable", "observed_rate", "compare_rates", "compare_spectrum", "sweep_rates"]


# ------------------------------------------------------------------------- observed
def observed_rate(result, x_star=0.0, quantity: str = "distance", *, coordinate=None,
                  member=None, f_star: float = 0.0, **fit_options) -> RateFit:
    r"""Per-step rate fitted from a recorded run.

    Parameters
    ----------
    result : OptimizeResult
        From :func:`dynopt.minimize` with ``options={'record': True}`` (or a stride).
    x_star : float or array_like
        The minimiser.
    quantity : {'distance', 'energy'}
        ``'distance'``: :math:`\|x_k - x^\star\|_2` (or :math:`|x_{k,i} - x^\star_i|`
        for one ``coordinate``), whose rate is the spectral radius of the
        one-step map. ``'energy'``: the recorded total energy minus ``f_star``
        (kinetic + potential + thermostat terms), which decays at about the
        square of that rate.
    coordinate : int, optional
        Fit one coordinate only (the diagonal-quadratic trick of :func:`compare_rates`).
    member : int, optional
        The member of a batched run (required for one).
    f_star : float
        The minimum value, for ``'energy'``.
    **fit_options
        Passed to :func:`~dynopt.analysis.observed.fit_contraction`. At a repeated root of
        the one-step map (optimally tuned heavy ball, critical damping; see
        :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root`) the error is
        :math:`(a + bk)\,r^k`, not :math:`C r^k`: pass ``double_root=True`` to fit that
        model. By default the fit chooses it only where it is clearly better.

    Returns
    -------
    RateFit
        ``linear_regime=False`` and ``rate=nan`` when the record shows no
        geometric decay or growth (a plateau, a sublinear decay).

    Raises
    ------
    ValueError
        If the run was not recorded, ``quantity`` is unknown, or the record is
        too short to fit.
    """
    traj = getattr(result, "trajectory", None) if not isinstance(result, dict) else \
        result.get("trajectory")
    if traj is None:
        raise ValueError("observed_rate needs a recorded run: call dynopt.minimize(..., "
                         "options={'record': True}); this result has no 'trajectory'")
    if quantity not in ("distance", "energy"):
        raise ValueError(f"quantity must be 'distance' or 'energy', got {quantity!r}")
    steps = np.asarray(traj["step"])
    X = np.asarray(traj["x"], dtype=float)
    batched = X.ndim == 3
    if batched and member is None:
        raise ValueError(f"this run is a batch of {X.shape[1]} members; pass member=")
    if not batched and member is not None:
        raise ValueError(f"member={member!r} given, but the run is not batched")
    if batched:
        if not (_is_integer(member) and 0 <= member < X.shape[1]):
            raise ValueError(f"member must be an integer in [0, {X.shape[1]}), got {member!r}")
        X = X[:, member, :]
    nit = np.asarray(result["nit"])
    last = int(nit[member] if batched else nit)
    keep = steps <= last  # a stopped member's record is frozen afterwards
    if quantity == "energy":
        E = np.asarray(traj["total"], dtype=float)
        E = E[:, member] if batched else E
        return fit_energy_decay(E[keep], f_star=f_star, steps=steps[keep], **fit_options)
    diff = X - np.asarray(x_star, dtype=float)
    if coordinate is not None:
        if not (_is_integer(coordinate) and 0 <= coordinate < X.shape[1]):
            raise ValueError(f"coordinate must be an integer in [0, {X.shape[1]}), "
                             f"got {coordinate!r}")
        err = np.abs(diff[:, coordinate])
    else:
        err = np.linalg.norm(diff, axis=1)
    return fit_contraction(err[keep], steps=steps[keep], **fit_options)


# ------------------------------------------------------------------------- table
class RateTable:
    """Rows of predicted and observed rates.

    Attributes
    ----------
    rows : list of dict
        One dict per run (coordinate or batch member); see :func:`compare_rates`
        for the keys.
    method : str
        The method's name.
    """

    #: columns shown by ``str`` and ``_repr_html_``
    display = ("eigenvalue", "damping_ratio", "regime", "predicted", "continuous", "observed",
               "rel_error", "linear_regime")

    def __init__(self, rows, method: str = "", meta: dict | None = None):
        self.rows = list(rows)
        self.method = method
        self.meta = dict(meta or {})

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def column(self, key) -> np.ndarray:
        """One column as an array."""
        if self.rows and key not in self.rows[0]:
            raise KeyError(f"no column {key!r}; columns: {list(self.rows[0])}")
        return np.asarray([row[key] for row in self.rows])

    @property
    def columns(self) -> list:
        return list(self.rows[0]) if self.rows else []

    def to_csv(self, path) -> None:
        """Write the rows as CSV (one header line)."""
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _plain(v) for k, v in row.items()})

    def to_json(self, path) -> None:
        """Write ``{'method', 'meta', 'rows'}`` as JSON (NaN and inf as null / strings)."""
        doc = {"method": self.method, "meta": {k: _plain(v) for k, v in self.meta.items()},
               "rows": [{k: _json(v) for k, v in row.items()} for row in self.rows]}
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=1)

    def _cells(self):
        cols = [c for c in self.display if c in self.columns] or self.columns
        return cols, [[_fmt(row[c]) for c in cols] for row in self.rows]

    def __str__(self):
        cols, cells = self._cells()
        widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c)
                  for i, c in enumerate(cols)]
        lines = [f"RateTable {self.method!r} ({len(self.rows)} rows)",
                 "  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        cols, cells = self._cells()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
                       for r in cells)
        return (f"<table><caption>{html.escape(self.method)}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _plain(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _json(v):
    v = _plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _fmt(v):
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


# ------------------------------------------------------------------------- runs
#: default ``divergence`` option of the comparison runs: far above dynopt.minimize's 1e12, so
#: that a growing run is recorded over many decades (its growth rate is fitted too) before it
#: is stopped; ``options['divergence']`` overrides it
DIVERGENCE = 1e100

def _diagonal_quadratic(lams):
    def fun(x):
        return 0.5 * float(np.dot(lams * x, x)), lams * x
    return fun


def _batched_quadratic(lams):
    def fun(X):
        return 0.5 * np.sum(lams * X * X, axis=1), lams * X
    return fun


def _double_root_option(repeated) -> bool | None:
    """``double_root`` of the fit: the (a + bk) r^k model where the analysis flags a repeated
    root of the one-step map, else the automatic choice."""
    return True if repeated else None


def _fit_or_none(err, steps, repeated=False):
    """A fit, or the reason there is none."""
    try:
        return fit_contraction(err, steps=steps, double_root=_double_root_option(repeated)), ""
    except ValueError as exc:
        return None, str(exc)


def _growing(fit, err):
    if fit is not None and fit.linear_regime:
        return fit.rate > 1.0
    finite = err[np.isfinite(err)]
    return (not np.all(np.isfinite(err))) or (finite.size > 1 and finite[-1] > 1e3 * finite[0])


def _run_diagonal(method, lams, integrator, options, steps, x0, repeated):
    """Observe every coordinate; rerun the converging ones if growing ones stopped the run."""
    from .._minimize import minimize
    n = lams.size
    fits = [None] * n
    notes = [""] * n
    status = np.zeros(n, dtype=int)
    ran = np.zeros(n, dtype=int)
    active = np.arange(n)
    while active.size:
        opts = {"divergence": DIVERGENCE, **options, "record": True, "gtol": 0.0,
                "maxiter": int(steps)}
        res = minimize(_diagonal_quadratic(lams[active]), x0[active], method=method, jac=True,
                       integrator=integrator, options=opts)
        traj = res.trajectory
        keep = traj["step"] <= res.nit
        X = np.asarray(traj["x"], dtype=float)[keep]
        grown = []
        for j, i in enumerate(active):
            err = np.abs(X[:, j])
            fits[i], notes[i] = _fit_or_none(err, traj["step"][keep], repeated[i])
            status[i], ran[i] = res.status, res.nit
            if _growing(fits[i], err):
                grown.append(i)
        if res.status not in (3, 4) or not grown or len(grown) == active.size:
            break
        active = np.setdiff1d(active, grown)
    return fits, notes, status, ran


def _row(lam_, zeta, sigma, hh, predicted, fit, note, status, ran, repeated=False):
    continuous = continuous_rate_to_per_step(sigma, float(hh)) if math.isfinite(sigma) else math.nan
    observed = fit.rate if fit is not None else math.nan
    row = {
        "eigenvalue": float(lam_), "damping_ratio": float(zeta),
        "regime": str(classify_damping(zeta)) if not math.isnan(zeta) else "unknown",
        "predicted": float(predicted), "continuous": float(continuous),
        "observed": float(observed),
        "stderr": float(fit.stderr) if fit is not None else math.nan,
        "rel_error": abs(observed - predicted) / predicted if predicted > 0 else math.nan,
        "linear_regime": bool(fit.linear_regime) if fit is not None else False,
        "oscillating": bool(fit.oscillating) if fit is not None else False,
        "converging": bool(fit.converging) if fit is not None else False,
        "predicted_stable": bool(predicted < 1.0),
        "repeated_root": bool(repeated),
        "double_root_fit": bool(fit.double_root) if fit is not None else False,
        "status": int(status), "steps": int(ran),
        "note": note or (fit.message if fit is not None else ""),
    }
    return row


def _is_integer(value) -> bool:
    """An integer of Python, NumPy or SymPy, not a boolean."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_positive_array(values, name):
    if isinstance(values, (bool, np.bool_)) or np.asarray(values).dtype.kind == "b" or (
            isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_))
                                                    for v in values)):
        raise TypeError(f"{name} must be an array of numbers, got the boolean(s) {values!r}")
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {values!r}") from None
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {values!r}")
    return arr


def _check_steps(steps):
    if not _is_integer(steps) or steps < 10:
        raise ValueError(f"steps must be an integer >= 10, got {steps!r}")
    return int(steps)


def compare_rates(method, eigenvalues, integrator=None, options=None, steps: int = 3000,
                  x0=None, freeze=None) -> RateTable:
    r"""Predicted (discrete and continuous) against observed per-step rates.

    One :func:`dynopt.minimize` run on :math:`f = \tfrac12\sum_i\lambda_i x_i^2`
    (see the module notes), recorded for ``steps`` steps with ``gtol=0``; each
    coordinate is fitted on its own.

    Parameters
    ----------
    method : str, Method or System
    eigenvalues : array_like
        :math:`\lambda_i > 0`, one coordinate each.
    integrator : str or Integrator, optional
    options : dict, optional
        Hyperparameters (``maxiter``, ``gtol`` and ``record`` are set here).
    steps : int
        Steps per run.
    x0 : array_like, optional
        Start, one entry per eigenvalue (default all ones), non-zero.
    freeze : dict, optional
        Scalar state held fixed in the prediction
        (see :func:`~dynopt.analysis.discrete.step_matrix`).

    Returns
    -------
    RateTable
        Rows with ``eigenvalue``, ``damping_ratio`` and ``regime`` (of the continuous
        system), ``predicted`` (spectral radius), ``continuous``
        (:math:`e^{-\sigma h}`), ``observed`` with ``stderr``, ``rel_error``
        (:math:`|r_{obs} - r_{pred}|/r_{pred}`), ``linear_regime``, ``oscillating``,
        ``converging``, ``predicted_stable``, ``repeated_root`` (the slowest root of the
        one-step map is double: :meth:`~dynopt.analysis.discrete.LinearStep.repeated_root`),
        ``double_root_fit`` (the observed rate comes from the fit of
        :math:`\lvert a + bk\rvert r^k`, which is used where ``repeated_root`` holds and
        wherever it fits clearly better than :math:`C r^k`), ``status`` and ``steps`` of the run,
        and ``note``.
    """
    lams = _check_positive_array(eigenvalues, "eigenvalues")
    steps = _check_steps(steps)
    options = _plain_options(dict(options or {}))
    resolve_program(method, integrator, options)  # validates before running
    x0 = np.ones_like(lams) if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
    if x0.shape != lams.shape or not np.all(np.isfinite(x0)) or np.any(x0 == 0):
        raise ValueError(f"x0 must hold one finite non-zero entry per eigenvalue "
                         f"({lams.size}), got {x0!r}")
    step = step_matrix(method, integrator, options, freeze)
    predicted = np.asarray(step.spectral_radius(lams))
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(lams)
    repeated = np.asarray(step.repeated_root(lams)).reshape(-1)
    fits, notes, status, ran = _run_diagonal(method, lams, integrator, options, steps, x0,
                                             repeated)
    rows = [_row(lams[i], zeta[i], sigma[i], hh[i], predicted[i], fits[i], notes[i],
                 status[i], ran[i], repeated[i]) for i in range(lams.size)]
    return RateTable(rows, step.name, {"integrator": str(integrator), "steps": steps,
                                       "options": {k: _plain(v) for k, v in options.items()}})



def _orthogonal(n, rng):
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def compare_spectrum(method, eigenvalues, integrator=None, options=None, *, parameter=None,
                     values=None, steps: int = 3000, rotate: bool = True, seed: int = 0,
                     freeze=None) -> RateTable:
    r"""Predicted against observed rate of :math:`\|x_k - x^\star\|` on a quadratic with a
    given spectrum, optionally over a sweep of one hyperparameter, in one batched run.

    The quadratic is :math:`f(x) = \tfrac12 (x - x^\star)^\top H (x - x^\star)` with
    :math:`H = Q\,\mathrm{diag}(\lambda_1, \dots, \lambda_n)\,Q^\top`, :math:`Q` a random
    rotation (the identity with ``rotate=False``) and :math:`x^\star` a random point, both
    drawn from ``seed``; the start is :math:`x_0 = x^\star + Q\mathbf 1`, so that every
    eigen-direction is excited. A method that acts coordinate-wise and linearly commutes
    with the rotation, so each eigen-direction contracts by the spectral radius of its own
    one-step map and the whole error by the slowest of them,

    .. math::

        \|x_k - x^\star\| \sim \Big(\max_i \rho\big(M(h\lambda_i)\big)\Big)^k .

    That is the ``predicted`` column; ``continuous`` is :math:`e^{-h\min_i\sigma(\lambda_i)}`
    of the continuous system (Yang et al., NeurIPS 2018). The observed rate is fitted from
    the recorded norm by :func:`~dynopt.analysis.observed.fit_contraction`.

    Parameters
    ----------
    method : str, Method or System
    eigenvalues : array_like, shape (n,)
        The spectrum :math:`\lambda_i > 0`; its length is the dimension.
    integrator : str or Integrator, optional
    options : dict, optional
        Hyperparameters of the method (``maxiter``, ``gtol``, ``record`` and
        ``vectorized`` are set here).
    parameter : str, optional
        A hyperparameter to sweep over ``values``: one member of a batched
        :func:`dynopt.minimize` call per value, each stopping on its own (a divergent
        member does not cut the others short).
    values : array_like, optional
        The values of ``parameter``.
    steps : int
        Steps per run.
    rotate : bool
        Rotate the eigenbasis (default) or keep :math:`H` diagonal.
    seed : int
        Seed of the rotation and of :math:`x^\star`.
    freeze : dict, optional
        Scalar state held fixed in the prediction.

    Returns
    -------
    RateTable
        One row per member, with the columns of :func:`compare_rates` (``eigenvalue`` is
        the slowest mode's :math:`\lambda`, ``damping_ratio`` and ``regime`` are those of
        the continuous system at :math:`\mu = \min_i\lambda_i`), plus ``dimension``,
        ``kappa`` (:math:`L/\mu`) and, for a sweep, ``parameter`` and ``value``.
    """
    from .._minimize import minimize
    lams = _check_positive_array(eigenvalues, "eigenvalues")
    steps = _check_steps(steps)
    options = _plain_options(dict(options or {}))
    _, params, name = resolve_program(method, integrator, options)
    if (parameter is None) != (values is None):
        raise ValueError("give parameter= and values= together")
    if parameter is not None:
        if parameter not in params:
            raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {name!r}; "
                             f"valid: {sorted(params)}")
        try:
            vals = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError(f"values must be an array of numbers, got {values!r}") from None
        if vals.size == 0 or not np.all(np.isfinite(vals)):
            raise ValueError(f"values must be a non-empty array of finite numbers, got {values!r}")
        resolve_program(method, integrator, {**options, parameter: float(vals[0])})
        over = {parameter: vals[:, None]}
    else:
        vals = np.array([math.nan])
        over = {}
    if not _is_integer(seed):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    n, batch = lams.size, vals.size
    rng = np.random.default_rng(seed)
    Q = _orthogonal(n, rng) if rotate else np.eye(n)
    x_star = rng.uniform(-1.0, 1.0, n)
    H = (Q * lams) @ Q.T
    H = 0.5 * (H + H.T)

    def fun(X):
        D = X - x_star
        G = D @ H
        return 0.5 * np.sum(D * G, axis=1), G

    step = step_matrix(method, integrator, options, freeze)
    rho = np.asarray(step.spectral_radius(lams[None, :], **over)).reshape(batch, n)
    slowest = np.argmax(rho, axis=1)
    repeated = np.asarray(step.repeated_root(lams[None, :], **over)).reshape(batch, n)
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(lams[None, :], **over)
    zeta, sigma, hh = (np.broadcast_to(a, (batch, n)) for a in (zeta, sigma, hh))
    mu = int(np.argmin(lams))
    X0 = np.tile(x_star + Q @ np.ones(n), (batch, 1))
    opts = {"divergence": DIVERGENCE, **options, "record": True, "gtol": 0.0, "maxiter": steps,
            "vectorized": True}
    if parameter is not None:
        opts[parameter] = vals
    res = minimize(fun, X0, method=method, jac=True, integrator=integrator, options=opts)
    rows = []
    for b in range(batch):
        try:
            fit, note = observed_rate(res, x_star, member=b, double_root=_double_root_option(
                repeated[b, slowest[b]])), ""
        except ValueError as exc:
            fit, note = None, str(exc)
        j = int(np.argmin(sigma[b]))
        row = _row(lams[slowest[b]], zeta[b, mu], sigma[b, j], hh[b, j], rho[b].max(), fit, note,
                   res.status[b], res.nit[b], repeated[b, slowest[b]])
        row.update(dimension=n, kappa=float(lams.max() / lams.min()))
        if parameter is not None:
            row.update(parameter=parameter, value=float(vals[b]))
        rows.append(row)
    return RateTable(rows, name, {"integrator": str(integrator), "steps": steps,
                                  "spectrum": lams.tolist(), "rotate": bool(rotate), "seed": int(seed),
                                  "options": {k: _plain(v) for k, v in options.items()}})


def _eigenvalues_for_zetas(method, integrator, options, freeze, zetas):
    r"""Solve :math:`\zeta(\lambda) = \zeta_i` on the continuous model (smallest positive root)."""
    import sympy as sp
    from .continuous import lam
    from .discrete import continuous_model
    model, _ = continuous_model(method, integrator, options, freeze)
    if model.order != 2:
        raise ValueError(f"{model.name!r} is a first-order flow: its damping ratio is "
                         "infinite for every eigenvalue, so it cannot be swept")
    zeta_expr = model.damping_ratio()
    out = []
    for target in zetas:
        eq = sp.numer(sp.together(zeta_expr**2 - sp.Float(target) ** 2))
        roots = [complex(r_) for r_ in sp.Poly(sp.expand(eq), lam).nroots()]
        good = sorted(r_.real for r_ in roots if abs(r_.imag) <= 1e-12 * max(1, abs(r_))
                      and r_.real > 0)
        good = [r_ for r_ in good if float(zeta_expr.subs(lam, r_)) > 0]
        if not good:
            raise ValueError(f"no eigenvalue gives damping ratio {target!r} for {model.name!r} "
                             f"(zeta(lambda) = {zeta_expr})")
        out.append(good[0])
    return np.asarray(out)


def sweep_rates(method, *, zetas=None, step_sizes=None, eigenvalue: float = 1.0,
                parameter: str | None = None, integrator=None, options=None, steps: int = 3000,
                x0: float = 1.0, freeze=None) -> RateTable:
    r"""Predicted against observed rates over a sweep, as one vectorised run.

    Parameters
    ----------
    zetas : array_like, optional
        Damping ratios: each becomes the eigenvalue :math:`\lambda_i` that has
        this ratio under the method's continuous model at the given hyperparameters
        (the smallest such :math:`\lambda` when there are several), and the sweep
        is one :func:`compare_rates` run on :math:`\tfrac12\sum\lambda_i x_i^2`.
    step_sizes : array_like, optional
        Values of the time-step hyperparameter ``parameter`` (default ``'dt'``,
        or ``'lr'`` for a method without ``dt``), run as the members of one
        batched :func:`dynopt.minimize` call on :math:`\tfrac12\lambda x^2`.
    eigenvalue : float
        :math:`\lambda` of a step-size sweep.
    integrator, options, steps, freeze
        As for :func:`compare_rates`.
    x0 : float
        Starting value of every run.

    Returns
    -------
    RateTable
        As :func:`compare_rates`, plus ``target_zeta`` or ``step_size``.
    """
    if (zetas is None) == (step_sizes is None):
        raise ValueError("give exactly one of zetas= and step_sizes=")
    options = _plain_options(dict(options or {}))
    steps = _check_steps(steps)
    if zetas is not None:
        targets = _check_positive_array(zetas, "zetas")
        lams = _eigenvalues_for_zetas(method, integrator, options, freeze, targets)
        table = compare_rates(method, lams, integrator, options, steps,
                              np.full(lams.size, float(x0)), freeze)
        for row, target in zip(table.rows, targets):
            row["target_zeta"] = float(target)
        table.meta["sweep"] = "zeta"
        return table
    hs = _check_positive_array(step_sizes, "step_sizes")
    lam_ = float(_check_positive_array([eigenvalue], "eigenvalue")[0])
    program, params, name = resolve_program(method, integrator, options)
    if parameter is None:
        parameter = "dt" if "dt" in params else "lr" if "lr" in params else None
    if parameter not in params:
        raise ValueError(f"parameter {parameter!r} is not a hyperparameter of {name!r}; "
                         f"valid: {sorted(params)}")
    from .._minimize import minimize
    step = step_matrix(method, integrator, options, freeze)
    predicted = np.asarray(step.spectral_radius(np.full(hs.size, lam_), **{parameter: hs}))
    repeated = np.asarray(step.repeated_root(np.full(hs.size, lam_), **{parameter: hs}))
    zeta, sigma, hh = continuous_numeric(method, integrator, options, freeze)(
        np.full(hs.size, lam_), **{parameter: hs})
    opts = {"divergence": DIVERGENCE, **options, parameter: hs, "record": True, "gtol": 0.0,
            "maxiter": steps, "vectorized": True}
    if isinstance(x0, (bool, np.bool_)):
        raise TypeError(f"x0 must be a number, got the boolean {x0!r}")
    x0_ = float(x0)
    if not (math.isfinite(x0_) and x0_ != 0):
        raise ValueError(f"x0 must be finite and non-zero, got {x0!r}")
    res = minimize(_batched_quadratic(np.array([lam_])), np.full((hs.size, 1), x0_),
                   method=method, jac=True, integrator=integrator, options=opts)
    rows = []
    for i in range(hs.size):
        try:
            fit, note = observed_rate(res, 0.0, member=i, coordinate=0,
                                      double_root=_double_root_option(repeated[i])), ""
        except ValueError as exc:
            fit, note = None, str(exc)
        row = _row(lam_, zeta[i], sigma[i], hh[i], predicted[i], fit, note, res.status[i],
                   res.nit[i], repeated[i])
        row["step_size"] = float(hs[i])
        rows.append(row)
    return RateTable(rows, name, {"integrator": str(integrator), "steps": steps, "sweep": parameter,
                                  "options": {k: _plain(v) for k, v in options.items()}})
