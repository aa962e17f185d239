"""Parameters as a gas: streaming under :math:`-\\nabla f` plus a collision operator.

The system behind KO, the Kinetics-inspired Optimizer (M. Feng, Y. Huang, Y. Fu, S. Wang,
J. Yan, arXiv:2505.14777, 2025), which reads training as the evolution of a particle
system under the Boltzmann transport equation. Its particle form splits into
*streaming*, derived from :math:`H = p^2/(2m) + f(q)` and a Rayleigh function,

.. math::

    \\dot x = v, \\qquad m \\dot v = -\\nabla f(x) - c\\, v,

and a *collision operator* that conserves the momentum and the kinetic energy of the
colliding particles: ``collision='dsmc'`` (random binary collisions, a
:class:`~dynopt.program.Custom` stage, :func:`dynopt.collisions.dsmc_collide`) or
``collision='bgk'`` (a continuous relaxation toward the mean velocity). Particles are
single coordinates, or with ``layers`` the rows of weight matrices. Both collision forms
are reconstructions, not the paper's own algorithm; their derivation, where the collision
stands in the step and the properties of the DSMC form are in the section "Boltzmann
transport" of the Systems page (``docs/systems.md``).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..collisions import dsmc_collide
from ..program import Custom, Reduce, g, x
from .base import System, VectorField, coordinate_sum, p, potential, t, v
from .damped_oscillator import damping, hamilton_rayleigh, mass, to_velocity

__all__ = ["BoltzmannTransport", "as_layers", "check_layers_fit", "ubar", "n_collisions",
           "nu", "coll_coef", "COLLISIONS"]

#: BGK relaxation rate :math:`\nu \ge 0`
nu = sp.Symbol("nu", nonnegative=True)
#: DSMC collision coefficient :math:`c_{\mathrm{coll}} \in [0, 1]`
coll_coef = sp.Symbol("coll_coef", nonnegative=True)
#: mean velocity :math:`\bar u` (scalar state, recomputed by a reduction)
ubar = sp.Symbol("ubar", real=True)
#: number of DSMC collisions so far (scalar state, written by the collision stage)
n_collisions = sp.Symbol("n_collisions", real=True)

COLLISIONS = ("dsmc", "bgk", "both", "none")


# --------------------------------------------------------------------------- layers
def as_layers(layers, name: str = "layers"):
    """Normalise a description of weight matrices inside a flat parameter vector.

    Parameters
    ----------
    layers : None, sequence of (offset, n_rows, n_cols), or an object with
        ``weight_slices`` and ``weight_shapes`` (e.g. :class:`dynopt.problems.mlp.MLPProblem`)
        Matrix ``l`` occupies ``x[offset : offset + n_rows * n_cols]`` in row-major
        order; its rows are the particles.
    name : str
        Used in error messages.

    Returns
    -------
    tuple of (int, int, int) or None
        Sorted by offset; ``None`` for ``None``.
    """
    if layers is None:
        return None
    if hasattr(layers, "weight_slices") and hasattr(layers, "weight_shapes"):
        out = []
        for sl, shape in zip(layers.weight_slices, layers.weight_shapes):
            if not isinstance(sl, slice) or sl.step not in (None, 1):
                raise ValueError(f"{name}: weight_slices must be contiguous slices, got {sl!r}")
            out.append((sl.start or 0, *tuple(shape)))
        layers = out
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{name} must be None, a sequence of (offset, n_rows, n_cols) or an "
                        f"object with weight_slices and weight_shapes, got {layers!r}")
    out = []
    for item in layers:
        try:
            off, rows, cols = item
        except (TypeError, ValueError):
            raise ValueError(f"{name}: each layer must be (offset, n_rows, n_cols), "
                             f"got {item!r}") from None
        for label, val, low in (("offset", off, 0), ("n_rows", rows, 1), ("n_cols", cols, 1)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
                raise ValueError(f"{name}: {label} must be an integer >= {low}, got {val!r} "
                                 f"in layer {item!r}")
        out.append((int(off), int(rows), int(cols)))
    if not out:
        raise ValueError(f"{name} must not be empty (use None for per-coordinate particles)")
    out.sort()
    for (o1, r1, c1), (o2, r2, c2) in zip(out, out[1:]):
        if o1 + r1 * c1 > o2:
            raise ValueError(f"{name}: layers {(o1, r1, c1)} and {(o2, r2, c2)} overlap")
    return tuple(out)


def check_layers_fit(layers, n: int, name: str = "layers") -> None:
    """Raise :class:`ValueError` if a layer reaches past a vector of length ``n``."""
    if layers is None:
        return
    off, rows, cols = layers[-1]
    if off + rows * cols > n:
        raise ValueError(f"{name}: layer {(off, rows, cols)} ends at {off + rows * cols}, past "
                         f"the end of x (n = {n})")


def _row_value(value, b: int) -> float:
    """Hyperparameter value for batch row ``b`` (a number or a (batch, 1) array)."""
    arr = np.asarray(value, dtype=float).reshape(-1)
    return float(arr[b] if arr.size > 1 else arr[0])


# --------------------------------------------------------------------------- DSMC stage
_DSMC_STAGES: dict = {}


def dsmc_stage(layers) -> Custom:
    """The DSMC collision sweep as a :class:`~dynopt.program.Custom` stage.

    Reads ``x``, ``v`` and the hyperparameter ``coll_coef``; writes ``v`` and adds
    the number of collisions to the scalar state ``n_collisions``. One stage object
    per ``layers`` value is kept, so that repeated runs reuse compiled kernels.
    """
    layers = as_layers(layers)
    if layers not in _DSMC_STAGES:
        def dsmc_collisions(S, P):
            xs, vs = np.asarray(S["x"]), np.asarray(S["v"])
            rng = S["rng"]
            n = xs.shape[-1]
            check_layers_fit(layers, n)
            cells = [(0, n, 1)] if layers is None else layers
            v_new = np.array(vs, copy=True)
            count = np.array(S["n_collisions"], dtype=vs.dtype, copy=True)
            for b in range(xs.shape[0]):
                coef = _row_value(P["coll_coef"], b)
                for off, rows, cols in cells:
                    sl = slice(off, off + rows * cols)
                    out, hits = dsmc_collide(xs[b, sl].reshape(rows, cols),
                                             vs[b, sl].reshape(rows, cols), rng, coll_coef=coef)
                    v_new[b, sl] = out.reshape(-1)
                    count[b, 0] += hits
            S["v"] = v_new
            S["n_collisions"] = count

        _DSMC_STAGES[layers] = Custom(dsmc_collisions, reads=(x, v, n_collisions),
                                      writes=(v, n_collisions), label="dsmc")
    return _DSMC_STAGES[layers]


# --------------------------------------------------------------------------- system
class BoltzmannTransport(System):
    """Particles streaming under :math:`-\\nabla f` with collisions (see the module notes).

    Parameters
    ----------
    collision : {'dsmc', 'bgk', 'both', 'none'}, default 'dsmc'
        The collision operator: DSMC pair collisions, the BGK relaxation toward the
        mean velocity, both, or none (then the system is the damped oscillator).
    layers : None, sequence of (offset, n_rows, n_cols) or an MLPProblem
        DSMC particles: ``None`` (default) makes every coordinate a one-dimensional
        particle; otherwise the rows of the given weight matrices (see
        :func:`as_layers`). Only used with DSMC.
    mass : float, default 1
        Particle mass :math:`m > 0`.
    damping : float, default 1
        Friction :math:`c \\ge 0` of the streaming (0: conservative streaming).
    nu : float, optional
        BGK relaxation rate :math:`\\nu \\ge 0`; default 1 with BGK. Only with BGK
        (giving it otherwise raises :class:`TypeError`).
    coll_coef : float, optional
        DSMC collision coefficient in :math:`[0, 1]`; default 0.5, KITINet's value.
        Only with DSMC (giving it otherwise raises :class:`TypeError`).

    Notes
    -----
    With BGK, :math:`\\tfrac{d}{dt}\\sum_i m v_i = -\\sum_i (g_i + c v_i)`: the collision
    term adds nothing to the total momentum. Explicit and symplectic Euler with step
    :math:`h` multiply the peculiar velocity :math:`v - \\bar u` by :math:`1 - \\nu h`
    per step when :math:`\\nabla f` is constant across coordinates and :math:`c = 0`;
    velocity Verlet by :math:`(1 - \\nu h/2)/(1 + \\nu h/2)`. Under Verlet the mean in
    the closing half kick is the one after the opening half kick (exact when the mean
    force and the friction vanish).
    """

    name = "boltzmann_transport"

    def __init__(self, collision: str = "dsmc", layers=None, mass: float = 1.0,
                 damping: float = 1.0, nu: float | None = None,
                 coll_coef: float | None = None):
        if collision not in COLLISIONS:
            raise ValueError(f"collision must be one of {COLLISIONS}, got {collision!r}")
        self.collision = collision
        self.layers = as_layers(layers)
        if self.layers is not None and not self.dsmc:
            raise ValueError(f"layers only applies to DSMC collisions, got layers with "
                             f"collision={collision!r}")
        active = sorted(s.name for s in self.active_symbols())
        params = {"mass": mass, "damping": damping}
        for name, value in (("nu", nu), ("coll_coef", coll_coef)):
            if name in active:
                params[name] = self.default_params()[name] if value is None else value
            elif value is not None:
                raise TypeError(f"BoltzmannTransport(collision={collision!r}) does not use "
                                f"{name!r}; its parameters are {active}")
        super().__init__(**params)
        self.values = {name: self.values[name] for name in params}
        c = self.values.get("coll_coef")
        if isinstance(c, (int, float, np.number)) and not 0.0 <= float(c) <= 1.0:
            raise ValueError(f"BoltzmannTransport: parameter 'coll_coef' must lie in [0, 1], "
                             f"got {c!r}")

    @property
    def dsmc(self) -> bool:
        return self.collision in ("dsmc", "both")

    @property
    def bgk(self) -> bool:
        return self.collision in ("bgk", "both")

    @classmethod
    def symbols(cls):
        return {mass: 1.0, damping: 1.0, nu: 1.0, coll_coef: 0.5}

    def active_symbols(self) -> dict:
        """The parameters this instance uses: symbol -> default."""
        out = {mass: 1.0, damping: 1.0}
        if self.bgk:
            out[nu] = 1.0
        if self.dsmc:
            out[coll_coef] = 0.5
        return out

    def hamiltonian(self):
        return p**2 / (2 * mass) + potential(x)

    def rayleigh(self, qdot):
        """Friction plus, with BGK, the relaxation toward the mean (``ubar`` held fixed)."""
        R = damping * qdot**2 / 2
        if self.bgk:
            R += nu * mass * (qdot - ubar) ** 2 / 2
        return R

    def vector_field(self) -> VectorField:
        qdot = sp.Symbol("qdot")
        xdot, pdot = hamilton_rayleigh(self.hamiltonian(), self.rayleigh(qdot), qdot)
        xdot, vdot = to_velocity(xdot, pdot, mass)
        pre, reductions, extra = [], [], {}
        if self.dsmc:
            pre.append(dsmc_stage(self.layers))
            extra[n_collisions] = sp.Integer(0)
        if self.bgk:
            # the mean of the velocity the kick reads; recomputed after Verlet's half kick
            mean = Reduce(ubar, v, "mean")
            pre.append(mean)
            reductions.append(mean)
            extra[ubar] = sp.Integer(0)
        return VectorField(
            xdot=xdot, vdot=sp.expand(vdot), params=self.active_symbols(),
            reductions=tuple(reductions), pre=tuple(pre), extra_scalars=extra,
            energies={"kinetic": ("sum", mass * v**2 / 2)},
        )

    def equations(self):
        """The streaming equation (the collision operator is not an ODE term for DSMC)."""
        X = sp.Function("x")(t)
        U = sp.Symbol("\\bar{u}", real=True)
        acc = self.vector_field().vdot.subs({v: X.diff(t), g: sp.Derivative(potential(X), X),
                                             ubar: U})
        return [sp.Eq(X.diff(t, 2), acc)]

    def energy(self):
        """:math:`E = \\sum_i \\tfrac12 m v_i^2 + f(x)`, unchanged by every collision."""
        return coordinate_sum(mass * v**2 / 2) + potential(x)

    def __repr__(self):
        args = ", ".join(f"{k}={val!r}" for k, val in self.values.items())
        return f"BoltzmannTransport(collision={self.collision!r}, layers={self.layers!r}, {args})"
