r"""Any dynopt method as an ASE optimizer: :class:`DynOpt`.

.. code-block:: python

    from ase.optimize import FIRE
    from dynopt.ase import DynOpt

    opt = FIRE(atoms, logfile="relax.log", trajectory="relax.traj")
    opt = DynOpt(atoms, method="fire", logfile="relax.log", trajectory="relax.traj")
    opt = DynOpt(atoms, method="fanos", lr=0.03, grad_clip=0)   # or any other method
    opt.run(fmax=0.05, steps=500)

:class:`DynOpt` is an :class:`ase.optimize.optimize.Optimizer` (``run``, ``irun``, log,
trajectory and restart files, the convergence test are ASE's own) whose step drives the
method's :class:`dynopt.stepper.Stepper`, as :func:`dynopt.minimize` does, on the
flattened positions with gradient :math:`g = -F`: one force call at the start plus one
per step, and the same steps as ``minimize`` with ``norm=max_atom_force``. How a step
runs and the conventions compared with ``minimize`` are in the ASE section of the Usage
page (``docs/usage.md``). ASE is optional: importing this module without it raises an
:class:`ImportError` naming the extra (``pip install dynopt-physics[ase]``).
"""
from __future__ import annotations

import time

import numpy as np

try:
    from ase.optimize.optimize import Optimizer
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dynopt.ase needs the Atomic Simulation Environment (ASE); install it with "
        "`pip install dynopt-physics[ase]` (or `pip install ase`)") from _exc

from ._minimize import build_program
from .methods import get_method
from .stepper import stepper_for
from .systems.base import System

__all__ = ["DynOpt", "DEFAULT_MAXSTEP"]

#: ASE's default ``maxstep`` (Å): the largest move of any atom in one step
DEFAULT_MAXSTEP = 0.2

#: keyword arguments of ASE's Optimizer/Dynamics constructors passed through
_ASE_KEYWORDS = ("restart", "append_trajectory", "master", "comm", "loginterval")


def _plain(value):
    """A JSON-friendly version of a hyperparameter value."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        item = arr.item()
        return item if isinstance(item, (bool, int, float, str)) else str(item)
    return arr.tolist()


class DynOpt(Optimizer):
    """Run a dynopt method on an :class:`ase.Atoms` with ASE's optimizer API.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure to relax (or anything ASE optimizers accept, such as a
        filter).
    method : str, Method or System
        A registered dynopt method (``'fire'``, ``'fire2'``, ``'heavy_ball'``,
        ...; see :data:`dynopt.METHODS`) or a system object.
    logfile : file, str or None
        ASE's log: ``'-'`` for standard output, a file name, an open file, or
        ``None``.
    trajectory : str, Trajectory or None
        ASE trajectory file written after every step (readable with
        :func:`ase.io.read`).
    integrator : str or None
        Overrides the method's integrator (discrete rules take none).
    backend : {'numpy', 'numba', 'cupy'}
        Where the step kernels run.
    **hyperparameters
        The method's hyperparameters and structural flags (e.g. ``dt``,
        ``maxstep`` for ``'fire'``; ``lr``, ``momentum`` for ``'heavy_ball'``),
        ``seed`` for methods that draw random numbers, and ASE's own
        ``restart``, ``append_trajectory``, ``master``, ``comm``,
        ``loginterval``. ``maxstep`` (Å, default 0.2 as in ASE) bounds the move
        of any atom in one step, for every method: ``'fire'`` applies it as
        :class:`ase.optimize.FIRE` does (to the whole displacement, its own
        hyperparameter); for the others the step's displacement is scaled so
        that the atom that moves most moves ``maxstep`` (ASE's rule for BFGS
        and the like), and the velocity ``v`` of the state with it.

    Raises
    ------
    ValueError
        Unknown ``method`` or ``backend``, or a hyperparameter out of range.
    TypeError
        An unknown hyperparameter name or a non-numeric value.

    Notes
    -----
    Attributes beside ASE's: ``method`` (the name), ``hyperparameters`` (the
    values used), ``program`` (the step program), ``stepper`` (the
    :class:`dynopt.stepper.Stepper` that runs it) and ``state`` (the optimiser's
    :class:`dynopt.stepper.State`: arrays of shape ``(1, 3N)`` and ``(1, 1)``,
    ``None`` before the first step).
    """

    def __init__(self, atoms, method="fire", logfile="-", trajectory=None, integrator=None,
                 backend="numpy", **hyperparameters):
        ase_kwargs = {key: hyperparameters.pop(key) for key in _ASE_KEYWORDS
                      if key in hyperparameters}
        seed = hyperparameters.pop("seed", None)
        # Resolve everything before ASE opens (and truncates) any file.
        default_integrator = "symplectic_euler"
        if not isinstance(method, System):
            spec = get_method(method)
            default_integrator = spec.integrator
            valid = spec.hyperparameters(integrator)
            unknown = sorted(set(hyperparameters) - set(valid) - {"maxstep"})
            if unknown:
                raise TypeError(
                    f"DynOpt: unknown hyperparameter(s) {unknown} for method {spec.name!r}; "
                    f"valid: {sorted(set(valid) | {'maxstep'})} (and ASE's {list(_ASE_KEYWORDS)}, "
                    f"seed)")
        program, params, name = build_program(
            method, integrator, {k: v for k, v in hyperparameters.items() if k != "maxstep"})
        # ASE's maxstep: the program's own where it has one (FIRE's, as ASE's FIRE
        # applies it), else a cap on any atom's move applied here
        own = "maxstep" in params
        maxstep = hyperparameters.get("maxstep", params["maxstep"] if own else DEFAULT_MAXSTEP)
        if (isinstance(maxstep, (bool, np.bool_)) or not isinstance(maxstep, (int, float, np.number))
                or np.isnan(maxstep) or not maxstep > 0):
            raise ValueError(f"DynOpt: maxstep must be a positive number (Å; inf: no cap), "
                             f"got {maxstep!r}")
        if own and "maxstep" in hyperparameters:
            program, params, name = build_program(method, integrator, hyperparameters)
        #: the largest move of any atom in one step (Å)
        self.maxstep = float(maxstep)
        self._cap_here = not own
        self.program = program
        #: the step protocol this optimizer drives, shared with :func:`dynopt.minimize`
        self.stepper = stepper_for(program, name, backend, np.float64)
        self.backend = self.stepper.backend
        self.method = name
        #: the integrator's name (``None`` for a discrete rule)
        self.integrator = (default_integrator if integrator is None
                           else getattr(integrator, "name", integrator))
        self.hyperparameters = dict(params)
        self.seed = seed
        self.state = None
        self._k = 0
        self._restored = None
        super().__init__(atoms, logfile=logfile, trajectory=trajectory, **ase_kwargs)

    # ------------------------------------------------------------ ASE's hooks
    def initialize(self):
        """Forget the optimiser state: the next step starts afresh (``k = 0``)."""
        self.state = None
        self._k = 0
        self._restored = None

    def read(self):
        """Restore the state saved in the ``restart`` file."""
        data = self.load()
        self._k = int(data["k"])
        self._restored = {key: np.asarray(val, dtype=float) for key, val in data["state"].items()}

    def todict(self):
        description = super().todict()
        description.update({
            "method": self.method,
            "integrator": self.integrator,
            "backend": self.backend.name,
            "maxstep": self.maxstep,
            "hyperparameters": {key: _plain(val) for key, val in self.hyperparameters.items()},
        })
        return description

    def log(self, gradient=None):
        """One line per step in ASE's format, labelled ``DynOpt[<method>]``."""
        if gradient is None:
            gradient = self._gradient()
        norm = getattr(self.optimizable, "gradient_norm", None)
        fmax = float(norm(gradient) if norm is not None else
                     np.sqrt(np.max(np.sum(np.reshape(gradient, (-1, 3)) ** 2, axis=1))))
        energy = self._energy()
        label = f"DynOpt[{self.method}]"
        if self.nsteps == 0:
            self.logfile.write(f"{'':{len(label)}s}  {'Step':>4s} {'Time':>8s} {'Energy':>15s}"
                               f"  {'fmax':>12s}\n")
        clock = time.strftime("%H:%M:%S", time.localtime())
        self.logfile.write(f"{label}:  {self.nsteps:3d} {clock} {energy:15.6f} {fmax:15.6f}\n")

    def step(self, f=None):
        """One step of the method; ``f`` (forces at the current positions) is optional."""
        stepper = self.stepper
        x = np.asarray(self._positions(), dtype=float)
        g = (-np.asarray(f, dtype=float).ravel() if f is not None else self._gradient())
        energy = self._energy()
        if self.state is None:
            self._start(x, g, energy)
        else:  # the atoms may have been moved between steps: the state follows them
            self._follow(x, g, energy)
        new_x = np.array(self.backend.to_numpy(stepper.before(self.state, self._k))[0],
                         dtype=float)
        if not np.all(np.isfinite(new_x)):
            raise FloatingPointError(
                f"DynOpt[{self.method}]: step {self._k} produced non-finite positions; "
                f"lower the time step or learning rate ({self.hyperparameters})")
        if self._cap_here:
            new_x = self._cap_move(x, new_x)
        self._set_positions(new_x)
        # constraints may have adjusted the positions: the state follows the atoms
        self.state.arrays["x"] = self._on_backend(self._positions())
        g_new = self._gradient()                      # the step's one force call
        stepper.after(self.state, self._energy(), g_new[None, :])
        self._k += 1
        if self.restart is not None:
            self.dump({"k": self._k, "state": self._state_arrays()})

    # ------------------------------------------------------------- internals
    def _cap_move(self, x, new_x):
        """Scale the step so that no atom moves more than ``maxstep`` (ASE's rule).

        The velocity ``v`` of the state, where the method has one, is scaled by
        the same factor, so that it stays the velocity of the move taken.
        """
        dr = new_x - x
        longest = float(np.sqrt(np.max(np.sum(dr.reshape(-1, 3) ** 2, axis=1)))) if dr.size else 0.0
        if not longest > self.maxstep:
            return new_x
        scale = self.maxstep / longest
        S = self.state.arrays
        if "v" in self.stepper.vectors and "v" in S:
            S["v"] = S["v"] * scale
        return x + scale * dr

    def _on_backend(self, x):
        """``x`` as a ``(1, 3N)`` state array on the stepper's backend (a copy)."""
        return self.stepper.xp.asarray(np.array(x, dtype=float).reshape(1, -1))

    def _start(self, x, g, energy):
        self.state = self.stepper.init(x[None, :], energy, g[None, :], self.hyperparameters,
                                       seed=self.seed)
        if self._restored is not None:
            S = self.state.arrays
            for key, val in self._restored.items():
                if key in S and key not in ("x", "g", "f", "N", "rng"):
                    S[key] = self.stepper.xp.asarray(np.reshape(val, np.shape(S[key])))
            self._restored = None

    def _follow(self, x, g, energy):
        """Set the state's position, gradient and energy to the atoms' current ones."""
        S = self.state.arrays
        S["x"] = self._on_backend(x)
        S["g"] = self._on_backend(g)
        S["f"][...] = energy

    def _state_arrays(self):
        exported = self.stepper.export(self.state)
        return {key: np.asarray(val).tolist() for key, val in exported.items()}

    # ASE >= 3.24 talks to an Optimizable through get_x/set_x/get_gradient;
    # older releases through positions and forces.
    def _positions(self):
        opt = self.optimizable
        return opt.get_x() if hasattr(opt, "get_x") else opt.get_positions().ravel()

    def _set_positions(self, x):
        opt = self.optimizable
        if hasattr(opt, "set_x"):
            opt.set_x(x)
        else:
            opt.set_positions(x.reshape(-1, 3))

    def _gradient(self):
        opt = self.optimizable
        if hasattr(opt, "get_gradient"):
            return np.asarray(opt.get_gradient(), dtype=float).ravel()
        return -np.asarray(opt.get_forces(), dtype=float).ravel()

    def _energy(self):
        opt = self.optimizable
        return float(opt.get_value() if hasattr(opt, "get_value") else opt.get_potential_energy())
