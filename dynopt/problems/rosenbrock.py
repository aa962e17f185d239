r"""The n-dimensional Rosenbrock function (chained form), :func:`scipy.optimize.rosen`.

.. math::

    f(x) = \sum_{i=0}^{n-2} \Big[ 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2 \Big],
    \qquad x \in \mathbb{R}^n,\; n \ge 2,

with the global minimum :math:`f(\mathbf 1) = 0` and the gradient

.. math::

    \frac{\partial f}{\partial x_i}
      = -400\, x_i (x_{i+1} - x_i^2) - 2 (1 - x_i) \,[i < n-1]
        + 200\, (x_i - x_{i-1}^2) \,[i > 0];

the chained generalisation of the banana valley of H. H. Rosenbrock, "An automatic
method for finding the greatest or least value of a function", *The Computer Journal*
3(3), 175--184 (1960). The NumPy functions take the coordinates on the **last**
axis (a batch ``(batch, n)`` gives values ``(batch,)``); float32 input is evaluated in
float32, integer input promoted to float64, other dtypes raise :class:`TypeError`;
non-finite coordinates propagate to the result, so a diverging run can be detected. The
``*_nb`` twins are Numba-compiled (``njit(cache=True)``) loops over a single 1-D float64
or float32 vector, for compiled whole runs; they accumulate the value in float64.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "rosenbrock",
    "rosenbrock_grad",
    "rosenbrock_fun_and_grad",
    "rosenbrock_nb",
    "rosenbrock_grad_nb",
    "rosenbrock_fun_and_grad_nb",
]


def _as_points(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a floating array of points with at least 2 coordinates."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a real floating or integer array, got dtype {arr.dtype}"
        )
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one axis, got a scalar {arr!r}")
    if arr.shape[-1] < 2:
        raise ValueError(
            f"{name} must have at least 2 coordinates on its last axis, "
            f"got shape {arr.shape}"
        )
    return arr


def rosenbrock(x) -> np.ndarray | float:
    r"""Value of the chained Rosenbrock function.

    Parameters
    ----------
    x : array_like, shape (n,) or (..., n)
        Point(s); the last axis holds the ``n >= 2`` coordinates.

    Returns
    -------
    float or numpy.ndarray
        :math:`f(x)`; a scalar for a single point, shape ``x.shape[:-1]``
        for a batch.

    Raises
    ------
    TypeError
        If ``x`` is not a real numeric array.
    ValueError
        If ``x`` is a scalar or has fewer than 2 coordinates.
    """
    x = _as_points(x)
    head, tail = x[..., :-1], x[..., 1:]
    value = np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2, axis=-1)
    return value[()] if value.ndim == 0 else value


def rosenbrock_grad(x) -> np.ndarray:
    r"""Gradient :math:`\nabla f(x)` of the chained Rosenbrock function.

    Parameters
    ----------
    x : array_like, shape (n,) or (..., n)
        Point(s); the last axis holds the ``n >= 2`` coordinates.

    Returns
    -------
    numpy.ndarray
        Gradient with the same shape as ``x``.
    """
    return rosenbrock_fun_and_grad(x)[1]


def rosenbrock_fun_and_grad(x) -> tuple[np.ndarray | float, np.ndarray]:
    r"""Value and gradient of the chained Rosenbrock function in one pass.

    Parameters
    ----------
    x : array_like, shape (n,) or (..., n)
        Point(s); the last axis holds the ``n >= 2`` coordinates.

    Returns
    -------
    value : float or numpy.ndarray
        :math:`f(x)`, shape ``x.shape[:-1]`` (a scalar for one point).
    grad : numpy.ndarray
        :math:`\nabla f(x)`, same shape as ``x``.
    """
    x = _as_points(x)
    head, tail = x[..., :-1], x[..., 1:]
    valley = tail - head * head
    offset = 1.0 - head
    value = np.sum(100.0 * valley * valley + offset * offset, axis=-1)
    grad = np.zeros_like(x)
    grad[..., :-1] = -400.0 * head * valley - 2.0 * offset
    grad[..., 1:] += 200.0 * valley
    return (value[()] if value.ndim == 0 else value), grad


@numba.njit(cache=True)
def rosenbrock_nb(x):
    r"""Numba twin of :func:`rosenbrock` for one 1-D float64/float32 vector.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,), n >= 2
        Point (contiguous or not), float64 or float32.

    Returns
    -------
    float
        :math:`f(x)`, accumulated in float64.
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError("x must have at least 2 coordinates")
    total = 0.0
    for i in range(n - 1):
        xi = np.float64(x[i])
        valley = np.float64(x[i + 1]) - xi * xi
        total += 100.0 * valley * valley + (1.0 - xi) * (1.0 - xi)
    return total


@numba.njit(cache=True)
def rosenbrock_fun_and_grad_nb(x, out):
    r"""Numba twin of :func:`rosenbrock_fun_and_grad`; gradient written in place.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,), n >= 2
        Point, float64 or float32.
    out : numpy.ndarray, shape (n,)
        Receives :math:`\nabla f(x)` (cast to its own dtype).

    Returns
    -------
    float
        :math:`f(x)`, accumulated in float64.
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError("x must have at least 2 coordinates")
    if out.shape[0] != n:
        raise ValueError("out must have the same length as x")
    total = 0.0
    out[0] = 0.0
    for i in range(n - 1):
        xi = np.float64(x[i])
        valley = np.float64(x[i + 1]) - xi * xi
        offset = 1.0 - xi
        total += 100.0 * valley * valley + offset * offset
        # out[i] already holds the +200 (x_i - x_{i-1}^2) term from step i-1.
        out[i] = np.float64(out[i]) - 400.0 * xi * valley - 2.0 * offset
        out[i + 1] = 200.0 * valley
    return total


@numba.njit(cache=True)
def rosenbrock_grad_nb(x, out):
    r"""Numba twin of :func:`rosenbrock_grad`; gradient written in place.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,), n >= 2
        Point, float64 or float32.
    out : numpy.ndarray, shape (n,)
        Receives :math:`\nabla f(x)`.

    Returns
    -------
    numpy.ndarray
        ``out``, for convenience.
    """
    rosenbrock_fun_and_grad_nb(x, out)
    return out
