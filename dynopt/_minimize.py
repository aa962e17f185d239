"""The one loop: evaluate the gradient, run the compiled step, stop, record, call back.

``minimize`` follows :func:`scipy.optimize.minimize`'s conventions and returns
a :class:`scipy.optimize.OptimizeResult`.
"""
from __future__ import annotations

import inspect
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .backends import get_backend
from .loop import run
from .objective import Objective, check_rel_step
from .stepper import SMALL_THRESHOLD, resolve_program, stepper_for

if TYPE_CHECKING:  # annotations only
    from numpy.typing import ArrayLike
    from scipy.optimize import OptimizeResult

    from .backends.base import Backend
    from .integrators.base import Integrator
    from .methods.base import Method
    from .program import StepProgram
    from .systems.base import System

__all__ = ["minimize", "LOOP_OPTIONS", "STATUS_MESSAGES", "build_program"]

#: what the dynamics methods are, for the refusals of SciPy's other arguments
UNCONSTRAINED = "the dynamics methods are unconstrained first-order methods"

#: a structural option -> the scalar hyperparameters whose defaults it sets
_FLAG_PARAMETERS = {"betas": ("beta1", "beta2")}

#: options of the loop itself (everything else in ``options`` is a hyperparameter)
LOOP_OPTIONS = {
    "maxiter": 10000,
    "gtol": 1e-5,
    "norm": np.inf,
    "maxfev": None,
    "record": False,
    "divergence": 1e12,
    "dtype": None,
    "disp": False,
    "finite_diff_rel_step": None,
    "seed": None,
    "vectorized": False,
    "compiled": None,
    "tune": False,
    "tune_every": None,
    "initial_state": None,
}

from .loop import STATUS_MESSAGES  # noqa: E402  (re-exported)


def method_name(method):
    """A method given by name in lower case, as SciPy reads ``method=`` ('FANoS' is 'fanos').

    Anything else (a :class:`Method`, a system object) is returned as it is.
    """
    return method.lower() if isinstance(method, str) else method


def build_program(method: str | Method | System, integrator: str | Integrator | None = None,
                  options: Mapping[str, Any] | None = None,
                  ) -> tuple[StepProgram, dict[str, Any], str]:
    """Resolve ``method`` (a name, a :class:`Method` or a system object) to a program.

    Returns ``(program, params, name)`` where ``params`` are the hyperparameter
    values (defaults updated by ``options``, validated). The program is built once
    per process for each method, integrator and structural flags
    (:func:`dynopt.stepper.resolve_program`). A name is read in lower case, as
    SciPy reads its own (``'FANoS'``, ``'Heavy_Ball'``).

    Raises
    ------
    ValueError
        For an unknown method, and for a structural option given together with
        a different value of a hyperparameter it sets (``betas=(0.9, 0.999)``
        with ``beta1=0.8``).
    TypeError
        For an unknown option or a missing hyperparameter.
    """
    from .methods import check_value, get_method
    from .systems.base import System
    options = dict(options or {})
    method = method_name(method)
    if isinstance(method, System):
        flags = {}
        spec_flags, bounds = {}, {}
    else:
        spec = get_method(method)
        flags = {k: options.pop(k) for k in list(options) if k in spec.flags}
        spec_flags, bounds = spec.flags, spec.bounds
        _check_flag_conflicts(spec.name, flags, options)
    program, spec, name = resolve_program(method, integrator, flags)
    defaults = program.param_defaults()
    unknown = set(options) - set(defaults)
    if unknown:
        valid = sorted(set(defaults) | set(spec_flags) | set(LOOP_OPTIONS) | {"record_stride"})
        raise TypeError(f"unknown option(s) {sorted(unknown)} for method {name!r}; valid: {valid}")
    params = {**defaults, **options}
    for sym in program.params:
        value = params[sym.name]
        if value is None:
            raise TypeError(f"method {name!r} needs the hyperparameter {sym.name!r}")
        bound = bounds.get(sym.name)
        memo = (name, sym, type(value), value, bound) if type(value) in (int, float) else None
        if memo is None or memo not in _VALIDATED:
            check_value(f"method {name!r}", sym, value, bound)
            if memo is not None and len(_VALIDATED) < 4096:
                _VALIDATED.add(memo)
    return program, params, name


#: (method, symbol, type, value, bounds) of plain numbers already validated
_VALIDATED: set = set()


def _check_flag_conflicts(name, flags, options) -> None:
    """A structural option and a hyperparameter it sets, given with different values."""
    for flag, targets in _FLAG_PARAMETERS.items():
        if flag not in flags:
            continue
        given = [t for t in targets if t in options]
        if not given:
            continue
        value = flags[flag]
        try:
            pair = [float(v) for v in value]
        except (TypeError, ValueError):
            pair = None  # a malformed value: the method's own check names it
        if pair is None or len(pair) != len(targets):
            continue
        clash = []
        for target in given:
            want = pair[targets.index(target)]
            try:
                same = bool(np.all(np.asarray(options[target], dtype=float) == want))
            except (TypeError, ValueError):
                same = False
            if not same:
                clash.append(f"{target}={options[target]!r}")
        if clash:
            raise ValueError(
                f"method {name!r}: {flag}={tuple(value)!r} and {', '.join(clash)} were given "
                f"together with different values; give either {flag} or "
                f"{'/'.join(targets)}, not both")


def _check_x0(x0):
    try:
        arr = np.asarray(x0)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"x0 could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"x0 must be numeric (real numbers), got dtype {arr.dtype} "
                        f"({x0!r:.80})")
    if arr.ndim == 0:  # a scalar is a 1-D start of one coordinate, as in SciPy
        arr = arr.reshape(1)
    if arr.size == 0:
        raise ValueError(f"x0 must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("x0 contains NaN or Inf")
    if arr.ndim > 2:
        raise ValueError(f"x0 must be 1-D (n,) or a batch (batch, n), got shape {arr.shape}")
    return arr


def _wrap_callback(callback):
    """Both SciPy styles: ``callback(intermediate_result)`` and ``callback(xk)``."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    if hasattr(callback, "stop_iteration"):  # already wrapped by scipy.optimize.minimize
        return callback
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    if params == {"intermediate_result"}:
        return lambda res: callback(intermediate_result=res)
    return lambda res: callback(np.copy(res.x))


def minimize(fun: Callable[..., Any], x0: ArrayLike, args: tuple = (),
             method: str | Method | System = "heavy_ball",
             jac: Callable[..., Any] | bool | str | None = None,
             integrator: str | Integrator | None = None, backend: str | Backend = "numpy",
             tol: float | None = None, callback: Callable[..., Any] | None = None,
             options: Mapping[str, Any] | None = None, *, hess: None = None,
             hessp: None = None, bounds: None = None, constraints: None = None,
             ) -> OptimizeResult:
    """Minimise ``fun`` by running a dynamical system.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``; with ``jac=True`` it returns ``(f, g)``.
    x0 : array_like, shape (n,) or (batch, n)
        Starting point. A 2-D ``x0`` runs ``batch`` independent optimisations in
        one call: hyperparameters may then be arrays of shape ``(batch,)`` (one
        value per member), each member stops on its own, and the result holds
        per-member arrays (``x`` (batch, n), ``fun``, ``nit``, ``status``,
        ``success`` ... of shape (batch,), ``message`` a list).
    args : tuple
        Extra arguments of ``fun`` and ``jac``.
    method : str, Method or System
        A registered name (see :data:`dynopt.methods`), in any case as in SciPy
        (``'FANoS'`` is ``'fanos'``), or a system object, which then runs under
        ``integrator``.
    jac : callable, True, None, '2-point' or '3-point'
        The gradient. ``None`` means forward differences, costing ``n + 1``
        evaluations of ``fun`` per step ('3-point': central, ``2n + 1``).
    integrator : str or Integrator, optional
        Overrides the method's default integrator (discrete rules take none).
    backend : {'numpy', 'numba', 'cupy'}
        Where the generated step kernels run.
    tol : float, optional
        Same as ``options['gtol']``.
    callback : callable, optional
        ``callback(intermediate_result)`` with an :class:`~scipy.optimize.OptimizeResult`
        holding ``x``, ``fun``, ``jac``, ``nit``, or ``callback(xk)``. Raising
        :class:`StopIteration` ends the run with ``success=False`` (status 5).
    options : dict, optional
        Loop options — ``maxiter`` (10000), ``gtol`` (1e-5; the run stops when
        the gradient's ``norm`` (``inf`` (default), ``1``, ``2`` or a callable
        ``g -> float`` such as the largest per-atom force) is at most ``gtol``; with
        ``gtol=0`` exactly ``maxiter`` steps run), ``maxfev``, ``record``
        (``True`` or a stride: keep a trajectory), ``divergence`` (stop when
        :math:`f > f_0 + \\text{divergence}\\cdot\\max(1, |f_0|)`), ``dtype``
        (float64 or float32), ``finite_diff_rel_step`` (the relative
        finite-difference step :math:`h_i = r \\max(1, |x_i|)`, SciPy's name; a
        method's own ``eps`` such as Adam's is a hyperparameter), ``seed`` (of
        the generator ``S['rng']`` that stochastic stages draw from),
        ``vectorized`` (``fun``/``jac`` take a (batch, n) array and return
        (batch,) / (batch, n): one call per step for a whole batch),
        ``compiled`` (``None``, the default: the whole run in compiled code
        when ``backend='numba'`` and ``fun``/``jac`` are Numba functions —
        ``fun(x)`` with ``jac(x)``, ``fun(x) -> (f, g)`` or
        ``fun(x, grad_out) -> f`` with ``jac=True`` — and nothing the compiled
        loop lacks is asked for; ``True`` insists, ``False`` keeps the Python
        loop), ``tune`` (``True``: the hyperparameters of the method chosen by
        :func:`dynopt.tuning.tune` from the curvature measured at ``x0``, for the
        methods it supports — at a saddle, the escape choice of
        :mod:`dynopt.tuning`; the gradients spent are counted in ``nfev``/``njev``
        and the estimates are in ``result.tuning``), ``tune_every`` (a positive
        integer :math:`K`, with ``tune=True``: the spectrum is measured again
        every :math:`K` steps at the current point and the hyperparameters are
        updated, the run's state (positions, velocities ...) kept; the
        evaluations are counted in ``nfev``/``njev`` and count towards
        ``maxfev``; on negative curvature the escape choice is used;
        ``result.tuning['history']`` holds every estimate, see
        :class:`dynopt.tuning.Retuner`; a single run in the Python loop, not
        ``vectorized`` nor ``compiled``), ``initial_state`` (a dict of state
        entries that replace the method's initial ones: ``result.state['v']``
        of an earlier run, Adam's moments, ``{'metric': D}`` for
        ``preconditioned_heavy_ball``; any name of ``result.state`` but ``x``,
        ``g``, ``f``, ``k`` and ``noise_key``; see :mod:`dynopt.initial_state`;
        the Python loop) — and the
        method's hyperparameters (e.g. ``lr``, ``momentum``, ``dt``, ``mass``).
        An unknown name raises :class:`TypeError`. ``disp=True`` prints a
        summary at the end as SciPy's methods do: the message (on failure an
        :class:`~scipy.optimize.OptimizeWarning` instead), then the current
        function value, iterations, function and gradient evaluations.
    hess, hessp, bounds, constraints
        SciPy's names, accepted so that a call written for
        :func:`scipy.optimize.minimize` reads the same; anything but ``None``
        (or an empty ``constraints``) raises :class:`ValueError`: the dynamics
        methods are unconstrained first-order methods.

    Returns
    -------
    OptimizeResult
        ``x, fun, jac, nit, nfev, njev, status, success, message`` and
        ``best_x, best_fun`` (the lowest objective seen), ``state`` (the
        optimiser's final state), ``hyperparameters`` and, when recorded,
        ``trajectory`` (a dict of arrays: ``step``, ``x``, ``fun``,
        ``grad_norm``, ``kinetic``, ``potential``, ``total`` and the scalar
        state such as a thermostat's ``zeta``). When a NaN/Inf is met or the run
        diverges, ``x`` is the best point seen.

    Notes
    -----
    Status codes: 0 converged, 1 ``maxiter`` reached, 2 ``maxfev`` reached,
    3 NaN/Inf met, 4 diverged, 5 stopped by the callback, 6 unbounded below
    (:math:`f < f_0 - \\text{divergence}\\cdot\\max(1, |f_0|)`). An exception raised
    by ``fun`` or ``jac`` propagates with the best point seen as its attributes
    ``best_x``, ``best_fun`` and ``nit``.

    The method's program is derived and compiled once per process
    (:func:`dynopt.stepper.stepper_for`); later calls reuse it.
    """
    _refuse_unsupported(hess=hess, hessp=hessp, bounds=bounds, constraints=constraints)
    loop, options, record_stride = _split_options(options, tol)
    x0 = _check_x0(x0)
    batched = x0.ndim == 2
    X0 = x0 if batched else x0[None, :]
    dtype = np.dtype(loop["dtype"] or (np.float32 if x0.dtype == np.float32 else np.float64))
    stride = _stride(loop["record"], record_stride)
    warm = _warm(method, integrator, backend, options, loop, X0.shape, dtype, fun, jac)
    tuned = None
    if warm is not None:  # a warm start from the record: no SymPy (dynopt.warm)
        stepper, params, name = warm
        result = _run_loop(stepper, _batch_params(params, X0.shape[0], batched), fun, jac,
                           args, X0.astype(dtype, copy=False), loop, stride, callback, batched,
                           integrator)
    else:
        tuned, retuner = _start_tuning(fun, x0, jac, args, method, integrator, options, loop)
        program, params, name = build_program(method, integrator, options)
        be = get_backend(backend)
        compiled = loop["compiled"] if retuner is None else _attach_retuner(loop, retuner, dtype)
        result = _execute(compiled, be, program, _batch_params(params, X0.shape[0], batched),
                          name, fun, jac, args, X0.astype(dtype, copy=False), loop, stride,
                          callback, batched, integrator)
        if (backend in ("numpy", "numba") and not loop["tune"] and not loop["compiled"]
                and _small_lone_run(backend, X0.shape)):
            from .warm import record
            record(method_name(method), integrator, program,
                   stepper_for(program, name, be, dtype), options, params, X0.shape[0])
    if tuned is not None:
        _add_tuning(result, tuned, retuner)
    if loop["disp"]:
        _display(result, batched)  # here, so that a warning points at the caller
    return result


def _split_options(options, tol):
    """``options`` split into the loop's own (validated) and the hyperparameters.

    Returns ``(loop, hyper, record_stride)``: ``loop`` holds every key of
    :data:`LOOP_OPTIONS` (its default where not given; ``tol``, when given, is
    ``gtol``), ``hyper`` the rest of ``options`` (a new dict).
    """
    options = dict(options or {})
    loop = {name: options.pop(name, default) for name, default in LOOP_OPTIONS.items()}
    record_stride = options.pop("record_stride", None)
    if tol is not None:
        loop["gtol"] = tol
    _check_loop_options(loop)
    return loop, options, record_stride


def _start_tuning(fun, x0, jac, args, method, integrator, options, loop):
    """``options['tune']``: the estimate at ``x0`` and, with ``tune_every``, the retuner.

    Returns ``(tuned, retuner)`` (``None`` where not asked for); the tuned
    hyperparameters are written into ``options``.
    """
    if not loop["tune"]:
        return None, None
    retuner = None
    if loop["tune_every"] is not None:
        retuner = _retuner(fun, jac, args, method, integrator, dict(options), loop)
    tuned = _tune_options(fun, x0, jac, args, method, integrator, options)
    options.update(tuned.options)
    if retuner is not None:
        retuner.last = tuned
    return tuned, retuner


def _attach_retuner(loop, retuner, dtype) -> bool:
    """``tune_every``: hand the retuner to the loop; returns ``compiled=False``.

    The Python loop pauses for the estimates; the compiled loop cannot.
    """
    loop["retune"] = retuner
    retuner.reuse_gradient = dtype == np.float64
    return False


def _execute(compiled, be, program, params, name, fun, jac, args, X0, loop, stride, callback,
             batched, integrator):
    """The run itself: in compiled code (:mod:`dynopt.compiled`) or in the Python loop.

    ``compiled`` is ``options['compiled']``: ``None`` lets
    :func:`dynopt.compiled.wants_compiled` choose.
    """
    if compiled is None:
        from .compiled import wants_compiled
        compiled = wants_compiled(be, program, name, fun, jac, args, loop, callback)
    if compiled:
        from .compiled import run_compiled
        return run_compiled(be, program, params, name, fun, jac, X0, loop, stride, callback,
                            batched, integrator)
    return _run_loop(stepper_for(program, name, be, X0.dtype), params, fun, jac, args, X0,
                     loop, stride, callback, batched, integrator)


def _run_loop(stepper, params, fun, jac, args, X0, loop, stride, callback, batched,
              integrator):
    """The Python loop (:func:`dynopt.loop.run`) with ``stepper`` from ``X0``."""
    objective = Objective(fun, jac, args, n=X0.shape[1], eps=loop["finite_diff_rel_step"],
                          dtype=X0.dtype, vectorized=loop["vectorized"])
    return run(objective, X0, stepper, params, loop, _wrap_callback(callback), stride, batched,
               integrator)


def _small_lone_run(backend, shape) -> bool:
    """Whether a run of ``shape`` (batch, n) is one a record may serve on ``backend``
    (a name): any run on NumPy, a lone run below ``SMALL_THRESHOLD`` on Numba."""
    return backend == "numpy" or (shape[0] == 1 and shape[1] < SMALL_THRESHOLD)


def _warm(method, integrator, backend, options, loop, shape, dtype, fun, jac):
    """:func:`dynopt.warm.lookup` where a record may answer (a method by name in the
    Python loop, without tuning: on the NumPy backend, or a small lone run on the
    Numba backend whose callables are not Numba functions that would run it
    compiled), else ``None``."""
    if (backend not in ("numpy", "numba") or not isinstance(method, str) or loop["tune"]
            or loop["compiled"] or not _small_lone_run(backend, shape)):
        return None
    if backend == "numba" and loop["compiled"] is None:
        from .compiled import is_numba_function
        if is_numba_function(fun) or is_numba_function(jac):
            return None  # minimize may choose the compiled run (dynopt.compiled)
    from .warm import lookup
    return lookup(method_name(method), integrator, options, shape[0], dtype, backend,
                  shape[1])


def _tune_options(fun, x0, jac, args, method, integrator, options):
    """``options['tune']``: the hyperparameters of `dynopt.tuning.tune` at ``x0``."""
    from .tuning import TUNABLE, tune
    name = method_name(method)
    if not isinstance(name, str) or name not in TUNABLE:
        raise ValueError(f"options['tune'] supports the methods {sorted(TUNABLE)}, got "
                         f"method={method!r}")
    if x0.ndim != 1:
        raise ValueError("options['tune'] tunes one run: x0 must be 1-D")
    if not (jac is True or callable(jac)):
        raise ValueError("options['tune'] measures the curvature from gradients: give jac "
                         f"(a callable or True), got jac={jac!r}")
    clash = sorted(set(TUNABLE[name]) & set(options))
    if clash:
        raise ValueError(f"options['tune'] chooses {sorted(TUNABLE[name])} itself; do not "
                         f"give {clash} as well")
    return tune(fun, x0, jac=jac, method=name, integrator=integrator, args=args,
                options=options)


def _retuner(fun, jac, args, method, integrator, fixed, loop):
    """``options['tune_every']``: the :class:`dynopt.tuning.Retuner` the loop calls."""
    from .tuning import Retuner
    if loop["vectorized"]:
        raise ValueError("options['tune_every'] retunes a single run in the Python loop; "
                         "it does not take vectorized=True")
    if loop["compiled"]:
        raise ValueError("options['tune_every'] retunes in the Python loop; it does not take "
                         "compiled=True")
    return Retuner(fun, jac, args, method_name(method), integrator, fixed,
                   loop["tune_every"], maxfev=loop["maxfev"])


def _add_tuning(result, tuned, retuner) -> None:
    """The tuning's evaluations counted in ``result.nfev``/``njev``; ``result.tuning``."""
    result.nfev = result.nfev + tuned.nfev
    result.njev = result.njev + tuned.njev
    result.tuning = _tuning_record(tuned, retuner, result)


def _tuning_record(tuned, retuner, result) -> dict:
    """``result.tuning``: the values in force at the end, the totals and every estimate.

    ``options``, ``lam_min``, ``lam_max`` and ``rate`` are those of the last
    estimate applied (the one at ``x0`` without ``tune_every``); ``nfev`` and
    ``njev`` count every estimate; ``history`` lists them all
    (:func:`dynopt.tuning.record_entry`), the one at ``x0`` first.
    """
    from .tuning import record_entry
    history = [record_entry(0, tuned)]
    if retuner is not None:
        history += retuner.history
    last = [e for e in history if e["applied"]][-1]
    record = {"options": dict(last["hyperparameters"]), "lam_min": last["lambda_min"],
              "lam_max": last["lambda_max"], "rate": last["predicted_rate"],
              "nfev": sum(e["nfev"] for e in history), "njev": sum(e["njev"] for e in history),
              "negative_curvature": last["negative_curvature"],
              "every": None if retuner is None else retuner.every, "history": history}
    if retuner is not None:
        # the values in force at the end (the loop counted the run's estimates already)
        result.hyperparameters.update(record["options"])
    return record


def _refuse_unsupported(**given) -> None:
    """``hess``, ``hessp``, ``bounds``, ``constraints``: only ``None`` (or no constraints)."""
    for name, value in given.items():
        if value is None:
            continue
        if name == "constraints" and isinstance(value, (tuple, list)) and len(value) == 0:
            continue
        why = (", using gradients only" if name in ("hess", "hessp") else "")
        raise ValueError(f"dynopt.minimize takes no {name}: {UNCONSTRAINED}{why} "
                         f"(got {name}={value!r:.80})")


def _display(res, batched: bool) -> None:
    """``disp=True``: the summary SciPy's methods print (scipy.optimize._minimize_bfgs).

    The message is printed on success and issued as an
    :class:`~scipy.optimize.OptimizeWarning` otherwise, as SciPy does; then the
    function value (``{:f}``), iterations, function and gradient evaluations,
    indented by nine spaces. A batch reports every member on one line each
    (lowest and highest value, most iterations and evaluations).
    """
    from scipy.optimize import OptimizeWarning
    if not batched:
        if res.success:
            print(res.message)
        else:
            warnings.warn(res.message, OptimizeWarning, stacklevel=3)
        print(f"         Current function value: {float(res.fun):f}")
        print(f"         Iterations: {int(res.nit):d}")
        print(f"         Function evaluations: {int(res.nfev):d}")
        print(f"         Gradient evaluations: {int(res.njev):d}")
        return
    success = np.asarray(res.success)
    if success.all():
        print(f"Optimization terminated successfully for all {success.size} members.")
    else:
        first = int(np.flatnonzero(~success)[0])
        warnings.warn(f"{int((~success).sum())} of {success.size} members did not converge "
                      f"(member {first}: {res.message[first]})", OptimizeWarning, stacklevel=3)
    fun = np.asarray(res.fun, dtype=float)
    print(f"         Current function value: {fun.min():f} (lowest), {fun.max():f} (highest)")
    print(f"         Iterations: {int(np.max(res.nit)):d} (most)")
    print(f"         Function evaluations: {int(np.max(res.nfev)):d} (most)")
    print(f"         Gradient evaluations: {int(np.max(res.njev)):d} (most)")


def _check_loop_options(loop):
    from .initial_state import check_initial_state
    check_initial_state(loop["initial_state"])
    maxiter = loop["maxiter"]
    if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 0:
        raise ValueError(f"options['maxiter'] must be a non-negative integer, got {maxiter!r}")
    gtol = loop["gtol"]
    if not _is_real(gtol) or not gtol >= 0:
        raise ValueError(f"options['gtol'] (or tol) must be a non-negative number, got {gtol!r}")
    mf = loop["maxfev"]
    if mf is not None and (not isinstance(mf, (int, np.integer)) or mf < 1):
        raise ValueError(f"options['maxfev'] must be a positive integer, got {mf!r}")
    if not callable(loop["norm"]) and loop["norm"] not in (np.inf, 1, 2):
        raise ValueError(f"options['norm'] must be inf, 1, 2 or a callable g -> float, "
                         f"got {loop['norm']!r}")
    if loop["dtype"] is not None:
        try:
            dtype = np.dtype(loop["dtype"])
        except (TypeError, ValueError):
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"options['dtype'] must be float32 or float64, got {loop['dtype']!r}")
    div = loop["divergence"]
    if div is not None and (not _is_real(div) or not div > 0):
        raise ValueError(f"options['divergence'] must be a positive number or None, got {div!r}")
    seed = loop["seed"]
    if seed is not None and not isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)) or seed < 0:
            raise ValueError(f"options['seed'] must be None, a non-negative integer or a "
                             f"numpy.random.Generator, got {seed!r}")
    for name in ("vectorized", "tune"):
        if not isinstance(loop[name], (bool, np.bool_)):
            raise TypeError(f"options[{name!r}] must be True or False, got {loop[name]!r}")
    every = loop["tune_every"]
    if every is not None:
        if (not isinstance(every, (int, np.integer)) or isinstance(every, (bool, np.bool_))
                or every < 1):
            raise ValueError(f"options['tune_every'] must be a positive integer (steps "
                             f"between estimates of the spectrum), got {every!r}")
        if not loop["tune"]:
            raise ValueError(f"options['tune_every']={every!r} needs options['tune']=True")
    disp = loop["disp"]
    if not isinstance(disp, (bool, np.bool_, int, np.integer)):  # SciPy's disp=1 too
        raise TypeError(f"options['disp'] must be True or False, got {disp!r}")
    if loop["compiled"] is not None and not isinstance(loop["compiled"], (bool, np.bool_)):
        raise TypeError(f"options['compiled'] must be None, True or False, got {loop['compiled']!r}")
    check_rel_step(loop["finite_diff_rel_step"])


def _is_real(value) -> bool:
    """Whether ``value`` is a real number (booleans and strings are not)."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _batch_params(params, batch, batched):
    """Hyperparameters as numbers or ``(batch, 1)`` arrays (one value per member)."""
    out = {}
    for key, value in params.items():
        if type(value) in (float, int):  # the common case: a plain number
            out[key] = value
            continue
        arr = np.asarray(value)
        if arr.ndim == 0:
            out[key] = value
        elif batched and arr.shape in ((batch,), (batch, 1)):
            out[key] = arr.reshape(batch, 1).astype(np.float64)
        else:
            want = f"a number or an array of shape ({batch},)" if batched else "a number"
            raise ValueError(f"hyperparameter {key!r} must be {want}, got shape {arr.shape}")
    return out


def _stride(record, record_stride):
    if record_stride is not None:
        if not isinstance(record_stride, (int, np.integer)) or record_stride < 1:
            raise ValueError(f"options['record_stride'] must be a positive integer, got {record_stride!r}")
        return int(record_stride) if record else 0
    if record is True:
        return 1
    if record is False or record is None or record == 0:
        return 0
    if isinstance(record, (int, np.integer)) and record > 0:
        return int(record)
    raise ValueError(f"options['record'] must be True, False or a positive stride, got {record!r}")


