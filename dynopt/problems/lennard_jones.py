r"""Lennard-Jones clusters: energy, gradient, random starts, force criteria.

Reduced units :math:`\varepsilon = \sigma = 1`, every pair counted once, no cutoff
(J. E. Lennard-Jones, *Proc. R. Soc. Lond. A* 106, 463--477, 1924):

.. math::

    E(r_1, \dots, r_N) = \sum_{i<j} 4\left(r_{ij}^{-12} - r_{ij}^{-6}\right),
    \qquad r_{ij} = \lVert r_i - r_j \rVert .

Coordinates may be given flattened, shape ``(3N,)``, or as ``(N, 3)``; the gradient is
returned in the same shape as the input. Coincident atoms give an infinite or NaN energy
rather than an error, so a diverging optimizer stays observable. This is ASE's
``LennardJones(epsilon=1, sigma=1, smooth=False)`` with an infinite cutoff, not ASE's
default (cut and shifted at :math:`3\sigma`); the energies of :data:`LJ_GLOBAL_MINIMA` are
for the untruncated potential. :func:`max_atom_force` is ASE's ``fmax`` criterion,
:func:`force_l2` OptBench's, the stricter at the same threshold. Both comparisons, with
the figures, are in the ASE section of the Usage page (``docs/usage.md``).
"""

from __future__ import annotations

from numbers import Integral, Real

import numba
import numpy as np

__all__ = [
    "LJ_GLOBAL_MINIMA",
    "lj_energy",
    "lj_gradient",
    "lj_energy_and_gradient",
    "lj_energy_and_gradient_nb",
    "random_cluster",
    "counting_ase_calculator",
    "max_atom_force",
    "force_l2",
]

#: Putative global-minimum energies (ε = σ = 1, no cutoff) from the Cambridge
#: Cluster Database, D. J. Wales and J. P. K. Doye, "Global optimization by
#: basin-hopping and the lowest energy structures of Lennard-Jones clusters
#: containing up to 110 atoms", *J. Phys. Chem. A* 101, 5111--5116 (1997).
#: LJ13 is the Mackay icosahedron, LJ38 the fcc truncated octahedron.
LJ_GLOBAL_MINIMA = {13: -44.326801, 38: -173.928427}


def _as_positions(pos, name: str = "pos") -> tuple[np.ndarray, tuple]:
    """Return ``(positions as (N, 3) float64, original shape)``."""
    arr = np.asarray(pos)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    shape = arr.shape
    if arr.ndim == 1 and arr.size % 3 == 0 and arr.size >= 3:
        xyz = arr.reshape(-1, 3)
    elif arr.ndim == 2 and shape[1] == 3 and shape[0] >= 1:
        xyz = arr
    else:
        raise ValueError(
            f"{name} must have shape (3N,) or (N, 3) with N >= 1, got shape {shape}"
        )
    return xyz.astype(np.float64, copy=False), shape


def _pair_terms(xyz: np.ndarray):
    """Pair separations and the scalar factors of energy and gradient.

    Returns ``diff`` (N, N, 3) with ``diff[i, j] = r_i - r_j``, the pair energies
    ``4 (r^-12 - r^-6)`` and ``coef = -24 (2 r^-14 - r^-8)`` on an (N, N) grid
    whose diagonal is zero.
    """
    diff = xyz[:, None, :] - xyz[None, :, :]
    r2 = np.einsum("ijk,ijk->ij", diff, diff)
    np.fill_diagonal(r2, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv2 = 1.0 / r2
        inv6 = inv2 * inv2 * inv2
        inv12 = inv6 * inv6
        pair_energy = 4.0 * (inv12 - inv6)
        coef = -24.0 * (2.0 * inv12 - inv6) * inv2
    return diff, pair_energy, coef


def lj_energy(pos) -> float:
    r"""Total Lennard-Jones energy :math:`E` of a cluster.

    Parameters
    ----------
    pos : array_like, shape (3N,) or (N, 3)
        Atomic positions.

    Returns
    -------
    float
        :math:`\sum_{i<j} 4 (r_{ij}^{-12} - r_{ij}^{-6})`.

    Raises
    ------
    TypeError
        If ``pos`` is not a real numeric array.
    ValueError
        If ``pos`` does not have shape (3N,) or (N, 3).
    """
    xyz, _ = _as_positions(pos)
    _, pair_energy, _ = _pair_terms(xyz)
    return float(0.5 * pair_energy.sum())


def lj_gradient(pos) -> np.ndarray:
    r"""Gradient :math:`\nabla E` (minus the forces), same shape as ``pos``.

    Parameters
    ----------
    pos : array_like, shape (3N,) or (N, 3)
        Atomic positions.

    Returns
    -------
    numpy.ndarray
        :math:`\nabla E`, float64, shape of ``pos``.
    """
    return lj_energy_and_gradient(pos)[1]


def lj_energy_and_gradient(pos) -> tuple[float, np.ndarray]:
    r"""Energy and gradient in one vectorised pass over all pairs.

    Parameters
    ----------
    pos : array_like, shape (3N,) or (N, 3)
        Atomic positions.

    Returns
    -------
    energy : float
        :math:`E`.
    grad : numpy.ndarray
        :math:`\nabla E`, float64, shape of ``pos``.
    """
    xyz, shape = _as_positions(pos)
    diff, pair_energy, coef = _pair_terms(xyz)
    grad = np.einsum("ij,ijk->ik", coef, diff)
    return float(0.5 * pair_energy.sum()), grad.reshape(shape)


@numba.njit(cache=True)
def lj_energy_and_gradient_nb(x_flat, grad_out):
    r"""Numba twin of :func:`lj_energy_and_gradient` on flat coordinates.

    Parameters
    ----------
    x_flat : numpy.ndarray, shape (3N,)
        Positions ``[x_0, y_0, z_0, x_1, ...]``, float64 or float32.
    grad_out : numpy.ndarray, shape (3N,)
        Receives :math:`\nabla E` (overwritten).

    Returns
    -------
    float
        :math:`E`, accumulated in float64.
    """
    size = x_flat.shape[0]
    if size % 3 != 0:
        raise ValueError("x_flat must have a length divisible by 3")
    if grad_out.shape[0] != size:
        raise ValueError("grad_out must have the same length as x_flat")
    n = size // 3
    for k in range(size):
        grad_out[k] = 0.0
    energy = 0.0
    for i in range(n - 1):
        xi = np.float64(x_flat[3 * i])
        yi = np.float64(x_flat[3 * i + 1])
        zi = np.float64(x_flat[3 * i + 2])
        gx = 0.0
        gy = 0.0
        gz = 0.0
        for j in range(i + 1, n):
            dx = xi - x_flat[3 * j]
            dy = yi - x_flat[3 * j + 1]
            dz = zi - x_flat[3 * j + 2]
            inv2 = 1.0 / (dx * dx + dy * dy + dz * dz)
            inv6 = inv2 * inv2 * inv2
            inv12 = inv6 * inv6
            energy += 4.0 * (inv12 - inv6)
            coef = -24.0 * (2.0 * inv12 - inv6) * inv2
            gx += coef * dx
            gy += coef * dy
            gz += coef * dz
            grad_out[3 * j] -= coef * dx
            grad_out[3 * j + 1] -= coef * dy
            grad_out[3 * j + 2] -= coef * dz
        grad_out[3 * i] += gx
        grad_out[3 * i + 1] += gy
        grad_out[3 * i + 2] += gz
    return energy


def _per_atom(grad, name: str) -> np.ndarray:
    arr = np.asarray(grad)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if not ((arr.ndim == 1 and arr.size % 3 == 0 and arr.size > 0)
            or (arr.ndim == 2 and arr.shape[1] == 3 and arr.shape[0] > 0)):
        raise ValueError(
            f"{name} must have shape (3N,) or (N, 3) with N >= 1, got shape {arr.shape}"
        )
    return arr.reshape(-1, 3).astype(np.float64, copy=False)


def max_atom_force(grad) -> float:
    r"""Largest per-atom force norm :math:`\max_i \lVert F_i \rVert`.

    This is the convergence measure of ASE's optimizers (``fmax``).  The sign
    of the argument does not matter, so the gradient or the forces may be
    passed.

    Parameters
    ----------
    grad : array_like, shape (3N,) or (N, 3)
        Gradient :math:`\nabla E` (or forces).

    Returns
    -------
    float
    """
    per_atom = _per_atom(grad, "grad")
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", per_atom, per_atom))))


def force_l2(grad) -> float:
    r"""Euclidean norm :math:`\lVert F \rVert_2` of the whole 3N force vector.

    This is OptBench's convergence measure (threshold 0.01 for LJ38).

    Parameters
    ----------
    grad : array_like, shape (3N,) or (N, 3)
        Gradient :math:`\nabla E` (or forces).

    Returns
    -------
    float
    """
    return float(np.linalg.norm(_per_atom(grad, "grad")))


def random_cluster(
    n_atoms: int = 38,
    seed=None,
    *,
    density: float = 0.5,
    min_distance: float = 0.9,
    rng: np.random.Generator | None = None,
    max_tries: int = 100_000,
    flat: bool = False,
) -> np.ndarray:
    r"""Random non-overlapping cluster, uniformly inside a sphere.

    Atoms are placed one at a time at points drawn uniformly in a ball of
    volume :math:`V = N / \rho` (radius :math:`R = (3V / 4\pi)^{1/3}`,
    centred at the origin); a candidate closer than ``min_distance`` to an
    already placed atom is rejected and redrawn (random sequential
    addition).

    OptBench's own 1000 LJ38 starting structures (used by the Frankenstein
    and OptBench tables) are not available offline, so this seeded generator
    stands in for them; results on its starts are comparable with those tables
    only in distribution, not start by start.

    Parameters
    ----------
    n_atoms : int
        Number of atoms ``N >= 1`` (default 38).
    seed : int or None
        Seed of a fresh :func:`numpy.random.default_rng`; give either
        ``seed`` or ``rng``, not both.
    density : float
        Number density :math:`\rho` in :math:`\sigma^{-3}` (default 0.5,
        about half the density of the solid, so starts are loose but
        compact).
    min_distance : float
        Smallest allowed pair distance in :math:`\sigma` (default 0.9,
        where the pair energy is about +6.6, so no start begins deep inside
        the repulsive wall).  Must be below the spacing the density allows.
    rng : numpy.random.Generator, optional
        Generator to draw from (advanced in place).
    max_tries : int
        Total number of candidate draws before giving up (default 100000).
    flat : bool
        Return shape ``(3N,)`` instead of ``(N, 3)``.

    Returns
    -------
    numpy.ndarray
        Positions, float64, shape ``(N, 3)`` (or ``(3N,)`` when ``flat``).

    Raises
    ------
    ValueError
        On a bad argument, or when ``seed`` and ``rng`` are both given.
    RuntimeError
        If ``max_tries`` draws were not enough (density too high for
        ``min_distance``).
    """
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, Integral) or n_atoms < 1:
        raise ValueError(f"n_atoms must be a positive integer, got n_atoms = {n_atoms!r}")
    for name, value in (("density", density), ("min_distance", min_distance)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a real number, got {name} = {value!r}")
    if not (np.isfinite(density) and density > 0):
        raise ValueError(f"density must be positive and finite, got density = {density!r}")
    if not (np.isfinite(min_distance) and min_distance >= 0):
        raise ValueError(
            f"min_distance must be finite and >= 0, got min_distance = {min_distance!r}"
        )
    if isinstance(max_tries, bool) or not isinstance(max_tries, Integral) or max_tries < 1:
        raise ValueError(f"max_tries must be a positive integer, got max_tries = {max_tries!r}")
    if rng is not None and seed is not None:
        raise ValueError("give either seed or rng, not both")
    if rng is None:
        rng = np.random.default_rng(seed)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")

    n = int(n_atoms)
    radius = (3.0 * n / (4.0 * np.pi * density)) ** (1.0 / 3.0)
    min_d2 = float(min_distance) ** 2
    xyz = np.empty((n, 3))
    placed = 0
    tries = 0
    while placed < n:
        if tries >= max_tries:
            raise RuntimeError(
                f"random_cluster placed only {placed} of {n} atoms in {max_tries} draws; "
                f"lower density = {density!r} or min_distance = {min_distance!r}"
            )
        tries += 1
        # uniform in the ball: isotropic direction, radius ~ R u^(1/3)
        direction = rng.standard_normal(3)
        norm = np.linalg.norm(direction)
        if norm == 0.0:
            continue
        candidate = direction * (radius * rng.random() ** (1.0 / 3.0) / norm)
        if placed:
            d = xyz[:placed] - candidate
            if np.min(np.einsum("ij,ij->i", d, d)) < min_d2:
                continue
        xyz[placed] = candidate
        placed += 1
    return xyz.ravel() if flat else xyz


def counting_ase_calculator(rc: float = 1e3):
    r"""ASE's Lennard-Jones calculator with this module's energy, counting its evaluations.

    ``ase.calculators.lj.LennardJones(sigma=1, epsilon=1, rc=rc, smooth=False)``:
    with a cut-off far beyond the cluster (default :math:`10^3\sigma`) its energies
    and forces equal :func:`lj_energy_and_gradient`'s to round-off (ASE's default
    ``rc = 3`` shifts and truncates the pair potential). Its attribute ``calls``
    counts the energy-and-force evaluations ASE asked for (results ASE serves from
    its cache are not counted), so it measures an optimizer's force calls.

    Raises
    ------
    ImportError
        Without ASE, naming the extra to install.
    """
    try:
        from ase.calculators.lj import LennardJones
    except ImportError:
        raise ImportError("counting_ase_calculator needs ASE; install it with "
                          "`pip install dynopt-physics[ase]` (or `pip install ase`)") from None

    class CountingLennardJones(LennardJones):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0

        def calculate(self, *args, **kwargs):
            self.calls += 1
            super().calculate(*args, **kwargs)

    return CountingLennardJones(sigma=1.0, epsilon=1.0, rc=float(rc), smooth=False)

