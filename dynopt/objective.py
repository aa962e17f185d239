"""The objective as the loop sees it: value and gradient, counted and checked."""
from __future__ import annotations

import numpy as np

__all__ = ["Objective"]


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
        self.eps = eps if eps is not None else np.sqrt(np.finfo(self.dtype).eps) * (
            1.0 if jac != "3-point" else np.finfo(self.dtype).eps ** (-1 / 6))
        self.vectorized = bool(vectorized)
        if self.vectorized and not (jac is True or callable(jac)):
            raise ValueError("options['vectorized'] needs an analytic jac (a callable or True)")
        self.nfev = 0
        self.njev = 0

    def rows(self, X):
        """``(F, G, nfev, njev)`` for the rows of ``X`` (shape (m, n)); counts per row."""
        m = X.shape[0]
        if self.vectorized:
            if self.jac is True:
                F, G = self.fun(X, *self.args)
            else:
                F, G = self.fun(X, *self.args), self.jac(X, *self.args)
            F = np.asarray(F, dtype=np.float64).reshape(-1)
            G = np.asarray(G, dtype=self.dtype)
            if F.shape != (m,) or G.shape != (m, self.n):
                raise ValueError(f"vectorized fun/jac must return shapes ({m},) and ({m}, {self.n}), "
                                 f"got {F.shape} and {G.shape}")
            self.nfev += m
            self.njev += m
            ones = np.ones(m, dtype=np.int64)
            return F, G, ones, ones * (0 if self.jac is None else 1)
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

    def _scalar(self, out):
        arr = np.asarray(out)
        if arr.size != 1:
            raise ValueError(f"fun must return a scalar, got an array of shape {arr.shape}")
        return float(arr.reshape(()))

    def _check_grad(self, g):
        g = np.asarray(g, dtype=self.dtype)
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
            out = self.fun(x, *self.args)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError("with jac=True, fun must return a tuple (f, g), got "
                                 f"{type(out).__name__}")
            self.nfev += 1
            self.njev += 1
            return self._scalar(out[0]), self._check_grad(out[1])
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
