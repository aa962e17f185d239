r"""The preconditioned heavy ball: the damped oscillator under a diagonal metric.

:class:`~dynopt.systems.preconditioned.PreconditionedOscillator`
(:math:`m d_i \ddot x_i + c\, d_i \dot x_i + \partial_i f = 0`) under symplectic Euler,
with the heavy ball's hyperparameters (PyTorch's meaning of ``lr`` and ``momentum``,
:math:`m = h^2/\eta`, :math:`c = (1-\alpha) h/\eta`, :math:`h = 1`):

.. math::

    v \leftarrow \alpha v - \eta\, D^{-1} \nabla f(x), \qquad x \leftarrow x + v ,

Polyak's heavy ball with the per-coordinate learning rate :math:`\eta/d_i`. On a
quadratic with a diagonal Hessian, coordinate :math:`i` contracts at the heavy
ball's rate at the eigenvalue :math:`\lambda_i/d_i`, so
``dynopt.analysis.predicted_rate('heavy_ball', lam_i / d_i, options=...)`` predicts the
run, and with :math:`d_i = \lambda_i` every coordinate sees the eigenvalue 1.

The metric ``metric`` is per-coordinate state that starts at 1 (then the method is the
heavy ball). :func:`minimize_preconditioned` sets it at the start of a run: from a
given array, or from an estimate of the Hessian's diagonal made with gradients at
``x0`` (:func:`hessian_diagonal`), whose evaluations the result counts.
"""
from __future__ import annotations

import numpy as np

from ..hyperparameters import lr, momentum
from ..systems.preconditioned import PreconditionedOscillator
from .base import Method, reparametrize
from .momentum import UNIT_STEP, heavy_ball_mass_damping

__all__ = ["METHODS", "build_preconditioned_heavy_ball", "hessian_diagonal", "as_metric",
           "exp_metric", "minimize_preconditioned", "DiagonalEstimate"]


def build_preconditioned_heavy_ball(integrator):
    """The heavy ball's reparametrisation of the preconditioned oscillator's program."""
    prog = integrator.program(PreconditionedOscillator().vector_field(),
                              "preconditioned_heavy_ball")
    m, c = heavy_ball_mass_damping(lr, momentum, UNIT_STEP)
    return reparametrize(prog, {"mass": m, "damping": c, "dt": UNIT_STEP},
                         {lr: 1e-3, momentum: 0.9}, name="preconditioned_heavy_ball",
                         description="heavy ball with the per-coordinate learning rate lr/metric")


METHODS = {
    "preconditioned_heavy_ball": Method(
        "preconditioned_heavy_ball", build_preconditioned_heavy_ball,
        integrator="symplectic_euler", bounds={"momentum": (0, 1)},
        summary="heavy ball under a diagonal metric D (state 'metric', 1 unless set by "
                "minimize_preconditioned): v <- momentum v - lr g/D",
        physical="m d_i xddot_i + c d_i xdot_i + grad_i f = 0: H = p^T (mD)^-1 p/2 + f, "
                 "R = c qdot^T D qdot/2, m = h^2/lr, c = (1-momentum) h/lr"),
}


# ------------------------------------------------------------------ the metric
class DiagonalEstimate(dict):
    """``diagonal`` (the estimate), ``nfev``, ``njev`` (what it cost), ``probes``, ``kind``."""

    __getattr__ = dict.__getitem__


def _gradient(fun, jac, args):
    """``grad(x)`` and the counters it advances (``[nfev, njev]``)."""
    counts = [0, 0]
    if callable(jac):
        def grad(y):
            counts[1] += 1
            return np.asarray(jac(y, *args), dtype=float).reshape(-1)
    elif jac is True:
        def grad(y):
            counts[0] += 1
            counts[1] += 1
            return np.asarray(fun(y, *args)[1], dtype=float).reshape(-1)
    else:
        raise ValueError("the Hessian diagonal is estimated from gradients: give jac (a "
                         f"callable, or True when fun returns (f, g)), got jac={jac!r}")
    return grad, counts


def hessian_diagonal(fun, x0, jac, args=(), *, kind="hutchinson", probes=1, seed=0,
                     rel_step=None) -> DiagonalEstimate:
    r"""An estimate of :math:`\operatorname{diag} \nabla^2 f(x_0)` from gradients.

    Hessian-vector products are central differences of gradients,
    :math:`Hz \approx (\nabla f(x_0 + \epsilon z) - \nabla f(x_0 - \epsilon z))/(2\epsilon)`,
    with :math:`\epsilon = r \max(1, \|x_0\|_\infty)` (``rel_step`` :math:`r`, default
    :math:`\varepsilon_{\text{mach}}^{1/3}`), exact for a quadratic up to rounding.

    Parameters
    ----------
    fun, jac, args
        As for :func:`dynopt.minimize`; ``jac`` must give gradients (a callable or
        ``True``).
    x0 : array_like, shape (n,)
    kind : {'hutchinson', 'coordinates'}
        ``'hutchinson'``: :math:`\hat d = \frac1P \sum_{k} z_k \odot H z_k` over ``probes``
        Rademacher vectors :math:`z_k` (Bekas, Kokiopoulou & Saad, "An estimator for the
        diagonal of a matrix", Appl. Numer. Math. 57, 2007), unbiased, and exact for a
        diagonal Hessian with any number of probes; :math:`2P` gradients.
        ``'coordinates'``: :math:`\hat d_i = e_i^\top H e_i`, exact for any Hessian;
        :math:`2n` gradients.
    probes : int
        :math:`P \ge 1` (``'hutchinson'`` only).
    seed : int
        Of the Rademacher draws.
    rel_step : float, optional
        :math:`r > 0`.

    Returns
    -------
    DiagonalEstimate
        ``diagonal`` (signed; :func:`as_metric` makes a metric of it), ``nfev``, ``njev``.
    """
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 1 or x0.size == 0 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite non-empty 1-D array, got shape {x0.shape}")
    if kind not in ("hutchinson", "coordinates"):
        raise ValueError(f"kind must be 'hutchinson' or 'coordinates', got {kind!r}")
    if isinstance(probes, bool) or not isinstance(probes, (int, np.integer)) or probes < 1:
        raise ValueError(f"probes must be a positive integer, got {probes!r}")
    if rel_step is None:
        rel_step = np.finfo(float).eps ** (1 / 3)
    if not (isinstance(rel_step, (int, float)) and np.isfinite(rel_step) and rel_step > 0):
        raise ValueError(f"rel_step must be a positive number, got {rel_step!r}")
    grad, counts = _gradient(fun, jac, args)
    n = x0.size
    eps = rel_step * max(1.0, float(np.max(np.abs(x0))))

    def product(z):
        return (grad(x0 + eps * z) - grad(x0 - eps * z)) / (2 * eps)

    if kind == "coordinates":
        diag = np.empty(n)
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            diag[i] = product(e)[i]
        used = n
    else:
        rng = np.random.default_rng(seed)
        diag = np.zeros(n)
        for _ in range(probes):
            z = rng.choice((-1.0, 1.0), size=n)
            diag += z * product(z)
        diag /= probes
        used = int(probes)
    return DiagonalEstimate(diagonal=diag, nfev=counts[0], njev=counts[1], probes=used,
                            kind=kind)


def as_metric(diagonal, floor: float = 1e-6) -> np.ndarray:
    r"""A positive metric from a (signed) diagonal estimate: :math:`d_i = \max(|\hat d_i|,
    \phi \max_j |\hat d_j|)`.

    The absolute value keeps the kinetic energy positive where the curvature is negative
    (as the saddle-free Newton method of Dauphin et al., NeurIPS 2014, takes :math:`|H|`);
    the relative floor :math:`\phi` (``floor``) keeps flat coordinates from receiving an
    unbounded learning rate :math:`\eta/d_i`.
    """
    d = np.abs(np.asarray(diagonal, dtype=float))
    if d.ndim != 1 or d.size == 0 or not np.all(np.isfinite(d)):
        raise ValueError(f"the metric must be a finite non-empty 1-D array, got {diagonal!r:.80}")
    if not (isinstance(floor, (int, float)) and 0 < floor <= 1):
        raise ValueError(f"floor must lie in (0, 1], got {floor!r}")
    top = float(np.max(d))
    if top == 0:
        raise ValueError("the metric is zero in every coordinate: no curvature to scale by")
    return np.maximum(d, floor * top)


def exp_metric(atoms, *, A: float = 3.0, r_cut=None, r_NN=None, mu: float = 1.0,
               c_stab: float = 0.1) -> np.ndarray:
    r"""The diagonal of ASE's ``Exp`` preconditioner for ``atoms``: a metric of length :math:`3N`.

    Packwood et al., "A universal preconditioner for simulating condensed phase
    materials", J. Chem. Phys. 144, 164109 (2016), as
    :class:`ase.optimize.precon.Exp` assembles it: atom :math:`i`'s three coordinates get

    .. math::

        d_i = \mu\Big(\sum_{j:\, r_{ij} < r_{\text{cut}}}
              e^{-A (r_{ij}/r_{\text{NN}} - 1)} + c_{\text{stab}}\Big),

    a coordination-weighted stiffness (:math:`r_{\text{NN}}` the nearest-neighbour
    distance, :math:`r_{\text{cut}} = 2 r_{\text{NN}}` unless given). The full matrix
    couples neighbours; only its diagonal is a metric here (the step programs are
    elementwise). ``mu`` is given (default 1, the scale then sits in ``lr``), so no
    energy or force is evaluated; coordinates are ordered as ``atoms.positions.ravel()``.
    """
    from ase.optimize.precon import Exp
    if not (isinstance(mu, (int, float)) and np.isfinite(mu) and mu > 0):
        raise ValueError(f"mu must be a positive number, got {mu!r}")
    precon = Exp(A=A, r_cut=r_cut, r_NN=r_NN, mu=mu, c_stab=c_stab)
    precon.make_precon(atoms)
    return np.asarray(precon.P.diagonal(), dtype=float)


def minimize_preconditioned(fun, x0, jac, args=(), *, metric="hutchinson", probes=1,
                            seed=0, floor=1e-6, rel_step=None, backend="numpy",
                            callback=None, options=None):
    r""":func:`dynopt.minimize` with ``method='preconditioned_heavy_ball'`` and a metric.

    Parameters
    ----------
    fun, x0, jac, args, backend, callback
        As for :func:`dynopt.minimize`; ``x0`` is one start (1-D).
    metric : {'hutchinson', 'coordinates', 'identity'} or array_like, shape (n,)
        How the metric :math:`D` is obtained: an estimate of the Hessian's diagonal at
        ``x0`` (:func:`hessian_diagonal` of that ``kind``, made positive by
        :func:`as_metric` with ``floor``), the identity (the heavy ball), or the
        diagonal itself (positive, finite).
    probes, seed, rel_step
        Of the estimate (:func:`hessian_diagonal`).
    options : dict, optional
        As for :func:`dynopt.minimize`: ``lr``, ``momentum`` and the loop options
        (``maxfev`` counts the estimate's evaluations). Not ``tune``, ``vectorized`` nor
        ``compiled`` (the run is the Python loop).

    Returns
    -------
    OptimizeResult
        As :func:`dynopt.minimize`'s, with ``nfev``/``njev`` counting the estimate too,
        ``metric`` (the diagonal used) and ``metric_estimate`` (the
        :class:`DiagonalEstimate`, or ``None``).
    """
    from .._minimize import _check_x0, minimize

    options = dict(options or {})
    for name in ("tune", "tune_every", "vectorized", "compiled"):
        if options.get(name) not in (None, False):
            raise ValueError(f"minimize_preconditioned takes no options[{name!r}], "
                             f"got {options[name]!r}")
    given = options.get("initial_state") or {}
    if "metric" in given:
        raise ValueError("minimize_preconditioned sets the metric from its metric argument; "
                         "options['initial_state'] must not hold 'metric'")
    x0 = _check_x0(x0)
    if x0.ndim != 1:
        raise ValueError(f"minimize_preconditioned runs one start: x0 must be 1-D, got "
                         f"shape {x0.shape}")
    n = x0.size
    estimate = None
    if isinstance(metric, str):
        if metric == "identity":
            diagonal = np.ones(n)
        elif metric in ("hutchinson", "coordinates"):
            estimate = hessian_diagonal(fun, x0, jac, args, kind=metric, probes=probes,
                                        seed=seed, rel_step=rel_step)
            diagonal = as_metric(estimate.diagonal, floor)
        else:
            raise ValueError("metric must be 'hutchinson', 'coordinates', 'identity' or an "
                             f"array of shape ({n},), got {metric!r}")
    else:
        diagonal = np.asarray(metric, dtype=float)
        if diagonal.shape != (n,) or not np.all(np.isfinite(diagonal)) or not np.all(diagonal > 0):
            raise ValueError(f"metric must be positive and finite, of shape ({n},), got "
                             f"{metric!r:.80}")
    spent_f = 0 if estimate is None else estimate.nfev
    spent_j = 0 if estimate is None else estimate.njev
    if options.get("maxfev") is not None:
        # at most one left: the evaluation at x0 uses it and the run stops with status 2
        options["maxfev"] = max(int(options["maxfev"]) - max(spent_f, spent_j), 1)
    options.update(compiled=False, initial_state={**given, "metric": diagonal})
    result = minimize(fun, x0, jac=jac, args=args, method="preconditioned_heavy_ball",
                      backend=backend, callback=callback, options=options)
    result.nfev = result.nfev + spent_f
    result.njev = result.njev + spent_j
    result.metric = diagonal
    result.metric_estimate = estimate
    return result
