"""What a named method is: a way to build a step program, with its defaults.

A :class:`Method` is either a *system plus an integrator* (heavy ball is the
damped oscillator under symplectic Euler, FANoS the Nosé–Hoover thermostat)
or a *discrete rule* written directly as a step program (Adam, FIRE). Its
hyperparameters are the program's parameters (numbers, validated by the
SymPy assumptions on their symbols and by :attr:`Method.bounds`) plus
structural ``flags`` that change the program itself (ablations).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from ..integrators import Integrator, get_integrator
from ..program import StepProgram
from ..systems.base import System

__all__ = ["Method", "reparametrize", "check_value", "system_method", "system_builder"]


@dataclass
class Method:
    """A registered optimisation method.

    Attributes
    ----------
    name
        Registry name.
    build
        ``build(integrator, **flags) -> StepProgram``; ``integrator`` is an
        :class:`~dynopt.integrators.Integrator` or ``None`` for discrete rules.
    integrator
        Default integrator name, or ``None`` for a discrete rule (which then
        accepts no integrator).
    flags
        Structural options and their defaults.
    bounds
        Extra value ranges: name -> ``(low, high)`` inclusive, ``None`` for open.
    summary
        One line for listings.
    physical
        How the method reads as a continuous system (for the docs and listings).
    """

    name: str
    build: Callable
    integrator: str | None = None
    flags: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)
    summary: str = ""
    physical: str = ""

    def program(self, integrator=None, **flags) -> StepProgram:
        unknown = set(flags) - set(self.flags)
        if unknown:
            raise TypeError(f"method {self.name!r} got unknown option(s) {sorted(unknown)}")
        integ = self.resolve_integrator(integrator)
        return self.build(integ, **{**self.flags, **flags})

    def resolve_integrator(self, integrator) -> Integrator | None:
        if self.integrator is None:
            if integrator is not None:
                raise ValueError(
                    f"method {self.name!r} is a discrete rule and takes no integrator "
                    f"(got integrator={integrator!r})")
            return None
        return get_integrator(self.integrator if integrator is None else integrator)

    def hyperparameters(self, integrator=None) -> dict:
        """Every hyperparameter and structural flag with its default."""
        prog = self.program(integrator)
        return {**prog.param_defaults(), **self.flags}


def system_method(system: System, integrator, dt_default: float = 0.1) -> StepProgram:
    """The step program of a system object under an integrator."""
    integ = get_integrator(integrator)
    prog = integ.program(system.vector_field(), system.name, dt_default=dt_default)
    prog.params.update({prog.param_symbol(n): v for n, v in system.values.items()})
    return prog


def system_builder(system_cls, dt_default: float = 0.1):
    """``build(integrator, **flags)`` of a method that is ``system_cls(**flags)`` under
    an integrator (the flags are the system's structural constructor arguments)."""
    def build(integrator, **flags):
        return system_method(system_cls(**flags), integrator, dt_default=dt_default)
    return build


def reparametrize(program: StepProgram, mapping: dict, new_params: dict, name: str | None = None,
                  description: str = "") -> StepProgram:
    """Express some parameters through new ones.

    ``mapping`` sends parameter names to expressions in the symbols of
    ``new_params`` (symbol -> default), which become parameters of the result.
    """
    out = program.substitute(mapping)
    out.params.update(new_params)
    if name:
        out.name = name
    if description:
        out.description = description
    return out


def check_value(owner: str, symbol: sp.Symbol, value, bounds=None) -> None:
    """Validate a hyperparameter by its symbol's assumptions and optional bounds
    (the rules of :func:`dynopt.value_rules.value_problem`)."""
    from ..value_rules import value_problem
    problem = value_problem(value, positive=bool(symbol.is_positive),
                            nonnegative=bool(symbol.is_nonnegative),
                            integer=bool(symbol.is_integer), bounds=bounds)
    if problem is not None:
        error, what = problem
        raise error(f"{owner}: hyperparameter {symbol.name!r} {what}, got {value!r}")
