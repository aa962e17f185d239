r"""Every dynopt method as an ``optax.GradientTransformation``.

:func:`transform` turns a method's step program (:mod:`dynopt.program`) into an
optax transformation over a pytree of parameters: the program's stages are
printed as ``jax.numpy`` operations (:mod:`dynopt.backends.jax_source`), so that
FANoS, FIRE, the heavy ball, Adam ... run in an ordinary (jitted) JAX training
loop::

    opt = dynopt.optax.transform("fanos", lr=3e-3)
    state = opt.init(params)

    @jax.jit
    def train_step(params, state, batch):
        grads = jax.grad(loss_fn)(params, batch)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

How a dynopt step maps to ``update``
------------------------------------
A dynopt step runs the stages before its gradient evaluation (they move
:math:`x`), evaluates the gradient at the new :math:`x`, then runs the stages
after it. ``update(grads, state, params)`` receives the gradient at the current
parameters, so, as :class:`dynopt.torch.Optimizer` does,

* the first call sets the state from the program's initial values (when they
  read neither the gradient nor the objective, ``init(params)`` already did)
  and runs the stages before the gradient;
* every later call first runs the stages after the gradient of the previous
  step with the new gradient (at :math:`x_k`), then the stages before the
  gradient of the next step.

The returned ``updates`` are the change of the parameters,
:math:`x_{k+1} - x_k`, so that ``optax.apply_updates(params, updates)`` gives
the iterate :math:`x_{k+1}` of :func:`dynopt.minimize`. Where the program's
position update is a single :math:`x \leftarrow x + \Delta` (gd, the heavy ball,
Nesterov, Adam, RMSprop, FIRE, the systems under their integrators), ``updates``
is :math:`\Delta` printed from the program, and ``params`` is needed only when
:math:`\Delta` reads :math:`x`.

Methods whose step is not a plain :math:`x \mathrel{+}= \Delta` fit the same
mapping: Nesterov's look-ahead point, FIRE's velocity mixing or the second half
kick of velocity Verlet are stages of the program before or after the gradient
evaluation, and the point where the gradient is evaluated is always the
program's :math:`x`, which is what ``params`` holds between calls. The stages
after the gradient of step :math:`k` are run by the next call, with its
gradient, so the optax state between calls is mid-step (the pending stages
are still to run), exactly as the state of :class:`dynopt.torch.Optimizer`.
A program whose ``x`` update is not a single :math:`x + \Delta` (decoupled
weight decay, BAOAB's two half drifts) gets ``updates``
:math:`= x_{\mathrm{new}} - x` (and needs ``params``): ``apply_updates`` then
gives :math:`x_{\mathrm{new}}` exactly whenever the two are within a factor of
two of each other (Sterbenz's lemma), else to round-off. Programs with
Custom stages (KO's collisions: Python functions over NumPy arrays, which JAX
cannot trace) cannot be expressed as a GradientTransformation:
:func:`transform` raises ``NotImplementedError`` naming the method.

Pytrees
-------
The leaves of the parameter pytree are one vector of :math:`n` coordinates, as
a parameter group of :class:`dynopt.torch.Optimizer` is: the elementwise stages
run leaf by leaf, and every reduction (FANoS's kinetic temperature
:math:`T = \frac{1}{n}\sum_i m_i v_i^2`, FIRE's power :math:`P = F\cdot v`) runs
over all leaves, so that a run equals :func:`dynopt.minimize` on the
concatenated vector (the leaves are never concatenated). The leaves share one
floating dtype; float32 parameters are stepped in float32.

Objective value, noise, schedules
---------------------------------
A program that reads the objective value :math:`f` (none of the registered
ones does) takes it as ``update(grads, state, params, value=loss)``, the
keyword of ``optax.GradientTransformationExtraArgs``. Noise stages (Langevin)
draw the counter-based normals of :mod:`dynopt.backends._noise` in JAX (64-bit
integer arithmetic: they need ``jax_enable_x64``), with the key of
``numpy.random.default_rng(seed)``, so that ``seed`` gives the draws of
``dynopt.minimize(..., options={'seed': seed})``. A hyperparameter may be a
callable of the update count (an optax schedule), evaluated at every call.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["transform", "source", "DynoptState"]

_INSTALL = "pip install 'dynopt-physics[jax]'"

#: generated kernels: program key -> (namespace, layout)
_KERNELS: dict = {}


class DynoptState(NamedTuple):
    """The optax state of :func:`transform`.

    Attributes
    ----------
    count : jax.Array
        The number of updates taken (int32); the step index :math:`k` of the
        program is ``count`` during the next update.
    vectors : dict
        Per-coordinate state under the program's names (``v``, ``exp_avg`` ...),
        each a pytree like the parameters; also the per-coordinate temporaries
        carried from the stages before a gradient evaluation to those after it.
    scalars : dict
        Scalar state (FANoS's ``zeta``, FIRE's ``alpha`` ...) as 0-d arrays, and
        the carried scalar temporaries.
    """

    count: Any
    vectors: dict
    scalars: dict


def _import_jax():
    try:
        import jax
        import optax
    except ImportError as exc:
        raise ImportError(f"dynopt.optax needs JAX and optax, which are not installed: "
                          f"{_INSTALL} (or see https://jax.readthedocs.io for a build for "
                          "your platform)") from exc
    return jax, optax


# ----------------------------------------------------------- kernel helpers
def _helpers(jax):
    """The names the generated kernels call besides ``_jnp`` (see
    :func:`dynopt.backends.jax_source.generate_source`)."""
    import jax.numpy as jnp
    from .backends._noise import GOLDEN, MIX1, MIX2

    def _vector(value, like):
        value = jnp.asarray(value, like.dtype)
        return value if value.shape == like.shape else jnp.broadcast_to(value, like.shape)

    def _scalar(value, dtype):
        return jnp.asarray(value, dtype).reshape(())

    def _map(fn, layout, vectors, scalars):
        outs = [fn(like, offset, *[v[j] for v in vectors], *scalars)
                for j, (like, offset) in enumerate(layout)]
        return tuple(list(t) for t in zip(*outs))

    combine = {"sum": lambda a, b: a + b, "max": jnp.maximum, "min": jnp.minimum}

    def _reduce(op, fn, layout, vectors, scalars):
        out = None
        for j, (like, offset) in enumerate(layout):
            part = fn(like, offset, *[v[j] for v in vectors], *scalars)[0]
            out = part if out is None else combine[op](out, part)
        return out

    def _mix(z):
        z = z + jnp.uint64(GOLDEN)
        z = (z ^ (z >> jnp.uint64(30))) * jnp.uint64(MIX1)
        z = (z ^ (z >> jnp.uint64(27))) * jnp.uint64(MIX2)
        return z ^ (z >> jnp.uint64(31))

    def _standard_normal(key, step, stream, like, offset):
        # the arithmetic of dynopt.backends._noise.standard_normal, for the coordinates
        # offset ... offset + like.size - 1 of the concatenated vector
        if not jax.config.jax_enable_x64:
            raise RuntimeError("dynopt.optax: Noise stages draw with 64-bit integers; "
                               "enable them with jax.config.update('jax_enable_x64', True)")
        key = jnp.asarray(key, jnp.float64).astype(jnp.uint64)
        step = jnp.asarray(step, jnp.float64).astype(jnp.uint64)
        base = _mix(_mix(_mix(key) ^ step) ^ jnp.uint64(stream))
        idx = (jnp.arange(like.size, dtype=jnp.uint64) + jnp.uint64(offset)) * jnp.uint64(2)
        w1 = _mix(base ^ idx)
        w2 = _mix(base ^ (idx + jnp.uint64(1)))
        u1 = ((w1 >> jnp.uint64(11)) + jnp.uint64(1)).astype(jnp.float64) * 2.0**-53
        u2 = (w2 >> jnp.uint64(11)).astype(jnp.float64) * 2.0**-53
        out = jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(2.0 * np.pi * u2)
        return out.reshape(like.shape).astype(like.dtype)

    return {"_jnp": jnp, "_vector": _vector, "_scalar": _scalar, "_map": _map,
            "_reduce": _reduce, "_standard_normal": _standard_normal}


def _kernels(program, jax) -> tuple:
    """``(namespace, layout)`` of ``program``'s JAX kernels (built once per program)."""
    from .backends.codegen import program_key
    from .backends.jax_source import generate_source
    from .backends.numpy_backend import load_source
    key = program_key(program, "jax")
    hit = _KERNELS.get(key)
    if hit is None:
        text, layout = generate_source(program)
        ns = load_source(text, f"{program.name}-jax-{key}", _helpers(jax))
        ns["source"] = text
        hit = _KERNELS[key] = (ns, layout)
    return hit


def _resolve(method, integrator, hyperparameters):
    """``(program, spec, name, flags)``: the structural options are taken out of
    ``hyperparameters`` (a dict, changed in place) and select the program."""
    from .methods import get_method
    from .stepper import resolve_program
    spec = get_method(method)
    flags = {k: hyperparameters.pop(k) for k in list(hyperparameters) if k in spec.flags}
    program, spec, name = resolve_program(method, integrator, flags)
    return program, spec, name, flags


def source(method="fanos", integrator=None, **flags) -> str:
    """The generated JAX source of a method's kernels (for reading; needs no JAX).

    Parameters
    ----------
    method, integrator, **flags
        As for :func:`transform` (structural options only).
    """
    from .backends.jax_source import generate_source
    flags = dict(flags)
    program = _resolve(method, integrator, flags)[0]
    if flags:
        raise TypeError(f"dynopt.optax.source: {sorted(flags)[0]!r} is not a structural "
                        "option of the method (hyperparameters do not change the source)")
    return generate_source(program)[0]


def _without_zeros(program, values):
    r"""``program`` with the hyperparameters whose value is the number 0 substituted.

    Their terms vanish (``weight_decay * x`` with no weight decay: the update then
    reads no parameters, and the kernels do fewer passes), with the same result
    for finite values (:math:`0 \cdot a = 0`, :math:`a + 0 = a`, :math:`a \cdot 1 = a`
    exactly). A substitution that leaves a division by zero or a NaN in the program
    is not made.
    """
    zeros = {s: 0 for s in program.params
             if not callable(values[s.name]) and isinstance(values[s.name], (int, float))
             and not isinstance(values[s.name], bool) and values[s.name] == 0}
    if not zeros:
        return program
    import sympy as sp
    from .program import Elementwise, Reduce, Scalar
    new = program.substitute(zeros)
    exprs = list(new.vectors.values()) + list(new.scalars.values())
    for st in new.stages:
        if isinstance(st, (Elementwise, Scalar)):
            exprs += [e for _, e in st.assignments]
        elif isinstance(st, Reduce):
            exprs.append(st.expr)
    if any(e.has(sp.zoo, sp.nan, sp.oo, -sp.oo) for e in exprs):
        return program
    return new


def _leaf_dtype(where, leaves):
    dtypes = sorted({str(np.dtype(leaf.dtype)) for leaf in leaves})
    if len(dtypes) != 1 or np.dtype(dtypes[0]).kind != "f":
        raise TypeError(f"{where}: the leaves are stepped as one vector and must share one "
                        f"real floating dtype, got {dtypes}")
    return np.dtype(dtypes[0])


def _checked_values(where, program, spec, name, hyperparameters, jax) -> dict:
    """The hyperparameters (defaults and those given), each checked by its rule; a
    schedule (a callable) or a value traced under ``jit`` is taken as it is, as optax does."""
    from .methods import check_value
    symbols = {s.name: s for s in program.params}
    unknown = sorted(set(hyperparameters) - set(symbols))
    if unknown:
        raise TypeError(f"{where}: method {name!r} has no hyperparameter {unknown[0]!r}; "
                        f"valid: {sorted(symbols)} and the options {sorted(spec.flags)}")
    values = {**program.param_defaults(), **hyperparameters}
    for key, value in values.items():
        if value is None:
            raise TypeError(f"{where}: hyperparameter {key!r} has no default; give it")
        if callable(value):
            continue
        try:
            concrete = np.asarray(value)
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
            continue          # a traced value (inside jit): checked by nobody, as optax does
        check_value(where, symbols[key], concrete, spec.bounds.get(key))
    return values


def _noise_key(where, program, name, seed, jax):
    """The run's noise key from ``seed`` (as ``dynopt.minimize`` draws it), or ``None``
    for a program without Noise stages; the seed is checked either way."""
    from .program import uses_noise
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                             or seed < 0):
        raise ValueError(f"{where}: seed must be None or a non-negative integer, got {seed!r}")
    if not uses_noise(program):
        return None
    if not jax.config.jax_enable_x64:
        raise RuntimeError(f"{where}: method {name!r} draws noise with 64-bit integer "
                           "counters; enable them first with "
                           "jax.config.update('jax_enable_x64', True)")
    from .backends._noise import member_keys
    return float(member_keys(np.random.default_rng(seed), 1)[0, 0])


def transform(method="fanos", integrator=None, *, seed=None, **hyperparameters):
    r"""A dynopt method as an ``optax.GradientTransformation``.

    Parameters
    ----------
    method : str or dynopt.methods.Method
        A registered method (``dynopt.METHODS``): ``'fanos'``, ``'fire'``,
        ``'heavy_ball'``, ``'adam'`` ...
    integrator : str, optional
        The integrator of a method derived from a continuous system (default:
        the method's own); discrete rules take none.
    seed : int, optional
        Seed of the noise key, for methods with Noise stages (Langevin).
    **hyperparameters
        The method's hyperparameters (defaults from its step program,
        ``dynopt.METHODS[method].hyperparameters()``): numbers, or callables of
        the update count (optax schedules); structural options of the method
        (``betas``, ``amsgrad``, ``centered`` ...) select the program.

    Returns
    -------
    optax.GradientTransformationExtraArgs
        ``init(params) -> DynoptState`` and ``update(grads, state, params=None,
        *, value=None) -> (updates, state)``, pure functions of JAX arrays that
        ``jax.jit`` compiles. ``params`` is required when the method reads the
        position (weight decay ...), ``value`` (the objective) when it reads
        the objective value.

    Raises
    ------
    NotImplementedError
        For a method whose program has Custom stages (``ko``, ``ko_dsmc``): it
        cannot be expressed as a GradientTransformation.
    TypeError, ValueError
        For an unknown hyperparameter, a bad value or seed (naming it).

    Notes
    -----
    See :mod:`dynopt.optax` for how a dynopt step maps to ``update``: after
    :math:`K` calls with ``optax.apply_updates``, the parameters are the iterate
    :math:`x_K` of :func:`dynopt.minimize` with the same hyperparameters.
    """
    jax, optax = _import_jax()
    import jax.numpy as jnp
    hyperparameters = dict(hyperparameters)
    program, spec, name, flags = _resolve(method, integrator, hyperparameters)
    where = f"dynopt.optax.transform({name!r})"
    try:
        _kernels(program, jax)
    except NotImplementedError as exc:
        raise NotImplementedError(f"{where}: method {name!r} cannot be expressed as an optax "
                                  f"GradientTransformation: {exc}") from None
    values = _checked_values(where, program, spec, name, hyperparameters, jax)
    noise_key = _noise_key(where, program, name, seed, jax)
    ns, layout = _kernels(_without_zeros(program, values), jax)
    names = layout.vectors + layout.scalars
    tree = jax.tree_util

    def hyper(count):
        return {key: (value(count) if callable(value) else value)
                for key, value in values.items()}

    def leaf_layout(leaves):
        offsets = np.cumsum([0] + [int(np.prod(leaf.shape)) for leaf in leaves])
        return [(leaf, int(offsets[j])) for j, leaf in enumerate(leaves)], float(offsets[-1])

    def init_fn(params):
        leaves, treedef = tree.tree_flatten(params)
        if not leaves:
            raise ValueError(f"{where}: init needs parameters with at least one array leaf")
        leaves = [jnp.asarray(leaf) for leaf in leaves]
        dtype = _leaf_dtype(f"{where}.init", leaves)
        L, n = leaf_layout(leaves)
        S = {"x": leaves, "N": n, "dtype": dtype}
        for key in layout.vectors:
            S[key] = [jnp.zeros_like(leaf) for leaf in leaves]
        for key in layout.scalars:
            S[key] = jnp.zeros((), dtype)
        count = jnp.zeros((), jnp.int32)
        if layout.eager_init:
            S = ns["init"](S, hyper(count), L)
        if noise_key is not None:
            S["noise_key"] = jnp.asarray(noise_key, dtype)
        return DynoptState(count, {key: treedef.unflatten(S[key]) for key in layout.vectors},
                           {key: S[key] for key in layout.scalars})

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args   # what other members of an optax.chain take
        grads, treedef = tree.tree_flatten(updates)
        if not grads:
            raise ValueError(f"{where}: update needs gradients with at least one array leaf")
        dtype = _leaf_dtype(f"{where}.update", grads)
        L, n = leaf_layout(grads)
        S = {"g": grads, "N": n, "dtype": dtype, "k": state.count.astype(dtype)}
        if layout.reads_x:
            if params is None:
                raise ValueError(f"{where}: method {name!r} reads the parameters; pass them: "
                                 "update(grads, state, params)")
            S["x"] = [jnp.asarray(p, dtype) for p in treedef.flatten_up_to(params)]
        if layout.reads_f:
            if value is None:
                raise ValueError(f"{where}: the step program of {name!r} reads the objective "
                                 "value; pass it: update(grads, state, params, value=loss)")
            S["f"] = jnp.asarray(value, dtype).reshape(())
        else:
            S["f"] = jnp.asarray(np.nan, dtype)
        for key in layout.vectors:
            S[key] = treedef.flatten_up_to(state.vectors[key])
        for key in layout.scalars:
            S[key] = state.scalars[key]
        P = hyper(state.count)

        def pack(T):
            return {key: T[key] for key in names}

        def run(kernel):
            def branch(carry):
                T = {**S, **carry}
                if kernel == "after":     # the stages after the gradient of step k - 1
                    T["k"] = (state.count - 1).astype(dtype)
                T = ns[kernel](T, P, L)
                if kernel == "init" and noise_key is not None:
                    T["noise_key"] = carry["noise_key"]    # the key of the seed, not 0
                return pack(T)
            return branch

        def keep(carry):
            return carry

        if not layout.eager_init:
            S.update(jax.lax.cond(state.count == 0, run("init"),
                                  run("after") if layout.has_after else keep, pack(S)))
        elif layout.has_after:
            S.update(jax.lax.cond(state.count > 0, run("after"), keep, pack(S)))
        S = ns["before"](S, P, L)
        new = DynoptState(state.count + 1,
                          {key: treedef.unflatten(S[key]) for key in layout.vectors},
                          {key: S[key] for key in layout.scalars})
        return treedef.unflatten(S["_dx"]), new

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
