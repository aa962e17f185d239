r"""One training run: a row's optimizer at one rate on one seed, in PyTorch.

The network is :class:`~dynopt.problems.mlp.MLPProblem`'s ``64 -> H -> 10``
tanh classifier, its parameters one float64 vector ``theta = [W1, b1, W2,
b2]`` (row-major ``W1`` of shape ``(H, 64)``, ``W2`` of shape ``(10, H)``)
held as four tensors. Seed :math:`s` fixes the stratified split, the
Glorot-uniform initial weights (``MLPProblem(seed=s).init_params()``) and
the order of the minibatches (a ``torch.Generator`` seeded with :math:`s`),
the same for every optimizer.

The four tensors are one parameter group: ``dynopt.torch.Optimizer`` steps
a group as one flat vector, and KO's flag ``layers`` (structural, so the
same for every group of an optimizer) gives the offsets of ``W1`` and ``W2``
in it, so that the rows of each weight matrix collide and the biases do
not. SGD and Adam are per coordinate: one group or four is the same run.
"""
from __future__ import annotations

import math

import numpy as np

from ..._optional import import_torch as _import_torch
from .protocol import BATCH, ROWS, TEST_FRACTION

__all__ = ["make_problem", "import_torch", "train", "run_point"]



def import_torch():
    """``torch``, or an :class:`ImportError` naming the ``[torch]`` extra."""
    return _import_torch("the condensation reproduction")


def make_problem(seed: int, hidden: int):
    """Seed ``seed``'s digits problem (split, standardised features, initial weights)."""
    from ...problems.mlp import MLPProblem
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 2:
        raise ValueError(f"hidden must be an integer >= 2, got {hidden!r}")
    return MLPProblem(sizes=(64, int(hidden), 10), dataset="digits", seed=int(seed),
                      test_fraction=TEST_FRACTION)


def _make_optimizer(torch, spec, params, lr, overrides):
    options = {**spec["options"], **overrides}
    if spec["kind"] == "torch":
        return getattr(torch.optim, spec["optimizer"])(params, lr=lr, **options)
    from ... import torch as dynopt_torch
    return dynopt_torch.Optimizer(params, method="ko", lr=lr, backend="torch",
                                  layers=options.pop("layers"), **options)


def train(method: str, lr: float, seed: int, *, hidden: int, epochs: int, batch: int = BATCH,
          overrides=None, spec=None):
    """Train one row's optimizer; return the problem, the initial and final parameters,
    the final training loss and ``cos_W1`` after every epoch.

    Parameters
    ----------
    method : str
        A key of :data:`~.protocol.ROWS` (ignored when ``spec`` is given).
    lr : float
        Learning rate.
    seed : int
        Split, initial weights and minibatch order.
    hidden, epochs, batch : int
        Hidden width, passes over the training split, minibatch size.
    overrides : dict, optional
        Options replacing the row's (e.g. ``{'gamma_c': 0.0}``).
    spec : dict, optional
        A row specification in the form of :data:`~.protocol.ROWS`.

    Returns
    -------
    dict
        ``problem``, ``theta0``, ``theta`` (NumPy float64), ``train_loss``
        (full-batch cross-entropy at the end), ``cos_history`` (mean |cos| of
        the rows of ``W1`` at initialisation and after every epoch, ``None``
        for non-finite weights).
    """
    from ...diversity import mean_abs_cosine
    torch = import_torch()
    if spec is None:
        if method not in ROWS:
            raise ValueError(f"method must be one of {sorted(ROWS)}, got {method!r}")
        spec = ROWS[method]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for name, value in (("epochs", epochs), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    overrides = dict(overrides or {})
    problem = make_problem(seed, hidden)
    theta0 = problem.init_params()
    H = int(hidden)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # small tensors; the sweep uses the cores
    try:
        t = torch.from_numpy(theta0.copy())
        n1 = 64 * H
        W1 = t[:n1].reshape(H, 64).clone().requires_grad_(True)
        b1 = t[n1:n1 + H].clone().requires_grad_(True)
        W2 = t[n1 + H:n1 + H + 10 * H].reshape(10, H).clone().requires_grad_(True)
        b2 = t[n1 + H + 10 * H:].clone().requires_grad_(True)
        params = [W1, b1, W2, b2]
        if spec["kind"] == "ko":
            overrides.setdefault("layers", [(0, H, 64), (n1 + H, 10, H)])
        opt = _make_optimizer(torch, spec, params, float(lr), overrides)
        X = torch.from_numpy(np.ascontiguousarray(problem.X_train, dtype=np.float64))
        y = torch.from_numpy(np.asarray(problem.y_train, dtype=np.int64))
        gen = torch.Generator().manual_seed(int(seed))
        loss_fn = torch.nn.functional.cross_entropy

        def forward(xb):
            return torch.tanh(xb @ W1.T + b1) @ W2.T + b2

        history = [mean_abs_cosine(theta0[:n1].reshape(H, 64))]
        n = X.shape[0]
        for _ in range(int(epochs)):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, int(batch)):
                idx = order[start:start + int(batch)]
                opt.zero_grad()
                loss_fn(forward(X[idx]), y[idx]).backward()
                opt.step()
            w = W1.detach().numpy()
            history.append(mean_abs_cosine(w) if np.all(np.isfinite(w)) else None)
        with torch.no_grad():
            train_loss = float(loss_fn(forward(X), y))
        theta = torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy()
    finally:
        torch.set_num_threads(threads)
    return {"problem": problem, "theta0": theta0, "theta": theta, "train_loss": train_loss,
            "cos_history": history}


def run_point(method: str, lr: float, seed: int, *, hidden: int, epochs: int,
              batch: int = BATCH) -> dict:
    """Train one row's optimizer at one rate on one seed and measure it.

    Returns
    -------
    dict
        ``accuracy`` (test accuracy, 0 for a diverged run), ``train_loss``,
        ``diverged`` (non-finite weights or loss), the diversity of the rows of
        the hidden layer's weights ``W1`` and of ``W2`` (``cos_*``: mean
        |cosine| over row pairs, lower is more diverse; ``erank_*``: effective
        rank, higher is more diverse; ``None`` when diverged), the same of
        ``W1`` at initialisation (``cos_W1_init``, ``erank_W1_init``) and
        ``cos_W1_epochs`` (initialisation, then after each epoch).
    """
    from ...diversity import effective_rank, mean_abs_cosine
    run = train(method, lr, seed, hidden=hidden, epochs=epochs, batch=batch)
    problem, theta, theta0 = run["problem"], run["theta"], run["theta0"]
    finite = bool(np.all(np.isfinite(theta))) and math.isfinite(run["train_loss"])
    (W1, _), (W2, _) = problem.layers(theta)
    W1_0 = problem.layers(theta0)[0][0]
    acc = problem.accuracy(theta, "test") if finite else 0.0
    return {
        "accuracy": float(acc),
        "train_loss": run["train_loss"] if finite else None,
        "diverged": not finite,
        "cos_W1": mean_abs_cosine(W1) if finite else None,
        "erank_W1": effective_rank(W1) if finite else None,
        "cos_W2": mean_abs_cosine(W2) if finite else None,
        "erank_W2": effective_rank(W2) if finite else None,
        "cos_W1_init": mean_abs_cosine(W1_0), "erank_W1_init": effective_rank(W1_0),
        "cos_W1_epochs": run["cos_history"],
    }
