"""Scheduling a program part into fused passes over the coordinates.

The compiled backends (Numba, CuPy) share this plan. A part of a step program
(the stages before or after the gradient evaluation) is first put in
single-assignment form and CSE'd by :mod:`~dynopt.backends.codegen`; here the
resulting straight-line code is cut

* into **segments** at :class:`~dynopt.program.Custom` stages (Python runs
  between compiled segments; the state dictionary is the source of truth at
  their boundaries), and, inside a segment,
* into **levels**. Level :math:`L` is some scalar code (the *prelude*) followed
  by one pass over the coordinates (the elementwise assignments and the
  reductions that can be evaluated in it). A value computed in a pass is
  available in that pass; a reduction's result only after the pass, so every
  assignment is placed at

  .. math::

      \\ell(t) = \\max_{d \\in \\mathrm{deps}(t)} \\ell^{*}(d), \\qquad
      \\ell^{*}(d) = \\begin{cases} \\ell(d) + 1 & d \\text{ a reduction} \\\\
      \\ell(d) & \\text{otherwise,} \\end{cases}

  the earliest level at which its operands exist. A reduction is thus fused
  into the pass that computes its operand, and elementwise assignments that do
  not depend on a reduction join the first pass. Assignments keep their
  program order within a level, which respects the dependencies.

CSE temporaries of an elementwise block that depend only on scalars become
scalar code (hoisted out of the loop). A per-coordinate value that is computed
in one pass and read in a later one is *carried* in an array.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..program import N, StandardNormal, StepProgram, f, g, k, x
from .codegen import blocks, linearize

__all__ = ["Item", "Level", "Segment", "CustomCall", "PartPlan", "plan_part", "plan_items",
           "energy_items"]


@dataclass(frozen=True)
class Item:
    """One assignment: ``kind`` in 'elem', 'scalar', 'reduce'."""

    kind: str
    target: sp.Symbol
    expr: sp.Expr
    reduce_op: str = ""
    #: a CSE temporary (not an assignment of the program)
    temp: bool = False


@dataclass
class Level:
    """Scalar code, then one pass over the coordinates."""

    scalars: list = field(default_factory=list)
    elems: list = field(default_factory=list)
    reduces: list = field(default_factory=list)

    @property
    def has_pass(self) -> bool:
        return bool(self.elems or self.reduces)


@dataclass
class Segment:
    """Compiled straight-line code between two Custom stages.

    Attributes
    ----------
    levels
        The levels in order.
    vec_in, sca_in
        Per-coordinate and scalar symbols read from outside (state, ``g``,
        ``f``, ``k``, ``N`` or values of earlier segments); hyperparameters
        are in ``params``.
    vec_out, sca_out
        Symbols computed here and needed after the segment.
    defined_at
        Pass index of every per-coordinate symbol computed in the segment.
    reads_at
        For every per-coordinate symbol, the passes that read it.
    """

    levels: list
    vec_in: list
    sca_in: list
    params: list
    vec_out: list
    sca_out: list
    defined_at: dict
    reads_at: dict

    def carried(self) -> list:
        """Per-coordinate values computed in one pass and read in a later one."""
        return [s for s, p in self.defined_at.items() if any(q > p for q in self.reads_at.get(s, ()))]


@dataclass
class CustomCall:
    """A Custom stage between segments: ``reads``/``writes`` are (symbol, SSA symbol)."""

    op: object

    @property
    def fn(self):
        return self.op.custom.fn

    @property
    def reads(self):
        return self.op.reads

    @property
    def writes(self):
        return self.op.writes


@dataclass
class PartPlan:
    """The schedule of one program part: segments and Custom calls in order."""

    steps: list
    outputs: dict
    vector_symbols: set

    @property
    def has_custom(self) -> bool:
        return any(isinstance(s, CustomCall) for s in self.steps)

    @property
    def segments(self) -> list:
        return [s for s in self.steps if isinstance(s, Segment)]


def _deps(expr) -> set:
    return expr.free_symbols if expr is not None else set()


def _order_block(blk) -> list:
    """The block's CSE temporaries and assignments as items, each temporary
    placed just before its first use (so it may refer to assignments made
    earlier in the same block)."""
    temps = list(blk.temps)
    temp_syms = {t for t, _ in temps}
    temp_expr = dict(temps)
    placed: set = set()
    out: list = []

    def place(sym):
        if sym in placed:
            return
        # in name order, as below: a set's order follows the process's hash seed, and the
        # source (which names the cached module) must not
        for d in sorted(_deps(temp_expr[sym]) & temp_syms, key=lambda s: s.name):
            place(d)
        placed.add(sym)
        out.append(Item(blk.kind, sym, temp_expr[sym], temp=True))

    for op in blk.ops:
        for d in sorted(_deps(op.expr) & temp_syms, key=lambda s: s.name):
            place(d)
        out.append(Item(op.kind, op.target, op.expr, op.reduce_op))
    for sym, _ in temps:  # unused temporaries (should not happen) keep their place at the end
        place(sym)
    return out


def _flatten(program: StepProgram, part: str):
    """Items and custom ops of a part, and the set of per-coordinate symbols."""
    ops, outputs = linearize(program, part)
    # every per-coordinate name: state, g, and temporaries (read by the 'after'
    # part when carried over the gradient evaluation)
    per_coordinate = set(program.elementwise_symbols())
    vec_syms = set(per_coordinate)
    seq: list = []
    for blk in blocks(ops):
        if blk.kind == "custom":
            op = blk.ops[0]
            for sym, new in op.writes:
                if sym in per_coordinate:
                    vec_syms.add(new)
            seq.append(CustomCall(op))
            continue
        for item in _order_block(blk):
            if item.kind == "elem":
                if (item.temp and not (_deps(item.expr) & vec_syms)
                        and not item.expr.has(StandardNormal)):
                    item = Item("scalar", item.target, item.expr, temp=True)  # hoisted
                else:
                    vec_syms.add(item.target)
            seq.append(item)
    return seq, outputs, vec_syms


def plan_items(items: list, vec_syms: set, params: set, needed_after: set,
               finals: dict | None = None) -> Segment:
    """Schedule straight-line items into levels (see the module docstring).

    After the earliest placement, an elementwise assignment whose value is
    only read in later passes moves down to the first of them, so that it is
    computed where it is used instead of being carried in an array; it does
    not move past the pass that overwrites (in place) a state vector it reads
    (``finals``: SSA symbol of a final value -> state symbol).
    """
    level: dict = {}
    avail: dict = {}
    defined = set()
    for it in items:
        deps = [d for d in _deps(it.expr) if d in avail]
        lv = max((avail[d] for d in deps), default=0)
        level[id(it)] = lv
        avail[it.target] = lv + 1 if it.kind == "reduce" else lv
        defined.add(it.target)
    consumers: dict = {}
    for it in items:
        for d in _deps(it.expr) & defined:
            consumers.setdefault(d, []).append(it)
    final_level = {}
    for it in reversed(items):
        if it.kind == "elem" and it.target in consumers:
            latest = min(level[id(c)] for c in consumers[it.target])
            for d in _deps(it.expr):
                if d in final_level:
                    latest = min(latest, final_level[d])
            level[id(it)] = max(level[id(it)], latest)
        if finals and it.target in finals and it.kind == "elem":
            final_level[finals[it.target]] = level[id(it)]
    n_levels = max((level[id(it)] for it in items), default=0) + 1
    levels = [Level() for _ in range(n_levels)]
    for it in items:
        lv = levels[level[id(it)]]
        {"elem": lv.elems, "scalar": lv.scalars, "reduce": lv.reduces}[it.kind].append(it)
    while len(levels) > 1 and not levels[-1].scalars and not levels[-1].has_pass:
        levels.pop()
    used = set()
    reads_at: dict = {}
    defined_at: dict = {}
    for idx, lv in enumerate(levels):
        for it in lv.elems + lv.reduces:
            for d in _deps(it.expr):
                if d in vec_syms:
                    reads_at.setdefault(d, set()).add(idx)
        for it in lv.elems:
            defined_at[it.target] = idx
    for it in items:
        used |= _deps(it.expr)
    outside = used - defined
    vec_in = sorted((s for s in outside if s in vec_syms), key=_order_key)
    par = sorted((s for s in outside if s in params), key=_order_key)
    sca_in = sorted((s for s in outside if s not in vec_syms and s not in params), key=_order_key)
    vec_out = sorted((s for s in needed_after & defined if s in vec_syms), key=_order_key)
    sca_out = sorted((s for s in needed_after & defined if s not in vec_syms), key=_order_key)
    return Segment(levels, vec_in, sca_in, par, vec_out, sca_out, defined_at, reads_at)


_BUILTIN_ORDER = {x: 0, g: 1, f: 2, k: 3, N: 4}


def _order_key(sym):
    return (_BUILTIN_ORDER.get(sym, 5), sym.name)


def plan_part(program: StepProgram, part: str) -> PartPlan:
    """The :class:`PartPlan` of ``part`` ('before' or 'after' the gradient)."""
    if part not in ("before", "after"):
        raise ValueError(f"part must be 'before' or 'after', got {part!r}")
    seq, outputs, vec_syms = _flatten(program, part)
    params = set(program.params)
    # group consecutive items into segments
    chunks: list = []
    for s in seq:
        if isinstance(s, CustomCall):
            chunks.append(s)
        else:
            if not chunks or not isinstance(chunks[-1], list):
                chunks.append([])
            chunks[-1].append(s)
    # what each chunk must hand on: uses by later chunks and final outputs
    steps: list = [None] * len(chunks)
    needed = set(outputs.values())
    for i in range(len(chunks) - 1, -1, -1):
        c = chunks[i]
        if isinstance(c, CustomCall):
            steps[i] = c
            needed = (needed - {new for _, new in c.writes}) | {ssa for _, ssa in c.reads}
        else:
            finals = None if any(isinstance(x_, CustomCall) for x_ in chunks) else \
                {ssa: sym for sym, ssa in outputs.items()}
            seg = plan_items(c, vec_syms, params, set(needed), finals)
            steps[i] = seg
            defined = {it.target for it in c}
            used = set().union(*(_deps(it.expr) for it in c)) if c else set()
            needed = (needed - defined) | (used - defined)
    return PartPlan(steps, outputs, vec_syms)


def energy_items(program: StepProgram) -> tuple:
    """The program's diagnostics as items over the state: (items, names)."""
    items, names = [], []
    for j, (name, (op, expr)) in enumerate(program.energies.items()):
        sym = sp.Symbol(f"_e{j}", real=True)
        if op == "scalar":
            items.append(Item("scalar", sym, sp.sympify(expr)))
        else:
            items.append(Item("reduce", sym, sp.sympify(expr), op))
        names.append(name)
    return items, names
