"""The objective as the loop sees it: value and gradient, counted and checked."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["Objective"]


def _describe(value) -> str:
    """A short description of a returned value for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def check_rel_step(eps, n=None):
    """Validate ``finite_diff_rel_step``: ``None`` or positive finite number(s).

    Parameters
    ----------
    eps : None, float or array_like
        The relative step, one number or one per coordinate.
    n : int, optional
        Number of coordinates, to check the shape of an array.

    Raises
    ------
    TypeError
        Not a number (a boolean or a string).
    ValueError
        Zero, negative, NaN/Inf or the wrong shape.
    """
    if eps is None:
        return None
    arr = np.asarray(eps) if not isinstance(eps, bool) else np.asarray(eps, dtype=object)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"options['finite_diff_rel_step'] must be a positive number, "
                        f"got {eps!r}")
    if arr.ndim > 1 or (arr.ndim == 1 and n is not None and arr.shape != (n,)):
        raise ValueError(f"options['finite_diff_rel_step'] must be a number or an array of "
                         f"shape ({n if n is not None else 'n'},), got shape {arr.shape}")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"options['finite_diff_rel_step'] must be positive and finite "
                         f"(the step h = r max(1, |x|) must not vanish), got {eps!r}")
    return eps


class Objective:
    """Wraps ``fun`` and ``jac`` in SciPy's conventions.

    ``jac`` may be a callable, ``True`` (``fun`` returns ``(f, g)``), ``None``
    or ``'2-point'`` (forward differences: ``n + 1`` calls of ``fun`` per
    gradient) or ``'3-point'`` (central differences: ``2n + 1`` calls).
    ``nfev`` counts calls of ``fun``, ``njev`` calls of ``jac`` (or of ``fun``
    when it returns the gradient too), so the counts are what was paid for.
    """

    def __init__(self, fun, jac, args=(), *, n, eps=None, dtype=np.float64, vectorized=False):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {fun!r}")
        if not isinstance(args, tuple):
            args = (args,)
        if not (jac is None or jac is True or callable(jac) or jac in ("2-point", "3-point")):
            raise ValueError(f"jac must be a callable, True, None, '2-point' or '3-point', got {jac!r}")
        self.fun, self.jac, self.args, self.n = fun, jac, args, n
        self.dtype = np.dtype(dtype)
        check_rel_step(eps, n)
        self.eps = eps if eps is not None else np.sqrt(np.finfo(self.dtype).eps) * (
            1.0 if jac != "3-point" else np.finfo(self.dtype).eps ** (-1 / 6))
        if not isinstance(vectorized, (bool, np.bool_)):
            raise TypeError(f"options['vectorized'] must be True or False, got {vectorized!r}")
        self.vectorized = bool(vectorized)
        if self.vectorized and not (jac is True or callable(jac)):
            raise ValueError("options['vectorized'] needs an analytic jac (a callable or True)")
        self.nfev = 0
        self.njev = 0

    def rows(self, X):
        """``(F, G, nfev, njev)`` for the rows of ``X`` (shape (m, n)); counts per row:
        arrays of ``m`` counts, or one count for every row (an ``int``, with a
        vectorised objective, which takes each row once)."""
        m = X.shape[0]
        if self.vectorized:
            if self.jac is True:
                F, G = self._pair(self.fun(X, *self.args))
            else:
                F, G = self.fun(X, *self.args), self.jac(X, *self.args)
            F = self._real(F, "fun").astype(np.float64, copy=False).reshape(-1)
            G = self._real(G, "jac").astype(self.dtype, copy=False)
            if F.shape != (m,) or G.shape != (m, self.n):
                raise ValueError(f"vectorized fun/jac must return shapes ({m},) and ({m}, {self.n}), "
                                 f"got {F.shape} and {G.shape}")
            self.nfev += m
            self.njev += m
            return F, G, 1, 0 if self.jac is None else 1
        F = np.empty(m)
        G = np.empty((m, self.n), dtype=self.dtype)
        nf = np.empty(m, dtype=np.int64)
        nj = np.empty(m, dtype=np.int64)
        for i in range(m):
            f0, j0 = self.nfev, self.njev
            F[i], G[i] = self(X[i])
            nf[i], nj[i] = self.nfev - f0, self.njev - j0
        return F, G, nf, nj

    # ------------------------------------------------------------ calls
    def _value(self, x):
        self.nfev += 1
        return self._scalar(self.fun(x, *self.args))

    @staticmethod
    def _real(out, name):
        """``out`` as a real array; a clear error for anything else (strings, None, complex)."""
        if isinstance(out, (str, bytes, bool, np.bool_)) or out is None:
            arr = None
        else:
            try:
                arr = np.asarray(out)
            except (TypeError, ValueError):  # ragged sequences
                arr = None
        if arr is None or arr.dtype.kind not in "iuf":
            what = ("a complex value (the imaginary part would be dropped)"
                    if arr is not None and arr.dtype.kind == "c" else _describe(out))
            value = "a real number" if name == "fun" else "an array of real numbers"
            raise TypeError(f"{name} must return {value}, got {what}")
        return arr

    def _scalar(self, out):
        if type(out) in (float, np.float64):  # the common case needs no conversion
            return float(out)
        arr = self._real(out, "fun")
        if arr.size != 1:
            raise ValueError(f"fun must return a scalar, got an array of shape {arr.shape}")
        return float(arr.reshape(()))

    @staticmethod
    def _pair(out):
        """``(f, g)`` from what ``fun`` returned with ``jac=True`` (any pair, as SciPy)."""
        if isinstance(out, Sequence) and not isinstance(out, (str, bytes)):
            if len(out) == 2:
                return out[0], out[1]
            raise ValueError(f"with jac=True, fun must return a pair (f, g), got a "
                             f"{type(out).__name__} of length {len(out)}")
        raise ValueError(f"with jac=True, fun must return a pair (f, g) (a tuple or list), "
                         f"got {_describe(out)}")

    def _check_grad(self, g):
        if type(g) is np.ndarray and g.dtype == self.dtype and g.shape == (self.n,):
            return g  # the common case needs no conversion
        g = self._real(g, "jac").astype(self.dtype, copy=False)
        if g.shape != (self.n,):
            g2 = g.reshape(-1) if g.size == self.n else None
            if g2 is None:
                raise ValueError(f"jac returned an array of shape {g.shape}, but x0 has "
                                 f"{self.n} coordinates (expected shape ({self.n},))")
            g = g2
        return g

    def __call__(self, x):
        """``(f, g)`` at ``x``."""
        if self.jac is True:
            value, grad = self._pair(self.fun(x, *self.args))
            self.nfev += 1
            self.njev += 1
            return self._scalar(value), self._check_grad(grad)
        f = self._value(x)
        if callable(self.jac):
            self.njev += 1
            return f, self._check_grad(self.jac(x, *self.args))
        return f, self._finite_difference(x, f)

    def _finite_difference(self, x, f):
        x = np.asarray(x, dtype=np.float64)
        h = self.eps * np.maximum(1.0, np.abs(x))
        g = np.empty(self.n, dtype=np.float64)
        central = self.jac == "3-point"
        for i in range(self.n):
            xi = x.copy()
            xi[i] = x[i] + h[i]
            fp = self._value(xi)
            if central:
                xi[i] = x[i] - h[i]
                g[i] = (fp - self._value(xi)) / (2 * h[i])
            else:
                g[i] = (fp - f) / h[i]
        return g.astype(self.dtype)
