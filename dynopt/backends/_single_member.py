"""Printing a single member's NumPy kernels with as few array operations as the
expressions allow.

With one member, every scalar of a step is a Python number and every
per-coordinate value an array of one row; at small ``n`` each array operation
costs about a microsecond whatever its length, so the count of operations is
the cost of the step. :class:`FewOpsPrinter` prints

* a product as its scalar factors, combined in Python floats, times its
  per-coordinate factors: ``lr/(1 - beta1**(k + 1))*(m/d)``, one array
  multiplication where left-to-right evaluation would take three;
* a sum with its terms collected by their per-coordinate part and negative
  terms subtracted: ``keep*v - (h + steer)*g`` (FIRE's mixing; five array
  operations when printed term by term);
* every scalar-only subexpression with the scalar printer (``math``, not
  ``numpy``, on Python floats);
* a sum reduction of a product as a dot product (:mod:`._reductions`, no
  temporary array), times its scalar factors.

The values are those of the term-by-term expressions to round-off.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence

__all__ = ["FewOpsPrinter"]


def _negative(c) -> bool:
    """Whether the scalar ``c`` reads as a negation: a negative number, a product with
    a negative numeric factor, or a sum of such terms."""
    if c.is_Add:
        return all(_negative(t) for t in c.args)
    return bool(c.as_coeff_Mul()[0].is_negative)


class FewOpsPrinter:
    """Printer mixin (before a NumPy printer in the bases) for single-member kernels.

    Parameters
    ----------
    scalar_printer : sympy printer
        Prints the scalar-only subexpressions (Python numbers).
    varies : callable
        ``varies(expr)`` says whether ``expr`` holds a per-coordinate value; the
        kernel emitter's set of such symbols grows as it prints.
    """

    def __init__(self, settings, scalar_printer, varies):
        super().__init__(settings)
        self._scalar = scalar_printer
        self._varies = varies

    def _print(self, expr, **kwargs):
        if (isinstance(expr, sp.Expr) and not expr.is_Atom and expr.free_symbols
                and not self._varies(expr)):
            return self._scalar.doprint(expr)
        return super()._print(expr, **kwargs)

    # ------------------------------------------------------------ pieces
    def _split(self, term):
        """``(scalar, vector)`` factors of a product (``vector`` ``None`` for a scalar term)."""
        factors = term.as_ordered_factors() if isinstance(term, sp.Mul) else [term]
        vec = [a for a in factors if self._varies(a)]
        if not vec:
            return term, None
        return sp.Mul(*[a for a in factors if not self._varies(a)]), sp.Mul(*vec)

    def _coefficient(self, c) -> str:
        text = self._scalar.doprint(c)
        return f"({text})" if precedence(c) < PRECEDENCE["Mul"] else text

    def _scaled(self, c, v) -> str:
        """``c*v`` for a positive-looking scalar ``c``; ``v/d`` when ``c`` is ``1/d``."""
        vec = self.parenthesize(v, PRECEDENCE["Mul"])
        if c == 1:
            return vec
        if isinstance(c, sp.Pow) and c.exp == -1:
            base = c.base
            den = self._scalar.doprint(base)
            if precedence(base) <= PRECEDENCE["Mul"] or base.is_Number:
                den = f"({den})"
            return f"{vec}/{den}"
        return f"{self._coefficient(c)}*{vec}"

    def _signed_terms(self, expr):
        """``[(negative, text, scaled)]`` of a sum's terms, collected by their
        per-coordinate part (``scaled``: a scalar factor carries the sign)."""
        groups: dict = {}
        scalars = []
        for term in expr.as_ordered_terms():
            c, v = self._split(term)
            if v is None:
                scalars.append(term)
            else:
                groups.setdefault(v, []).append(c)
        out = []
        if scalars:
            s = sp.Add(*scalars)
            neg = _negative(s)
            out.append((neg, self._coefficient(-s if neg else s), True))
        for v, cs in groups.items():
            c = sp.Add(*cs)
            neg = _negative(c)
            out.append((neg, self._scaled(-c if neg else c, v), c not in (1, -1)))
        return out

    # ------------------------------------------------------------ printing
    def _print_Mul(self, expr):
        c, v = self._split(expr)
        if v is None or c == 1:
            return super()._print_Mul(expr)
        if _negative(c):
            return "-" + self._scaled(-c, v)
        return self._scaled(c, v)

    def _print_Add(self, expr, order=None):
        terms = self._signed_terms(expr)
        # a positive term first, else one whose negation is a Python float's: no
        # array negation
        terms.sort(key=lambda t: (t[0], not t[2]))
        neg, text, _ = terms[0]
        out = [f"-{text}" if neg else text]
        for neg, text, _ in terms[1:]:
            out.append(f" - {text}" if neg else f" + {text}")
        return "".join(out)

    def reduction(self, expr, op: str) -> str:
        """A scalar from a ``sum``, ``mean``, ``max`` or ``min`` over the coordinates
        of the per-coordinate ``expr``."""
        if op not in ("sum", "mean"):
            return f"float(({self.doprint(expr)}).{op}())"
        c, v = self._split(expr)
        factors = []
        for a in v.as_ordered_factors():
            base, e = a.as_base_exp()
            if e.is_Integer and 2 <= e <= 4:
                factors += [base] * int(e)
            else:
                factors.append(a)
        if len(factors) < 2:
            core = f"float(({self.doprint(v)}).sum())"
        else:
            half = len(factors) // 2
            left, right = sp.Mul(*factors[:half]), sp.Mul(*factors[half:])
            core = (f"_sum_squares({self.doprint(left)})" if left == right else
                    f"_dot({self.doprint(left)}, {self.doprint(right)})")
        if c == 1:
            text = core
        elif c == -1:
            text = f"-{core}"
        else:
            text = f"{self._coefficient(c)}*{core}"
        return f"{text} / N" if op == "mean" else text
