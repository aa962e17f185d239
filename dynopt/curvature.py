"""Curvature the run sees: extreme Hessian eigenvalues by Lanczos on Hessian-vector products.

The Lanczos process (Lanczos 1950; Golub & Van Loan, *Matrix Computations*,
4th ed., sec. 10.1) builds an orthonormal basis :math:`Q_k` of the Krylov
space of :math:`H` and a random start, with :math:`Q_k^\\top H Q_k = T_k`
tridiagonal; the eigenvalues :math:`\\theta_i` of :math:`T_k` (Ritz values)
approach the extreme eigenvalues of :math:`H` first. Each Ritz pair
:math:`(\\theta_i, Q_k y_i)` has the residual norm
:math:`r_i = \\beta_k |e_k^\\top y_i|`, and some eigenvalue of :math:`H` lies
within :math:`r_i` of :math:`\\theta_i`; the Ritz values never leave
:math:`[\\lambda_{\\min}, \\lambda_{\\max}]`. The basis is re-orthogonalised in
full (twice, "twice is enough"), so the process is stable for the few tens of
steps it runs.

Hessian-vector products are exact with ``hessp``; otherwise they are
differences of gradients,

.. math::

    H v \\approx \\frac{\\nabla f(x + \\epsilon v) - \\nabla f(x)}{\\epsilon}
    \\quad\\text{or}\\quad
    \\frac{\\nabla f(x + \\epsilon v) - \\nabla f(x - \\epsilon v)}{2\\epsilon},

exact for a quadratic up to rounding, with :math:`\\epsilon` SciPy's relative
step convention (``rel_step`` times :math:`\\max(1, \\|x\\|)`). Every
evaluation is counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["CurvatureEstimate", "hessian_extremes", "atoms_curvature"]


@dataclass
class CurvatureEstimate:
    """Extreme Hessian eigenvalues at a point, with what they cost.

    Attributes
    ----------
    lam_min, lam_max : float
        The smallest and largest Ritz values (:math:`\\lambda_{\\min} \\le`
        ``lam_min`` and ``lam_max`` :math:`\\le \\lambda_{\\max}`, up to the error of
        finite-difference products).
    err_min, err_max : float
        Their residual norms: an eigenvalue of the Hessian lies within each of
        its Ritz value (zero when the Krylov space became invariant: exact).
    ritz : ndarray
        Every Ritz value, ascending.
    iterations : int
        Lanczos steps taken (Hessian-vector products).
    nfev, njev, nhessp : int
        Objective, gradient and ``hessp`` evaluations spent.
    exact : bool
        Whether the Krylov space became invariant or the whole space (then the
        Ritz values are eigenvalues of the Hessian up to rounding, and the
        residuals are at the level of the rounding).
    """

    lam_min: float
    lam_max: float
    err_min: float
    err_max: float
    ritz: np.ndarray
    iterations: int
    nfev: int = 0
    njev: int = 0
    nhessp: int = 0
    exact: bool = False
    members: list = field(default_factory=list)

    @property
    def condition(self) -> float:
        """``lam_max / lam_min`` (inf unless ``lam_min > 0``)."""
        return self.lam_max / self.lam_min if self.lam_min > 0 else np.inf


def _gradient_function(fun, jac, args):
    """``g(x)`` and whether each call also counts as an objective evaluation."""
    if jac is True:
        def grad(x):
            out = fun(x, *args)
            return np.asarray(out[1], dtype=float)
        return grad, True
    if callable(jac):
        return (lambda x: np.asarray(jac(x, *args), dtype=float)), False
    raise ValueError("the curvature needs the gradient: give jac (a callable or True, "
                     f"fun returning (f, g)) or hessp; got jac={jac!r}")


def _ritz(alphas, betas):
    """Ritz values (ascending) and vectors of the tridiagonal matrix of the process."""
    k = len(alphas)
    T = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    return np.linalg.eigh(T)


def hessian_extremes(fun, x0, jac=None, hessp=None, args=(), *, iterations=None,
                     difference="central", rel_step=None, seed=0, tol=1e-10, rtol=None,
                     g0=None):
    """Extreme eigenvalues of the Hessian of ``fun`` at ``x0`` by Lanczos.

    Parameters
    ----------
    fun : callable
        The objective, ``fun(x, *args)`` (only called when ``jac=True``).
    x0 : array_like, shape (n,) or (batch, n)
        The point; a 2-D ``x0`` estimates each row on its own (``members``
        holds the per-row estimates, the fields their extremes over rows).
    jac : callable or True, optional
        The gradient, as for :func:`dynopt.minimize`.
    hessp : callable, optional
        ``hessp(x, v, *args)``, the exact Hessian-vector product (then no
        gradient is evaluated).
    iterations : int, optional
        Lanczos steps (default ``min(n, 40)``); at most ``n``.
    difference : {'central', 'forward'}
        Finite differences of gradients: two gradients per product (second
        order) or one plus one at ``x0`` (first order).
    rel_step : float, optional
        Relative step :math:`\\epsilon / \\max(1, \\|x\\|)`; default the cube root
        (central) or square root (forward) of the machine epsilon, SciPy's choice.
    seed : int or numpy.random.Generator
        The random start.
    tol : float
        The process stops as exact when :math:`\\beta_k` falls below ``tol`` times
        the largest Ritz value's magnitude.
    rtol : float, optional
        Stop early once both extreme Ritz values are within ``rtol`` of an
        eigenvalue, relative to their magnitudes (``err <= rtol * |theta|``).
    g0 : array_like, shape (n,), optional
        The gradient at ``x0`` when it is known already (a run's current
        gradient): forward differences then spend no evaluation at ``x0``.
        Only for a 1-D ``x0`` and ``difference='forward'``.

    Returns
    -------
    CurvatureEstimate
    """
    x0 = np.asarray(x0, dtype=float)
    if g0 is not None and (x0.ndim != 1 or difference != "forward" or hessp is not None):
        raise ValueError("g0 is used by forward differences of gradients at a 1-D x0 only "
                         f"(got x0 of shape {x0.shape}, difference={difference!r}"
                         f"{', hessp' if hessp is not None else ''})")
    if x0.ndim == 2:
        return _extremes_of_rows(fun, x0, jac, hessp, args, iterations=iterations,
                                 difference=difference, rel_step=rel_step, seed=seed, tol=tol,
                                 rtol=rtol)
    if x0.ndim != 1 or x0.size == 0 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite non-empty 1-D or 2-D array, got shape {x0.shape}")
    if difference not in ("central", "forward"):
        raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
    n = x0.size
    iterations = _check_iterations(iterations, n)
    counts = {"nfev": 0, "njev": 0, "nhessp": 0}
    if hessp is not None:
        product = _exact_product(hessp, x0, args, counts)
    else:
        product = _difference_product(fun, jac, x0, args, difference, rel_step, g0, counts)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    alphas, betas, exact = _lanczos(product, rng, n, iterations, tol, rtol)
    k = len(alphas)
    theta, Y = _ritz(alphas, betas)
    resid = np.abs(betas[k - 1] * Y[-1, :]) if not exact else np.zeros(k)
    return CurvatureEstimate(float(theta[0]), float(theta[-1]), float(resid[0]),
                             float(resid[-1]), theta, k, counts["nfev"], counts["njev"],
                             counts["nhessp"], exact or k == n)


def _extremes_of_rows(fun, X, jac, hessp, args, **options) -> CurvatureEstimate:
    """A 2-D ``x0``: each row on its own (``members``), the extremes over rows."""
    parts = [hessian_extremes(fun, row, jac, hessp, args, **options) for row in X]
    lo = min(parts, key=lambda p: p.lam_min)
    hi = max(parts, key=lambda p: p.lam_max)
    return CurvatureEstimate(lo.lam_min, hi.lam_max, lo.err_min, hi.err_max,
                             np.sort(np.concatenate([p.ritz for p in parts])),
                             sum(p.iterations for p in parts), sum(p.nfev for p in parts),
                             sum(p.njev for p in parts), sum(p.nhessp for p in parts),
                             all(p.exact for p in parts), parts)


def _check_iterations(iterations, n) -> int:
    """The number of Lanczos steps: default ``min(n, 40)``, at most ``n``."""
    if iterations is None:
        iterations = min(n, 40)
    if (not isinstance(iterations, (int, np.integer)) or isinstance(iterations, bool)
            or iterations < 1):
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    return min(int(iterations), n)


def _exact_product(hessp, x0, args, counts):
    """:math:`v \\mapsto H v` by the user's ``hessp`` (counted in ``counts['nhessp']``)."""
    if not callable(hessp):
        raise TypeError(f"hessp must be callable, got {hessp!r}")
    n = x0.size

    def product(v):
        counts["nhessp"] += 1
        return np.asarray(hessp(x0, v, *args), dtype=float).reshape(n)
    return product


def _difference_product(fun, jac, x0, args, difference, rel_step, g0, counts):
    """:math:`v \\mapsto H v` by differences of gradients (the module's formulas).

    Forward differences take the gradient at ``x0`` from ``g0`` or evaluate it
    here, once. Every gradient is counted in ``counts``.
    """
    n = x0.size
    grad, counts_f = _gradient_function(fun, jac, args)
    if rel_step is None:
        rel_step = np.finfo(float).eps ** (1 / 3 if difference == "central" else 1 / 2)
    eps = float(rel_step) * max(1.0, float(np.linalg.norm(x0)))

    def g(x):
        counts["njev"] += 1
        counts["nfev"] += counts_f
        return grad(x).reshape(n)

    if g0 is not None:
        g0 = np.array(g0, dtype=float).reshape(-1)
        if g0.shape != (n,) or not np.all(np.isfinite(g0)):
            raise ValueError(f"g0 must be a finite gradient of shape ({n},), got shape "
                             f"{g0.shape}")
    elif difference == "forward":
        # a copy: a gradient function may return the same array on every call
        g0 = np.array(g(x0))

    def product(v):
        if difference == "forward":
            return (g(x0 + eps * v) - g0) / eps
        return (g(x0 + eps * v) - g(x0 - eps * v)) / (2 * eps)
    return product


def _lanczos(product, rng, n, iterations, tol, rtol):
    """The Lanczos process from a random unit start, fully re-orthogonalised.

    Returns ``(alphas, betas, exact)``: the diagonal and off-diagonal of
    :math:`T_k` (``betas`` one longer: the last :math:`\\beta_k`, the residuals'
    factor) and whether the Krylov space became invariant (:math:`\\beta_k` below
    ``tol`` times the scale of :math:`T_k`). With ``rtol`` the process stops once
    both extreme Ritz values are that close to eigenvalues.
    """
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    Q = np.zeros((iterations + 1, n))
    Q[0] = q
    alphas, betas = [], []
    exact = False
    beta = 0.0
    for j in range(iterations):
        w = product(Q[j])
        if not np.all(np.isfinite(w)):
            raise FloatingPointError("a Hessian-vector product is not finite at x0")
        alpha = float(Q[j] @ w)
        w = w - alpha * Q[j] - (beta * Q[j - 1] if j > 0 else 0.0)
        for _ in range(2):  # full re-orthogonalisation, twice
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        betas.append(beta)
        scale = max(abs(a) for a in alphas) + max(betas[:-1], default=0.0)
        if beta <= tol * max(scale, 1e-300):
            exact = True
            break
        Q[j + 1] = w / beta
        if rtol is not None and j >= 1:
            th, Yj = _ritz(alphas, betas)
            res = np.abs(beta * Yj[-1, [0, -1]])
            if np.all(res <= rtol * np.abs(th[[0, -1]])):
                break
    return alphas, betas, exact


def atoms_curvature(atoms, **kwargs) -> CurvatureEstimate:
    """:func:`hessian_extremes` of an ASE structure's potential energy at its positions.

    Positions are flattened to :math:`3N` coordinates and the gradient is minus
    the forces; the structure's own positions are restored afterwards (its
    calculator is called at displaced copies of them). ``kwargs`` go to
    :func:`hessian_extremes` (``iterations``, ``difference``, ``rel_step`` ...).
    A free cluster has six zero modes (translations and rotations), so
    ``lam_min`` is about zero there; its positive spectrum is what matters
    for the step.
    """
    positions = atoms.get_positions().copy()

    def gradient(x):
        atoms.set_positions(x.reshape(-1, 3))
        return -atoms.get_forces().reshape(-1)

    try:
        return hessian_extremes(None, positions.reshape(-1), jac=gradient, **kwargs)
    finally:
        atoms.set_positions(positions)
