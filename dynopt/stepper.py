"""The step protocol: one object per (method, integrator, backend, dtype).

A `Stepper` owns a step program and the kernels a backend compiled from it.
A loop drives three calls:

    stepper = get_stepper("fanos", backend="numba")
    state = stepper.init(X0, F0, G0, params, seed=0)   # a State
    for k in range(steps):
        X = stepper.before(state)                        # stages before the gradient
        F, G = objective(X)                              # the step's one evaluation
        stepper.after(state, F, G)                       # stages after it

`Stepper.step` does the three in one call for a given objective.
`get_stepper` builds a stepper once per process and key: the SymPy
derivation and the code generation run on the first call only.
"""
from __future__ import annotations

import numpy as np

__all__ = ["State", "Stepper", "get_stepper", "stepper_for", "resolve_program", "clear_caches",
           "forget_method", "fold_zero_params",
           "FUSED_THRESHOLD", "FUSED_NAMES", "SMALL_THRESHOLD"]

#: coordinates from which a lone run on the Numba backend steps with the fused program
FUSED_THRESHOLD = 2**16

#: coordinates below which a lone run on the Numba backend steps with the NumPy
#: single-member kernels (the backend's default ``small_threshold``)
SMALL_THRESHOLD = 1024

#: the state entries the fused program adds (`dynopt.loop_fusion`): the position before
#: the step and the squared length of the new one
FUSED_NAMES = ("loop_xprev", "loop_xx")


class State:
    """The optimiser's state between steps.

    Attributes
    ----------
    arrays : dict
        Name -> array, the mapping the generated kernels read and write:
        per-coordinate entries of shape ``(batch, n)``, scalar entries of shape
        ``(batch, 1)``, and the constants ``N`` (number of coordinates) and
        ``rng`` (the run's ``numpy.random.Generator``, for programs that draw).
    params : dict
        Hyperparameter name -> number or ``(batch, 1)`` array on the backend.
    """

    __slots__ = ("arrays", "params", "kernels", "fresh_x", "fused")

    def __init__(self, arrays: dict, params: dict, kernels=None, fresh_x=False, fused=False):
        self.arrays = arrays
        self.params = params
        #: the kernels that step this state (``before``, ``after``)
        self.kernels = kernels
        #: whether ``before`` leaves the previous position array untouched
        self.fresh_x = fresh_x
        #: whether the kernels run the fused program (`dynopt.loop_fusion`): they write
        #: the new position out of place and its squared length into ``loop_xx``
        self.fused = fused

    @property
    def x(self):
        """The position, shape ``(batch, n)``."""
        return self.arrays["x"]

    @property
    def g(self):
        """The gradient at :attr:`x`."""
        return self.arrays["g"]

    @property
    def batch(self) -> int:
        return self.arrays["x"].shape[0]

    def __getitem__(self, name):
        return self.arrays[name]

    def __contains__(self, name):
        return name in self.arrays


class Stepper:
    """A step program compiled for one backend and dtype.

    Parameters
    ----------
    program : StepProgram
    backend : Backend
    dtype : numpy dtype
        float64 or float32: the dtype of every state array.
    name : str
        The method's name, for results and messages.

    Notes
    -----
    ``vectors`` names the per-coordinate entries of the state (the program's
    state vectors and the temporaries carried over the gradient evaluation),
    ``scalars`` the rest (without ``N`` and ``rng``).

    A run of one member whose program has no Custom stages steps with the
    single-member kernels (`NumpyBackend.compile_single`: scalars as
    Python numbers) on the NumPy backend, and on the Numba backend when it has
    fewer than ``small_threshold`` coordinates (there a Numba call costs more
    than the few NumPy operations of the step). ``State.fresh_x`` says
    whether ``before`` leaves the previous position array untouched (the NumPy
    kernels assign new arrays), so that a caller may keep a reference to an
    earlier position instead of a copy.

    A lone run on the Numba backend with at least ``fused_threshold``
    coordinates (:data:`FUSED_THRESHOLD`) whose `init` asks for it (``fuse``)
    steps with the program of `dynopt.loop_fusion.fused_program`: the
    kernels then also compute the squared length of the new position
    (``state['loop_xx']``) and write the new position out of place, into the
    buffer ``state['x']`` points to, reading the old one from
    ``state['loop_xprev']`` (`before` swaps the two).

    The single-member kernels of a run whose hyperparameters stay as they are
    (`init` with ``constant_params``) are generated with the hyperparameters that
    are exactly zero folded in (:func:`fold_zero_params`): Adam without weight
    decay steps without the term ``weight_decay*x``. With finite operands the
    folded terms are exact zeros, so the values are the same to round-off.
    """

    #: coordinates from which a lone Numba run steps with the fused program
    fused_threshold = FUSED_THRESHOLD

    def __init__(self, program, backend, dtype=np.float64, name=None):
        from .program import Custom, uses_noise, x as x_symbol
        self.program = program
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.name = name or program.name
        self.kernels = backend.compile(program)
        self.xp = backend.xp
        self.to_numpy = backend.to_numpy
        self.vectors = tuple(sorted(s.name for s in program.elementwise_symbols()))
        self._vector_set = frozenset(self.vectors)
        self._host = backend.name in ("numpy", "numba")  # state arrays are NumPy arrays
        self.scalars = tuple(s.name for s in program.state_scalars)
        self._writes_x = any(isinstance(st, Custom) and x_symbol in st.writes
                             for st in program.stages)
        self.has_after = bool(program.after_gradient)
        #: whether the program draws noise (its state then holds ``noise_key``)
        self.noise = uses_noise(program)
        #: whether the state holds the run's generator ``rng`` (Custom stages draw from
        #: it, noise keys come from it); other programs skip making one
        self.draws = self.noise or any(isinstance(st, Custom) for st in program.stages)
        self._single: dict = {}  # zero hyperparameters -> single-member kernels (or None)
        self._fused = False  # not built yet
        self._param_names = frozenset(s.name for s in program.params)

    def single_kernels(self, zeros=()):
        """The single-member NumPy kernels, or ``None`` (Custom stages); with the
        hyperparameters named in ``zeros`` folded in as zeros."""
        kernels = self._single.get(zeros, False)
        if kernels is False:
            from .backends.numpy_backend import NumpyBackend
            program = fold_zero_params(self.program, zeros) if zeros else self.program
            kernels = self._single[zeros] = NumpyBackend().compile_single(program)
        return kernels

    def zero_params(self, params: dict) -> tuple:
        """The names of the hyperparameters in ``params`` that are the number zero."""
        names = self._param_names
        zeros = [name for name, v in params.items()
                 if type(v) in (float, int) and v == 0 and name in names]
        return tuple(sorted(zeros)) if zeros else ()

    def kernels_for(self, batch: int, n: int, zeros=()):
        """``(kernels, fresh_x)`` that step a state of ``batch`` members of ``n`` coordinates
        (``zeros``: the hyperparameters the single-member kernels may fold in as zeros)."""
        name = self.backend.name
        small = name == "numpy" or (name == "numba" and
                                    n < getattr(self.backend, "small_threshold", 0))
        if batch == 1 and small and self.single_kernels() is not None:
            return self.single_kernels(zeros), not self._writes_x
        return self.kernels, name == "numpy" and not self._writes_x

    def fused_kernels(self):
        """The kernels of the fused program, or ``None`` where it does not apply."""
        if self._fused is False:
            from .loop_fusion import fused_program
            program = fused_program(self.program)
            self._fused = None if program is None else self.backend.compile(program)
        return self._fused

    # ------------------------------------------------------------ protocol
    def init(self, X0, F0, G0, params: dict, seed=None, fuse=False,
             constant_params=False) -> State:
        """The state at ``X0`` (shape ``(batch, n)``) with objective ``F0`` and gradient ``G0``.

        With ``fuse``, a lone Numba run of at least ``fused_threshold``
        coordinates gets the fused kernels (see the class notes) where the
        program allows them. With ``constant_params`` (the caller never changes
        ``state.params``), single-member kernels fold the zero hyperparameters in.
        """
        xp, dtype = self.xp, self.dtype
        B, n = X0.shape
        arrays = {"x": xp.asarray(np.array(X0, dtype=dtype)),
                  "g": xp.asarray(np.asarray(G0, dtype=dtype).reshape(B, n)),
                  "f": xp.asarray(np.array(F0, dtype=dtype).reshape(B, 1)),
                  "k": xp.asarray(np.zeros((B, 1), dtype=dtype)), "N": float(n)}
        if self.draws:
            arrays["rng"] = np.random.default_rng(seed)
        P = dict(params) if xp is np else {
            k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
        fused = None
        if fuse and B == 1 and self.backend.name == "numba" and n >= self.fused_threshold:
            fused = self.fused_kernels()
        if fused is not None:
            fused.init(arrays, P)
            self._set_noise_keys(arrays)
            return State(arrays, P, fused, False, True)
        self.kernels.init(arrays, P)
        self._set_noise_keys(arrays)
        zeros = self.zero_params(params) if constant_params and B == 1 else ()
        kernels, fresh = self.kernels_for(B, n, zeros)
        return State(arrays, P, kernels, fresh)

    def _set_noise_keys(self, arrays: dict) -> None:
        """The members' noise keys (`dynopt.backends._noise.member_keys`) from the
        run's generator, for programs with Noise stages."""
        if self.noise:
            from .backends._noise import member_keys
            keys = member_keys(arrays["rng"], arrays["x"].shape[0])
            arrays["noise_key"] = self.xp.asarray(keys.astype(self.dtype))

    def substate(self, state: State, arrays: dict, params: dict) -> State:
        """A state over some members of ``state`` (their arrays and hyperparameters).

        It steps with the kernels of ``state``: a member of a batch keeps the batch's
        kernels to its end, so that its numbers do not depend on when the others stop
        (the single-member kernels agree with them to round-off only)."""
        return State(arrays, params, state.kernels, state.fresh_x)

    def before(self, state: State, step=None):
        """Run the stages before the gradient; returns the new position (backend array)."""
        S = state.arrays
        if step is not None:
            S["k"][...] = step
        if state.fused:  # the new position goes into the other buffer
            S["loop_xprev"], S["x"] = S["x"], S["loop_xprev"]
        state.kernels.before(S, state.params)
        return S["x"]

    def after(self, state: State, F, G) -> None:
        """Set the objective ``F`` (a number, or (batch,)) and gradient ``G`` (batch, n)
        at the new position and run the stages after the gradient."""
        S = state.arrays
        S["g"] = self.xp.asarray(G, dtype=self.dtype)
        if isinstance(F, float):
            S["f"][0, 0] = F
        else:
            S["f"] = np.asarray(F, dtype=self.dtype).reshape(-1, 1)
        if self.has_after:
            state.kernels.after(S, state.params)

    def step(self, state: State, evaluate, step=None):
        """One whole step: ``before``, ``F, G = evaluate(X)``, ``after``; returns ``(F, G)``."""
        X = self.before(state, step)
        F, G = evaluate(X)
        self.after(state, F, G)
        return F, G

    def energies(self, state: State) -> dict:
        """The program's diagnostics (kinetic, thermostat ... energies), name -> (batch, 1)."""
        return self.kernels.energies(state.arrays, state.params)

    def export(self, state: State, batched: bool = True, copy: bool = True) -> dict:
        """The state as plain NumPy values: per-coordinate arrays, scalars as floats
        (one per member when ``batched``). ``copy=False``: host arrays are returned
        themselves (for a state that is not stepped again)."""
        out = {}
        vectors, skip = self._vector_set, _NOT_EXPORTED
        own = not copy and self._host
        for key, val in state.arrays.items():
            if key in skip:
                continue
            arr = val if own and type(val) is np.ndarray else np.array(
                self.to_numpy(val), copy=True if copy else None)
            if key in vectors:
                out[key] = arr if batched else arr[0]
            else:
                out[key] = arr[:, 0] if batched else arr[0, 0].item()
        return out

    def __repr__(self):
        return (f"Stepper({self.name!r}, backend={self.backend.name!r}, "
                f"dtype={self.dtype.name})")


def fold_zero_params(program, names):
    """``program`` with the hyperparameters ``names`` replaced by zero, or ``program``
    itself where that would divide by zero (a ``1/Q`` with ``Q = 0`` must stay as the
    kernels compute it)."""
    import sympy as sp
    folded = program.substitute({name: 0 for name in names})
    exprs = [e for st in folded.stages for _, e in getattr(st, "assignments", ())]
    exprs += [st.expr for st in folded.stages if hasattr(st, "expr")]
    return program if any(e.has(sp.zoo, sp.nan) for e in exprs) else folded


#: state entries that are not part of the exported state
_NOT_EXPORTED = frozenset(("N", "rng", *FUSED_NAMES))


# ---------------------------------------------------------------- caches
_PROGRAMS: dict = {}
_STEPPERS: dict = {}


def _identity(obj):
    """A hashable key for a method, system or integrator given by name or object."""
    if obj is None or isinstance(obj, str):
        return obj
    return ("id", id(obj))


def resolve_program(method, integrator=None, flags=None):
    """``(program, spec, name)`` for a method name, a ``Method`` or a ``System`` under
    ``integrator``, built once per process."""
    flags = dict(flags or {})
    try:
        key = (_identity(method), _identity(integrator), tuple(sorted(flags.items())))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _PROGRAMS:
        return _PROGRAMS[key][:3]
    from .methods import Method, get_method, system_method
    from .systems.base import System
    if isinstance(method, System):
        if flags:
            raise TypeError(f"system {method.name!r} takes no structural option(s) {sorted(flags)}")
        program = system_method(method, "symplectic_euler" if integrator is None else integrator)
        spec = Method(method.name, None, integrator="symplectic_euler")
        name = method.name
    else:
        spec = get_method(method)
        program = spec.program(integrator, **flags)
        name = spec.name
    if key is not None:
        # the objects keyed by identity are kept alive with the entry
        _PROGRAMS[key] = (program, spec, name, method, integrator)
    return program, spec, name


def _backend_key(backend):
    parts = [backend.name]
    for attr in ("parallel", "parallel_threshold", "small_threshold", "cache_dir"):
        if hasattr(backend, attr):
            parts.append(str(getattr(backend, attr)))
    return tuple(parts)


def get_stepper(method, integrator=None, backend="numpy", dtype=np.float64, flags=None) -> Stepper:
    """The `Stepper` for ``method`` under ``integrator`` on ``backend`` in ``dtype``.

    Built on the first call with a key and returned from an in-process cache on
    every later one (the generated code is also cached on disk by the backend).
    """
    program, _, name = resolve_program(method, integrator, flags)
    return stepper_for(program, name, backend, dtype)


def stepper_for(program, name, backend="numpy", dtype=np.float64) -> Stepper:
    """The `Stepper` of an already resolved ``program`` (see `resolve_program`), from the
    same in-process cache as `get_stepper`."""
    from .backends import get_backend
    be = get_backend(backend)
    dtype = np.dtype(dtype)
    key = (id(program), _backend_key(be), dtype.str)
    hit = _STEPPERS.get(key)
    if hit is None:  # the program is kept with its stepper, so its id is not reused
        hit = _STEPPERS[key] = (Stepper(program, be, dtype, name), program)
    return hit[0]


def forget_method(name: str) -> None:
    """Forget the programs built for the method named ``name`` (after it is replaced or
    removed from the registry); their steppers go with them."""
    for key in [k for k in _PROGRAMS if k[0] == name]:
        program = _PROGRAMS.pop(key)[0]
        for skey in [s for s in _STEPPERS if s[0] == id(program)]:
            del _STEPPERS[skey]


def clear_caches() -> None:
    """Forget every built program and stepper, and the warm-start records read or
    written (:mod:`dynopt.warm`; the on-disk cache is kept)."""
    from .warm import forget
    _PROGRAMS.clear()
    _STEPPERS.clear()
    forget()
