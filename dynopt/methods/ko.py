"""KO, the Kinetics-inspired Optimizer, and the Boltzmann transport system behind it.

M. Feng, Y. Huang, Y. Fu, S. Wang, J. Yan, "KO: Kinetics-inspired Neural Optimizer
with PDE Simulation Approaches", arXiv:2505.14777 (2025). The paper's algorithm and
code were not available: what goes beyond its public statements is a reconstruction.
Three methods are registered:

``'ko'``
    the soft-collision gradient form (:func:`dynopt.collisions.soft_collision`), a
    :class:`~dynopt.program.Custom` stage that rewrites ``g`` over the rows of each
    weight matrix (flag ``layers``) before the unchanged step of a base method (flag
    ``base``, default ``'heavy_ball'``);
``'ko_dsmc'``
    :class:`~dynopt.systems.boltzmann.BoltzmannTransport` with DSMC collisions;
``'ko_bgk'``
    the same system with the BGK relaxation toward the mean velocity.

The collision formula, its descent guarantee, the flag ``collision_scale`` and each
method's hyperparameters are in the section "KO" of the Methods page (``docs/methods.md``).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..collisions import SOFT_NORMALIZATIONS, soft_collision
from ..program import Custom, StepProgram, g, x
from ..systems.boltzmann import BoltzmannTransport, _row_value, as_layers, check_layers_fit
from ..transforms import gamma_c, soft_collisions
from .base import Method, system_method

__all__ = ["gamma_c", "BASES", "soft_collision_coordinates", "soft_collision_stage",
           "build_ko", "METHODS"]

#: KO's base optimizers: flag value -> registered method
BASES = {"sgd": "gd", "heavy_ball": "heavy_ball", "nesterov": "nesterov", "adam": "adam",
         "adamw": "adamw", "rmsprop": "rmsprop"}

#: floor on norms in the cosines, as in :func:`dynopt.collisions.soft_collision`
EPS = 1e-12


def soft_collision_coordinates(w, grad, *, gamma_c: float = 0.1, normalize: str = "mean",
                               exclude_self: bool = True, eps: float = EPS) -> np.ndarray:
    """KO's soft collision with every coordinate a one-dimensional particle, in O(n).

    With :math:`s_i = w_i / \\max(|w_i|, \\epsilon)` and
    :math:`t_i = g_i / \\max(|g_i|, \\epsilon)` (signs, for entries above
    :math:`\\epsilon`), :math:`\\cos(w_i, w_j)\\cos(g_i, g_j) = u_i u_j` with
    :math:`u = s t`, hence (defaults)

    .. math::

        \\tilde g_i = g_i - \\frac{\\gamma_c}{n - 1}\\, u_i
        \\Big(\\sum_j u_j g_j - u_i g_i\\Big),

    the same as :func:`dynopt.collisions.soft_collision` on the column vectors
    ``w[:, None]``, ``grad[:, None]`` without its :math:`n \\times n` matrix.
    ``exclude_self=False`` keeps the :math:`j = i` term (and divides by :math:`n`);
    ``normalize='sum'`` divides by 1.

    Parameters
    ----------
    w, grad : array_like, shape (n,)
        Parameters and gradient.
    gamma_c : float, default 0.1
        Collision coefficient, ``>= 0``.
    normalize : {'mean', 'sum'}, default 'mean'
        Scale of the sum, as in :func:`dynopt.collisions.soft_collision`.
    exclude_self : bool, default True
        Leave out the :math:`j = i` term.
    eps : float, default 1e-12
        Floor on absolute values in the cosines.

    Returns
    -------
    ndarray, shape (n,)
    """
    w = np.asarray(w, dtype=float)
    grad = np.asarray(grad, dtype=float)
    if w.ndim != 1 or grad.shape != w.shape:
        raise ValueError(f"w and grad must be 1-D arrays of one shape, got {w.shape} "
                         f"and {grad.shape}")
    if isinstance(gamma_c, bool) or not np.isfinite(gamma_c) or gamma_c < 0:
        raise ValueError(f"gamma_c must be a finite number >= 0, got {gamma_c!r}")
    _check_scale(normalize, "normalize")
    _check_exclude_self(exclude_self)
    u = (w / np.maximum(np.abs(w), eps)) * (grad / np.maximum(np.abs(grad), eps))
    ug = u * grad
    total = ug.sum() - ug if exclude_self else ug.sum()
    z = 1.0
    if normalize == "mean":
        z = max(w.size - 1 if exclude_self else w.size, 1)
    return grad - (gamma_c / z) * u * total


def _check_scale(value, name: str) -> str:
    if not isinstance(value, str) or value not in SOFT_NORMALIZATIONS:
        raise ValueError(f"{name} must be one of {SOFT_NORMALIZATIONS}, got {value!r}")
    return value


def _check_exclude_self(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"exclude_self must be True or False, got {value!r}")
    return bool(value)


# --------------------------------------------------------------------------- the stage
_SOFT_STAGES: dict = {}


def soft_collision_stage(layers, collision_scale: str = "mean",
                         exclude_self: bool = True) -> Custom:
    """KO's soft collision as a :class:`~dynopt.program.Custom` stage ``g <- g~(x, g)``.

    Reads ``x``, ``g`` and the hyperparameter ``gamma_c``; ``collision_scale`` and
    ``exclude_self`` are passed on as ``normalize`` and ``exclude_self`` of
    :func:`dynopt.collisions.soft_collision`. One stage object is kept per value of
    the three arguments so that repeated runs reuse compiled kernels.
    """
    layers = as_layers(layers)
    collision_scale = _check_scale(collision_scale, "collision_scale")
    exclude_self = _check_exclude_self(exclude_self)
    key = (layers, collision_scale, exclude_self)
    if key not in _SOFT_STAGES:
        def soft_collisions(S, P):
            xs, gs = np.asarray(S["x"]), np.asarray(S["g"])
            check_layers_fit(layers, xs.shape[-1])
            out = np.array(gs, copy=True)
            for b in range(xs.shape[0]):
                gam = _row_value(P["gamma_c"], b)
                if layers is None:
                    out[b] = soft_collision_coordinates(xs[b], gs[b], gamma_c=gam,
                                                        normalize=collision_scale,
                                                        exclude_self=exclude_self)
                    continue
                for off, rows, cols in layers:
                    sl = slice(off, off + rows * cols)
                    out[b, sl] = soft_collision(xs[b, sl].reshape(rows, cols),
                                                gs[b, sl].reshape(rows, cols),
                                                gamma_c=gam, exclude_self=exclude_self,
                                                normalize=collision_scale,
                                                eps=EPS).reshape(-1)
            S["g"] = out

        _SOFT_STAGES[key] = Custom(soft_collisions, reads=(x, g), writes=(g,),
                                   label="ko_soft_collision")
    return _SOFT_STAGES[key]


# --------------------------------------------------------------------------- builders
def _base_method(base) -> Method:
    from . import METHODS as registry   # the merged registry, complete at build time
    if base not in BASES:
        raise ValueError(f"base must be one of {sorted(BASES)}, got {base!r}")
    try:
        return registry[BASES[base]]
    except KeyError:
        raise ValueError(f"base {base!r} needs the method {BASES[base]!r}, which is not "
                         f"registered (its module is not available)") from None


def build_ko(integrator=None, base: str = "heavy_ball", layers=None,
             base_options=None, collision_scale: str = "mean",
             exclude_self: bool = True) -> StepProgram:
    """KO's step: the soft collision rewrites ``g``, then the base method's own step.

    The base program is taken unchanged from the registry (with its default
    integrator and the structural options ``base_options``, e.g.
    ``{'amsgrad': True}`` for Adam); the collision stage is put in front of it, so
    the base sees :math:`\\tilde g` wherever it reads the gradient of the current
    point. KO's hyperparameters are the base's plus ``gamma_c`` (default 0.1).

    Parameters
    ----------
    integrator : None
        KO takes its base's integrator; anything else is an error.
    base : str, default 'heavy_ball'
        A key of :data:`BASES`.
    layers : optional
        The weight matrices (:func:`dynopt.systems.boltzmann.as_layers`); ``None``:
        every coordinate is a particle.
    base_options : dict, optional
        Structural options of the base method.
    collision_scale : {'mean', 'sum'}, default 'mean'
        The divisor :math:`Z` of the collision sum: the number of terms
        (:math:`P - 1` per matrix of :math:`P` rows) or 1. A reconstruction choice
        (the sources say only "scaled"); the Methods page's section "KO" says
        what it does to the descent guarantee.
    exclude_self : bool, default True
        Leave out the :math:`j = i` term of the sum (with it every row's gradient
        is also shrunk by :math:`\\gamma_c / Z`).
    """
    if integrator is not None:
        raise ValueError(f"'ko' takes the integrator of its base method, got integrator="
                         f"{integrator!r}")
    _check_scale(collision_scale, "collision_scale")
    _check_exclude_self(exclude_self)
    spec = _base_method(base)
    if base_options is None:
        base_options = {}
    if not isinstance(base_options, Mapping):
        raise TypeError(f"base_options must be a dict of the base method's options, got "
                        f"{base_options!r}")
    # composed: the collision transformer in front of the base program, unchanged
    prog = soft_collisions(spec.program(**base_options), layers=layers,
                           collision_scale=collision_scale, exclude_self=exclude_self)
    prog.name = f"ko_{base}"
    prog.description = (f"KO soft collision (gamma_c, {collision_scale} scale"
                        f"{'' if exclude_self else ', self term kept'}) on the gradient, "
                        f"then {spec.name}")
    return prog


def _system_builder(collision: str, name: str):
    def build(integrator, **flags):
        prog = system_method(BoltzmannTransport(collision=collision, **flags), integrator,
                             dt_default=0.1)
        prog.name = name
        return prog
    return build


class _InheritedBounds(Mapping):
    """KO's value ranges: those of every available base method (looked up when used)."""

    def _merged(self) -> dict:
        from . import METHODS as registry
        out = {}
        for target in BASES.values():
            if target in registry:
                out.update(registry[target].bounds)
        return out

    def __getitem__(self, key):
        return self._merged()[key]

    def __iter__(self):
        return iter(self._merged())

    def __len__(self):
        return len(self._merged())


METHODS = {
    "ko": Method(
        "ko", build_ko, integrator=None,
        flags={"base": "heavy_ball", "layers": None, "base_options": None,
               "collision_scale": "mean", "exclude_self": True},
        bounds=_InheritedBounds(),
        summary="KO: soft collision of weight rows on the gradient (gamma_c; collision_scale "
                "'mean' or 'sum'), then a base optimizer (sgd, heavy_ball, nesterov, adam, "
                "adamw, rmsprop)",
        physical="the base method's system driven by the collided gradient "
                 "G - gamma_c/Z (K - D) G, K = cos(W) * cos(G) over the rows, Z = P-1 "
                 "(collision_scale='mean') or 1 ('sum')"),
    "ko_dsmc": Method(
        "ko_dsmc", _system_builder("dsmc", "ko_dsmc"), integrator="symplectic_euler",
        flags={"layers": None}, bounds={"coll_coef": (0, 1)},
        summary="Boltzmann transport: streaming m*vdot = -grad f - c*v plus DSMC pair "
                "collisions (dt, mass, damping, coll_coef; seed; layers)",
        physical="a gas of parameters in the potential f with momentum- and "
                 "energy-conserving binary collisions"),
    "ko_bgk": Method(
        "ko_bgk", _system_builder("bgk", "ko_bgk"), integrator="symplectic_euler",
        summary="Boltzmann transport with BGK relaxation toward the mean velocity "
                "(dt, mass, damping, nu)",
        physical="m*vdot = -grad f - c*v - m*nu*(v - mean(v)), momentum-conserving"),
}
