"""One run of the digits MLP: a row's optimizer at one rate on one seed's split.

:func:`make_problems` gives seed ``s``'s test problem and its validation
problem (the training split split again); :func:`run_point` trains one and
measures held-out accuracy, loss and the diversity of the weight rows.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..base import DIVERGED_STATUSES, single_threaded_blas
from .protocol import HIDDEN, ROWS, SENSITIVITY, TEST_FRACTION, VALIDATION_FRACTION, _spec

__all__ = ["make_problems", "run_point"]


@functools.lru_cache(maxsize=8)
def _digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    return data.data.astype(float), data.target.astype(np.int64)


def make_problems(seed: int, hidden: int = HIDDEN) -> dict:
    """The test problem of seed ``seed`` and its validation problem.

    Returns
    -------
    dict
        ``'test'``: :class:`~dynopt.problems.mlp.MLPProblem` on the digits,
        seed ``seed`` (its held-out split is the test set); ``'select'``: the
        same network on that problem's training split only, of which
        :data:`VALIDATION_FRACTION` of each class is held out (the problem's
        "test" split is then the validation set). Both give the same initial
        parameters (``init_params()`` depends only on the seed and the sizes).
    """
    from ...problems.mlp import MLPProblem, _stratified_split
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    sizes = (64, int(hidden), 10)
    test = MLPProblem(sizes=sizes, dataset="digits", seed=int(seed), test_fraction=TEST_FRACTION)
    X, y = _digits()
    train_idx, _ = _stratified_split(y, TEST_FRACTION, np.random.default_rng(int(seed)))
    if not np.array_equal(y[train_idx], test.y_train):      # the problem's own split, redrawn
        raise RuntimeError("could not recover the training split of MLPProblem")
    select = MLPProblem(sizes=sizes, dataset=(X[train_idx], y[train_idx]), seed=int(seed),
                        test_fraction=VALIDATION_FRACTION)
    return {"test": test, "select": select}


# --------------------------------------------------------------------------- one run
def run_point(phase: str, method: str, lr: float, seed: int, *, steps: int,
              hidden: int = HIDDEN) -> dict:
    """Train one row's optimizer at one rate on one seed's problem.

    Parameters
    ----------
    phase : {'select', 'test'}
        ``'select'``: train on the inner training part and evaluate on the
        validation part; ``'test'``: train on the whole training split and
        evaluate on the test split.
    method : str
        A key of :data:`ROWS` or :data:`SENSITIVITY`.
    lr : float
        Learning rate.
    seed : int
        Split and initial weights (:func:`make_problems`).
    steps : int
        Full-batch steps.
    hidden : int
        Hidden width.

    Returns
    -------
    dict
        ``accuracy`` (held-out accuracy as measured), ``counted_accuracy`` (0
        for a diverged run), ``heldout_loss`` (cross-entropy on the held-out
        split), ``train_loss``, ``run_status``, ``nit``, ``diverged``, the row
        diversity ``cos_W1``, ``erank_W1``, ``cos_W2``, ``erank_W2`` (``None``
        for non-finite weights) and at initialisation ``cos_W1_init``,
        ``erank_W1_init``; for ``'test'`` also ``predictions`` (test labels
        predicted) and ``theta`` (the final parameters).
    """
    from ...experiments.ko_diversity import train_and_measure
    if phase not in ("select", "test"):
        raise ValueError(f"phase must be 'select' or 'test', got {phase!r}")
    if method not in ROWS and method not in SENSITIVITY:
        raise ValueError(f"method must be one of {sorted(ROWS) + sorted(SENSITIVITY)}, "
                         f"got {method!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    spec = _spec(method)
    problem = make_problems(seed, hidden)[phase]
    theta0 = problem.init_params()
    options = {**spec["options"], "lr": float(lr), "maxiter": int(steps), "gtol": 0.0,
               "seed": int(seed)}
    if spec["method"] == "ko":
        options["layers"] = problem
    with single_threaded_blas():
        run = train_and_measure(problem, theta0, spec["method"], options)
    return _measures(problem, theta0, run, test=phase == "test")


def _measures(problem, theta0, run, test: bool) -> dict:
    """The record of one training run (see :func:`run_point`), from
    :func:`~dynopt.experiments.ko_diversity.train_and_measure`'s ``run``."""
    from ...diversity import effective_rank, mean_abs_cosine
    x = run["x"]
    status = run["status"]
    finite = bool(np.all(np.isfinite(x)))
    diverged = status in DIVERGED_STATUSES or not finite
    W2 = problem.layers(x)[1][0]
    W1_0 = problem.layers(theta0)[0][0]
    proba = problem.predict_proba(x, problem.X_test) if finite else None
    out = {
        "accuracy": run["test_accuracy"],
        "counted_accuracy": 0.0 if diverged else run["test_accuracy"],
        # a probability that underflows to 0 counts as the smallest positive double
        "heldout_loss": (float(-np.mean(np.log(np.maximum(
            proba[np.arange(problem.n_test), problem.y_test], np.finfo(float).tiny))))
            if finite else math.inf),
        "train_loss": run["train_loss"], "run_status": status, "nit": run["nit"],
        "diverged": diverged,
        "cos_W1": run["mean_abs_cosine"], "erank_W1": run["effective_rank"],
        "cos_W2": mean_abs_cosine(W2) if finite else None,
        "erank_W2": effective_rank(W2) if finite else None,
        "cos_W1_init": mean_abs_cosine(W1_0), "erank_W1_init": effective_rank(W1_0),
    }
    if not math.isfinite(out["heldout_loss"]):
        out["heldout_loss"] = None
    if test:
        out["predictions"] = (np.argmax(proba, axis=1) if finite
                              else np.full(problem.n_test, -1)).tolist()
        out["theta"] = x.tolist()
    return out
