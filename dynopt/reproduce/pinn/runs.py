r"""One run: a problem, a seed, an optimizer at one rate, continued from the warm start.

Seed :math:`s` fixes the network's initial weights and the collocation points
(:meth:`~.problems.Problem.points`). The warm start is ``torch.optim.Adam``
at :data:`~.protocol.WARM_LR` for ``warm_steps`` full-batch steps from there;
it is computed once per process and problem, seed and warm-start length
(:func:`warm_start`), so every optimizer continues from the very same
parameters. The network's parameters are one parameter group, so FANoS's
temperature is pooled over all of them, as the paper's rule says.

The budget is ``evaluations`` gradient evaluations after the warm start:
one per step for FANoS, AdamW and SGD; for L-BFGS every evaluation of its
closure (line-search trials included) counts, ``max_eval = max_iter =
evaluations``, and a line search that would go past the budget is cut
there, the run ending at the best point it evaluated (torch's own check of
``max_eval`` comes after a line search, which may overshoot it). The final
loss is the loss at the last iterate.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..._optional import import_torch as _import_torch
from .problems import make_network, problem
from .protocol import DEPTH, LBFGS_HISTORY, LINE_SEARCHES, ROWS, SPIKE, WARM_LR, WIDTH

__all__ = ["import_torch", "warm_start", "make_optimizer", "run_point", "CURVE_POINTS"]

#: points of the stored loss curve (log-spaced evaluation counts)
CURVE_POINTS = 40


def import_torch():
    """``torch``, or an :class:`ImportError` naming the ``[torch]`` extra."""
    return _import_torch("the pinn reproduction")


class _BudgetSpent(Exception):
    """L-BFGS asked for an evaluation past the budget."""


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=4)
def warm_start(name: str, seed: int, warm_steps: int, collocation: str):
    """The warm start of ``(problem, seed)``: ``(state_dict, points, warm_loss, init_loss)``.

    ``torch.optim.Adam(lr=WARM_LR)`` for ``warm_steps`` steps from the seed's
    initial network; ``warm_loss`` is the loss at the warm start, ``init_loss``
    at the initial weights. Cached per process (the tensors are not to be changed).
    """
    torch = import_torch()
    prob = problem(name)
    seed = _check_int("seed", seed, 0)
    warm_steps = _check_int("warm_steps", warm_steps, 0)
    net = make_network(prob.dim, seed, WIDTH, DEPTH)
    pts = prob.points(seed, collocation)
    init_loss = float(prob.loss(net, pts).detach())
    opt = torch.optim.Adam(net.parameters(), lr=WARM_LR)
    for _ in range(warm_steps):
        opt.zero_grad()
        prob.loss(net, pts).backward()
        opt.step()
    warm_loss = float(prob.loss(net, pts).detach())
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return state, pts, warm_loss, init_loss


def make_optimizer(torch, row: str, params, lr, *, evaluations: int,
                   line_search: str = "strong_wolfe", backend: str = "auto"):
    """The optimizer of ``row`` (a key of :data:`~.protocol.ROWS`) at rate ``lr``."""
    spec = ROWS[row]
    if spec["kind"] == "torch":
        return getattr(torch.optim, spec["optimizer"])(params, lr=lr, **spec["options"])
    if spec["kind"] == "dynopt":
        from ... import torch as dynopt_torch
        return dynopt_torch.Optimizer(params, method=row, lr=lr, backend=backend)
    return torch.optim.LBFGS(params, lr=1.0, max_iter=evaluations, max_eval=evaluations,
                             history_size=LBFGS_HISTORY, tolerance_grad=0.0,
                             tolerance_change=0.0,
                             line_search_fn=None if line_search == "none" else line_search)


def run_point(name: str, method: str, lr, seed: int, *, warm_steps: int, evaluations: int,
              collocation: str = "default", line_search: str = "strong_wolfe",
              backend: str = "auto") -> dict:
    """Continue ``(problem, seed)``'s warm start with one optimizer and measure it.

    Parameters
    ----------
    name : str
        The problem (``'poisson'``, ``'heat'``, ``'burgers'``).
    method : str
        A row of :data:`~.protocol.ROWS`.
    lr : float or None
        Its rate (``None`` for L-BFGS, which runs at ``lr = 1`` with its line search).
    seed : int
        Initial weights and collocation points.
    warm_steps, evaluations : int
        Adam steps of the warm start; gradient evaluations after it.
    collocation : str
        A key of :data:`~.problems.COLLOCATION`.
    line_search : {'strong_wolfe', 'none'}
        L-BFGS's line search.
    backend : {'auto', 'numba', 'torch'}
        How ``dynopt.torch.Optimizer`` steps FANoS.

    Returns
    -------
    dict
        ``init_loss``, ``warm_loss``, ``final_loss`` (``None`` if not finite),
        ``ratio`` (final / warm), ``rel_l2`` and ``warm_rel_l2`` (relative L2
        error against the exact or reference solution on the test grid),
        ``diverged`` (a non-finite loss or parameter), ``worse`` (diverged or
        final loss above the warm start's), ``peak_ratio`` (largest loss
        evaluated / warm loss), ``spiked`` (``peak_ratio > SPIKE``), ``nfev``
        (gradient evaluations used), ``run_status`` (0, or 3 when diverged),
        ``curve_evaluations`` and ``curve`` (loss at log-spaced evaluation counts).
    """
    torch = import_torch()
    if method not in ROWS:
        raise ValueError(f"method must be one of {sorted(ROWS)}, got {method!r}")
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"line_search must be one of {LINE_SEARCHES}, got {line_search!r}")
    if method == "lbfgs":
        if lr is not None:
            raise ValueError(f"lr must be None for L-BFGS, got {lr!r}")
    elif isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    evaluations = _check_int("evaluations", evaluations, 1)
    prob = problem(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # small tensors; the sweep uses the cores
    try:
        state, pts, warm_loss, init_loss = warm_start(name, int(seed), int(warm_steps),
                                                      collocation)
        net = make_network(prob.dim, seed, WIDTH, DEPTH)
        net.load_state_dict(state)
        params = list(net.parameters())
        opt = make_optimizer(torch, method, params, None if lr is None else float(lr),
                             evaluations=evaluations, line_search=line_search,
                             backend=backend)
        losses = []
        best = {"loss": math.inf, "params": None}

        def closure():
            if method == "lbfgs" and len(losses) >= evaluations:
                raise _BudgetSpent
            opt.zero_grad()
            loss = prob.loss(net, pts)
            loss.backward()
            value = float(loss.detach())
            losses.append(value)
            if method == "lbfgs" and value < best["loss"]:
                best["loss"] = value
                best["params"] = [p.detach().clone() for p in params]
            return loss

        if method == "lbfgs":
            try:
                opt.step(closure)
            except _BudgetSpent:       # inside a line search: end at its best point
                with torch.no_grad():
                    for p, q in zip(params, best["params"]):
                        p.copy_(q)
        else:
            for _ in range(evaluations):
                closure()
                if not math.isfinite(losses[-1]):
                    break
                opt.step()
        final = float(prob.loss(net, pts).detach())
        finite = math.isfinite(final) and all(bool(torch.isfinite(p).all()) for p in params)
        z, u_ref = prob.test_grid()
        with torch.no_grad():
            u = net(torch.from_numpy(np.ascontiguousarray(z))).reshape(-1).numpy()
        net.load_state_dict(state)
        with torch.no_grad():
            u_warm = net(torch.from_numpy(np.ascontiguousarray(z))).reshape(-1).numpy()
    finally:
        torch.set_num_threads(threads)
    norm = float(np.linalg.norm(u_ref))
    rel = float(np.linalg.norm(u - u_ref) / norm) if finite else None
    seen = [v if math.isfinite(v) else math.inf for v in losses]
    peak = max(seen + [final if math.isfinite(final) else math.inf])
    curve_at = sorted(set(np.unique(np.geomspace(1, len(losses), CURVE_POINTS).astype(int))))
    return {
        "init_loss": init_loss, "warm_loss": warm_loss,
        "final_loss": final if finite else None,
        "ratio": final / warm_loss if finite else None,
        "rel_l2": rel, "warm_rel_l2": float(np.linalg.norm(u_warm - u_ref) / norm),
        "diverged": not finite, "worse": (not finite) or final > warm_loss,
        "peak_ratio": peak / warm_loss, "spiked": peak / warm_loss > SPIKE,
        "nfev": len(losses), "run_status": 0 if finite else 3,
        "curve_evaluations": [int(k) for k in curve_at],
        "curve": [seen[k - 1] if math.isfinite(seen[k - 1]) else None for k in curve_at],
    }
