"""Collision operators for the kinetic (Boltzmann) view of training used by KO.

KO, the Kinetics-inspired Optimizer (M. Feng, Y. Huang, Y. Fu, S. Wang, J. Yan,
arXiv:2505.14777, 2025), treats parameters as particles of a gas whose velocity
distribution :math:`f(x, v, t)` obeys the Boltzmann transport equation

.. math::

    \\partial_t f + v \\cdot \\nabla_x f - \\nabla_x \\mathcal{L} \\cdot \\nabla_v f
    = Q(f, f),

i.e. streaming under the force :math:`-\\nabla \\mathcal{L}` plus a collision operator
:math:`Q` that conserves mass, momentum and energy. This module provides three
discrete forms of :math:`Q`, as pure NumPy functions with explicit random generators:

:func:`dsmc_collide`
    binary collisions by Direct Simulation Monte Carlo (G. A. Bird, *Molecular Gas
    Dynamics and the Direct Simulation of Gas Flows*, Oxford, 1994), with the
    collision criterion of the same group's KITINet (M. Feng, Y. Fu, T. Zhang et al.,
    "KITINet: Kinetics Theory Inspired Network Architectures with PDE Simulation
    Approaches", 2025).
:func:`bgk_relax`
    the Bhatnagar-Gross-Krook relaxation (P. L. Bhatnagar, E. P. Gross, M. Krook,
    Phys. Rev. 94, 511, 1954), deterministic or as a stochastic, temperature-keeping
    particle scheme.
:func:`soft_collision`
    KO's "soft collision" acting on the gradient rows of one weight matrix.

The KO paper's algorithm section and code were not available when this module was
written; the DSMC scheme and the soft-collision form below are reconstructions from
public descriptions and are marked as such where they are defined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CollisionRecord",
    "make_pairs",
    "dsmc_collide",
    "group_labels",
    "bgk_relax",
    "soft_collision",
]

PAIRINGS = ("random", "adjacent")
BGK_MODES = ("deterministic", "maxwellian")


# --------------------------------------------------------------------------- helpers
def _check_rng(rng, name: str = "rng") -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _as_particles(a, name: str) -> np.ndarray:
    """Return ``a`` as a float array of shape (P, d); a 1-D array gives d = 1."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be a 1-D or 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _check_real(value, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return value


# --------------------------------------------------------------------------- DSMC
@dataclass(frozen=True)
class CollisionRecord:
    """What one call of :func:`dsmc_collide` did.

    Attributes
    ----------
    pairs : ndarray of int, shape (M, 2)
        Indices (rows of ``v``) of the candidate pairs; with an odd number of
        particles one particle is in no pair.
    collided : ndarray of bool, shape (M,)
        Which candidate pairs collided.
    vr_max : float
        The reference relative speed :math:`v_{r,\\max}` used in the criterion.
    """

    pairs: np.ndarray
    collided: np.ndarray
    vr_max: float


def make_pairs(n: int, rng: np.random.Generator | None = None, *,
               pairing: str = "random") -> np.ndarray:
    """Disjoint pairs of particle indices.

    Parameters
    ----------
    n : int
        Number of particles, ``n >= 0``.
    rng : numpy.random.Generator, optional
        Source of the random permutation; required for ``pairing='random'``.
    pairing : {'random', 'adjacent'}
        ``'random'`` shuffles the indices and pairs consecutive entries of the
        permutation (the usual DSMC candidate selection inside one cell);
        ``'adjacent'`` pairs ``(0, 1), (2, 3), ...`` in the given order (useful when
        the caller has already sorted the particles, e.g. by position).

    Returns
    -------
    ndarray of int, shape (n // 2, 2)
        With odd ``n`` the last index of the (shuffled) order is left unpaired.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    if pairing == "random":
        order = _check_rng(rng).permutation(int(n))
    else:
        order = np.arange(int(n))
    m = int(n) // 2
    return order[: 2 * m].reshape(m, 2)


def dsmc_collide(x, v, rng: np.random.Generator, *, coll_coef: float = 0.5,
                 pairing: str = "random", vr_max: float | None = None,
                 return_record: bool = False):
    """One DSMC collision sweep over disjoint random pairs of particles.

    Particles are the rows of ``x`` (positions) and ``v`` (velocities), both of
    shape (P, d); a flat parameter vector of shape (P,) is treated as P one-dimensional
    particles. All masses are equal. Pairs are drawn by :func:`make_pairs`; pair
    :math:`(i, j)` collides when

    .. math::

        \\frac{\\lVert v_i - v_j \\rVert}{v_{r,\\max}}\\, e^{-\\lVert x_i - x_j \\rVert}
        > 1 - c_{\\mathrm{coll}},

    where :math:`v_{r,\\max}` is the largest relative speed among the candidate pairs
    (unless given). A collision keeps the centre-of-mass velocity
    :math:`u = (v_i + v_j)/2` and the relative speed :math:`\\lVert g \\rVert`,
    :math:`g = v_i - v_j`, and draws the post-collision relative velocity uniformly
    on the sphere of radius :math:`\\lVert g \\rVert` (isotropic hard-sphere
    scattering; for d = 1 a random sign):

    .. math::

        v_i' = u + \\tfrac12 \\lVert g \\rVert\\, n, \\qquad
        v_j' = u - \\tfrac12 \\lVert g \\rVert\\, n, \\qquad n \\sim \\mathcal{U}(S^{d-1}),

    so each pair's momentum :math:`v_i + v_j` and kinetic energy
    :math:`\\tfrac12(\\lVert v_i\\rVert^2 + \\lVert v_j\\rVert^2)
    = \\lVert u\\rVert^2 + \\tfrac14\\lVert g\\rVert^2` are conserved exactly (up to
    round-off). Particles in no colliding pair are returned unchanged, bit for bit.

    This is a reconstruction: the criterion and the conservation properties follow
    the public description of KITINet's DSMC scheme (Feng, Fu, Zhang et al., 2025),
    which the KO paper (Feng et al., arXiv:2505.14777) builds on; the acceptance rule
    is KITINet's deterministic threshold rather than Bird's probabilistic
    acceptance-rejection, and the random direction is the isotropic scattering of the
    variable-hard-sphere model (Bird, 1994).

    Parameters
    ----------
    x, v : array_like, shape (P, d) or (P,)
        Positions and velocities; same shape.
    rng : numpy.random.Generator
        Source of the pairing permutation and of the scattering directions.
    coll_coef : float, default 0.5
        Collision coefficient :math:`c_{\\mathrm{coll}} \\in [0, 1]`; larger values
        lower the threshold and make more pairs collide (0: none, 1: every pair with a
        non-zero relative speed).
    pairing : {'random', 'adjacent'}, default 'random'
        See :func:`make_pairs`.
    vr_max : float, optional
        Reference relative speed (> 0). Default: the largest relative speed among the
        candidate pairs of this sweep; if that is zero nothing collides.
    return_record : bool, default False
        Also return a :class:`CollisionRecord` with the pairs and the outcome.

    Returns
    -------
    v_new : ndarray
        Post-collision velocities, same shape as ``v``.
    n_collisions : int
        Number of pairs that collided.
    record : CollisionRecord
        Only when ``return_record`` is true.
    """
    xp, vp, shape, coll_coef, vr_max = _check_dsmc(x, v, rng, coll_coef, vr_max)
    n, d = vp.shape
    pairs = make_pairs(n, rng, pairing=pairing)
    i, j = pairs[:, 0], pairs[:, 1]
    g = vp[i] - vp[j]                                  # relative velocities, (M, d)
    speed = np.sqrt(np.einsum("md,md->m", g, g))       # relative speeds, (M,)
    dist = np.sqrt(np.einsum("md,md->m", xp[i] - xp[j], xp[i] - xp[j]))

    # Scattering directions are drawn for every candidate pair, so the stream of
    # random numbers consumed does not depend on the outcome of the criterion.
    direction = rng.standard_normal((pairs.shape[0], d))

    collided, ref = _collision_mask(speed, dist, coll_coef, vr_max)
    v_new = _scatter(vp, i, j, g, speed, direction, collided).reshape(shape)
    n_coll = int(np.count_nonzero(collided))
    if return_record:
        return v_new, n_coll, CollisionRecord(pairs=pairs, collided=collided, vr_max=float(ref))
    return v_new, n_coll


def _check_dsmc(x, v, rng, coll_coef, vr_max):
    """:func:`dsmc_collide`'s arguments checked: ``(xp, vp, v's shape, coll_coef, vr_max)``.

    ``xp`` and ``vp`` are the particles as rows, shape (P, d).
    """
    _check_rng(rng)
    v_in = np.asarray(v, dtype=float)
    xp = _as_particles(x, "x")
    vp = _as_particles(v, "v")
    if xp.shape != vp.shape:
        raise ValueError(f"x and v must have the same shape, got {np.shape(x)} and {np.shape(v)}")
    coll_coef = _check_real(coll_coef, "coll_coef", low=0.0, high=1.0)
    if vr_max is not None:
        vr_max = _check_real(vr_max, "vr_max", low=0.0, low_open=True)
    return xp, vp, v_in.shape, coll_coef, vr_max


def _collision_mask(speed, dist, coll_coef, vr_max):
    """Which candidate pairs collide (KITINet's threshold) and the reference speed used.

    ``vr_max=None`` takes the largest relative speed; a reference of zero (no
    pairs, or every speed zero) collides nothing and is reported as ``0.0``.
    """
    ref = float(speed.max()) if vr_max is None and speed.size else vr_max
    if not ref:                                        # no pairs, or all speeds zero
        return np.zeros(speed.shape[0], dtype=bool), 0.0
    collided = (speed / ref) * np.exp(-dist) > 1.0 - coll_coef
    collided &= speed > 0.0                            # a zero relative speed cannot scatter
    return collided, ref


def _scatter(vp, i, j, g, speed, direction, collided):
    """Post-collision velocities: each colliding pair ``(i, j)`` keeps its centre of mass
    and relative speed and takes its relative velocity along ``direction``; the other
    rows are copied unchanged."""
    v_new = vp.copy()
    if np.any(collided):
        ic, jc = i[collided], j[collided]
        dirn = direction[collided]
        norm = np.sqrt(np.einsum("md,md->m", dirn, dirn))
        bad = norm == 0.0                              # probability zero; keep the old direction
        dirn = np.where(bad[:, None], g[collided], dirn)
        norm = np.where(bad, speed[collided], norm)
        half = 0.5 * speed[collided] / norm            # |g|/2 / |n|
        u = 0.5 * (vp[ic] + vp[jc])
        v_new[ic] = u + half[:, None] * dirn
        v_new[jc] = u - half[:, None] * dirn
    return v_new


# --------------------------------------------------------------------------- BGK
def group_labels(slices, size: int) -> np.ndarray:
    """Group labels for :func:`bgk_relax` from disjoint slices of a flat vector.

    Parameters
    ----------
    slices : sequence of slice
        Disjoint slices of a vector of length ``size`` (for example
        ``MLPProblem.weight_slices``); slice ``k`` becomes group ``k``.
    size : int
        Length of the vector.

    Returns
    -------
    ndarray of int, shape (size,)
        ``labels[i] = k`` if entry ``i`` lies in ``slices[k]``, else ``-1``
        (ungrouped entries are left unchanged by :func:`bgk_relax`).
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    labels = np.full(int(size), -1, dtype=np.int64)
    for k, s in enumerate(slices):
        if not isinstance(s, slice):
            raise TypeError(f"slices[{k}] must be a slice, got {type(s).__name__}")
        idx = np.arange(int(size))[s]
        if np.any(labels[idx] >= 0):
            raise ValueError(f"slices[{k}] = {s} overlaps an earlier slice")
        labels[idx] = k
    return labels


def _group_index(groups, n: int):
    """Return (inverse index of grouped particles, mask of grouped particles, n_groups)."""
    if groups is None:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool), 1
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"groups must have shape ({n},) (one label per particle), "
                         f"got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"groups must hold integer labels, got dtype {labels.dtype}")
    mask = labels >= 0
    uniq, inv = np.unique(labels[mask], return_inverse=True)
    return inv.astype(np.int64), mask, uniq.size


def _group_sum_mean(a: np.ndarray, inv: np.ndarray, n_groups: int) -> np.ndarray:
    if n_groups == 1:
        return a.mean(axis=0, keepdims=True)           # pairwise summation
    sums = np.zeros((n_groups, a.shape[1]))
    np.add.at(sums, inv, a)
    counts = np.bincount(inv, minlength=n_groups).astype(float)
    return sums / counts[:, None]


def _group_mean(a: np.ndarray, inv: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the rows of ``a`` in each group, with a second corrective pass.

    The correction (the mean of the residuals) removes most of the round-off of the
    first pass, so that subtracting the mean conserves the group's sum closely.
    """
    mean = _group_sum_mean(a, inv, n_groups)
    return mean + _group_sum_mean(a - mean[inv], inv, n_groups)


def bgk_relax(v, rate: float, dt: float, *, groups=None, mode: str = "deterministic",
              rng: np.random.Generator | None = None):
    """BGK relaxation of particle velocities toward their group's mean velocity.

    The BGK collision operator :math:`Q(f) = \\nu\\,(M[f] - f)` (Bhatnagar, Gross &
    Krook, 1954) drives the velocity distribution of each group toward the Maxwellian
    :math:`M[f]` with the same density, mean velocity :math:`\\bar u` and temperature.
    Two particle forms are offered, both exact in time for a step ``dt`` with
    :math:`\\lambda = e^{-\\nu\\,\\Delta t}`:

    ``mode='deterministic'`` (default)
        Every peculiar velocity :math:`c_i = v_i - \\bar u` decays exactly,

        .. math:: v_i \\leftarrow \\bar u + (v_i - \\bar u)\\, e^{-\\nu \\Delta t}.

        The group's total momentum is conserved exactly, but the kinetic energy of the
        peculiar motion, :math:`\\tfrac12 \\sum_i \\lVert c_i\\rVert^2`, is dissipated by
        the factor :math:`\\lambda^2`: this is a relaxation of the *temperature to zero*
        (all particles of a group condense onto :math:`\\bar u`), not the relaxation to a
        Maxwellian of fixed temperature. It is the mean-field drift of BGK without its
        thermal part, i.e. a friction toward the group's mean velocity.
    ``mode='maxwellian'``
        The temperature-keeping particle BGK scheme: each particle, independently with
        probability :math:`1 - \\lambda`, has its velocity replaced by a sample of the
        group's Maxwellian :math:`\\mathcal N(\\bar u, T I_d)`, with
        :math:`T = \\sum_i \\lVert c_i\\rVert^2 / (n d)` (unit mass, :math:`k_B = 1`);
        afterwards the group's peculiar velocities are shifted and rescaled by one
        common factor so that the group's momentum and kinetic energy equal their
        values before the step exactly. In expectation the distribution then follows
        :math:`f \\leftarrow \\lambda f + (1 - \\lambda) M[f]`, the exact solution of
        :math:`\\partial_t f = \\nu (M[f] - f)` over ``dt``; the fixed point is the
        Maxwellian at the initial temperature. Requires ``rng``.

    Parameters
    ----------
    v : array_like, shape (P, d) or (P,)
        Velocities; rows are particles (a 1-D array is P particles with d = 1).
    rate : float
        Relaxation rate (collision frequency) :math:`\\nu \\ge 0`.
    dt : float
        Time step :math:`\\Delta t \\ge 0`.
    groups : array_like of int, shape (P,), optional
        Group label of each particle: the mean (and temperature) is taken over each
        group separately, e.g. the rows of each weight matrix, or the entries of each
        matrix of a flat parameter vector (see :func:`group_labels`). Particles with a
        negative label are left unchanged. Default: all particles form one group.
    mode : {'deterministic', 'maxwellian'}, default 'deterministic'
        See above.
    rng : numpy.random.Generator, optional
        Required for ``mode='maxwellian'``.

    Returns
    -------
    ndarray
        Relaxed velocities, same shape as ``v``.
    """
    v_in = np.asarray(v, dtype=float)
    vp = _as_particles(v, "v")
    rate = _check_real(rate, "rate", low=0.0)
    dt = _check_real(dt, "dt", low=0.0)
    if mode not in BGK_MODES:
        raise ValueError(f"mode must be one of {BGK_MODES}, got {mode!r}")
    if mode == "maxwellian":
        _check_rng(rng)
    n, d = vp.shape
    inv, mask, n_groups = _group_index(groups, n)
    out = vp.copy()
    if n_groups == 0 or n == 0:
        return out.reshape(v_in.shape)

    vg = vp[mask]
    ubar = _group_mean(vg, inv, n_groups)[inv]         # group mean, per particle
    c = vg - ubar                                      # peculiar velocities
    lam = np.exp(-rate * dt)

    if mode == "deterministic":
        out[mask] = ubar + c * lam
        return out.reshape(v_in.shape)

    # Maxwellian (stochastic) BGK with exact momentum and energy restoration.
    counts = np.bincount(inv, minlength=n_groups).astype(float)
    energy = np.bincount(inv, weights=np.einsum("pd,pd->p", c, c), minlength=n_groups)
    temp = energy / (counts * d)
    resample = rng.random(vg.shape[0]) >= lam          # probability 1 - lam
    xi = rng.standard_normal(vg.shape)
    c_new = np.where(resample[:, None], np.sqrt(temp)[inv][:, None] * xi, c)
    c_new = c_new - _group_mean(c_new, inv, n_groups)[inv]          # momentum
    energy_new = np.bincount(inv, weights=np.einsum("pd,pd->p", c_new, c_new),
                             minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(energy_new > 0.0, np.sqrt(energy / energy_new), 0.0)
    out[mask] = ubar + scale[inv][:, None] * c_new                  # energy
    return out.reshape(v_in.shape)


# --------------------------------------------------------------------------- soft collision
SOFT_NORMALIZATIONS = ("mean", "sum")


def _unit_rows(a: np.ndarray, eps: float) -> np.ndarray:
    norms = np.sqrt(np.einsum("pd,pd->p", a, a))
    return a / np.maximum(norms, eps)[:, None]


def soft_collision(W, G, *, gamma_c: float = 0.1, exclude_self: bool = True,
                   normalize: str = "mean", eps: float = 1e-12) -> np.ndarray:
    """KO's soft collision of the gradient rows of one weight matrix.

    The rows :math:`w_i` of ``W`` are particles and the rows :math:`g_i` of ``G`` their
    gradients. Rows that point the same way *and* are pushed the same way repel:

    .. math::

        \\Delta g_i = -\\frac{1}{Z} \\sum_{j \\ne i}
            \\cos(w_i, w_j)\\, \\cos(g_i, g_j)\\, g_j, \\qquad
        \\tilde G = G + \\gamma_c\\, \\Delta G,

    computed for all rows at once as
    :math:`\\Delta G = -\\tfrac1Z\\,[(\\hat W \\hat W^\\top) \\odot (\\hat G \\hat G^\\top)
    - \\mathrm{diag}]\\, G` with row-normalised :math:`\\hat W, \\hat G`.

    The form is an *unverified third-party description* of KO (Feng et al.,
    arXiv:2505.14777, 2025); the paper's own definition was not available, and its
    scale in particular is unknown (the description says only "scaled"). The scale
    chosen here is ``normalize='mean'``: :math:`Z` is the number of other rows
    (:math:`P - 1`, or :math:`P` with ``exclude_self=False``), so
    :math:`\\lVert \\Delta g_i\\rVert \\le \\max_j \\lVert g_j\\rVert` whatever the layer
    width and ``gamma_c`` has the same meaning for every layer; ``normalize='sum'``
    gives the plain sum (:math:`Z = 1`).

    Properties (used by the tests): mutually orthogonal weight rows are left alone
    (:math:`\\tilde G = G`); the result depends on ``W`` only through the directions
    of its rows; and the update is deterministic, so it cannot split two rows that
    are identical in weight and gradient (it shrinks their common gradient instead)
    — breaking such a symmetry is left to the stochastic :func:`dsmc_collide`.

    Parameters
    ----------
    W : array_like, shape (P, n)
        Weight matrix; rows are particles.
    G : array_like, shape (P, n)
        Gradient of the loss with respect to ``W``.
    gamma_c : float, default 0.1
        Collision coefficient :math:`\\gamma_c \\ge 0`.
    exclude_self : bool, default True
        Leave out the :math:`j = i` term (which would shrink every row by
        :math:`\\gamma_c / Z`).
    normalize : {'mean', 'sum'}, default 'mean'
        Scale :math:`Z` (see above).
    eps : float, default 1e-12
        Floor on row norms; a zero row has cosine 0 with every row.

    Returns
    -------
    ndarray, shape (P, n)
        The modified gradient :math:`\\tilde G`.
    """
    Wa = np.asarray(W, dtype=float)
    Ga = np.asarray(G, dtype=float)
    if Wa.ndim != 2:
        raise ValueError(f"W must be a 2-D array (rows are particles), got shape {Wa.shape}")
    if Ga.shape != Wa.shape:
        raise ValueError(f"G must have the shape of W {Wa.shape}, got {Ga.shape}")
    if not (np.all(np.isfinite(Wa)) and np.all(np.isfinite(Ga))):
        raise ValueError("W and G must be finite")
    gamma_c = _check_real(gamma_c, "gamma_c", low=0.0)
    eps = _check_real(eps, "eps", low=0.0, low_open=True)
    if normalize not in SOFT_NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {SOFT_NORMALIZATIONS}, got {normalize!r}")

    p = Wa.shape[0]
    Wn = _unit_rows(Wa, eps)
    Gn = _unit_rows(Ga, eps)
    K = (Wn @ Wn.T) * (Gn @ Gn.T)
    if exclude_self:
        np.fill_diagonal(K, 0.0)
    z = 1.0
    if normalize == "mean":
        z = float(max(p - 1 if exclude_self else p, 1))
    return Ga - (gamma_c / z) * (K @ Ga)
