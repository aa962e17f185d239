"""Benchmark objective functions: Rosenbrock, convex quadratics, Lennard-Jones clusters.

Every problem offers NumPy functions (value, gradient, both in one pass) and,
where whole runs are compiled, Numba twins with an ``_nb`` suffix.
"""

from dynopt.problems.lennard_jones import (
    LJ_GLOBAL_MINIMA,
    counting_ase_calculator,
    force_l2,
    lj_energy,
    lj_energy_and_gradient,
    lj_energy_and_gradient_nb,
    lj_gradient,
    max_atom_force,
    random_cluster,
)
from dynopt.problems.quadratic import Quadratic
from dynopt.problems.rosenbrock import (
    rosenbrock,
    rosenbrock_fun_and_grad,
    rosenbrock_fun_and_grad_nb,
    rosenbrock_grad,
    rosenbrock_grad_nb,
    rosenbrock_nb,
)

__all__ = [
    "LJ_GLOBAL_MINIMA",
    "Quadratic",
    "counting_ase_calculator",
    "force_l2",
    "lj_energy",
    "lj_energy_and_gradient",
    "lj_energy_and_gradient_nb",
    "lj_gradient",
    "max_atom_force",
    "random_cluster",
    "rosenbrock",
    "rosenbrock_fun_and_grad",
    "rosenbrock_fun_and_grad_nb",
    "rosenbrock_grad",
    "rosenbrock_grad_nb",
    "rosenbrock_nb",
]
