"""``options['initial_state']``: a run that starts with some of its state given.

Every method's state starts where its program's ``init`` puts it (the heavy
ball at rest, Adam's moments at zero, FANoS's thermostat at its initial
friction). ``dynopt.minimize(..., options={'initial_state': {...}})`` replaces
any of those values after ``init``: the velocity of a run to continue
(``result.state['v']`` of an earlier run), Adam's moments, or the metric
:math:`D` of ``preconditioned_heavy_ball`` (``{'metric': D}``, the diagonal
mass matrix of its Hamiltonian :math:`p^\\top (mD)^{-1} p/2`).

The names are those of ``result.state`` except ``x`` (the start is ``x0``),
``g`` and ``f`` (evaluated at ``x0``), ``k`` (the step counter starts at 0:
a continued Adam run takes its bias corrections afresh) and ``noise_key``
(drawn from ``options['seed']``). A per-coordinate entry takes an array of
shape ``(n,)``, or ``(batch, n)`` for a batch; a scalar entry takes a number,
or one per member (shape ``(batch,)``). Values must be finite real numbers;
anything else is refused with an error that names the entry.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["check_initial_state", "apply_initial_state", "NOT_SETTABLE"]

#: state entries that ``initial_state`` cannot set (see the module)
NOT_SETTABLE = frozenset(("x", "g", "f", "k", "noise_key", "N", "rng"))


def check_initial_state(value) -> None:
    """The checks that need no program: ``None`` or a mapping with string keys."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"options['initial_state'] must be a dict of state entries, got "
                        f"{type(value).__name__}")
    for name in value:
        if not isinstance(name, str):
            raise TypeError(f"options['initial_state'] keys must be names of state entries "
                            f"(strings), got {name!r}")


def apply_initial_state(stepper, state, given) -> None:
    """Replace the entries of ``state`` (just made by ``stepper.init``) named in
    ``given`` by the values given, in the state's dtype, on its backend."""
    if not given:
        return
    S = state.arrays
    B, n = S["x"].shape
    settable = sorted(k for k in S if k not in NOT_SETTABLE and not k.startswith("loop_"))
    for name, value in given.items():
        if name not in settable:
            why = (" (it is set by the run itself)" if name in NOT_SETTABLE
                   else "")
            raise ValueError(f"options['initial_state'] has no entry {name!r}{why}; the "
                             f"entries of method {stepper.name!r}: {settable}")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"options['initial_state'][{name!r}] must hold real numbers, got "
                            f"{value!r:.80}") from None
        if name in stepper.vectors:
            shapes = {(n,), (B, n)} if B > 1 else {(n,), (1, n)}
            if arr.shape not in shapes:
                raise ValueError(f"options['initial_state'][{name!r}] must have shape ({n},)"
                                 f"{f' or ({B}, {n})' if B > 1 else ''}, got {arr.shape}")
            full = np.broadcast_to(arr, (B, n))
        else:
            if arr.shape not in ((), (1,), (B,)):
                raise ValueError(f"options['initial_state'][{name!r}] must be a number"
                                 f"{f' or one per member, shape ({B},)' if B > 1 else ''}, "
                                 f"got shape {arr.shape}")
            full = np.broadcast_to(arr.reshape(-1, 1), (B, 1))
        if not np.all(np.isfinite(full)):
            raise ValueError(f"options['initial_state'][{name!r}] must be finite, got "
                             f"{value!r:.80}")
        S[name] = stepper.xp.asarray(np.array(full, dtype=stepper.dtype))
