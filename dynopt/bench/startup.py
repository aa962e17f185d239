"""A script's start: ``import dynopt`` and the first ``minimize`` of a fresh process.

Each figure comes from its own new interpreter (``sys.executable``), timed inside it
with :func:`time.perf_counter` (the interpreter's own start-up is left out):

* ``import dynopt`` against ``import scipy.optimize`` (what a SciPy user imports);
* the first ``minimize`` call, after ``import numpy, scipy.optimize, dynopt``, with a
  warm on-disk cache (a run before the timed ones writes the method's record,
  :mod:`dynopt.warm`), and whether that process imported SymPy.

The processes of the contenders alternate, round by round; minima and medians.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

__all__ = ["imports", "first_call", "measure"]

_IMPORT = ("import time; t = time.perf_counter(); import {module}; "
           "print(time.perf_counter() - t)")

_FIRST_CALL = """
import json, sys, time
import numpy as np, scipy.optimize as so, dynopt
x0 = np.linspace(-1.2, 1.2, 10)
t = time.perf_counter()
dynopt.minimize(so.rosen, x0, jac=so.rosen_der, method={method!r}, options={{"maxiter": 10}})
print(json.dumps([time.perf_counter() - t, "sympy" in sys.modules]))
"""


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def imports(rounds: int = 5) -> dict:
    """Seconds to import ``dynopt`` and ``scipy.optimize``, each in new processes."""
    samples = {"dynopt": [], "scipy.optimize": []}
    for r in range(rounds):
        for module in (list(samples) if r % 2 == 0 else list(samples)[::-1]):
            samples[module].append(float(_run(_IMPORT.format(module=module))))
    out = {m: {"min": min(s), "median": float(np.median(s))} for m, s in samples.items()}
    out["ratio"] = {q: out["dynopt"][q] / out["scipy.optimize"][q] for q in ("min", "median")}
    return out


def first_call(methods=("heavy_ball", "adam", "fanos", "fire"), rounds: int = 3) -> list:
    """The first ``minimize`` of a new process per method, with the record on disk."""
    rows = []
    for m in methods:
        _run(_FIRST_CALL.format(method=m))  # writes the record where it is missing
        runs = [json.loads(_run(_FIRST_CALL.format(method=m))) for _ in range(rounds)]
        seconds = [t for t, _ in runs]
        rows.append({"method": m, "min": min(seconds), "median": float(np.median(seconds)),
                     "sympy_imported": any(s for _, s in runs)})
    return rows


def measure(quick: bool = False) -> dict:
    rounds = 2 if quick else 5
    return {"imports": imports(rounds), "first_call": first_call(rounds=max(2, rounds - 2))}
