"""Interleaved timing: every contender of a comparison measured in the same rounds.

One noisy sample must not decide a ratio. :func:`interleaved` runs each
contender once per round, in an order that rotates between rounds, and keeps
every sample; a figure is reported as the minimum (what the code costs when
nothing interferes) and the median (what a run typically sees) over rounds,
and a ratio as the ratio of minima beside the ratio of medians.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["interleaved", "ratio"]


def interleaved(contenders: dict, rounds: int = 5, warmup: int = 1) -> dict:
    """Time each ``name -> fn()`` over ``rounds`` rotating rounds.

    Returns
    -------
    dict
        name -> ``{"min": seconds, "median": seconds, "samples": [...]}``.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            contenders[name]()
            samples[name].append(time.perf_counter() - t0)
    return {name: {"min": float(np.min(s)), "median": float(np.median(s)), "samples": s}
            for name, s in samples.items()}


def ratio(times: dict, a: str, b: str) -> dict:
    """``a`` over ``b``: the ratio of minima and the ratio of medians."""
    return {"min": times[a]["min"] / times[b]["min"],
            "median": times[a]["median"] / times[b]["median"]}
