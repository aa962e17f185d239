r"""The hyperparameter symbols shared by several methods: one name, one rule.

A hyperparameter of a step program is a SymPy symbol, and its assumptions are
the validation rule :func:`dynopt.methods.check_value` applies to a value
(``positive``: :math:`> 0`; ``nonnegative``: :math:`\ge 0`); a method adds
ranges of its own in :attr:`dynopt.methods.Method.bounds` (e.g. ``momentum``
in :math:`[0, 1]`). SymPy identifies a symbol by its name *and* its
assumptions, so two modules writing ``Symbol("eps", positive=True)`` and
``Symbol("eps", nonnegative=True)`` make two different parameters with one
name and two rules. Every method therefore takes the symbols below from here.

==================  ============  ====================================================
name                rule          meaning
==================  ============  ====================================================
``lr``              :math:`> 0`   step length of a discrete rule (gradient descent,
                                  heavy ball, Nesterov, Adam, RMSprop, Frankenstein)
                                  or the integrator step (FANoS)
``eps``             :math:`> 0`   guard added to a denominator (Adam, RMSprop, FANoS)
                                  or to a squared gradient (Frankenstein)
``momentum``        :math:`\ge 0` momentum coefficient (PyTorch's SGD and RMSprop)
``weight_decay``    :math:`\ge 0` L2 or decoupled weight decay coefficient
``beta1``           :math:`\ge 0` coefficient of the first-moment average (Adam)
``beta2``           :math:`\ge 0` coefficient of the second-moment average (Adam)
``alpha``           :math:`\ge 0` smoothing constant of RMSprop's average
``dt``              :math:`> 0`   time step of an integrator
``mass``            :math:`> 0`   mass of a mechanical system
``damping``         :math:`\ge 0` linear friction coefficient
``temperature``     :math:`\ge 0` bath temperature, in units of the objective
``gamma``           :math:`> 0`   Langevin friction rate
``Q``               :math:`> 0`   Nosé–Hoover thermostat mass
==================  ============  ====================================================

``eps`` is positive everywhere, deliberately: in each method it keeps a
quotient finite where the gradient of a coordinate has been exactly zero so
far (Adam's and RMSprop's :math:`m/(\sqrt{v} + \varepsilon)` and FANoS's
:math:`\tilde g / (\sqrt{s} + \varepsilon)` are :math:`0/0` there with
:math:`\varepsilon = 0`; Frankenstein divides by :math:`\sqrt{g^2 + \varepsilon}`).
PyTorch accepts ``eps=0``; dynopt refuses it with an error naming ``eps``.

The systems (:mod:`dynopt.systems`) and the integrators define ``dt``,
``mass``, ``damping``, ``temperature``, ``gamma`` and ``Q`` with these same
assumptions; ``tests/test_names.py`` checks that they agree and that, across
every registered method, parameters of one name are one symbol.
"""
from __future__ import annotations

import sympy as sp

__all__ = ["lr", "eps", "momentum", "weight_decay", "beta1", "beta2", "alpha", "dt", "mass",
           "damping", "temperature", "gamma", "Q", "SYMBOLS"]

lr = sp.Symbol("lr", positive=True)
eps = sp.Symbol("eps", positive=True)
momentum = sp.Symbol("momentum", nonnegative=True)
weight_decay = sp.Symbol("weight_decay", nonnegative=True)
beta1 = sp.Symbol("beta1", nonnegative=True)
beta2 = sp.Symbol("beta2", nonnegative=True)
alpha = sp.Symbol("alpha", nonnegative=True)
dt = sp.Symbol("dt", positive=True)
mass = sp.Symbol("mass", positive=True)
damping = sp.Symbol("damping", nonnegative=True)
temperature = sp.Symbol("temperature", nonnegative=True)
gamma = sp.Symbol("gamma", positive=True)
Q = sp.Symbol("Q", positive=True)

#: name -> symbol, for every shared hyperparameter above
SYMBOLS = {s.name: s for s in (lr, eps, momentum, weight_decay, beta1, beta2, alpha, dt, mass,
                               damping, temperature, gamma, Q)}
