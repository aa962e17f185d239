r"""Every dynopt method as a ``torch.optim.Optimizer``.

:class:`Optimizer` steps PyTorch parameters with a method's step program
(:mod:`dynopt.program`): the program's stages are printed as ``torch``
operations (:mod:`dynopt.backends.torch_source`), so that FANoS, FIRE, the
heavy ball, Adam ... run in an ordinary training loop::

    opt = dynopt.torch.Optimizer(model.parameters(), method="fanos", lr=3e-3)
    for xb, yb in loader:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()

How a dynopt step maps to ``step()``
------------------------------------
A dynopt step runs the stages before its gradient evaluation (they move
:math:`x`), evaluates the gradient at the new :math:`x`, then runs the stages
after it. ``step()`` is called after ``loss.backward()`` with the gradient at
the current parameters, so

* the first ``step()`` sets the state from the program's initial values
  (``program.vectors``, ``program.scalars``) with that gradient and runs the
  stages before the gradient: the parameters move to :math:`x_1`;
* every later ``step()`` first runs the stages after the gradient of the
  previous step with the new gradient (at :math:`x_k`), then the stages
  before the gradient of the next step.

After :math:`K` calls the parameters are the iterate :math:`x_K` of
:func:`dynopt.minimize` with the same hyperparameters.

Parameter groups
----------------
A group's tensors are one flat vector: each step concatenates them (and
their gradients and state) into one vector of :math:`n` coordinates, so that
a reduction of the program (FANoS's kinetic temperature
:math:`T = \frac{1}{n}\sum_i m_i v_i^2`, FIRE's power :math:`P = F\cdot v`)
runs over the whole group, and a group's run equals
:func:`dynopt.minimize` on the concatenated vector. Groups are independent
runs; each may override the method's hyperparameters (``lr`` ...).

Noise
-----
A program with :class:`~dynopt.program.Noise` stages (Langevin dynamics)
draws the counter-based normals of :mod:`dynopt.backends._noise` on the CPU
in NumPy and converts them: group ``j`` gets the ``j``-th key of
:func:`~dynopt.backends._noise.member_keys` of ``numpy.random.default_rng(seed)``,
so that group 0 draws the same numbers as ``dynopt.minimize(...,
options={'seed': seed})``.

Python stages
-------------
A :class:`~dynopt.program.Custom` stage (KO's soft collisions, the DSMC and
BGK collisions) runs between the printed kernels on NumPy copies of what it
reads, shaped as under :func:`dynopt.minimize` (one member: ``(1, n)`` and
``(1, 1)``), with the group's ``numpy.random.Generator`` (group 0's is
``numpy.random.default_rng(seed)``, as a lone ``minimize`` run's); what it
writes comes back as tensors of the group's dtype and device. Such a step
goes through host memory. Sparse gradients are not supported.
"""
from __future__ import annotations

import numpy as np

from ._optional import import_torch
from .backends import torch_runtime as runtime

__all__ = ["Optimizer"]

#: the ``torch`` module, bound when :class:`Optimizer` is first asked for
torch = None


#: the state entry (of a group's first parameter) holding the index ``k`` of the step
#: whose stages after the gradient are pending; program symbols never start with ``_``
_STEP = "_step"
#: ... and the generator of a program with Python stages (a numpy.random.Generator)
_RNG = "_rng"

def _import_torch():
    return import_torch("dynopt.torch")


# ---------------------------------------------------------------- optimiser
def _flat(tensors):
    """One flat vector of ``tensors``: a view of a lone tensor, else their concatenation."""
    if len(tensors) == 1:
        return tensors[0].reshape(-1)
    import torch
    return torch.cat([t.reshape(-1) for t in tensors])


class _OptimizerMethods:
    r"""A dynopt method as a ``torch.optim.Optimizer``.

    Parameters
    ----------
    params : iterable
        Tensors, or dicts defining parameter groups (``{'params': [...],
        'lr': 1e-2}``), as for every ``torch.optim`` optimiser.
    method : str or dynopt.methods.Method
        A registered method (``dynopt.METHODS``): ``'fanos'``, ``'fire'``,
        ``'heavy_ball'``, ``'adam'`` ...
    integrator : str, optional
        The integrator of a method derived from a continuous system
        (default: the method's own); discrete rules take none.
    seed : int, optional
        Seed of the noise keys, for methods with Noise stages (Langevin),
        and of the generator of Python stages (KO's DSMC collisions).
    backend : {'auto', 'numba', 'torch'}
        How a group on the CPU is stepped: ``'numba'``, the Numba backend's
        compiled kernels in place on the tensors' memory (one pass over the
        state, as ``torch.optim.Adam(fused=True)``); ``'torch'``, the
        program printed as ``torch`` operations (any device); ``'auto'``
        (default): Numba for CPU groups when Numba is installed, else
        ``torch``. Groups on other devices always use ``'torch'``.
    **hyperparameters
        The method's hyperparameters (defaults from its step program,
        ``dynopt.METHODS[method].hyperparameters()``), the defaults of every
        group; structural options of the method (``betas``, ``amsgrad``,
        ``centered`` ...) select the program and hold for all groups.

    Notes
    -----
    ``step()`` follows the mapping of :mod:`dynopt.torch`: the parameter
    sequence equals the iterates of :func:`dynopt.minimize`. The state of a
    group lives in ``self.state``: each parameter's share of the
    per-coordinate state under the program's names (``v``, ``exp_avg`` ...,
    shaped like the parameter); the group's scalars (FANoS's ``zeta``,
    FIRE's ``alpha`` ...) and the step index ``_step`` with its first
    parameter. ``state_dict()``/``load_state_dict()`` carry all of it.
    """

    def __init__(self, params, method="fanos", integrator=None, *, seed=None,
                 backend="auto", **hyperparameters):
        from .methods import get_method
        from .stepper import resolve_program
        spec = get_method(method)
        flags = {k: hyperparameters.pop(k) for k in list(hyperparameters)
                 if k in spec.flags}
        program, spec, name = resolve_program(method, integrator, flags)
        if backend not in runtime.BACKENDS:
            raise ValueError(f"dynopt.torch.Optimizer: backend must be one of "
                             f"{runtime.BACKENDS}, got {backend!r}")
        self._ns = runtime.kernels(program, torch)
        self.backend = backend
        self._numba = None if backend == "torch" else runtime.numba_kernels(program, backend)
        self.program, self.method, self.method_name = program, spec, name
        self.integrator = integrator
        self.flags = flags
        self._symbols = {s.name: s for s in program.params}
        valid = sorted(self._symbols)
        unknown = sorted(set(hyperparameters) - set(valid))
        if unknown:
            raise TypeError(
                f"dynopt.torch.Optimizer: method {name!r} has no hyperparameter "
                f"{unknown[0]!r}; valid: {valid} and the options {sorted(spec.flags)}")
        defaults = {**program.param_defaults(), **hyperparameters}
        if seed is not None and (not isinstance(seed, (int, np.integer))
                                 or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"dynopt.torch.Optimizer: seed must be None or a "
                             f"non-negative integer, got {seed!r}")
        self._seed = seed
        self._vectors = {s.name for s in program.elementwise_symbols()}
        from .backends.torch_source import reads_objective
        from .program import uses_noise
        self._reads_f = reads_objective(program)
        self._noise = uses_noise(program)
        self._has_after = bool(program.after_gradient)
        from .program import Custom
        # Python stages (KO's collisions, DSMC) may draw from the run's generator
        self._custom = any(isinstance(st, Custom) for st in program.stages)
        super().__init__(params, defaults)

    # ---------------------------------------------------------- groups
    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        where = (f"dynopt.torch.Optimizer({self.method_name!r}), parameter group "
                 f"{len(self.param_groups) - 1}")
        for key in self.method.flags:
            if key in group:
                raise ValueError(f"{where}: {key!r} is a structural option of the method "
                                 "(it changes the step program); give it to the "
                                 "optimizer, not to a group")
        for name in self._symbols:
            self._check_value(where, name, group[name])
        dtypes = {p.dtype for p in group["params"]}
        devices = {p.device for p in group["params"]}
        if any(not d.is_floating_point for d in dtypes):
            raise TypeError(f"{where}: parameters must be real floating-point tensors, "
                            f"got dtypes {sorted(map(str, dtypes))}")
        if len(dtypes) > 1 or len(devices) > 1:
            raise TypeError(f"{where}: the tensors of a group are stepped as one vector and "
                            f"must share a dtype and device, got {sorted(map(str, dtypes))} "
                            f"on {sorted(map(str, devices))}; split them into groups")

    def _check_value(self, where, name, value):
        from .methods import check_value
        if value is None:
            raise TypeError(f"{where}: hyperparameter {name!r} has no default; give it")
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        check_value(where, self._symbols[name], value, self.method.bounds.get(name))

    # ------------------------------------------------------------ step
    def step(self, closure=None):
        """One step of the method for every group; returns ``closure()``'s loss.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (after its
            ``backward()``): it is called first, with gradients enabled,
            and its loss is the objective value ``f`` of the program.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for j, group in enumerate(self.param_groups):
            self._step_group(j, group, loss)
        return loss

    def _step_group(self, j, group, loss):
        params = group["params"]
        if not params:
            return
        where = f"dynopt.torch.Optimizer({self.method_name!r}), parameter group {j}"
        for i, p in enumerate(params):
            if p.grad is None:
                raise RuntimeError(
                    f"{where}: parameter {i} (shape {tuple(p.shape)}) has no gradient; "
                    "a group is stepped as one vector (its reductions run over all of "
                    "it), so every parameter needs one (call backward() first, or leave "
                    "parameters without gradients out of the optimizer)")
            if p.grad.is_sparse:
                raise RuntimeError(f"{where}: parameter {i} has a sparse gradient; "
                                   "dynopt.torch does not support sparse gradients")
        first = params[0]
        dtype, device = first.dtype, first.device
        if self._numba is not None and device.type == "cpu":
            self._step_group_numba(j, group, params, loss, where)
            return
        # one tensor: views, no copies (the kernels never write their inputs in place)
        x = _flat([p.detach() for p in params])
        g = _flat([p.grad.detach().to(dtype) for p in params])
        fval = self._objective_value(loss, where)
        P = {name: torch.as_tensor(group[name], dtype=dtype, device=device)
             for name in self._symbols}
        scalar = lambda v: torch.tensor(v, dtype=dtype, device=device)  # noqa: E731
        S = {"x": x, "g": g, "f": scalar(fval), "N": scalar(float(x.numel()))}
        head = self.state[first]
        if _STEP not in head:  # the first step: the program's initial state
            S["k"] = scalar(0.0)
            rng, noise_key = self._generators(j)
            if rng is not None:
                S["rng"] = rng
            self._ns["init"](S, P)
            if noise_key is not None:
                S["noise_key"] = scalar(noise_key)
        else:
            self._gather(S, params, head, dtype)
            if self._has_after:
                self._ns["after"](S, P)
            S["k"] = S["k"] + 1
        self._ns["before"](S, P)
        self._scatter(S, params, head, (x, g))

    def _generators(self, j):
        """``(rng, noise_key)`` of group ``j``'s first step: the generator of Python stages
        (group 0's draws as a lone minimize run with this seed) and the key of Noise
        stages (:func:`~dynopt.backends._noise.member_keys`), each ``None`` when the
        program has none."""
        rng = noise_key = None
        if self._custom:
            seed = self._seed if j == 0 or self._seed is None else [self._seed, j]
            rng = np.random.default_rng(seed)
        if self._noise:
            from .backends._noise import member_keys
            keys = member_keys(np.random.default_rng(self._seed), len(self.param_groups))
            noise_key = float(keys[j, 0])
        return rng, noise_key

    def _objective_value(self, loss, where):
        if loss is None:
            if self._reads_f:
                raise RuntimeError(f"{where}: the step program of {self.method_name!r} "
                                   "reads the objective value; pass step(closure)")
            return float("nan")
        return float(loss)

    def _step_group_numba(self, j, group, params, loss, where):
        """One step of group ``j`` with the Numba kernels, in place on NumPy views of
        the tensors: the position of a lone contiguous parameter is its own memory,
        the state vectors are one flat buffer per name (the parameters' state entries
        are views of it); scalars live in the state as 0-d tensors, as on the torch
        path, so that a state_dict moves between the two."""
        first = params[0]
        dtype = first.dtype
        kernels = self._numba
        lone = len(params) == 1 and first.is_contiguous()
        x_t = first.detach().view(-1) if lone else _flat([p.detach() for p in params])
        g_t = _flat([p.grad.detach().to(dtype) for p in params])
        x = x_t.numpy().reshape(1, -1)
        np_dtype = x.dtype
        S = {"x": x, "g": np.ascontiguousarray(g_t.numpy()).reshape(1, -1),
             "f": np.full((1, 1), self._objective_value(loss, where), dtype=np_dtype),
             "N": float(x.shape[1])}
        P = {name: float(group[name]) for name in self._symbols}
        head = self.state[first]
        if _STEP not in head:
            S["k"] = np.zeros((1, 1), dtype=np_dtype)
            rng, noise_key = self._generators(j)
            if rng is not None:
                S["rng"] = rng
            kernels.init(S, P)
            if noise_key is not None:
                S["noise_key"] = np.full((1, 1), noise_key, dtype=np_dtype)
        else:
            S["k"] = np.full((1, 1), float(head[_STEP]), dtype=np_dtype)
            for name, value in head.items():
                if name == _RNG:
                    S["rng"] = value
                elif name != _STEP and name not in self._vectors:
                    S[name] = np.full((1, 1), float(value), dtype=np_dtype)
            for name, flat in self._flat_state(params, head).items():
                S[name] = flat.numpy().reshape(1, -1)
            if self._has_after:
                kernels.after(S, P)
            S["k"] += 1
        kernels.before(S, P)
        if not (lone and S["x"] is x):
            offset = 0
            new_x = torch.from_numpy(np.ascontiguousarray(S["x"]).reshape(-1))
            for p in params:
                n = p.numel()
                p.copy_(new_x[offset:offset + n].view_as(p))
                offset += n
        self._keep_numba_state(S, params, head, dtype, (x, S["g"]))

    def _flat_state(self, params, head):
        """The flat buffer of each state vector of a group: the storage its parameters'
        entries view (made once, again after a load_state_dict gave them their own)."""
        out = {}
        for name in self._vectors_of(head):
            entries = [self.state[p][name] for p in params]
            base = entries[0].view(-1)
            if len(entries) > 1:
                start = base.data_ptr()
                size = entries[0].element_size()
                offset, shared = 0, True
                for t in entries:
                    shared &= (t.is_contiguous() and
                               t.data_ptr() == start + offset * size)
                    offset += t.numel()
                if shared:
                    base = torch.as_strided(entries[0], (offset,), (1,))
                else:
                    base = torch.cat([t.reshape(-1) for t in entries])
                    self._view_state(name, base, params)
            out[name] = base
        return out

    def _view_state(self, name, flat, params):
        offset = 0
        for p in params:
            n = p.numel()
            self.state[p][name] = flat[offset:offset + n].view(p.shape)
            offset += n

    def _keep_numba_state(self, S, params, head, dtype, inputs):
        for name, value in S.items():
            if name in ("x", "g", "f", "k", "N"):
                continue
            if name == "rng":
                head[_RNG] = value
            elif name in self._vectors:
                if any(value is t for t in inputs):   # the position or gradient itself
                    value = value.copy()
                flat = torch.from_numpy(np.ascontiguousarray(value).reshape(-1))
                self._view_state(name, flat, params)
            else:
                head[name] = torch.tensor(float(np.asarray(value).reshape(-1)[0]),
                                          dtype=dtype)
        head[_STEP] = torch.tensor(float(S["k"].reshape(-1)[0]), dtype=dtype)

    def _gather(self, S, params, head, dtype):
        S["k"] = head[_STEP].to(dtype)
        for name, value in head.items():
            if name == _RNG:
                S["rng"] = value
            elif name != _STEP and name not in self._vectors:
                S[name] = value.to(dtype)
        for name in self._vectors_of(head):
            S[name] = _flat([self.state[p][name] for p in params])

    def _vectors_of(self, head):
        return [name for name in head if name in self._vectors]

    def _scatter(self, S, params, head, inputs):
        offset = 0
        names = [n for n in S if n in self._vectors and n not in ("x", "g")]
        # the state keeps views of the kernels' outputs (new tensors, or the group's
        # concatenation); a state vector that is the position or gradient itself (a
        # view of the parameter or its grad) is copied
        values = {name: (S[name].clone() if any(S[name] is t for t in inputs) else S[name])
                  for name in names}
        for p in params:
            n = p.numel()
            p.copy_(S["x"][offset:offset + n].view_as(p))
            st = self.state[p]
            for name in names:
                st[name] = values[name][offset:offset + n].reshape(p.shape)
            offset += n
        head[_STEP] = S["k"].clone()
        for name, value in S.items():
            if name == "rng":
                head[_RNG] = value
            elif name not in self._vectors and name not in ("f", "k", "N"):
                head[name] = value.clone()

    @property
    def source(self) -> str:
        """The generated PyTorch source of the step program's kernels."""
        return self._ns["source"]

    def __repr__(self):
        return (f"dynopt.torch.Optimizer(method={self.method_name!r}, "
                f"groups={len(self.param_groups)})")


def _build_class(torch_):
    """``Optimizer``: the methods above on ``torch.optim.Optimizer`` (built when torch is
    first asked for, so that ``import dynopt.torch`` does not import it)."""
    global torch
    torch = torch_

    class Optimizer(_OptimizerMethods, torch.optim.Optimizer):
        __doc__ = _OptimizerMethods.__doc__
        step = torch.no_grad()(_OptimizerMethods.step)

    Optimizer.__module__ = __name__
    Optimizer.__qualname__ = "Optimizer"
    return Optimizer


_CLASS = None

def __dir__():
    return sorted(set(globals()) | {"Optimizer"})


def __getattr__(name):
    global _CLASS
    if name == "Optimizer":
        if _CLASS is None:
            _CLASS = _build_class(_import_torch())
        return _CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
