r"""A small classifier: KO, FANoS and Frankenstein against SGD and Adam.

The three papers report on networks and data sets far larger than anything
that runs in minutes on two cores, and none of them reports on the data set
used here, so this reproduction measures their qualitative claims on a small
network:

* KO (M. Feng, Y. Huang, Y. Fu, S. Wang, J. Yan, "KO: Kinetics-inspired
  Neural Optimizer with PDE Simulation Approaches", arXiv:2505.14777, 2025):
  KO "consistently outperforms" Adam and SGD in accuracy (CIFAR-10/100,
  ImageNet, IMDB, Snips) and its collisions keep the parameters diverse,
  against "parameter condensation" (rows of a weight matrix collapsing onto
  few directions);
* Frankenstein (C.-W. Hsu, N.-T. Tsou, Y.-C. Chen, Y. J. Park, J. Li,
  "Frankenstein Optimizer: Harnessing the Potential by Revisiting Optimization
  Tricks", arXiv:2503.02147, 2025): it "surpasses existing adaptive algorithms
  and SGD" in convergence speed and generalization;
* FANoS (N. Dhiman, "FANoS: Friction-Adaptive Nosé–Hoover Symplectic Momentum
  for Stiff Objectives", arXiv:2601.00889, 2026) reports no classifier; it is
  measured here for completeness.

Problem
-------
:class:`dynopt.problems.mlp.MLPProblem` on scikit-learn's bundled 8x8
handwritten digits (1797 samples, 64 features, 10 classes): a ``64 -> 32 ->
10`` network with tanh hidden units, mean softmax cross-entropy, no weight
decay, Glorot-uniform initial weights and zero biases. Seed :math:`s` fixes
the stratified split (25% of each class held out for testing: 1347 training,
450 test samples), the standardisation (training-split statistics) and the
initial weights, shared by every optimizer.

Protocol
--------
* Full batch: every step uses the gradient of the whole training loss (so
  "SGD" here is gradient descent); a fixed number of steps (``gtol = 0``),
  run by :func:`dynopt.minimize` through
  :func:`dynopt.experiments.ko_diversity.train_and_measure`.
* Learning rate per optimizer by validation: the training split of seed
  :math:`s` is split again (20% of each class for validation, standardised
  with the inner training part), every rate of the optimizer's grid
  (:data:`LR_GRIDS`) is trained on the inner part, and the rate with the
  highest mean validation accuracy over the selection seeds wins (ties: the
  lower mean validation cross-entropy, then the smaller rate). The grids are
  five rates :math:`\sqrt{10}` apart around the best validation accuracy of a
  preliminary scan over :math:`10^{-4} .. 3` at seed 0 (same for every
  optimizer); a choice at the edge of its grid is flagged in the notes. KO
  uses its base's grid.
* Test: with the chosen rate, train on the whole training split of every seed
  and evaluate on its test split. Reported per optimizer: test accuracy (mean
  and standard deviation over seeds), final training loss, and the diversity
  of the rows of the first weight matrix :math:`W_1` (32 rows of 64),
  :func:`dynopt.diversity.mean_abs_cosine` (lower: more diverse) and
  :func:`dynopt.diversity.effective_rank` (higher: more diverse), beside their
  values at initialisation.
* KO paired with its base: KO is also trained at its base's chosen rate, so
  that KO and its base differ only in the collision (same rate, split and
  initial weights: the measurement of
  :func:`dynopt.experiments.ko_diversity.measure`); the paired differences
  over seeds are what the KO claims are judged on.
* Sensitivity of KO to its collision (KO on SGD only, to keep the cost low):
  at SGD's chosen rate and on the same test seeds, KO with
  :math:`\gamma_c \in` :data:`SENSITIVITY_GAMMAS` and each collision scale of
  :data:`SENSITIVITY_SCALES` (the flag ``collision_scale`` of
  :mod:`dynopt.methods.ko`: the collision sum divided by the number of other
  rows, or not divided), each paired with SGD by seed. All :math:`\gamma_c`
  are below 1, where the ``'mean'`` scale keeps a descent direction; the
  ``'sum'`` scale multiplies the collision by 31 in :math:`W_1` (32 rows) and
  by 9 in :math:`W_2` (10 rows), so it also shows what happens beyond that
  bound. The cell ``'mean'``, :math:`\gamma_c = 0.1` is the ``ko_sgd`` row's
  paired run. The quick size runs one extra cell only.
* A run that diverges (status 3, NaN/Inf, or 4, divergence) scores accuracy 0.

Settings that are not swept keep their defaults: heavy ball momentum 0.9,
Adam's betas (0.9, 0.999), FANoS as in its paper (``grad_clip = 1``),
Frankenstein's authors'-code variant, KO's soft collision with
:math:`\gamma_c = 0.1` on the rows of both weight matrices (a reconstruction:
see :mod:`dynopt.methods.ko`).
"""
from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np

from .base import Report, Reproduction
from .rosenbrock import DIVERGED_STATUSES, single_threaded_blas

__all__ = ["ROWS", "LR_GRIDS", "PLANS", "GAMMA_C", "CLAIMS", "SENSITIVITY_GAMMAS",
           "SENSITIVITY_SCALES", "SENSITIVITY", "sensitivity_row", "sensitivity_cells",
           "sensitivity_summary", "sensitivity_rows", "row_names", "grid_of",
           "make_problems", "run_point", "sweep_task", "select_rates", "summarize_rows",
           "paired_differences", "run", "REPRODUCTION"]

#: width of the hidden layer
HIDDEN = 32
#: fraction of each class held out for testing (of the whole data set)
TEST_FRACTION = 0.25
#: fraction of each class of the training split held out for validation
VALIDATION_FRACTION = 0.2
#: KO's collision coefficient (the method's default)
GAMMA_C = 0.1

#: row -> registered method, its options, the grid it uses, a label, KO's base row
ROWS = {
    "sgd": {"method": "gd", "options": {}, "grid": "sgd",
            "label": "SGD, full batch (gd)"},
    "momentum": {"method": "heavy_ball", "options": {"momentum": 0.9}, "grid": "momentum",
                 "label": "SGD + momentum 0.9 (heavy_ball)"},
    "adam": {"method": "adam", "options": {}, "grid": "adam", "label": "Adam"},
    "ko_sgd": {"method": "ko", "options": {"base": "sgd", "gamma_c": GAMMA_C}, "grid": "sgd",
               "label": "KO on SGD", "base_row": "sgd"},
    "ko_momentum": {"method": "ko", "options": {"base": "heavy_ball", "gamma_c": GAMMA_C},
                    "grid": "momentum", "label": "KO on SGD + momentum",
                    "base_row": "momentum"},
    "ko_adam": {"method": "ko", "options": {"base": "adam", "gamma_c": GAMMA_C}, "grid": "adam",
                "label": "KO on Adam", "base_row": "adam"},
    "fanos": {"method": "fanos", "options": {}, "grid": "fanos", "label": "FANoS"},
    "frankenstein": {"method": "frankenstein", "options": {}, "grid": "frankenstein",
                     "label": "Frankenstein"},
}

#: KO-on-SGD sensitivity: collision coefficients (all < 1, where the 'mean' scale
#: keeps a descent direction) and collision scales (``collision_scale`` of 'ko')
SENSITIVITY_GAMMAS = (0.1, 0.3, 0.9)
SENSITIVITY_SCALES = ("mean", "sum")


def sensitivity_row(scale: str, gamma: float) -> str:
    """The row key of one sensitivity cell; ``('mean', GAMMA_C)`` is ``'ko_sgd'``."""
    if scale not in SENSITIVITY_SCALES:
        raise ValueError(f"scale must be one of {SENSITIVITY_SCALES}, got {scale!r}")
    if scale == "mean" and gamma == GAMMA_C:
        return "ko_sgd"
    return f"ko_sgd_{scale}_g{gamma:g}"


#: the sensitivity's extra rows (every cell but ``ko_sgd``), trained at SGD's chosen rate
SENSITIVITY = {
    sensitivity_row(sc, gm): {
        "method": "ko", "options": {"base": "sgd", "gamma_c": gm, "collision_scale": sc},
        "grid": "sgd", "label": f"KO on SGD, gamma_c {gm:g}, {sc} scale", "base_row": "sgd",
        "gamma_c": gm, "collision_scale": sc}
    for sc in SENSITIVITY_SCALES for gm in SENSITIVITY_GAMMAS
    if sensitivity_row(sc, gm) != "ko_sgd"}

#: learning-rate grids (five rates sqrt(10) apart)
LR_GRIDS = {
    "sgd": (0.1, 0.3, 1.0, 3.0, 10.0),
    "momentum": (3e-3, 1e-2, 3e-2, 0.1, 0.3),
    "adam": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "fanos": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "frankenstein": (1e-3, 3e-3, 1e-2, 3e-2, 0.1),
}

#: size -> test seeds, selection seeds, steps, which part of each grid, the
#: sensitivity's extra cells (scale, gamma_c)
PLANS = {
    "quick": {"seeds": 2, "select_seeds": 1, "steps": 100, "grid": slice(1, 3),
              "sensitivity": (("sum", 0.1),)},
    "default": {"seeds": 5, "select_seeds": 3, "steps": 1000, "grid": slice(None),
                "sensitivity": tuple((s["collision_scale"], s["gamma_c"])
                                     for s in SENSITIVITY.values())},
    "full": {"seeds": 10, "select_seeds": 5, "steps": 3000, "grid": slice(None),
             "sensitivity": tuple((s["collision_scale"], s["gamma_c"])
                                  for s in SENSITIVITY.values())},
}

#: the papers' claims beside each row (none of them reports on this data set)
CLAIMS = {
    "sgd": "baseline", "momentum": "baseline", "adam": "baseline",
    "ko_sgd": "KO: more accurate, rows more diverse",
    "ko_momentum": "KO: more accurate, rows more diverse",
    "ko_adam": "KO: more accurate, rows more diverse",
    "fanos": "no classifier result",
    "frankenstein": "generalizes better than Adam, SGD",
    **{row: "KO: more accurate, rows more diverse" for row in SENSITIVITY},
}


def _spec(row: str) -> dict:
    return ROWS[row] if row in ROWS else SENSITIVITY[row]


def row_names() -> list:
    """The rows whose methods are registered at run time, in table order."""
    import dynopt
    return [r for r, spec in ROWS.items() if spec["method"] in dynopt.METHODS]


def sensitivity_rows(rows, size: str) -> list:
    """The sensitivity's extra rows at ``size``: none unless ``sgd`` and ``ko_sgd`` run."""
    if "sgd" not in rows or "ko_sgd" not in rows:
        return []
    return [sensitivity_row(sc, gm) for sc, gm in PLANS[size]["sensitivity"]]


def grid_of(row: str, size: str) -> tuple:
    """The learning rates of ``row`` at size ``size``."""
    if row not in ROWS:
        raise ValueError(f"row must be one of {sorted(ROWS)}, got {row!r}")
    if size not in PLANS:
        raise ValueError(f"size must be one of {sorted(PLANS)}, got {size!r}")
    return tuple(LR_GRIDS[ROWS[row]["grid"]][PLANS[size]["grid"]])


# --------------------------------------------------------------------------- problems
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
    from ..problems.mlp import MLPProblem, _stratified_split
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
    from ..diversity import effective_rank, mean_abs_cosine
    from ..experiments.ko_diversity import train_and_measure
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
    if phase == "test":
        out["predictions"] = (np.argmax(proba, axis=1) if finite
                              else np.full(problem.n_test, -1)).tolist()
        out["theta"] = x.tolist()
    return out


def sweep_task(phase, method, lr, seed, *, steps, hidden):
    """The sweep's task (module level, so a process pool can carry it)."""
    return run_point(phase, method, lr, seed, steps=steps, hidden=hidden)


# --------------------------------------------------------------------------- aggregation
def select_rates(records, rows) -> dict:
    """The chosen rate of each row from its ``'select'`` records.

    Highest mean ``counted_accuracy`` over the finished seeds; ties: lower mean
    ``heldout_loss`` (``None``, a diverged run, counts as infinite), then the
    smaller rate. Rows without any finished record map to ``None``.
    """
    chosen = {}
    for row in rows:
        by_lr = {}
        for rec in records:
            if rec["phase"] == "select" and rec["method"] == row and rec["status"] == "ok":
                by_lr.setdefault(rec["lr"], []).append(rec)
        if not by_lr:
            chosen[row] = None
            continue

        def score(lr):
            recs = by_lr[lr]
            acc = float(np.mean([r["counted_accuracy"] for r in recs]))
            loss = float(np.mean([math.inf if r["heldout_loss"] is None or r["diverged"]
                                  else r["heldout_loss"] for r in recs]))
            return (-acc, loss, lr)

        chosen[row] = min(by_lr, key=score)
    return chosen


def _mean_std(values):
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def summarize_rows(records, rows, chosen, grids) -> list:
    """Table rows: per optimizer the test statistics at its chosen rate.

    Parameters
    ----------
    records : list of dict
        All records (both phases).
    rows : list of str
        Row keys, in table order.
    chosen : dict
        Row -> chosen rate (or ``None``).
    grids : dict
        Row -> its grid (to flag a choice at an edge).

    Returns
    -------
    list of dict
        An ``'init'`` row (diversity of the initial weights) and one row per
        optimizer: ``method``, ``label``, ``lr``, ``edge``, ``acc_mean``,
        ``acc_std`` (over seeds of the counted accuracy), ``train_loss``,
        ``cos_W1``, ``cos_std``, ``erank_W1``, ``erank_std``, ``n`` (finished
        test runs), ``diverged``, ``failed`` (failed or unrun test runs),
        ``paper`` (the claim) and ``values`` (per-seed counted accuracies).
    """
    test = [r for r in records if r["phase"] == "test"]
    init = {}
    for r in test:
        if r["status"] == "ok":
            init.setdefault(r["seed"], (r["cos_W1_init"], r["erank_W1_init"]))
    c0, c0s = _mean_std([v[0] for v in init.values()])
    e0, e0s = _mean_std([v[1] for v in init.values()])
    out = [{"method": "init", "label": "initial weights (no training)", "lr": None,
            "edge": None, "acc_mean": None, "acc_std": None, "train_loss": None,
            "cos_W1": c0, "cos_std": c0s, "erank_W1": e0, "erank_std": e0s, "n": len(init),
            "diverged": None, "failed": None, "paper": "", "values": []}]
    for row in rows:
        lr = chosen.get(row)
        mine = [r for r in test if r["method"] == row and lr is not None and r["lr"] == lr]
        ok = [r for r in mine if r["status"] == "ok"]
        acc, acc_sd = _mean_std([r["counted_accuracy"] for r in ok])
        cos, cos_sd = _mean_std([r["cos_W1"] for r in ok])
        erank, erank_sd = _mean_std([r["erank_W1"] for r in ok])
        grid = grids[row]
        out.append({
            "method": row, "label": _spec(row)["label"], "lr": lr,
            "edge": None if lr is None else (lr == grid[0] or lr == grid[-1]),
            "acc_mean": acc, "acc_std": acc_sd,
            "train_loss": _mean_std([r["train_loss"] for r in ok])[0],
            "cos_W1": cos, "cos_std": cos_sd, "erank_W1": erank, "erank_std": erank_sd,
            "n": len(ok), "diverged": sum(bool(r["diverged"]) for r in ok),
            "failed": len(mine) - len(ok), "paper": CLAIMS[row],
            "values": [r["counted_accuracy"] for r in ok]})
    return out


def paired_differences(records, a, lr_a, b, lr_b, fields=("counted_accuracy", "cos_W1",
                                                          "erank_W1")) -> dict:
    """Per-seed differences ``a - b`` of ``fields`` between two rows' test runs.

    Only seeds where both runs finished (and the field is not ``None``) count.
    Returns ``{field: {'mean', 'std', 'se', 'n', 'values'}}``; ``std`` and
    ``se`` (standard error of the mean) are ``None`` below two seeds.
    """
    def runs(row, lr):
        return {r["seed"]: r for r in records if r["phase"] == "test" and r["method"] == row
                and r["lr"] == lr and r["status"] == "ok"}
    ra, rb = runs(a, lr_a), runs(b, lr_b)
    out = {}
    for f in fields:
        d = [ra[s][f] - rb[s][f] for s in sorted(set(ra) & set(rb))
             if ra[s][f] is not None and rb[s][f] is not None]
        mean, sd = _mean_std(d)
        out[f] = {"mean": mean, "std": sd, "n": len(d), "values": d,
                  "se": None if sd is None else sd / math.sqrt(len(d))}
    return out


def sensitivity_cells(size: str) -> list:
    """The sensitivity's cells ``(scale, gamma_c)`` at ``size``, ``('mean', GAMMA_C)`` included,
    ordered by scale, then by ``gamma_c``."""
    if size not in PLANS:
        raise ValueError(f"size must be one of {sorted(PLANS)}, got {size!r}")
    cells = {("mean", GAMMA_C), *PLANS[size]["sensitivity"]}
    return sorted(cells, key=lambda c: (SENSITIVITY_SCALES.index(c[0]), c[1]))


def sensitivity_summary(records, lr, cells) -> list:
    """KO on SGD at SGD's rate ``lr``, one dict per cell ``(scale, gamma_c)``.

    Each dict: ``row`` (the records' row key), ``collision_scale``, ``gamma_c``,
    ``lr``, ``n`` (finished test runs), ``diverged``, ``acc_mean``, ``acc_std``,
    ``train_loss``, ``cos_W1``, ``cos_std``, ``erank_W1``, ``erank_std`` and
    ``paired``: :func:`paired_differences` against ``sgd`` at ``lr``.
    """
    out = []
    for scale, gamma in cells:
        row = sensitivity_row(scale, gamma)
        ok = [r for r in records if r["phase"] == "test" and r["method"] == row
              and r["lr"] == lr and r["status"] == "ok"]
        acc, acc_sd = _mean_std([r["counted_accuracy"] for r in ok])
        cos, cos_sd = _mean_std([r["cos_W1"] for r in ok])
        erank, erank_sd = _mean_std([r["erank_W1"] for r in ok])
        out.append({"row": row, "collision_scale": scale, "gamma_c": gamma, "lr": lr,
                    "n": len(ok), "diverged": sum(bool(r["diverged"]) for r in ok),
                    "acc_mean": acc, "acc_std": acc_sd,
                    "train_loss": _mean_std([r["train_loss"] for r in ok])[0],
                    "cos_W1": cos, "cos_std": cos_sd, "erank_W1": erank, "erank_std": erank_sd,
                    "paired": paired_differences(records, row, lr, "sgd", lr,
                                                 fields=("counted_accuracy", "cos_W1",
                                                         "erank_W1", "train_loss"))})
    return out


SENSITIVITY_COLUMNS = ["collision_scale", "gamma_c", "row", "lr", "n", "diverged", "acc_mean",
                       "acc_std", "d_acc", "d_acc_se", "cos_W1", "cos_std", "d_cos", "d_cos_se",
                       "erank_W1", "erank_std", "d_erank", "d_erank_se", "train_loss",
                       "d_train_loss"]


def _write_sensitivity(cells, path) -> Path:
    """The sensitivity cells as a CSV file (paired differences to SGD as ``d_*``)."""
    import csv
    with Path(path).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SENSITIVITY_COLUMNS)
        writer.writeheader()
        for c in cells:
            d = c["paired"]
            writer.writerow({
                **{k: c[k] for k in SENSITIVITY_COLUMNS if k in c},
                "d_acc": d["counted_accuracy"]["mean"], "d_acc_se": d["counted_accuracy"]["se"],
                "d_cos": d["cos_W1"]["mean"], "d_cos_se": d["cos_W1"]["se"],
                "d_erank": d["erank_W1"]["mean"], "d_erank_se": d["erank_W1"]["se"],
                "d_train_loss": d["train_loss"]["mean"]})
    return Path(path)


def _verdict(diff, better: str) -> str:
    """Words for a paired difference ``a - b``; ``better`` is 'higher' or 'lower'."""
    mean, se, n = diff["mean"], diff["se"], diff["n"]
    if mean is None:
        return "not measured"
    if n < 2:
        return "one seed only"
    if mean == 0.0 and (diff["std"] or 0.0) == 0.0:
        return "identical on every seed"
    side = "higher" if mean > 0 else "lower"
    word = "better" if side == better else "worse"
    if se == 0.0 or abs(mean) > 2.0 * se:
        return f"{side} beyond two standard errors: {word}"
    return "within two standard errors of zero"


# --------------------------------------------------------------------------- the run
COLUMNS = ["method", "lr", "acc_mean", "acc_std", "train_loss", "cos_W1", "cos_std",
           "erank_W1", "erank_std", "n", "diverged", "failed", "paper", "measured"]


def run(config) -> Report:
    """Run the reproduction at ``config.size`` and return its :class:`Report` (data files
    written, figures planned)."""
    from .base import sweep
    t0 = time.perf_counter()
    plan = dict(PLANS[config.size])
    seeds = config.seeds if config.seeds is not None else plan["seeds"]
    select_seeds = min(plan["select_seeds"], seeds)
    rows = row_names()
    grids = {r: grid_of(r, config.size) for r in rows}
    task = functools.partial(sweep_task, steps=plan["steps"], hidden=HIDDEN)
    select_points = [{"phase": "select", "method": r, "lr": lr, "seed": s}
                     for r in rows for lr in grids[r] for s in range(select_seeds)]
    selection = sweep(config, task, select_points)
    records = [dict(r) for r in selection.records]
    chosen = select_rates(records, rows)
    complete = selection.complete
    sens = sensitivity_rows(rows, config.size) if chosen.get("sgd") is not None else []
    table_rows = rows + sens
    table_chosen = {**chosen, **{r: chosen["sgd"] for r in sens}}
    table_grids = {**grids, **{r: grids["sgd"] for r in sens}}
    if complete:
        tests = sweep(config, task, _test_points(table_rows, table_chosen, seeds))
        complete = tests.complete
        records += [dict(r) for r in tests.records]
    thetas = {}
    for rec in records:
        theta = rec.pop("theta", None)
        if theta is not None:
            thetas[(rec["method"], rec["lr"], rec["seed"])] = theta
    table = summarize_rows(records, table_rows, table_chosen, table_grids)
    paired = _paired(records, table_rows, table_chosen)
    cells = (sensitivity_summary(records, chosen["sgd"], sensitivity_cells(config.size))
             if sens else [])
    for row in table:
        row["paired"] = paired.get(row["method"])
        row["measured"] = _measured_text(row["method"], paired)
    config.out.mkdir(parents=True, exist_ok=True)
    weights = _write_weights(thetas, config.out / "mlp_weights.npz")
    data_files = [weights]
    if cells:
        data_files.append(_write_sensitivity(cells, config.out / "mlp_sensitivity.csv"))
    report = Report(
        name="mlp",
        title=(f"Digits MLP 64-{HIDDEN}-10 (tanh), {plan['steps']} full-batch steps, rate chosen "
               f"on a validation split: test accuracy and weight-row diversity (KO, FANoS, "
               f"Frankenstein vs SGD and Adam)"),
        columns=COLUMNS, rows=table, records=records, complete=complete,
        notes=_notes(table, records, plan, seeds, select_seeds, grids, chosen, paired,
                     selection.complete, cells),
        meta={"size": config.size, "seeds": seeds, "select_seeds": select_seeds,
              "steps": plan["steps"], "hidden": HIDDEN, "grids": grids, "chosen": chosen,
              "rows": rows, "test_fraction": TEST_FRACTION,
              "validation_fraction": VALIDATION_FRACTION, "gamma_c": GAMMA_C,
              "weights_file": weights.name, "sensitivity_rows": sens,
              "sensitivity": cells})
    report.plan_figure(config.out / "mlp_results.png",
                       functools.partial(_plot_results, table, records))
    report.plan_figure(config.out / "mlp_selection.png",
                       functools.partial(_plot_selection, records, rows, chosen))
    if cells:
        report.plan_figure(config.out / "mlp_sensitivity.png",
                           functools.partial(_plot_sensitivity, cells))
    report.data_files = data_files
    report.meta["wall_time_s"] = round(time.perf_counter() - t0, 2)
    return report


def _test_points(rows, chosen, seeds):
    """Each row at its chosen rate; KO rows also at their base's chosen rate (a generator)."""
    for row in rows:
        rates = [chosen[row]]
        base = _spec(row).get("base_row")
        if base is not None and base in chosen:
            rates.append(chosen[base])
        for lr in dict.fromkeys(r for r in rates if r is not None):
            for s in range(seeds):
                yield {"phase": "test", "method": row, "lr": lr, "seed": s}


def _paired(records, rows, chosen) -> dict:
    """KO rows: differences to the base at the base's rate; FANoS, Frankenstein: to SGD
    and Adam (each at its own chosen rate)."""
    out = {}
    for row in rows:
        base = _spec(row).get("base_row")
        if base is not None:
            if chosen.get(base) is not None:
                out[row] = {base: paired_differences(records, row, chosen[base], base,
                                                     chosen[base])}
        elif row in ("fanos", "frankenstein") and chosen.get(row) is not None:
            out[row] = {ref: paired_differences(records, row, chosen[row], ref, chosen[ref])
                        for ref in ("sgd", "momentum", "adam")
                        if ref in rows and chosen.get(ref) is not None}
    return out


def _measured_text(row, paired) -> str:
    """The table's short form of a row's paired differences (mean over seeds)."""
    refs = paired.get(row) or {}
    parts = []
    for ref, d in refs.items():
        acc, cos = d["counted_accuracy"]["mean"], d["cos_W1"]["mean"]
        if acc is None:
            continue
        if _spec(row).get("base_row") == ref:
            parts.append(f"vs {ref} same lr: acc {100 * acc:+.2f} pp, cos {cos:+.1e}")
        else:
            parts.append(f"{ref} {100 * acc:+.2f}")
    if parts and _spec(row).get("base_row") is None:
        return "acc pp vs " + ", ".join(parts)
    return "; ".join(parts)


def _write_weights(thetas, path) -> Path:
    """The final parameters of every test run: ``theta`` (runs, dim), ``method``, ``lr``, ``seed``."""
    keys = sorted(thetas, key=lambda k: (k[0], k[1], k[2]))
    dim = len(next(iter(thetas.values()))) if thetas else 0
    np.savez_compressed(
        path, theta=np.array([thetas[k] for k in keys], dtype=float).reshape(len(keys), dim),
        method=np.array([k[0] for k in keys], dtype=str),
        lr=np.array([k[1] for k in keys], dtype=float),
        seed=np.array([k[2] for k in keys], dtype=int),
        sizes=np.array([64, HIDDEN, 10]))
    return Path(path)


# --------------------------------------------------------------------------- notes
def _fmt(value, spec=".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def _pp(diff) -> str:
    """An accuracy difference in percentage points, with its standard error."""
    if diff["mean"] is None:
        return "n/a"
    se = "" if diff["se"] is None else f" ± {100 * diff['se']:.2f}"
    return f"{100 * diff['mean']:+.2f}{se} pp"


def _pm(diff, reference=None) -> str:
    """A difference with its standard error, and relative to ``reference`` (the base's mean)."""
    if diff["mean"] is None:
        return "n/a"
    se = "" if diff["se"] is None else f" ± {diff['se']:.1e}"
    rel = "" if not reference else f", {100 * diff['mean'] / reference:+.3g}% of the base's value"
    return f"{diff['mean']:+.2e}{se}{rel}"


def _notes(table, records, plan, seeds, select_seeds, grids, chosen, paired,
           selection_complete, cells=()) -> list:
    by = {r["method"]: r for r in table}
    notes = [
        "Protocol: scikit-learn digits, stratified split per seed (25% test: 1347 train, 450 "
        f"test), network 64-{HIDDEN}-10 tanh, cross-entropy, no weight decay, Glorot-uniform "
        f"init; {plan['steps']} full-batch steps (every step sees the whole training split, so "
        f"'SGD' is gradient descent); {seeds} test seeds, {select_seeds} selection seeds.",
        "Rate selection: per optimizer the rate of its grid with the highest mean validation "
        "accuracy (20% of each class of the training split held out; ties: lower validation "
        "cross-entropy, then the smaller rate); grids: "
        + "; ".join(f"{r} {list(grids[r])}" for r in grids) + ". KO uses its base's grid; "
        f"gamma_c = {GAMMA_C}. A diverged run (status 3/4) scores accuracy 0.",
        "Diversity: cos_W1 = mean |cosine| over pairs of rows of the first weight matrix "
        "(lower = more diverse), erank_W1 = its effective rank (Roy & Vetterli 2007; higher = "
        "more diverse, at most 32); 'init' is the initial weights. acc_std, cos_std, erank_std: "
        "standard deviation over seeds. Paired differences below: mean ± standard error over "
        "the seeds (same split and initial weights). Final parameters of every test run: "
        "mlp_weights.npz.",
    ]
    if plan["steps"] != PLANS["default"]["steps"] or seeds < PLANS["default"]["seeds"]:
        notes.append(f"At this size ({seeds} seeds, {plan['steps']} steps, "
                     f"{len(next(iter(grids.values()), ()))} rates per grid) the figures are a "
                     f"smoke test, not a measurement.")
    for row, lr in chosen.items():
        if lr is not None and len(grids[row]) > 2 and lr in (grids[row][0], grids[row][-1]):
            notes.append(f"{row}: the chosen rate {lr:g} is at the edge of its grid; the best "
                         f"rate may lie outside it.")
    for row in ("ko_sgd", "ko_momentum", "ko_adam"):
        base = ROWS[row]["base_row"]
        pair = paired.get(row, {}).get(base)
        if pair is None:
            continue
        acc, cos, erank = pair["counted_accuracy"], pair["cos_W1"], pair["erank_W1"]
        notes.append(
            f"{row} vs {base}, both at {base}'s rate {chosen[base]:g} ({acc['n']} seeds): "
            f"accuracy {_pp(acc)} ({_verdict(acc, 'higher')}); cos_W1 "
            f"{_pm(cos, by[base]['cos_W1'])} ({_verdict(cos, 'lower')}); erank_W1 "
            f"{_pm(erank, by[base]['erank_W1'])} ({_verdict(erank, 'higher')}). The KO "
            f"paper claims higher accuracy and more diverse rows.")
        own = by.get(row)
        if own and own["lr"] is not None and own["lr"] != chosen[base]:
            notes.append(f"{row} at its own chosen rate {own['lr']:g}: accuracy "
                         f"{_fmt(own['acc_mean'])} against {base}'s {_fmt(by[base]['acc_mean'])}.")
    for row in ("fanos", "frankenstein"):
        refs = paired.get(row, {})
        if not refs:
            continue
        parts = [f"vs {ref}: accuracy {_pp(d['counted_accuracy'])} "
                 f"({_verdict(d['counted_accuracy'], 'higher')})" for ref, d in refs.items()]
        claim = ("The Frankenstein paper claims better generalization than Adam and SGD."
                 if row == "frankenstein" else "The FANoS paper makes no claim on classifiers.")
        notes.append(f"{row} at its rate {chosen[row]:g}, paired by seed, each at its own "
                     f"chosen rate: " + "; ".join(parts) + ". " + claim)
    notes += _sensitivity_notes(cells)
    init = by.get("init")
    if init and init["cos_W1"] is not None:
        trained = [r for r in table if r["method"] != "init" and r["cos_W1"] is not None]
        if trained:
            lo = min(trained, key=lambda r: r["cos_W1"])
            hi = max(trained, key=lambda r: r["cos_W1"])
            notes.append(f"Training raises cos_W1 from {init['cos_W1']:.4f} at initialisation "
                         f"to between {lo['cos_W1']:.4f} ({lo['method']}) and "
                         f"{hi['cos_W1']:.4f} ({hi['method']}): rows become more alike with "
                         f"every optimizer." if lo["cos_W1"] > init["cos_W1"] else
                         f"cos_W1 at initialisation {init['cos_W1']:.4f}; after training "
                         f"from {lo['cos_W1']:.4f} ({lo['method']}) to {hi['cos_W1']:.4f} "
                         f"({hi['method']}).")
    for rec in records:
        if rec["status"] == "failed":
            notes.append(f"FAILED: {rec['method']} at lr {rec['lr']:g}, seed {rec['seed']} "
                         f"({rec['phase']}): {rec['error']}")
    if not selection_complete:
        notes.append("Interrupted during the rate selection: no test runs were made; the "
                     "selection runs that finished are in the records.")
    elif any(r["status"] == "not run" for r in records):
        notes.append("Interrupted during the test runs: the rows use the runs that finished.")
    return notes


def _sensitivity_notes(cells) -> list:
    """The sensitivity in words: the bound, then one line per cell."""
    if not cells:
        return []
    lr = cells[0]["lr"]
    notes = [
        f"Sensitivity of KO on SGD to the collision, at SGD's rate {lr:g}, paired with SGD by "
        f"seed: gamma_c in {sorted({c['gamma_c'] for c in cells})} x collision_scale in "
        f"{sorted({c['collision_scale'] for c in cells}, key=SENSITIVITY_SCALES.index)} "
        f"('mean': the sum over the other rows divided by their number, the method's default; "
        f"'sum': not divided). With 'mean' every gamma_c < 1 keeps a descent direction; with "
        f"'sum' the bound is gamma_c < 1/31 in W1 (32 rows) and < 1/9 in W2 (10 rows): 'sum' "
        f"at gamma_c is 'mean' at 31 gamma_c in W1 and 9 gamma_c in W2, so every 'sum' cell "
        f"is beyond the bound in W1. Beyond it, rows aligned in weight and gradient get the "
        f"gradient (1 - gamma_c P'/Z) g: zero at gamma_c = Z/P' and uphill above; 'mean' "
        f"with gamma_c >= 1 was not run."]
    for c in cells:
        d = c["paired"]
        notes.append(
            f"KO on SGD, {c['collision_scale']} scale, gamma_c {c['gamma_c']:g} ({c['n']} "
            f"seeds, {c['diverged']} diverged): accuracy {_fmt(c['acc_mean'])} ± "
            f"{_fmt(c['acc_std'])}, vs SGD {_pp(d['counted_accuracy'])} "
            f"({_verdict(d['counted_accuracy'], 'higher')}); cos_W1 {_fmt(c['cos_W1'])}, vs SGD "
            f"{_pm(d['cos_W1'])} ({_verdict(d['cos_W1'], 'lower')}); erank_W1 "
            f"{_fmt(c['erank_W1'])}, vs SGD {_pm(d['erank_W1'])} "
            f"({_verdict(d['erank_W1'], 'higher')}); train loss {_fmt(c['train_loss'])}.")
    return notes


# --------------------------------------------------------------------------- figures
def _plot_results(table, records, path) -> Path:
    """Test accuracy, cos_W1 and erank_W1 per optimizer: seeds as dots, mean ± std."""
    from matplotlib.figure import Figure
    trained = [r for r in table if r["method"] != "init"]
    init = next((r for r in table if r["method"] == "init"), None)
    names = [r["method"] for r in trained]
    fig = Figure(figsize=(13, 0.42 * len(names) + 1.8))
    panels = (("counted_accuracy", "acc_mean", "acc_std", "test accuracy"),
              ("cos_W1", "cos_W1", "cos_std", "mean |cos| of W1 rows (lower: diverse)"),
              ("erank_W1", "erank_W1", "erank_std", "effective rank of W1 (higher: diverse)"))
    for k, (field, mean_key, std_key, xlabel) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        for i, row in enumerate(trained):
            vals = [r[field] for r in records if r["phase"] == "test" and r["status"] == "ok"
                    and r["method"] == row["method"] and r["lr"] == row["lr"]
                    and r[field] is not None]
            ax.scatter(vals, [i] * len(vals), s=12, color="tab:blue", alpha=0.4)
            if row[mean_key] is not None:
                ax.errorbar([row[mean_key]], [i], xerr=None if row[std_key] is None
                            else [[row[std_key]], [row[std_key]]], fmt="o", color="black",
                            capsize=3)
        if init is not None and field != "counted_accuracy" and init[mean_key] is not None:
            ax.axvline(init[mean_key], color="tab:red", ls="--", lw=1, label="initial weights")
            ax.legend(fontsize=7, loc="best")
        ax.set_yticks(range(len(names)), names if k == 0 else [""] * len(names))
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Digits MLP: test runs at each optimizer's chosen rate "
                 "(dots: seeds; black: mean ± std)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def _plot_sensitivity(cells, path) -> Path:
    """Paired differences KO on SGD - SGD against gamma_c, one line per scale (± 1 s.e.)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 3.6))
    panels = (("counted_accuracy", 100.0, "test accuracy, KO - SGD (pp)"),
              ("cos_W1", 1.0, "mean |cos| of W1 rows, KO - SGD"),
              ("erank_W1", 1.0, "effective rank of W1, KO - SGD"))
    for k, (field, factor, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        for scale, color in zip(SENSITIVITY_SCALES, ("tab:blue", "tab:orange")):
            mine = [c for c in cells if c["collision_scale"] == scale
                    and c["paired"][field]["mean"] is not None]
            if not mine:
                continue
            ax.errorbar([c["gamma_c"] for c in mine],
                        [factor * c["paired"][field]["mean"] for c in mine],
                        yerr=[factor * (c["paired"][field]["se"] or 0.0) for c in mine],
                        marker="o", capsize=3, color=color, label=f"{scale} scale")
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("gamma_c")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"KO on SGD minus SGD at SGD's rate {cells[0]['lr']:g}, paired by seed "
                 f"(mean ± standard error)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def _plot_selection(records, rows, chosen, path) -> Path:
    """Mean validation accuracy against the rate per optimizer; the chosen rate starred."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for i, row in enumerate(rows):
        by_lr = {}
        for r in records:
            if r["phase"] == "select" and r["method"] == row and r["status"] == "ok":
                by_lr.setdefault(r["lr"], []).append(r["counted_accuracy"])
        if not by_lr:
            continue
        lrs = sorted(by_lr)
        acc = [float(np.mean(by_lr[lr])) for lr in lrs]
        style = "--" if row.startswith("ko_") else "-"
        ax.plot(lrs, acc, style, marker=".", color=cmap(i % 10), label=row)
        if chosen.get(row) in by_lr:
            ax.scatter([chosen[row]], [float(np.mean(by_lr[chosen[row]]))], marker="*", s=120,
                       color=cmap(i % 10), edgecolor="black", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("mean validation accuracy (diverged = 0)")
    ax.set_title("Rate selection on the validation split (star: chosen)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


REPRODUCTION = Reproduction(
    "mlp", "Digits MLP: KO, FANoS, Frankenstein vs SGD and Adam (accuracy, row diversity)", run,
    requires={"sklearn": "ml"})
