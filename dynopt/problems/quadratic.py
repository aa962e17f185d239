r"""Convex quadratic test problems with a prescribed spectrum.

.. math::

    f(x) = \tfrac12 (x - c)^\top A\, (x - c), \qquad
    A = Q^\top \operatorname{diag}(\lambda)\, Q, \qquad
    \nabla f(x) = A (x - c),

with eigenvalues :math:`\lambda_i > 0`, an orthogonal matrix :math:`Q`
(identity when no rotation is given) and the minimiser :math:`c` where
:math:`f(c) = 0`.  The condition number is
:math:`\kappa = \lambda_{\max} / \lambda_{\min}`.

On such a problem every linear optimizer decouples into one scalar mode per
eigenvalue, which is what makes quadratics the reference case for damping
ratios and convergence rates.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

__all__ = ["Quadratic"]


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    r"""Draw an ``n x n`` orthogonal matrix from the Haar measure.

    QR factorisation of a standard Gaussian matrix, with the columns of
    :math:`Q` multiplied by :math:`\operatorname{sign}(R_{ii})` so that the
    result is Haar distributed (F. Mezzadri, "How to generate random matrices
    from the classical compact groups", *Notices of the AMS* 54, 592--604,
    2007).
    """
    gauss = rng.standard_normal((n, n))
    q, r = np.linalg.qr(gauss)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


class Quadratic:
    r"""Quadratic :math:`f(x) = \tfrac12 (x-c)^\top Q^\top \operatorname{diag}(\lambda) Q (x-c)`.

    Parameters
    ----------
    eigenvalues : array_like, shape (n,)
        Eigenvalues :math:`\lambda` of the Hessian; all positive and finite.
    rotation : array_like, shape (n, n), optional
        Orthogonal matrix :math:`Q` (checked to ``|Q^T Q - I| <= 1e-8``).
        ``None`` (default) means the identity: an axis-aligned quadratic.
    center : array_like, shape (n,), optional
        Minimiser :math:`c`; ``None`` (default) means the origin.

    Attributes
    ----------
    dim : int
        Number of coordinates ``n``.
    eigenvalues : numpy.ndarray, shape (n,)
        Copy of :math:`\lambda` (float64).
    rotation : numpy.ndarray, shape (n, n)
        :math:`Q` (the identity when none was given).

    Raises
    ------
    TypeError
        If an argument is not a real numeric array.
    ValueError
        If an eigenvalue is not positive and finite, or a shape is wrong, or
        ``rotation`` is not orthogonal, or ``center`` is not finite.

    Notes
    -----
    ``fun``, ``grad`` and ``fun_and_grad`` accept a single point of shape
    ``(n,)`` or a batch of shape ``(..., n)``; the coordinates are on the last
    axis.  Non-finite points propagate to the result instead of raising, so a
    diverging run stays observable.
    """

    def __init__(self, eigenvalues, rotation=None, center=None):
        lam = self._real_array(eigenvalues, "eigenvalues")
        if lam.ndim != 1 or lam.size == 0:
            raise ValueError(
                f"eigenvalues must be a non-empty 1-D array, got shape {lam.shape}"
            )
        bad = np.flatnonzero(~(np.isfinite(lam) & (lam > 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                "eigenvalues must be positive and finite, "
                f"got eigenvalues[{i}] = {float(lam[i])!r}"
            )
        n = lam.size
        self.dim = n
        self.eigenvalues = lam.copy()

        if rotation is None:
            self.rotation = np.eye(n)
            self._rotated = False
        else:
            q = self._real_array(rotation, "rotation")
            if q.shape != (n, n):
                raise ValueError(
                    f"rotation must have shape ({n}, {n}) to match eigenvalues, "
                    f"got shape {q.shape}"
                )
            if not np.all(np.isfinite(q)):
                raise ValueError("rotation must be finite, got non-finite entries")
            err = float(np.max(np.abs(q.T @ q - np.eye(n))))
            if err > 1e-8:
                raise ValueError(
                    f"rotation must be orthogonal, got max |Q^T Q - I| = {err:.3e}"
                )
            self.rotation = q.copy()
            self._rotated = True

        if center is None:
            self._center = np.zeros(n)
        else:
            c = self._real_array(center, "center")
            if c.shape != (n,):
                raise ValueError(f"center must have shape ({n},), got shape {c.shape}")
            if not np.all(np.isfinite(c)):
                raise ValueError(f"center must be finite, got {c!r}")
            self._center = c.copy()

        if self._rotated:
            a = (self.rotation.T * lam) @ self.rotation
            self._hessian = 0.5 * (a + a.T)
        else:
            self._hessian = np.diag(lam)

    # ------------------------------------------------------------------ build
    @classmethod
    def with_condition(
        cls,
        n: int,
        kappa: float,
        *,
        spread: str = "log",
        rotate: bool = False,
        seed=None,
        largest: float = 1.0,
        center=None,
    ) -> "Quadratic":
        r"""Quadratic with eigenvalues spread over :math:`[L/\kappa, L]`.

        Parameters
        ----------
        n : int
            Dimension, ``n >= 1`` (``n = 1`` needs ``kappa = 1``).
        kappa : float
            Condition number :math:`\kappa \ge 1`.
        spread : {'log', 'linear'}
            ``'log'`` (default): geometric spacing
            :math:`\lambda_i = L\,\kappa^{-(n-1-i)/(n-1)}`, i.e. equally
            spaced on a log scale, which puts the same number of modes in
            every decade of the spectrum.  ``'linear'``:
            :math:`\lambda_i = L/\kappa + i\,(L - L/\kappa)/(n-1)`, which
            leaves only a few modes near the small end.
            In both cases :math:`\lambda_0 = L/\kappa` and
            :math:`\lambda_{n-1} = L` exactly, so the condition number is
            ``kappa`` (up to round-off).
        rotate : bool
            If true, rotate by a Haar-random orthogonal :math:`Q` drawn with
            ``seed``; otherwise the quadratic is axis-aligned.
        seed : int, numpy.random.Generator or None
            Seed (or generator) for the rotation; ignored when
            ``rotate`` is false.
        largest : float
            Largest eigenvalue :math:`L` (default 1, so that the spectrum is
            :math:`[1/\kappa, 1]` and step sizes are comparable across
            ``kappa``).
        center : array_like, shape (n,), optional
            Minimiser; the origin by default.

        Returns
        -------
        Quadratic
        """
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n must be a positive integer, got n = {n!r}")
        n = int(n)
        if isinstance(kappa, bool) or not isinstance(kappa, Real):
            raise TypeError(f"kappa must be a real number, got kappa = {kappa!r}")
        if not (np.isfinite(kappa) and kappa >= 1.0):
            raise ValueError(f"kappa must be finite and >= 1, got kappa = {kappa!r}")
        if n == 1 and kappa != 1.0:
            raise ValueError(
                f"a 1-D quadratic has condition number 1, got n = 1 with kappa = {kappa!r}"
            )
        if isinstance(largest, bool) or not isinstance(largest, Real):
            raise TypeError(f"largest must be a real number, got largest = {largest!r}")
        if not (np.isfinite(largest) and largest > 0):
            raise ValueError(
                f"largest must be positive and finite, got largest = {largest!r}"
            )
        if spread == "log":
            lam = largest * np.geomspace(1.0 / kappa, 1.0, n)
        elif spread == "linear":
            lam = largest * np.linspace(1.0 / kappa, 1.0, n)
        else:
            raise ValueError(f"spread must be 'log' or 'linear', got spread = {spread!r}")
        lam[-1] = largest
        rotation = _haar_orthogonal(n, np.random.default_rng(seed)) if rotate else None
        return cls(lam, rotation=rotation, center=center)

    # ------------------------------------------------------------ attributes
    @property
    def hessian(self) -> np.ndarray:
        r"""The Hessian :math:`A = Q^\top \operatorname{diag}(\lambda) Q` (a copy)."""
        return self._hessian.copy()

    @property
    def minimizer(self) -> np.ndarray:
        """The minimiser :math:`c` (a copy), where the value is 0."""
        return self._center.copy()

    @property
    def condition_number(self) -> float:
        r""":math:`\kappa = \lambda_{\max} / \lambda_{\min}`."""
        return float(self.eigenvalues.max() / self.eigenvalues.min())

    # ------------------------------------------------------------ evaluation
    def fun(self, x) -> np.ndarray | float:
        r"""Value :math:`\tfrac12 (x-c)^\top A (x-c)`; shape ``x.shape[:-1]``."""
        return self.fun_and_grad(x)[0]

    def grad(self, x) -> np.ndarray:
        r"""Gradient :math:`A (x - c)`; same shape as ``x``."""
        return self.fun_and_grad(x)[1]

    def fun_and_grad(self, x) -> tuple[np.ndarray | float, np.ndarray]:
        r"""Value and gradient in one pass.

        Parameters
        ----------
        x : array_like, shape (n,) or (..., n)
            Point(s), coordinates on the last axis.

        Returns
        -------
        value : float or numpy.ndarray
            Shape ``x.shape[:-1]`` (a scalar for one point).
        grad : numpy.ndarray
            Same shape as ``x``.
        """
        x = self._real_array(x, "x")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x must have {self.dim} coordinates on its last axis, got shape {x.shape}"
            )
        d = x - self._center
        if self._rotated:
            g = d @ self._hessian  # A is symmetric, so d A == (A d^T)^T row-wise
        else:
            g = d * self.eigenvalues
        value = 0.5 * np.sum(d * g, axis=-1)
        return (value[()] if value.ndim == 0 else value), g

    __call__ = fun

    def __repr__(self) -> str:
        return (
            f"Quadratic(dim={self.dim}, condition_number={self.condition_number:.4g}, "
            f"rotated={self._rotated})"
        )

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _real_array(value, name: str) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} must be a real numeric array, got dtype {arr.dtype}"
            )
        return arr.astype(np.float64, copy=False)
