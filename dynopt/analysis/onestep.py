r"""The one-step map :math:`s_{k+1} = M s_k` of a linear method, and its spectral radius.

On :math:`f = \tfrac12\lambda\|x\|^2` a method whose step is linear maps the per-coordinate
state :math:`s_k = (x_k, v_k, \dots)` by a fixed matrix :math:`M(h\lambda, \text{hyperparameters})`,
and :math:`\|x_k\| \sim \rho(M)^k`. :func:`step_matrix` derives :math:`M` from the method's own
step program (:mod:`dynopt.analysis.derivation`, cached by program) and returns a
:class:`LinearStep`, symbolic and vectorised; :func:`predicted_rate` is its spectral radius.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..backends.codegen import program_key
from .continuous import as_sympy_number, lam
from .derivation import _derive, _frozen_program, _time_step, resolve_program

__all__ = ["LinearStep", "step_matrix", "predicted_rate", "predicted_rates", "z"]

#: the eigenvalue variable of the one-step map's characteristic polynomial
z = sp.Symbol("z")


# ------------------------------------------------------------------------- the map
@dataclass
class LinearStep:
    r"""The one-step map :math:`s_{k+1} = M s_k` of a method on :math:`f = \tfrac12\lambda\|x\|^2`.

    Attributes
    ----------
    matrix : sympy.Matrix
        :math:`M` in :data:`~dynopt.analysis.continuous.lam` and the
        hyperparameter symbols.
    state : tuple of sympy.Symbol
        The per-coordinate state, ``x`` first.
    params : dict
        Hyperparameter symbol -> value of the run (a number or an array).
    name : str
        Method name.
    time_step : sympy.Expr
        :math:`h`: the ``dt`` symbol, or the symbol ``h`` for a method whose
        step is the unit of time.
    constants : dict
        Scalar state that does not change, with the initial value substituted.
    """

    matrix: sp.Matrix
    state: tuple
    params: dict
    name: str
    time_step: sp.Expr
    constants: dict = field(default_factory=dict)
    _entries: list = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ symbolic
    @property
    def dimension(self) -> int:
        return self.matrix.shape[0]

    def trace(self) -> sp.Expr:
        return sp.simplify(self.matrix.trace())

    def determinant(self) -> sp.Expr:
        return sp.simplify(self.matrix.det())

    def characteristic_polynomial(self) -> sp.Expr:
        r""":math:`\det(zI - M)` in the symbol :data:`z`."""
        return sp.expand(self.matrix.charpoly(z).as_expr())

    def eigenvalues(self) -> list:
        """Symbolic eigenvalues of :math:`M` (with multiplicity)."""
        out = []
        for root, mult in sp.roots(self.characteristic_polynomial(), z).items():
            out += [sp.simplify(root)] * mult
        return out

    def at(self, eigenvalue=None, **values) -> sp.Matrix:
        """:math:`M` with the run's hyperparameter values (overridden by name) and, if
        given, the eigenvalue substituted.

        A value given by name is one real number or a SymPy expression; anything
        else (a string included, which is never parsed) is a TypeError naming it.
        """
        unknown = set(values) - {sym.name for sym in self.params}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {self.name!r}")
        rep = {}
        for sym, val in self.params.items():
            given = sym.name in values
            val = values.get(sym.name, val)
            if isinstance(val, sp.Basic) or np.ndim(val) == 0:
                rep[sym] = as_sympy_number(val, sym.name if given else
                                           f"the run's value of {sym.name}")
            elif given:
                raise TypeError(f"{sym.name} must be one real number or a SymPy expression, "
                                f"got {val!r}")
        if eigenvalue is not None:
            ev = _check_eigenvalues(eigenvalue)
            if ev.size != 1:
                raise ValueError(f"eigenvalue must be one number here, got {eigenvalue!r}")
            rep[lam] = sp.Float(float(ev.ravel()[0]))
        return self.matrix.xreplace(rep)

    # ------------------------------------------------------------ numeric
    def numeric(self, eigenvalue, **overrides) -> np.ndarray:
        """:math:`M` as an array of shape ``broadcast(eigenvalue, params) + (d, d)``."""
        ev = _check_eigenvalues(eigenvalue)
        syms = list(self.params)
        unknown = set(overrides) - {sym.name for sym in syms}
        if unknown:
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {self.name!r}; "
                            f"valid: {sorted(sym.name for sym in syms)}")
        vals = [np.asarray(overrides.get(sym.name, self.params[sym]), dtype=float) for sym in syms]
        shape = np.broadcast_shapes(ev.shape, *(v.shape for v in vals))
        d = self.dimension
        if self._entries is None:
            self._entries = [[sp.lambdify([lam, *syms], self.matrix[i, j], "numpy")
                              for j in range(d)] for i in range(d)]
        out = np.empty(shape + (d, d))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(d):
                for j in range(d):
                    out[..., i, j] = np.broadcast_to(self._entries[i][j](ev, *vals), shape)
        return out

    def spectral_radius(self, eigenvalue, **overrides):
        r""":math:`\rho(M)`: the predicted per-step contraction (float or array)."""
        M = self.numeric(eigenvalue, **overrides)
        if not np.all(np.isfinite(M)):
            raise ValueError(f"the one-step map of {self.name!r} is not finite at "
                             f"eigenvalue={eigenvalue!r}")
        rho = np.abs(np.linalg.eigvals(M)).max(axis=-1)
        return float(rho) if rho.ndim == 0 else rho

    def repeated_root(self, eigenvalue, rtol: float = 1e-6, **overrides):
        r"""Whether the eigenvalue of :math:`M` of largest modulus is (numerically) repeated.

        At a repeated root :math:`z` a non-diagonal :math:`M` has a Jordan block and the
        error is :math:`(a + bk)\,|z|^k`, not geometric (the discrete analogue of critical
        damping): a geometric fit over records :math:`[k_0, k_1]` is biased upwards by about
        :math:`\ln(k_1/k_0)/(k_1 - k_0)` in :math:`\ln r`, so the comparison functions
        (:mod:`dynopt.analysis.compare`) fit :math:`(a + bk)\,r^k` where this flag holds
        (:func:`~dynopt.analysis.observed.fit_contraction` with ``double_root=True``).

        Returns
        -------
        bool or ndarray of bool
        """
        M = self.numeric(eigenvalue, **overrides)
        ev = np.linalg.eigvals(M)
        if ev.shape[-1] < 2:
            out = np.zeros(ev.shape[:-1], dtype=bool)
        else:
            order = np.argsort(-np.abs(ev), axis=-1)
            ev = np.take_along_axis(ev, order, axis=-1)
            out = np.abs(ev[..., 0] - ev[..., 1]) <= rtol * np.maximum(np.abs(ev[..., 0]), 1e-300)
        return bool(out) if out.ndim == 0 else out

    # ------------------------------------------------------------ physics
    def continuous_equivalent(self) -> dict:
        r"""Mass, damping and damping ratio of the continuous system the map discretises.

        Returns ``{'mass', 'damping', 'damping_ratio', 'h'}`` as SymPy expressions
        (the exact regrouping of the recurrence :math:`x_{k+1} = T x_k - D x_{k-1}`, see the
        analysis page); a one-dimensional map has ``mass = 0`` and
        ``damping_ratio = oo``.
        """
        hh = self.time_step
        if self.dimension == 1:
            J = self.matrix[0, 0]
            c = sp.simplify(hh * lam / (1 - J))
            return {"mass": sp.Integer(0), "damping": c, "damping_ratio": sp.oo, "h": hh}
        if self.dimension != 2:
            raise ValueError(f"the continuous equivalent needs a state of dimension 1 or 2; "
                             f"{self.name!r} has {self.dimension} ({self.state})")
        T, D = self.trace(), self.determinant()
        denom = sp.simplify(1 - T + D)
        m = sp.simplify(hh**2 * lam / denom)
        c = sp.simplify(hh * (1 - D) * lam / denom)
        zeta = sp.simplify((1 - D) / (2 * sp.sqrt(denom)))
        return {"mass": m, "damping": c, "damping_ratio": zeta, "h": hh}

    def stability_conditions(self) -> list:
        """Jury's conditions for :math:`\\rho(M) < 1`, as SymPy relations (all must hold)."""
        if self.dimension == 1:
            J = sp.simplify(self.matrix[0, 0])
            return [J < 1, J > -1]
        if self.dimension != 2:
            raise ValueError(f"symbolic stability conditions are derived for dimension 1 or 2; "
                             f"{self.name!r} has {self.dimension}")
        T, D = self.trace(), self.determinant()
        return [D < 1, D > -1, T < 1 + D, -T < 1 + D]


def _check_eigenvalues(eigenvalue):
    """Eigenvalue(s) as a float array: ints, floats, NumPy and SymPy numbers (or arrays of
    them); booleans, strings and symbolic expressions are a TypeError."""
    if isinstance(eigenvalue, (list, tuple)):
        try:
            eigenvalue = np.asarray(eigenvalue)
        except (TypeError, ValueError):
            raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                            f"got {eigenvalue!r}") from None
    if isinstance(eigenvalue, sp.Basic) or (
            isinstance(eigenvalue, np.ndarray) and eigenvalue.dtype == object):
        items = np.asarray(eigenvalue, dtype=object)
        try:
            flat = [float(as_sympy_number(item, "eigenvalue", allow_sympy=False))
                    for item in items.ravel()]
        except TypeError as exc:
            raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                            f"got {eigenvalue!r} ({exc})") from None
        eigenvalue = np.asarray(flat, dtype=float).reshape(items.shape)
    kind = np.asarray(eigenvalue).dtype.kind
    if kind == "b":
        raise TypeError(f"eigenvalue must be a number or an array of numbers, got the "
                        f"boolean(s) {eigenvalue!r}; booleans are not taken as 0 or 1")
    if kind not in "iuf":
        raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                        f"got {eigenvalue!r}")
    try:
        arr = np.asarray(eigenvalue, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"eigenvalue must be a number or an array of numbers, "
                        f"got {eigenvalue!r}") from None
    if arr.size == 0:
        raise ValueError("eigenvalue must not be empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"eigenvalue must be positive and finite (a Hessian eigenvalue at a "
                         f"minimum), got {eigenvalue!r}")
    return arr



def step_matrix(method, integrator=None, options=None, freeze=None) -> LinearStep:
    r"""The one-step map of ``method`` on :math:`f = \tfrac12\lambda\|x\|^2`, from its program.

    Parameters
    ----------
    method : str, Method, System or StepProgram
        As for :func:`dynopt.minimize`.
    integrator : str or Integrator, optional
        As for :func:`dynopt.minimize`.
    options : dict, optional
        Hyperparameters (and loop options, ignored); validated as by :func:`dynopt.minimize`.
    freeze : dict, optional
        Scalar state held at fixed values (``{'zeta': 0.3}``).

    Returns
    -------
    LinearStep

    Raises
    ------
    NonlinearStepError
        If the step is not linear in the per-coordinate state (adaptive
        denominators, clipping, a reduction over coordinates, a scalar that
        changes, the objective value or the step counter entering the update).
    """
    program, params, name = resolve_program(method, integrator, options)
    key = (program_key(program), name, tuple(sorted((str(k_), str(v_))
                                                    for k_, v_ in dict(freeze or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = _derive(_frozen_program(program, freeze), name)
    M, state, constants = _CACHE[key]
    values = {sym: params[sym.name] for sym in program.params}
    return LinearStep(M, state, values, name, _time_step(program), dict(constants))


#: derivations by program: the symbolic map does not depend on hyperparameter values
_CACHE: dict = {}


def predicted_rate(method, eigenvalue, integrator=None, options=None, freeze=None) -> float:
    r"""Per-step contraction factor predicted for a run on :math:`f = \tfrac12\lambda\|x\|^2`.

    The spectral radius of the one-step map (:func:`step_matrix`) at
    ``eigenvalue``: the factor :math:`r` in :math:`\|x_k\| \approx C r^k` that
    ``dynopt.minimize(fun, x0, method=method, integrator=integrator,
    options=options)`` shows. :math:`r \ge 1` means no convergence.

    Parameters
    ----------
    method : str, Method, System or StepProgram
    eigenvalue : float
        :math:`\lambda > 0`.
    integrator, options, freeze
        See :func:`step_matrix`.

    Returns
    -------
    float
    """
    ev = _check_eigenvalues(eigenvalue)
    if ev.ndim != 0:
        raise ValueError(f"eigenvalue must be a single number, got shape {ev.shape}; "
                         "use predicted_rates for an array")
    return float(step_matrix(method, integrator, options, freeze).spectral_radius(ev))


def predicted_rates(method, eigenvalues, integrator=None, options=None, freeze=None) -> np.ndarray:
    """:func:`predicted_rate` for an array of eigenvalues (one derivation, vectorised)."""
    ev = _check_eigenvalues(eigenvalues)
    return np.asarray(step_matrix(method, integrator, options, freeze).spectral_radius(ev))
