r"""A linear system :math:`\dot s = A s` in the Hessian eigenvalue :math:`\lambda`, and its damping.

:class:`LinearSystem` holds :math:`A` (symbolic or numeric) and reads its characteristic
polynomial :math:`s^2 + a s + b`: eigenvalues, natural frequency :math:`\omega_0 = \sqrt b`,
damping ratio :math:`\zeta = a/(2\sqrt b)`, regime and decay rate :math:`\sigma` of the slowest
mode. :func:`classify_damping` names the regime of a numeric ratio and
:func:`as_sympy_number` turns a user's real number into a SymPy number without parsing
anything. :mod:`dynopt.analysis.continuous` builds such systems from a system's vector field.
"""
from __future__ import annotations

import fractions
from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["lam", "s", "CRITICAL_TOL", "LinearSystem", "classify_damping",
           "decay_rate_from_coefficients", "as_sympy_number"]

#: the Hessian eigenvalue :math:`\lambda` (the spring constant)
lam = sp.Symbol("lambda", positive=True)
#: the Laplace variable of the characteristic polynomial
s = sp.Symbol("s")

#: relative tolerance within which a numeric damping ratio counts as critical
CRITICAL_TOL = 1e-9


def classify_damping(zeta, tol: float = CRITICAL_TOL):
    """'overdamped', 'critical' or 'underdamped' for a damping ratio (or an array of them).

    Parameters
    ----------
    zeta : float or array_like
        Damping ratio(s); ``inf`` (a first-order flow) is overdamped.
    tol : float
        :math:`|\\zeta - 1| \\le` ``tol`` counts as critical.

    Returns
    -------
    str or ndarray of str
    """
    if isinstance(zeta, (bool, np.bool_)) or np.asarray(zeta).dtype.kind == "b":
        raise TypeError(f"zeta must be a damping ratio (a real number), got the boolean "
                        f"{zeta!r}")
    z = np.asarray(zeta, dtype=float)
    if np.any(np.isnan(z)):
        raise ValueError(f"zeta must not be NaN, got {zeta!r}")
    out = np.where(np.abs(z - 1.0) <= tol, "critical",
                   np.where(z > 1.0, "overdamped", "underdamped"))
    return str(out) if out.ndim == 0 else out


def decay_rate_from_coefficients(a, b):
    r"""Decay rate :math:`\sigma` of the slowest root of :math:`s^2 + a s + b`.

    Works on SymPy expressions (returns a :class:`~sympy.Piecewise`) and on
    NumPy arrays (vectorised).
    """
    if isinstance(a, sp.Basic) or isinstance(b, sp.Basic):
        a, b = sp.sympify(a, strict=True), sp.sympify(b, strict=True)
        return sp.Piecewise((a / 2, a**2 < 4 * b), ((a - sp.sqrt(a**2 - 4 * b)) / 2, True))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    disc = a**2 - 4 * b
    with np.errstate(invalid="ignore"):
        out = np.where(disc < 0, a / 2, (a - np.sqrt(np.maximum(disc, 0.0))) / 2)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class LinearSystem:
    r"""The linear system :math:`\dot s = A s` of one coordinate on :math:`f = \tfrac12\lambda x^2`.

    Attributes
    ----------
    matrix : sympy.Matrix
        :math:`A`, in :attr:`eigenvalue` and whatever parameters were left symbolic.
    state : tuple of sympy.Symbol
        The per-coordinate state, ``(x, v)`` or ``(x,)``.
    eigenvalue : sympy.Expr
        The symbol :data:`lam`, or the number it was given.
    name : str
        Where it came from.
    """

    matrix: sp.Matrix
    state: tuple
    eigenvalue: sp.Expr
    name: str = ""

    # -------------------------------------------------------------- algebra
    @property
    def order(self) -> int:
        return self.matrix.shape[0]

    def characteristic_polynomial(self) -> sp.Expr:
        r""":math:`\det(sI - A)` in the symbol :data:`s`."""
        return sp.expand(self.matrix.charpoly(s).as_expr())

    def coefficients(self) -> tuple:
        r""":math:`(a, b)` of :math:`s^2 + a s + b` (second order only)."""
        self._need_order2("coefficients")
        A = self.matrix
        return sp.simplify(-A.trace()), sp.simplify(A.det())

    def eigenvalues(self) -> list:
        """Roots of the characteristic polynomial (with multiplicity)."""
        out = []
        for root, mult in sp.roots(self.characteristic_polynomial(), s).items():
            out += [sp.simplify(root)] * mult
        if len(out) != self.order:  # roots() could not solve it: numeric fallback
            out = [sp.simplify(r) for r in sp.Poly(self.characteristic_polynomial(), s).all_roots()]
        return out

    def natural_frequency(self) -> sp.Expr:
        r""":math:`\omega_0 = \sqrt{\det A}`."""
        self._need_order2("natural_frequency")
        return sp.sqrt(self.coefficients()[1])

    def damping_ratio(self) -> sp.Expr:
        r""":math:`\zeta = -\operatorname{tr}A / (2\sqrt{\det A})`; ``oo`` for a first-order
        flow."""
        if self.order == 1:
            return sp.oo
        a, b = self.coefficients()
        return sp.simplify(a / (2 * sp.sqrt(b)))

    def decay_rate(self) -> sp.Expr:
        r"""Decay rate :math:`\sigma` of the amplitude of the slowest mode (negative: growth)."""
        if self.order == 1:
            return sp.simplify(-self.matrix[0, 0])
        if self.order == 2:
            a, b = self.coefficients()
            # exact coefficients (integer parameters) give an exact rate such as 2 - sqrt(3);
            # it is kept as it is, and the public functions evaluate it to a float
            return decay_rate_from_coefficients(a, b)
        ev = self._numeric_eigenvalues("decay_rate")
        return sp.Float(-float(np.max(ev.real)))

    def energy_decay_rate(self) -> sp.Expr:
        r"""Decay rate of an energy (a quadratic form in the state): :math:`2\sigma`."""
        return 2 * self.decay_rate()

    def regime(self) -> str:
        """'overdamped', 'critical' or 'underdamped' (needs numbers)."""
        if self.order == 1:
            return "overdamped"
        zeta = self.damping_ratio()
        if zeta.free_symbols:
            raise ValueError(f"the damping ratio {zeta} of {self.name!r} still depends on "
                             f"{sorted(map(str, zeta.free_symbols))}; give numbers")
        return classify_damping(float(zeta))

    def subs(self, values: dict) -> "LinearSystem":
        """A copy with symbols (or their names) replaced by numbers or expressions."""
        rep = _by_symbol(values, self.matrix.free_symbols | {lam})
        ev = self.eigenvalue
        ev = ev.xreplace(rep) if isinstance(ev, sp.Basic) else ev
        return LinearSystem(self.matrix.xreplace(rep), self.state, ev, self.name)

    # -------------------------------------------------------------- helpers
    def _need_order2(self, what):
        if self.order != 2:
            raise ValueError(f"{what} needs a second-order system (2x2 matrix); "
                             f"{self.name!r} has order {self.order}")

    def _numeric_eigenvalues(self, what):
        if self.matrix.free_symbols:
            raise ValueError(f"{what} of a {self.order}x{self.order} system needs numbers; "
                             f"{sorted(map(str, self.matrix.free_symbols))} are symbolic")
        return np.linalg.eigvals(np.array(self.matrix.evalf(), dtype=float))


def as_sympy_number(value, what: str, allow_sympy: bool = True):
    """A SymPy number from a real number (or a SymPy expression when ``allow_sympy``).

    Accepted numbers: Python ``int``, ``float`` and :class:`fractions.Fraction`, NumPy
    integer and floating scalars (0-d arrays included) and SymPy real numbers
    (:class:`sympy.Integer`, ``Rational``, ``Float``, or a constant such as
    ``sqrt(2)``). Integers and fractions stay exact (:class:`sympy.Integer`,
    :class:`sympy.Rational`), floats become :class:`sympy.Float`.

    Nothing is parsed: a string (even ``'0.5'``), a boolean (``True`` is not the
    number 1 here), ``None`` or any other object is a TypeError naming ``what``.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_, sp.logic.boolalg.BooleanAtom)):
        raise TypeError(f"{what} must be a real number, got the boolean {value!r}; "
                        "booleans are not taken as 0 or 1")
    if isinstance(value, sp.Basic):
        if not isinstance(value, sp.Expr):
            raise TypeError(f"{what} must be a number or a SymPy expression, got {value!r}")
        if allow_sympy:
            return value
        if value.free_symbols or value.is_real is False:
            raise TypeError(f"{what} must be a real number, got the SymPy expression "
                            f"{value!r}")
        if value.is_Integer or value.is_Rational or value.is_Float:
            return value
        return sp.Float(value.evalf())
    if not isinstance(value, (int, float, np.integer, np.floating, fractions.Fraction)):
        kinds = "a real number or a SymPy expression" if allow_sympy else "a real number"
        note = "; strings are not parsed" if isinstance(value, (str, bytes)) else ""
        raise TypeError(f"{what} must be {kinds}, got {value!r} ({type(value).__name__}{note})")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, fractions.Fraction):
        return sp.Rational(value.numerator, value.denominator)
    return sp.Float(float(value))
