"""Any dynopt method as a custom ``method=`` of :func:`scipy.optimize.minimize`."""
from __future__ import annotations

from ._minimize import LOOP_OPTIONS, build_program, minimize

__all__ = ["method"]


def method(name="heavy_ball", *, integrator=None, backend="numpy", **hyperparameters):
    """A callable following SciPy's custom-method protocol.

    Examples
    --------
    >>> import scipy.optimize as so, dynopt
    >>> res = so.minimize(so.rosen, [1.3, 0.7], jac=so.rosen_der,
    ...                   method=dynopt.method('heavy_ball', lr=1e-3, momentum=0.9),
    ...                   options={'maxiter': 20000, 'gtol': 1e-6})

    Hyperparameters given here are defaults; ``options`` passed to
    :func:`scipy.optimize.minimize` (``maxiter``, ``gtol``, ``record`` ... or
    hyperparameters) override them. Bounds and constraints are not supported
    and raise :class:`ValueError`.
    """
    from .backends import BACKENDS, Backend
    if not isinstance(backend, Backend) and (not isinstance(backend, str) or backend not in BACKENDS):
        raise ValueError(f"dynopt.method: backend must be one of {sorted(BACKENDS)} (or a "
                         f"Backend instance), got backend={backend!r}")
    loop_keys = set(LOOP_OPTIONS) | {"record_stride"}
    # fail early on bad names and values
    build_program(name, integrator, {k: v for k, v in hyperparameters.items() if k not in loop_keys})

    def custom(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=(),
               callback=None, **options):
        if bounds is not None:
            raise ValueError(f"dynopt method {name!r} does not support bounds (got bounds={bounds!r})")
        if constraints:
            raise ValueError(f"dynopt method {name!r} does not support constraints "
                             f"(got constraints={constraints!r})")
        if hess is not None or hessp is not None:
            raise ValueError(f"dynopt method {name!r} uses no Hessian (got hess/hessp)")
        opts = {**hyperparameters, **options}
        tol = opts.pop("tol", None)
        return minimize(fun, x0, args=args, method=name, jac=jac, integrator=integrator,
                        backend=backend, tol=tol, callback=callback, options=opts)

    custom.__name__ = f"dynopt_{name}"
    custom.__doc__ = f"dynopt method {name!r} (hyperparameters {hyperparameters})."
    return custom
