"""The loops a JAX user would write with optax: what ``minimize`` is also measured against.

JAX and optax are optional (``pip install 'dynopt-physics[jax]'``): :func:`load`
imports them on first use and returns ``None`` when either is missing, and the
engine benchmark then skips these rows. Everything runs in float64
(``jax_enable_x64``), as dynopt's runs do, on JAX's CPU backend.

Two loops, with the updates of the matching dynopt methods:

* :func:`batched_heavy_ball`: ``jax.jit(jax.vmap(run))`` of a whole run of
  ``optax.sgd(lr, momentum)`` on the two-dimensional Rosenbrock function, the
  objective and its gradient from ``jax.value_and_grad`` at every step, the steps
  in ``jax.lax.fori_loop``. optax's trace is PyTorch's buffer
  :math:`b \\leftarrow \\mu b + g`, :math:`x \\leftarrow x - \\eta b` (Polyak 1964;
  :mod:`dynopt.methods.momentum`), which dynopt's ``heavy_ball`` carries as the
  velocity :math:`v = -\\eta b`: the same trajectory up to round-off.
* :func:`step_loop`: a Python loop over a ``jax.jit`` step (the gradient, the
  objective, ``optax.adam`` or ``optax.sgd`` with momentum, the buffers donated)
  on the diagonal quadratic :math:`f = \\tfrac12 \\sum_i d_i x_i^2`. ``optax.adam``
  with ``eps_root = 0`` is Kingma & Ba's bias-corrected Adam (ICLR 2015) with
  :math:`\\varepsilon` outside the square root, as dynopt's ``adam``.

A third measures :func:`dynopt.optax.transform` itself: :func:`transform_step` is one
jitted step (``update`` and ``optax.apply_updates``, the buffers donated) of the
transform or of the optax transformation it reproduces (``adam``:
``optax.adam``) on ``n`` float32 parameters with a fixed gradient, and
:func:`transform_ratio` times the two interleaved (:mod:`dynopt.bench.timing`);
``python -m dynopt.bench.jax_loops`` prints the rows.

Each builder returns a callable that runs the loop and returns the final ``x``, a
JAX array that is ready (``block_until_ready``), so a timing includes everything up
to a result the caller can read; it is not copied to NumPy (``numpy.asarray`` does
that where a caller needs it).
"""
from __future__ import annotations

import numpy as np

__all__ = ["load", "batched_heavy_ball", "step_loop", "transform_step", "transform_ratio",
           "print_transform_report", "STEP_METHODS", "TRANSFORM_BASELINES", "MISSING"]

#: what the benchmark prints for the rows it skips
MISSING = "jax not installed"

#: the dynopt methods :func:`step_loop` has in optax
STEP_METHODS = ("adam", "heavy_ball")

#: the dynopt methods :func:`transform_step` compares, with the optax transformation
#: each equals (tests/test_optax.py) at the benchmark's settings
TRANSFORM_BASELINES = {
    "adam": lambda optax, lr: optax.adam(lr),
    "heavy_ball": lambda optax, lr: optax.sgd(lr, momentum=0.9),
}


def load():
    """``(jax, jax.numpy, optax)`` with float64 enabled, or ``None`` when JAX or optax
    cannot be imported."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp, optax


def _check_steps(steps):
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    return int(steps)


def batched_heavy_ball(X0, steps, lr, momentum, libs=None):
    """``optax.sgd(lr, momentum)`` on each row of ``X0`` (the 2-D Rosenbrock function
    :math:`100(x_2 - x_1^2)^2 + (1 - x_1)^2`), ``steps`` steps, under ``jit(vmap)``.

    Returns
    -------
    callable or None
        ``run() -> X`` (shape of ``X0``), compiled on its first call; ``None`` without
        JAX.
    """
    libs = load() if libs is None else libs
    if libs is None:
        return None
    jax, jnp, optax = libs
    steps = _check_steps(steps)
    X0 = np.asarray(X0, dtype=np.float64)
    if X0.ndim != 2 or X0.shape[1] != 2:
        raise ValueError(f"X0 must have shape (batch, 2), got {X0.shape}")
    opt = optax.sgd(lr, momentum=momentum)

    def rosen(x):
        return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2

    value_and_grad = jax.value_and_grad(rosen)

    def one(x0):
        def body(_, carry):
            x, state, _f, g = carry
            updates, state = opt.update(g, state, x)
            x = optax.apply_updates(x, updates)
            f, g = value_and_grad(x)
            return x, state, f, g

        f0, g0 = value_and_grad(x0)
        x, _, f, _ = jax.lax.fori_loop(0, steps, body, (x0, opt.init(x0), f0, g0))
        return x, f

    compiled = jax.jit(jax.vmap(one))
    X0_dev = jnp.asarray(X0)

    def run():
        X, F = compiled(X0_dev)
        F.block_until_ready()
        return X
    return run


def step_loop(method, x0, d, steps, opts, libs=None):
    """A Python loop of ``steps`` calls of a jitted optax step on
    :math:`f = \\tfrac12 \\sum_i d_i x_i^2` (gradient :math:`d \\odot x`).

    ``method``: ``"adam"`` (``optax.adam(opts['lr'])``) or ``"heavy_ball"``
    (``optax.sgd(opts['lr'], momentum=opts['momentum'])``). The loop carries its
    state from call to call (as a training loop does; the timing does not include
    a fresh start): the first call runs from ``x0``.

    Returns
    -------
    callable or None
        ``run() -> x``, valid until the next call (which donates its buffer); ``None``
        without JAX or for another method.
    """
    libs = load() if libs is None else libs
    if libs is None or method not in STEP_METHODS:
        return None
    jax, jnp, optax = libs
    steps = _check_steps(steps)
    if method == "adam":
        opt = optax.adam(opts["lr"])
    else:
        opt = optax.sgd(opts["lr"], momentum=opts["momentum"])

    def step(x, state, dd):
        g = dd * x
        f = 0.5 * jnp.dot(g, x)
        updates, state = opt.update(g, state, x)
        return optax.apply_updates(x, updates), state, f

    jstep = jax.jit(step, donate_argnums=(0, 1))
    dd = jnp.asarray(np.asarray(d, dtype=np.float64))
    x = jnp.asarray(np.array(x0, dtype=np.float64))
    carry = {"x": x, "state": opt.init(x)}

    def run():
        x, state = carry["x"], carry["state"]
        for _ in range(steps):
            x, state, f = jstep(x, state, dd)
        x.block_until_ready()
        carry["x"], carry["state"] = x, state
        return x
    return run


def transform_step(which, method, n, lr=1e-3, dtype=np.float32, leaves=1, libs=None):
    """One jitted optimiser step on ``n`` parameters of ``dtype`` with a fixed gradient.

    Parameters
    ----------
    which : {"dynopt", "optax"}
        ``dynopt.optax.transform(method, lr=lr)`` (the heavy ball with
        ``momentum=0.9``), or the optax transformation of
        :data:`TRANSFORM_BASELINES` it equals.
    method : str
        A key of :data:`TRANSFORM_BASELINES`.
    leaves : int
        The parameters as a dict of this many arrays (of ``n // leaves``
        coordinates each, the first takes the rest).

    Returns
    -------
    callable or None
        ``run() -> x``: one step (``update``, ``optax.apply_updates``, the
        parameters and state donated), compiled and warmed up before it is
        returned, the result ready; ``None`` without JAX.
    """
    libs = load() if libs is None else libs
    if libs is None:
        return None
    if method not in TRANSFORM_BASELINES:
        raise ValueError(f"method must be one of {sorted(TRANSFORM_BASELINES)}, got {method!r}")
    if which not in ("dynopt", "optax"):
        raise ValueError(f"which must be 'dynopt' or 'optax', got {which!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if (not isinstance(leaves, (int, np.integer)) or isinstance(leaves, bool)
            or not 1 <= leaves <= n):
        raise ValueError(f"leaves must be an integer in [1, n], got {leaves!r}")
    jax, jnp, optax = libs
    if which == "optax":
        opt = TRANSFORM_BASELINES[method](optax, lr)
    else:
        from .. import optax as dynopt_optax
        extra = {"momentum": 0.9} if method == "heavy_ball" else {}
        opt = dynopt_optax.transform(method, lr=lr, **extra)

    def step(x, state, grad):
        updates, state = opt.update(grad, state, x)
        return optax.apply_updates(x, updates), state

    jstep = jax.jit(step, donate_argnums=(0, 1))
    rng = np.random.default_rng(0)
    sizes = [int(n) // int(leaves)] * int(leaves)
    sizes[0] += int(n) - sum(sizes)
    grad = {f"w{j}": jnp.asarray(rng.standard_normal(m).astype(dtype))
            for j, m in enumerate(sizes)}
    x = {f"w{j}": jnp.asarray(np.ones(m, dtype=dtype)) for j, m in enumerate(sizes)}
    if leaves == 1:
        grad, x = grad["w0"], x["w0"]
    carry = {"x": x, "state": opt.init(x)}

    def run():
        x, state = jstep(carry["x"], carry["state"], grad)
        jax.block_until_ready(x)
        carry["x"], carry["state"] = x, state
        return x
    run()   # compile
    return run


def transform_ratio(sizes=(10**6, 10**7), methods=("adam",), rounds=30, leaves=(1,),
                    libs=None):
    """The jitted step of ``dynopt.optax.transform`` over its optax counterpart.

    Both steps of a row are timed in the same rotating rounds
    (:func:`dynopt.bench.timing.interleaved`), float32 parameters in each number
    of ``leaves``.

    Returns
    -------
    list of dict or None
        One row per size and method: ``n``, ``method``, ``dynopt`` and ``optax``
        (``min``/``median`` seconds per step), ``ratio`` (dynopt over optax:
        ratio of minima, ratio of medians); ``None`` without JAX.
    """
    from .timing import interleaved, ratio
    libs = load() if libs is None else libs
    if libs is None:
        return None
    rows = []
    for n in sizes:
        for count in leaves:
            for method in methods:
                contenders = {which: transform_step(which, method, n, leaves=count, libs=libs)
                              for which in ("dynopt", "optax")}
                times = interleaved(contenders, rounds=rounds, warmup=2)
                rows.append({"n": int(n), "leaves": int(count), "method": method,
                             "dynopt": {k: times["dynopt"][k] for k in ("min", "median")},
                             "optax": {k: times["optax"][k] for k in ("min", "median")},
                             "ratio": ratio(times, "dynopt", "optax")})
    return rows


def print_transform_report(rows) -> None:
    """Print the rows of :func:`transform_ratio` (or that JAX is missing)."""
    if rows is None:
        print(f"dynopt.optax.transform vs optax: {MISSING}")
        return
    print("dynopt.optax.transform under jax.jit vs optax (one step, float32; "
          "min / median of interleaved rounds)")
    for row in rows:
        d, o, r = row["dynopt"], row["optax"], row["ratio"]
        print(f"  {row['method']:<10} n={row['n']:>10,d} leaves={row['leaves']:<3d} "
              f"dynopt {d['min'] * 1e3:8.3f} / "
              f"{d['median'] * 1e3:8.3f} ms   optax {o['min'] * 1e3:8.3f} / "
              f"{o['median'] * 1e3:8.3f} ms   ratio {r['min']:.2f} / {r['median']:.2f}")


def _main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m dynopt.bench.jax_loops",
        description="Time the jitted step of dynopt.optax.transform against optax.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**6, 10**7])
    parser.add_argument("--methods", nargs="+", default=["adam"],
                        choices=sorted(TRANSFORM_BASELINES))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--leaves", type=int, nargs="+", default=[1],
                        help="the parameters as this many arrays (several values: one row each)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or any(n < 1 for n in args.sizes) or any(m < 1 for m in args.leaves):
        parser.error("--rounds, --sizes and --leaves must be positive")
    if any(m > n for m in args.leaves for n in args.sizes):
        parser.error("--leaves must not exceed --sizes")
    print_transform_report(transform_ratio(args.sizes, args.methods, args.rounds,
                                           args.leaves))


if __name__ == "__main__":
    _main()
