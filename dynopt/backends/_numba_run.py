"""Source of a whole minimisation run as one Numba function.

The loop of :func:`dynopt.loop.run` for a single run, written out with the
step program's two parts inlined as serial loops (the same schedule and
printer as the step kernels, see :mod:`._numba_source`): the objective
``_objective(x, grad_out) -> f`` (a Numba function set on the module), the
stopping tests (gtol on the inf-norm, ``maxiter``, NaN/Inf, divergence), the
best point and the record every ``stride`` steps (iterate, objective, gradient
norm, the program's energies and scalar state) all run without returning to
Python. The semantics are those of the Python loop, step for step.
"""
from __future__ import annotations

from ..program import N, StepProgram, f, g, k
from ._numba_source import NumbaPrinter, emit_levels, segment_storage
from ._schedule import energy_items, plan_items, plan_part

__all__ = ["run_module_source", "run_layout"]


def run_layout(program: StepProgram) -> dict:
    """Names of the arrays the compiled run takes, in order.

    ``vectors``: per-coordinate state (``x`` first, then ``g``, the program's
    vectors and the per-coordinate values carried over the gradient
    evaluation); ``scalars``: scalar state and carried scalars (one array
    ``_ss`` in the run's dtype); ``params``: hyperparameters (float64 ``_par``);
    ``energies``: names of the recorded diagnostics.
    """
    from .codegen import carried
    per_coordinate = program.elementwise_symbols()
    carry = carried(program)
    vectors = [program.state_vectors[0], g, *program.state_vectors[1:]]
    vectors += [s for s in carry if s in per_coordinate]
    scalars = list(program.state_scalars) + [s for s in carry if s not in per_coordinate]
    _, energy_names = energy_items(program)
    return {"vectors": vectors, "scalars": scalars, "params": list(program.params),
            "energies": energy_names, "state_scalars": list(program.state_scalars)}


def _part_lines(program, part, layout, pr, nm, ind, work, buffers):
    """Inline code of one part: load scalars, the levels, store scalars."""
    plan = plan_part(program, part)
    if plan.has_custom:
        raise ValueError(f"program {program.name!r} has Custom stages and cannot run compiled")
    lines = []
    if not plan.steps:
        return lines
    (seg,) = plan.segments
    finals = {ssa: s for s, ssa in plan.outputs.items()}
    lay = segment_storage(seg, finals, nm)
    sidx = {s: j for j, s in enumerate(layout["scalars"])}
    lines += _scalar_inputs(seg, sidx, nm, ind)
    for w in lay["work"]:
        work.append(w)
    lines += emit_levels(seg, lay["storage"], plan.vector_symbols, pr, nm, parallel=False,
                         ind=ind, parts=[], buffers=buffers)
    for arr, t in lay["sstore"]:
        lines.append(f"{ind}_ss[{sidx[finals[t]]}] = {nm(t)}")
    for dst, src in lay["copyback"]:
        lines.append(f"{ind}for _i in range(_n):")
        lines.append(f"{ind}    _r{dst}[_i] = _r{src}[_i]")
    return lines


def _scalar_inputs(seg, sidx, nm, ind) -> list:
    """Lines reading a segment's scalar inputs: ``f`` and ``k`` from ``_fk``, the rest
    from the scalar state ``_ss`` (``N`` is a constant of the kernel)."""
    lines = []
    for s in seg.sca_in:
        if s == f:
            lines.append(f"{ind}f = _fk[0]")
        elif s == k:
            lines.append(f"{ind}k = _fk[1]")
        elif s != N:
            lines.append(f"{ind}{nm(s)} = _ss[{sidx[s]}]")
    return lines


def _record_lines(program, layout, pr, nm, ind, cond, buffers):
    """Append a trajectory row (mirrors ``dynopt.loop.Recorder.add``)."""
    items, names = energy_items(program)
    per_coordinate = set(program.elementwise_symbols())
    lines = [f"{ind}if {cond}:"]
    i2 = ind + "    "
    lines += [f"{i2}_last = step", f"{i2}_tr_step[_nrec] = step",
              f"{i2}for _i in range(_n):", f"{i2}    _tr_x[_nrec, _i] = _a_x[_i]",
              f"{i2}_tr_f[_nrec] = F", f"{i2}_tr_gn[_nrec] = gnorm"]
    if items:
        seg = plan_items(items, per_coordinate, set(program.params), {it.target for it in items})
        storage = {s: f"_a_{nm(s)}" for s in seg.vec_in}
        lines += _scalar_inputs(seg, {s: j for j, s in enumerate(layout["scalars"])}, nm, i2)
        lines += emit_levels(seg, storage, per_coordinate, pr, nm, parallel=False, ind=i2,
                             parts=[], buffers=buffers)
        lines.append(f"{i2}_tot = 0.0")
        for j, it in enumerate(items):
            lines.append(f"{i2}_tr_en[_nrec, {j}] = {nm(it.target)}")
            lines.append(f"{i2}_tot += _tr_en[_nrec, {j}]")
        lines.append(f"{i2}_tr_tot[_nrec] = F + _tot")
    else:
        lines.append(f"{i2}_tr_tot[_nrec] = F")
    for j, s in enumerate(layout["state_scalars"]):
        lines.append(f"{i2}_tr_sc[_nrec, {j}] = _ss[{j}]")
    lines.append(f"{i2}_nrec += 1")
    return lines


def run_module_source(program: StepProgram, key: str, cache: bool = True) -> str:
    """Source of the module defining ``_run`` (one member) and ``_start``, ``_run_batch``
    and ``_run_batch_parallel`` (a batch); ``_objective`` is set on it by the caller."""
    printer = NumbaPrinter()
    pr, nm = printer.doprint, printer._print
    layout = run_layout(program)
    vec_names = [f"_a_{nm(s)}" for s in layout["vectors"]]
    params = layout["params"]
    work: list = []
    buffers: list = []
    before = _part_lines(program, "before", layout, pr, nm, "        ", work, buffers)
    after = _part_lines(program, "after", layout, pr, nm, "        ", work, buffers)
    records = [_record_lines(program, layout, pr, nm, ind, cond, buffers) for ind, cond in (
        ("    ", "stride > 0"), ("        ", "stride > 0 and step % stride == 0"),
        ("    ", "stride > 0 and _last != step"))]
    L = _header_lines(program, key)
    L += _setup_lines(vec_names, params, work, buffers, nm, cache)
    L += records[0]
    L += _loop_lines(before, after, records[1])
    L += records[2]
    L += ["    _res[0] = F", "    _res[1] = best_f", "    _res[2] = gnorm",
          "    return status, nit, nfev, _nrec", ""]
    L += _batch_lines(vec_names, cache)
    return "\n".join(L) + "\n"


def _header_lines(program, key) -> list:
    """The module's first line (program and key), its imports and ``_objective``."""
    return [f"# generated by dynopt: compiled whole run of step program {program.name!r} "
            f"(key {key}); do not edit",
            "import math", "", "import numba", "import numpy as np", "",
            "from dynopt.backends._numba_support import fmax, fmin, sign",
            "from dynopt.backends._numba_support import gauss as _gauss",
            "from dynopt.backends._numba_support import BLOCK as _BL",
            "from dynopt.backends._numba_support import block_max as _bmax",
            "from dynopt.backends._numba_support import block_min as _bmin",
            "from dynopt.backends._numba_support import block_sum as _bsum", "",
            "_objective = None  # set by the backend before the first call", "", ""]


def _setup_lines(vec_names, params, work, buffers, nm, cache) -> list:
    """``_run``'s signature and what runs before its loop: the hyperparameters, the
    work arrays, the controls from ``_ctl``, the best point and the status at ``x0``."""
    args = ", ".join(vec_names + ["_ss", "_par", "_fk", "_ctl", "_best_x", "_best_g", "_tr_step",
                                  "_tr_x", "_tr_f", "_tr_gn", "_tr_en", "_tr_tot", "_tr_sc",
                                  "_res"])
    L = [f'@numba.njit(cache={bool(cache)}, fastmath=False, error_model="numpy")',
         f"def _run({args}):",
         "    _n = _a_x.shape[0]",
         "    N = float(_n)"]
    L += [f"    {nm(p)} = _par[{j}]" for j, p in enumerate(params)]
    L += [f"    _r{a} = {a}" for a in vec_names]
    L += [f"    {w} = np.empty(_n, dtype=_a_x.dtype)" for w in dict.fromkeys(work)]
    L += [f"    _r{w} = {w}" for w in dict.fromkeys(work)]
    L += [f"    {b} = np.empty(_BL)" for b in dict.fromkeys(buffers)]
    L += ["    maxiter = np.int64(_ctl[0])", "    gtol = _ctl[1]", "    threshold = _ctl[2]",
          "    check_div = _ctl[3] > 0.5", "    stride = np.int64(_ctl[4])",
          "    maxfev = np.int64(_ctl[5])",
          "    F = _res[0]", "    nfev = 1", "    nit = 0", "    step = 0", "    _nrec = 0",
          "    _last = -1",
          "    best_f = F",
          "    gnorm = 0.0", "    finite = math.isfinite(F)",
          "    for _i in range(_n):",
          "        _best_x[_i] = _a_x[_i]",
          "        _best_g[_i] = _a_g[_i]",
          "        gnorm = fmax(gnorm, abs(_a_g[_i]))",
          "        if not math.isfinite(_a_g[_i]):",
          "            finite = False",
          "    status = -1",
          "    if not finite:",
          "        status = 3",
          "    elif gtol > 0 and gnorm <= gtol:",
          "        status = 0"]
    return L


def _loop_lines(before, after, record) -> list:
    """``_run``'s loop: the stopping tests, the part ``before``, the iterate's finiteness
    test and the objective, the part ``after``, the step's tests, ``record``, gtol."""
    L = ["    while status < 0:",
         "        if maxfev > 0 and nfev >= maxfev:",
         "            status = 2",
         "            break",
         "        if step >= maxiter:",
         "            status = 1",
         "            break",
         "        _fk[1] = step"]
    L += before
    L += ["        ok = True",
          "        for _i in range(_n):",
          "            if not math.isfinite(_a_x[_i]):",
          "                ok = False",
          "                break",
          "        if ok:",
          "            Fv = _objective(_a_x, _a_g)",
          "            nfev += 1",
          "        else:",
          "            status = 3",
          "            Fv = math.nan",
          "            for _i in range(_n):",
          "                _a_g[_i] = math.nan",
          "        _fk[0] = Fv"]
    L += after
    L += ["        step += 1",
          "        finite = ok and math.isfinite(Fv)",
          "        if ok:",
          "            nit = step",
          "            F = Fv",
          "            gnorm = 0.0",
          "            for _i in range(_n):",
          "                gnorm = fmax(gnorm, abs(_a_g[_i]))",
          "                if not math.isfinite(_a_g[_i]):",
          "                    finite = False",
          "        if finite and Fv < best_f:",
          "            best_f = Fv",
          "            for _i in range(_n):",
          "                _best_x[_i] = _a_x[_i]",
          "                _best_g[_i] = _a_g[_i]",
          "        if ok and not finite:",
          "            status = 3",
          "        if check_div and finite and Fv > threshold:",
          "            status = 4"]
    L += record
    L += ["        if status < 0 and gtol > 0 and gnorm <= gtol:",
          "            status = 0"]
    return L


def _batch_lines(vec_names, cache) -> list:
    """``_start`` (each member's first objective call), ``_run_batch`` (``_run`` for
    each member in turn, on the rows of ``(batch, ...)`` arrays) and
    ``_run_batch_parallel`` (the same with the members split among Numba's threads):
    a batch in two calls from Python, each member's run the single run's own code.

    A member's run reads and writes only its own rows (the trajectory arrays
    shared by every member when nothing is recorded are never written), so the
    parallel loop gives every member the bits of the serial one. Numba compiles
    each function on its first call: the unused one costs nothing."""
    rows = ", ".join(f"{a}[_b]" for a in vec_names)
    args = ", ".join(vec_names + ["_ss", "_par", "_fk", "_ctl", "_best_x", "_best_g", "_tr_step",
                                  "_tr_x", "_tr_f", "_tr_gn", "_tr_en", "_tr_tot", "_tr_sc",
                                  "_res", "_out"])
    def deco(parallel=""):
        return f'@numba.njit(cache={bool(cache)}, fastmath=False, error_model="numpy"{parallel})'
    L = ["", deco(),
         "def _start(_X, _G, _F):",
         "    for _b in range(_X.shape[0]):",
         "        _F[_b] = _objective(_X[_b], _G[_b])", ""]
    for name, loop, parallel in (("_run_batch", "range", ""),
                                 ("_run_batch_parallel", "numba.prange", ", parallel=True")):
        L += ["", deco(parallel),
              f"def {name}({args}):",
              "    # trajectory arrays with one row serve every member (nothing is recorded)",
              "    _own = np.int64(1 if _tr_step.shape[0] == _a_x.shape[0] else 0)",
              f"    for _b in {loop}(_a_x.shape[0]):",
              "        _t = np.int64(_b) * _own  # (a prange index may be unsigned)",
              f"        _st, _nit, _nfev, _nrec = _run({rows}, _ss[_b], _par[_b], _fk[_b],",
              "                                       _ctl[_b], _best_x[_b], _best_g[_b],",
              "                                       _tr_step[_t], _tr_x[_t], _tr_f[_t],",
              "                                       _tr_gn[_t], _tr_en[_t], _tr_tot[_t],",
              "                                       _tr_sc[_t], _res[_b])",
              "        _out[_b, 0] = _st",
              "        _out[_b, 1] = _nit",
              "        _out[_b, 2] = _nfev",
              "        _out[_b, 3] = _nrec",
              ""]
    return L
