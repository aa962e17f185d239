"""The loop of :func:`dynopt.minimize`, for one run or a batch of independent runs.

Per step: the compiled ``before`` kernel, one evaluation of the objective and
its gradient at the new ``x`` of every active member, the ``after`` kernel,
then the stopping tests, the record and the callback. Members of a batch stop
on their own; once stopped, their state is frozen.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = ["run", "STATUS_MESSAGES"]

#: status code -> meaning
STATUS_MESSAGES = {
    0: "Optimization terminated successfully: the gradient norm fell below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Maximum number of function evaluations has been exceeded.",
    3: "NaN or Inf met",
    4: "Diverged",
    5: "Stopped by the callback (StopIteration)",
}


def gradient_norms(G, norm):
    """Norm of each row of ``G``: ``inf``, ``1``, ``2`` or a callable on one gradient."""
    if callable(norm):
        return np.array([float(norm(row)) for row in G])
    return np.linalg.norm(G, ord=norm, axis=1)


class Recorder:
    """Keeps every ``stride``-th step: iterate, objective, gradient norm, energies, scalars."""

    def __init__(self, stride, kernels, program, batch):
        self.stride = stride
        self.kernels = kernels
        self.scalars = [s.name for s in program.state_scalars]
        self.batch = batch
        self.rows: dict = {}
        self.last = None

    def add(self, step, S, P, F, gnorm, to_numpy, force=False):
        if not self.stride or self.last == step or (step % self.stride and not force):
            return
        self.last = step
        energies = {k: np.asarray(to_numpy(v), dtype=np.float64).reshape(-1).copy()
                    for k, v in self.kernels.energies(S, P).items()}
        row = {"step": step, "x": np.array(to_numpy(S["x"])), "fun": F.copy(),
               "grad_norm": gnorm.copy(), "potential": F.copy(), **energies}
        row.setdefault("kinetic", np.zeros_like(F))
        row["total"] = F + sum(energies.values()) if energies else F.copy()
        for name in self.scalars:
            row[name] = np.asarray(to_numpy(S[name]), dtype=np.float64).reshape(-1).copy()
        for key, val in row.items():
            self.rows.setdefault(key, []).append(val)

    def result(self, batched):
        out = {}
        for key, vals in self.rows.items():
            arr = np.asarray(vals)
            if not batched and key != "step":
                arr = arr[:, 0]
            out[key] = arr
        return out


def _take(S, rows, vectors):
    return {k: (v[rows] if k in vectors else v) for k, v in S.items()}


def _put(S, sub, rows, vectors):
    for k in vectors:
        if k in sub:
            S[k][rows] = sub[k]


def _params_for(P, rows):
    return {k: (v[rows] if isinstance(v, np.ndarray) and v.ndim == 2 else v) for k, v in P.items()}


def run(objective, X0, program, params, name, be, kernels, loop, callback, stride, integrator,
        batched):
    xp = be.xp
    to_numpy = be.to_numpy
    B, n = X0.shape
    dtype = X0.dtype
    F, G, nfev, njev = objective.rows(X0)
    S = {"x": xp.asarray(X0.copy()), "g": xp.asarray(G), "f": xp.asarray(F.reshape(B, 1).astype(dtype)),
         "k": xp.asarray(np.zeros((B, 1), dtype=dtype)), "N": float(n),
         "rng": np.random.default_rng(loop["seed"])}
    P = {k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    kernels.init(S, P)
    arrays = {k for k, v in S.items() if k not in ("N", "rng")}
    norm = loop["norm"]
    gtol = loop["gtol"]
    best_f, best_x, best_g = F.copy(), X0.copy(), G.copy()
    gnorm = gradient_norms(G, norm)
    status = np.full(B, -1)
    detail = [""] * B
    nit = np.zeros(B, dtype=np.int64)
    finite0 = np.isfinite(F) & np.all(np.isfinite(G), axis=1)
    status[~finite0] = 3
    for i in np.flatnonzero(~finite0):
        detail[i] = "in the objective or gradient at x0"
    if gtol > 0:
        status[finite0 & (gnorm <= gtol)] = 0
    threshold = None
    if loop["divergence"] is not None:
        threshold = F + loop["divergence"] * np.maximum(1.0, np.abs(F))
    rec = Recorder(stride, kernels, program, B)
    rec.add(0, S, P, F, gnorm, to_numpy, force=True)
    maxiter, maxfev = loop["maxiter"], loop["maxfev"]
    step = 0
    while True:
        active = status < 0
        if maxfev is not None:
            over = active & (nfev >= maxfev)
            status[over] = 2
            active &= ~over
        if step >= maxiter:
            status[active] = 1
            break
        if not active.any():
            break
        whole = bool(active.all())
        rows = slice(None) if whole else np.flatnonzero(active)
        Sv = S if whole else _take(S, rows, arrays)
        Pv = P if whole else _params_for(P, rows)
        Sv["k"][...] = step
        kernels.before(Sv, Pv)
        X = np.asarray(to_numpy(Sv["x"]))
        ok = np.isfinite(X).all(axis=1)
        all_ok = bool(ok.all())
        if all_ok:
            Fv, Gv, nf, nj = objective.rows(X)
            nfev[rows] += nf
            njev[rows] += nj
        else:
            idx = np.arange(B)[rows]
            for j in np.flatnonzero(~ok):
                status[idx[j]], detail[idx[j]] = 3, f"in the iterate at step {step + 1}"
            Fv = np.full(X.shape[0], np.nan)
            Gv = np.full(X.shape, np.nan, dtype=dtype)
            if ok.any():
                Fv[ok], Gv[ok], nf, nj = objective.rows(X[ok])
                nfev[idx[ok]] += nf
                njev[idx[ok]] += nj
        Sv["g"] = xp.asarray(Gv)
        Sv["f"] = xp.asarray(Fv.reshape(-1, 1).astype(dtype))
        kernels.after(Sv, Pv)
        if not whole:
            _put(S, Sv, rows, arrays)
        step += 1
        finite = np.isfinite(Fv) & np.isfinite(Gv).all(axis=1)
        all_finite = bool(finite.all())
        if all_ok:
            nit[rows] = step
            F[rows], G[rows] = Fv, Gv
        else:
            nit[idx[ok]] = step
            F[idx[ok]], G[idx[ok]] = Fv[ok], Gv[ok]
        better = finite & (Fv < best_f[rows])
        if better.any():
            idx = np.arange(B)[rows][better]
            best_f[idx], best_x[idx], best_g[idx] = Fv[better], X[better], Gv[better]
        if not all_finite:
            idx = np.arange(B)[rows]
            for j in np.flatnonzero(ok & ~finite):
                status[idx[j]], detail[idx[j]] = 3, f"in the objective or gradient at step {step}"
        if threshold is not None:
            over = finite & (Fv > threshold[rows])
            if over.any():
                idx = np.arange(B)[rows]
                for j in np.flatnonzero(over):
                    status[idx[j]] = 4
                    detail[idx[j]] = (f"f = {Fv[j]:.6g} exceeded f0 + divergence*max(1, |f0|) = "
                                      f"{threshold[idx[j]]:.6g} at step {step}")
        gnorm[rows] = gradient_norms(G[rows], norm)
        rec.add(step, S, P, F, gnorm, to_numpy)
        if callback is not None:
            X_all = np.array(to_numpy(S["x"]))
            inter = OptimizeResult(x=X_all if batched else X_all[0],
                                   fun=F.copy() if batched else float(F[0]),
                                   jac=G.copy() if batched else G[0].copy(), nit=step)
            try:
                callback(inter)
            except StopIteration:
                live = status < 0
                status[live] = 5
                for i in np.flatnonzero(live):
                    detail[i] = f"at step {step}"
                break
        if gtol > 0:
            status[(status < 0) & (gnorm <= gtol)] = 0
    rec.add(step, S, P, F, gnorm, to_numpy, force=True)
    return _result(S, F, G, best_f, best_x, best_g, status, detail, nit, nfev, njev, params,
                   name, be, integrator, program, rec, stride, batched)


def _result(S, F, G, best_f, best_x, best_g, status, detail, nit, nfev, njev, params, name, be,
            integrator, program, rec, stride, batched):
    X = np.array(be.to_numpy(S["x"]))
    failed = np.isin(status, (3, 4))
    X[failed], F[failed], G[failed] = best_x[failed], best_f[failed], best_g[failed]
    messages = []
    for i, st in enumerate(status):
        msg = STATUS_MESSAGES[int(st)] + (f" {detail[i]}" if detail[i] else "")
        if st in (3, 4):
            msg += f"; returning the best point seen (f = {best_f[i]:.6g})."
        elif st == 5:
            msg += "."
        messages.append(msg)
    # per-coordinate values: the state vectors, and temporaries carried across the gradient
    # evaluation (e.g. FANoS's mass m under velocity Verlet)
    vectors = {s.name for s in program.elementwise_symbols()}
    state = {}
    for key, val in S.items():
        if key in ("N", "rng"):
            continue
        arr = np.array(be.to_numpy(val))
        if key not in vectors:
            arr = arr[:, 0]
        state[key] = arr if batched else (arr[0] if key in vectors else arr[0].item())
    def pick(a, scalar=None):
        return a if batched else (scalar(a[0]) if scalar else a[0])

    res = OptimizeResult(
        x=pick(X), fun=pick(F, float), jac=pick(G), nit=pick(nit, int), nfev=pick(nfev, int),
        njev=pick(njev, int), status=pick(status, int), success=pick(status == 0, bool),
        message=messages if batched else messages[0], best_x=pick(best_x),
        best_fun=pick(best_f, float), method=name,
        integrator=getattr(integrator, "name", integrator), backend=be.name,
        hyperparameters={k: (np.asarray(v).reshape(-1) if isinstance(v, np.ndarray) else v)
                         for k, v in params.items()},
        state=state)
    if stride:
        res.trajectory = rec.result(batched)
    return res
