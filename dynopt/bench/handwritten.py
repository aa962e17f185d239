"""The loops a user would write by hand, in plain NumPy: what ``minimize`` is measured against.

Each function runs ``steps`` steps of one method on ``fun``/``jac`` from ``x0``
with the update written the way the papers state it, one evaluation of the
objective and one of the gradient per step, and the convergence test a user
would add (the largest gradient component at most ``gtol``; ``gtol = 0`` runs
every step). Scalars are Python floats. They return ``(x, f, steps_taken)``.

The updates are those of :mod:`dynopt.methods` with their default
hyperparameters, transcribed independently: heavy ball (Polyak 1964), Adam
(Kingma & Ba 2015, bias-corrected), FANoS (Dhiman, arXiv 2601.00889: RMS
mass, Nosé–Hoover friction driven by the kinetic temperature's moving average,
symplectic Euler) and FIRE (Bitzek et al. 2006, as ASE's ``FIRE``). The tests
check that ``minimize`` follows the same trajectories.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["heavy_ball", "adam", "fanos", "fire", "HANDWRITTEN"]


def heavy_ball(fun, jac, x0, steps, *, lr=1e-3, momentum=0.9, gtol=0.0):
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    f, g = fun(x), jac(x)
    k = 0
    while k < steps:
        v = momentum * v - lr * g
        x = x + v
        f, g = fun(x), jac(x)
        k += 1
        if gtol and np.max(np.abs(g)) <= gtol:
            break
    return x, f, k


def adam(fun, jac, x0, steps, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, gtol=0.0):
    x = np.array(x0, dtype=float)
    m = np.zeros_like(x)
    s = np.zeros_like(x)
    f, g = fun(x), jac(x)
    k = 0
    while k < steps:
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        c1, c2 = 1 - beta1 ** (k + 1), 1 - beta2 ** (k + 1)
        x = x - lr * (m / c1) / (np.sqrt(s / c2) + eps)
        f, g = fun(x), jac(x)
        k += 1
        if gtol and np.max(np.abs(g)) <= gtol:
            break
    return x, f, k


def fanos(fun, jac, x0, steps, *, lr=3e-3, beta=0.999, eps=1e-8, Q=1.0, T0_max=1e-3,
          T0_min=0.0, tau=2e4, rho_T=0.9, zeta_clip=10.0, grad_clip=1.0, gtol=0.0):
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    s = np.zeros_like(x)
    zeta, T_ema = 0.0, T0_max
    n = x.size
    f, g = fun(x), jac(x)
    k = 0
    while k < steps:
        if grad_clip > 0:
            norm = math.sqrt(g @ g)
            g = g * (grad_clip / max(norm, grad_clip))
        s = beta * s + (1 - beta) * g * g
        mass = np.sqrt(s) + eps
        v = v + lr * (-g / mass - zeta * v)
        x = x + lr * v
        T_ema = rho_T * T_ema + (1 - rho_T) * float(mass @ (v * v)) / n
        target = T0_min + (T0_max - T0_min) * math.exp(-k / tau)
        zeta = zeta + lr * (T_ema - target) / Q
        if zeta_clip > 0:
            zeta = min(max(zeta, -zeta_clip), zeta_clip)
        f, g = fun(x), jac(x)
        k += 1
        if gtol and np.max(np.abs(g)) <= gtol:
            break
    return x, f, k


def fire(fun, jac, x0, steps, *, dt=0.1, dtmax=1.0, Nmin=5, finc=1.1, fdec=0.5, astart=0.1,
         fa=0.99, a=0.1, maxstep=0.2, gtol=0.0):
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    h, alpha, since = dt, a, 0
    f, g = fun(x), jac(x)
    k = 0
    while k < steps:
        if k > 0:
            power = -float(g @ v)
            if power > 0:
                vnorm, fnorm = math.sqrt(v @ v), math.sqrt(max(g @ g, 1e-38))
                v = (1 - alpha) * v - alpha * (vnorm / fnorm) * g
                if since > Nmin:
                    h = min(h * finc, dtmax)
                    alpha *= fa
                since += 1
            else:
                v = 0.0 * v
                h *= fdec
                alpha = astart
                since = 0
        v = v - h * g
        dr = h * v
        norm = math.sqrt(dr @ dr)
        if norm > maxstep:
            dr = dr * (maxstep / norm)
        x = x + dr
        f, g = fun(x), jac(x)
        k += 1
        if gtol and np.max(np.abs(g)) <= gtol:
            break
    return x, f, k


#: method name -> hand-written loop
HANDWRITTEN = {"heavy_ball": heavy_ball, "adam": adam, "fanos": fanos, "fire": fire}
