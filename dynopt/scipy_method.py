"""Any dynopt method as a custom ``method=`` of :func:`scipy.optimize.minimize`."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable

from ._minimize import LOOP_OPTIONS, UNCONSTRAINED, build_program, method_name, minimize

if TYPE_CHECKING:  # annotations only
    from scipy.optimize import OptimizeResult

    from .backends.base import Backend
    from .integrators.base import Integrator
    from .methods.base import Method
    from .systems.base import System

__all__ = ["method"]


def method(name: str | Method | System = "heavy_ball", *,
           integrator: str | Integrator | None = None, backend: str | Backend = "numpy",
           **hyperparameters: Any) -> Callable[..., OptimizeResult]:
    """A callable following SciPy's custom-method protocol.

    Examples
    --------
    >>> import scipy.optimize as so, dynopt
    >>> res = so.minimize(so.rosen, [1.3, 0.7], jac=so.rosen_der,
    ...                   method=dynopt.method('heavy_ball', lr=1e-3, momentum=0.9),
    ...                   options={'maxiter': 20000, 'gtol': 1e-6})

    Parameters
    ----------
    name : str, Method or System
        The method, a registered name in any case as SciPy reads its own
        (``'FANoS'`` is ``'fanos'``).
    integrator, backend
        As in :func:`dynopt.minimize`.
    **hyperparameters
        Defaults of the run's options: ``options`` passed to
        :func:`scipy.optimize.minimize` (``maxiter``, ``gtol``, ``disp``,
        ``record`` ... or hyperparameters) override them.

    Notes
    -----
    SciPy hands a custom method every argument as it was given. As SciPy's own
    unconstrained first-order methods (BFGS, CG) do, a ``hess`` or ``hessp``
    is ignored with a :class:`RuntimeWarning` ("does not use Hessian
    information"); ``bounds`` and ``constraints``, which those methods would
    also ignore, raise :class:`ValueError` instead, since a result that breaks
    them would be wrong: the dynamics methods are unconstrained.
    """
    from .backends import BACKENDS, Backend
    if not isinstance(backend, Backend) and (not isinstance(backend, str) or backend not in BACKENDS):
        raise ValueError(f"dynopt.method: backend must be one of {sorted(BACKENDS)} (or a "
                         f"Backend instance), got backend={backend!r}")
    name = method_name(name)
    loop_keys = set(LOOP_OPTIONS) | {"record_stride"}
    # fail early on bad names and values
    build_program(name, integrator, {k: v for k, v in hyperparameters.items() if k not in loop_keys})

    def custom(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=(),
               callback=None, **options):
        if bounds is not None:
            raise ValueError(f"dynopt method {name!r} does not support bounds ({UNCONSTRAINED}); "
                             f"got bounds={bounds!r:.80}")
        if constraints:
            raise ValueError(f"dynopt method {name!r} does not support constraints "
                             f"({UNCONSTRAINED}); got constraints={constraints!r:.80}")
        # SciPy's wording for its own first-order methods (scipy.optimize.minimize)
        if hess is not None:
            warnings.warn(f"Method {custom.__name__} does not use Hessian information (hess).",
                          RuntimeWarning, stacklevel=3)
        if hessp is not None:
            warnings.warn(f"Method {custom.__name__} does not use Hessian-vector product "
                          f"information (hessp).", RuntimeWarning, stacklevel=3)
        opts = {**hyperparameters, **options}
        tol = opts.pop("tol", None)
        return minimize(fun, x0, args=args, method=name, jac=jac, integrator=integrator,
                        backend=backend, tol=tol, callback=callback, options=opts)

    custom.__name__ = f"dynopt_{name}"
    custom.__doc__ = f"dynopt method {name!r} (hyperparameters {hyperparameters})."
    return custom
