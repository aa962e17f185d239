"""Does KO keep the rows of a weight matrix diverse? A measurement, not an assumption.

KO (Feng et al., arXiv:2505.14777, 2025) claims that its collisions counter
"parameter condensation", the collapse of the rows of a weight matrix onto few
directions, and improve accuracy. :func:`measure` trains the same small network
(:class:`dynopt.problems.mlp.MLPProblem` on scikit-learn's 8x8 digits,
``64 -> hidden -> 10``, tanh) with KO (method ``'ko'``, the soft collision on the
rows of both weight matrices) and with KO's base optimizer alone, with the same
hyperparameters, initialisation and data split, through :func:`dynopt.minimize`
(full batch, a fixed number of steps), and reports for every seed

* the test accuracy,
* the mean absolute cosine between the rows of the first weight matrix
  (:func:`dynopt.diversity.mean_abs_cosine`; lower is more diverse),
* the effective rank of the first weight matrix
  (:func:`dynopt.diversity.effective_rank`; higher is more diverse),

next to the same diversity measures at initialisation. Nothing here expects KO to
win. Run ``python -m dynopt.experiments.ko_diversity`` for a table.

Every run goes through :func:`train_and_measure`, which the reproduction
``dynopt reproduce mlp`` (:mod:`dynopt.reproduce.mlp`) uses for all of its
runs; its KO rows paired with their base at the base's selected learning rate
are this measurement.
"""
from __future__ import annotations

import numpy as np

from .._minimize import minimize
from ..diversity import effective_rank, mean_abs_cosine
from ..methods.ko import BASES
from ..problems.mlp import MLPProblem

__all__ = ["measure", "train_and_measure", "format_table"]

METRICS = ("test_accuracy", "train_loss", "mean_abs_cosine", "effective_rank", "status")


def _check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _first_layer_diversity(problem: MLPProblem, theta) -> tuple:
    W1 = problem.layers(theta)[0][0]
    return mean_abs_cosine(W1), effective_rank(W1)


def train_and_measure(problem: MLPProblem, theta0, method, options) -> dict:
    """Train ``problem`` from ``theta0`` (full batch) and measure the result.

    Parameters
    ----------
    problem : MLPProblem
        The network and its data; "test" accuracy is on ``problem``'s held-out split.
    theta0 : ndarray, shape (problem.dim,)
        Initial parameters.
    method : str or Method
        Passed to :func:`dynopt.minimize`.
    options : dict
        Passed to :func:`dynopt.minimize` (hyperparameters, flags, loop options).

    Returns
    -------
    dict
        ``x`` (final parameters), ``status`` and ``nit`` (of :func:`dynopt.minimize`),
        ``train_loss`` (the final training loss), ``test_accuracy`` (on the held-out
        split), ``mean_abs_cosine`` and ``effective_rank`` of the first weight matrix
        (``None`` when the final parameters are not finite).
    """
    res = minimize(problem.fun_and_grad, theta0, jac=True, method=method, options=options)
    x = np.asarray(res.x, dtype=float)
    cos = rank = None
    if np.all(np.isfinite(x)):
        cos, rank = _first_layer_diversity(problem, x)
    return {"x": x, "status": int(res.status), "nit": int(res.nit), "train_loss": float(res.fun),
            "test_accuracy": problem.accuracy(x, "test"), "mean_abs_cosine": cos,
            "effective_rank": rank}


def measure(seeds=(0, 1, 2), steps: int = 300, base: str = "heavy_ball",
            gamma_c: float = 0.1, hidden: int = 32, *, lr: float = 0.1,
            base_hyperparameters=None, activation: str = "tanh") -> dict:
    """Train the digits MLP with KO and with its base optimizer; measure row diversity.

    Parameters
    ----------
    seeds : sequence of int, default (0, 1, 2)
        One run per seed and optimizer; the seed fixes the train/test split and the
        initial weights (:class:`~dynopt.problems.mlp.MLPProblem`), shared by both
        optimizers.
    steps : int, default 300
        Full-batch steps per run (``gtol = 0``: exactly this many).
    base : str, default 'heavy_ball'
        KO's base optimizer (a key of :data:`dynopt.methods.ko.BASES`).
    gamma_c : float, default 0.1
        KO's collision coefficient.
    hidden : int, default 32
        Width of the hidden layer.
    lr : float, default 0.1
        Learning rate of both optimizers.
    base_hyperparameters : dict, optional
        Further hyperparameters of the base method (e.g. ``{'momentum': 0.9}``),
        used by both optimizers.
    activation : {'tanh', 'relu'}, default 'tanh'
        Hidden nonlinearity.

    Returns
    -------
    dict
        ``'settings'`` (the arguments), ``'seeds'``, ``'init'`` (diversity of the
        initial first-layer weights per seed: ``mean_abs_cosine``, ``effective_rank``),
        and ``'ko'`` and ``'base'``: per-seed lists ``test_accuracy``, ``train_loss``,
        ``mean_abs_cosine``, ``effective_rank`` and ``status`` (of
        :func:`dynopt.minimize`).
    """
    try:
        seeds = tuple(seeds)
    except TypeError:
        raise TypeError(f"seeds must be a sequence of integers, got {seeds!r}") from None
    if not seeds:
        raise ValueError("seeds must not be empty")
    seeds = tuple(_check_int(s, "seeds[%d]" % i, low=0) for i, s in enumerate(seeds))
    steps = _check_int(steps, "steps")
    hidden = _check_int(hidden, "hidden", low=2)
    if base not in BASES:
        raise ValueError(f"base must be one of {sorted(BASES)}, got {base!r}")
    for name, val in (("gamma_c", gamma_c), ("lr", lr)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.number)) \
                or not np.isfinite(val) or val < 0 or (name == "lr" and val == 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}, "
                             f"got {val!r}")
    extra = dict(base_hyperparameters or {})
    clash = {"gamma_c", "lr", "maxiter", "gtol", "base", "layers"} & set(extra)
    if clash:
        raise ValueError(f"base_hyperparameters must not set {sorted(clash)}; use the arguments")

    out = {"settings": {"steps": steps, "base": base, "gamma_c": float(gamma_c), "hidden": hidden,
                        "lr": float(lr), "base_hyperparameters": extra,
                        "activation": activation},
           "seeds": list(seeds),
           "init": {"mean_abs_cosine": [], "effective_rank": []},
           "ko": {m: [] for m in METRICS}, "base": {m: [] for m in METRICS}}
    for seed in seeds:
        problem = MLPProblem(sizes=(64, hidden, 10), dataset="digits", seed=seed,
                             activation=activation)
        theta0 = problem.init_params()
        cos0, rank0 = _first_layer_diversity(problem, theta0)
        out["init"]["mean_abs_cosine"].append(cos0)
        out["init"]["effective_rank"].append(rank0)
        common = {"lr": lr, "maxiter": steps, "gtol": 0.0, "seed": seed, **extra}
        runs = {
            "ko": ("ko", {**common, "base": base, "layers": problem, "gamma_c": gamma_c}),
            "base": (BASES[base], common),
        }
        for key, (method, options) in runs.items():
            run = train_and_measure(problem, theta0, method, options)
            row = out[key]
            for metric in METRICS:
                row[metric].append(run[metric])
    return out


def format_table(result: dict) -> str:
    """A plain-text table of :func:`measure`'s result, one line per seed and optimizer."""
    s = result["settings"]
    lines = [f"digits MLP 64-{s['hidden']}-10 ({s['activation']}), {s['steps']} full-batch steps, "
             f"base {s['base']} lr={s['lr']} {s['base_hyperparameters'] or ''}, "
             f"KO gamma_c={s['gamma_c']}",
             f"{'seed':>4} {'optimizer':>10} {'test acc':>9} {'train loss':>11} "
             f"{'mean|cos| W1':>13} {'erank W1':>9}"]
    for i, seed in enumerate(result["seeds"]):
        lines.append(f"{seed:>4} {'init':>10} {'':>9} {'':>11} "
                     f"{result['init']['mean_abs_cosine'][i]:>13.4f} "
                     f"{result['init']['effective_rank'][i]:>9.3f}")
        for key in ("base", "ko"):
            r = result[key]
            lines.append(f"{seed:>4} {key:>10} {r['test_accuracy'][i]:>9.4f} "
                         f"{r['train_loss'][i]:>11.4g} {r['mean_abs_cosine'][i]:>13.4f} "
                         f"{r['effective_rank'][i]:>9.3f}")
    for key in ("base", "ko"):
        r = result[key]
        lines.append(f"mean {key:>10} {np.mean(r['test_accuracy']):>9.4f} "
                     f"{np.mean(r['train_loss']):>11.4g} {np.mean(r['mean_abs_cosine']):>13.4f} "
                     f"{np.mean(r['effective_rank']):>9.3f}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(format_table(measure()))
