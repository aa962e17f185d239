r"""Summary statistics for sweep results: bootstrap intervals, best settings, tables.

The confidence interval is the percentile bootstrap (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13): draw :math:`B` resamples
:math:`x^{*b}` of size :math:`n` with replacement from the sample, evaluate the
statistic :math:`\hat\theta^{*b} = s(x^{*b})`, and report the empirical
quantiles

.. math::

    \left[\hat\theta^*_{(\alpha/2)},\ \hat\theta^*_{(1-\alpha/2)}\right],
    \qquad \alpha = 1 - \text{confidence}.

The resampling and the interval are SciPy's (:func:`scipy.stats.bootstrap`,
``method='percentile'`` by default; ``'basic'`` and ``'BCa'`` are passed on);
this module validates the input and fixes the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["best_by", "bootstrap_ci", "format_table", "summarize"]

# largest number of resampled values held in memory at once
_MAX_BATCH_ELEMENTS = 2_000_000


def _as_sample(values: Any, name: str, *, min_size: int) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {values!r}") from exc
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} value(s), got {x.size}")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(
            f"{name} contains {bad} non-finite value(s); drop or replace diverged runs first"
        )
    return x


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)):
        raise TypeError(f"confidence must be a float in (0, 1), got {confidence!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return float(confidence)


def _is_vectorized(statistic: Callable, x: np.ndarray) -> bool:
    """Whether ``statistic`` reduces along ``axis=-1``; checks it returns one number."""
    try:
        out = np.asarray(statistic(x[None, :], axis=-1), dtype=float)
        vectorized = True
        expected = (1,)
    except TypeError:  # statistic without an ``axis`` keyword
        out = np.asarray(statistic(x), dtype=float)
        vectorized = False
        expected = ()
    if out.shape != expected:
        raise ValueError("statistic must reduce a 1-D sample to one number; got output of "
                         f"shape {out.shape} for a sample of shape {x.shape}")
    return vectorized


#: ``method`` of :func:`bootstrap_ci` -> SciPy's name
_METHODS = {"percentile": "percentile", "basic": "basic", "bca": "BCa"}


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10000,
    statistic: Callable[..., Any] = np.mean,
    seed: int | np.random.Generator | None = 0,
    method: str = "percentile",
) -> tuple[float, float]:
    r"""Bootstrap confidence interval of a statistic (:func:`scipy.stats.bootstrap`).

    Parameters
    ----------
    values : sequence of float
        The sample (1-D, finite, at least 2 values).
    confidence : float, optional
        Coverage :math:`1-\alpha` of the interval, in (0, 1).
    n_resamples : int, optional
        Number :math:`B` of bootstrap resamples.
    statistic : callable, optional
        Maps a sample to a number.  If it accepts ``axis=-1`` (as NumPy
        reductions do) the resamples are evaluated in vectorised batches;
        otherwise it is applied resample by resample (the same resamples, so
        the same interval).
    seed : int, Generator or None, optional
        Seed of the resampling generator (``numpy.random.default_rng(seed)``,
        passed to SciPy as ``rng``); the same seed gives the same interval.
    method : {'percentile', 'basic', 'BCa'}, optional
        SciPy's interval: the percentile interval of the module docstring
        (default), the basic (reverse percentile) interval
        :math:`[2\hat\theta - \hat\theta^*_{(1-\alpha/2)},\ 2\hat\theta - \hat\theta^*_{(\alpha/2)}]`,
        or the bias-corrected and accelerated one (Efron & Tibshirani ch. 14).

    Returns
    -------
    (float, float)
        Lower and upper ends; for ``'percentile'``
        :math:`(\hat\theta^*_{(\alpha/2)}, \hat\theta^*_{(1-\alpha/2)})`, the
        quantiles interpolated linearly (as :func:`numpy.quantile`).

    Raises
    ------
    ValueError, TypeError
        On a bad sample, confidence, number of resamples, statistic or method.
    """
    from scipy import stats

    x = _as_sample(values, "values", min_size=2)
    confidence = _check_confidence(confidence)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise TypeError(f"n_resamples must be an int, got {n_resamples!r}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be >= 2, got {n_resamples!r}")
    if not callable(statistic):
        raise TypeError(f"statistic must be callable, got {statistic!r}")
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise ValueError(f"method must be one of 'percentile', 'basic', 'BCa', got {method!r}")
    vectorized = _is_vectorized(statistic, x)
    n_resamples = int(n_resamples)
    batch = max(1, min(n_resamples, _MAX_BATCH_ELEMENTS // x.size))
    res = stats.bootstrap((x,), statistic, n_resamples=n_resamples, batch=batch,
                          vectorized=vectorized, confidence_level=confidence,
                          method=_METHODS[method.lower()], rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return float(low), float(high)


def summarize(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10000,
    seed: int | None = 0,
) -> dict[str, float | int]:
    """Mean, spread and bootstrap CI of the mean of a sample.

    Parameters
    ----------
    values : sequence of float
        The sample (1-D, finite, non-empty).
    confidence, n_resamples, seed
        Passed to :func:`bootstrap_ci`.

    Returns
    -------
    dict
        ``mean``, ``std`` (sample standard deviation, ddof = 1), ``min``,
        ``max``, ``median``, ``ci_low``, ``ci_high`` (CI of the mean) and ``n``.
        With a single value ``std``, ``ci_low`` and ``ci_high`` are NaN.
    """
    x = _as_sample(values, "values", min_size=1)
    if x.size >= 2:
        std = float(np.std(x, ddof=1))
        low, high = bootstrap_ci(
            x, confidence=confidence, n_resamples=n_resamples, seed=seed, statistic=np.mean
        )
    else:
        _check_confidence(confidence)
        std = low = high = math.nan
    return {
        "mean": float(np.mean(x)),
        "std": std,
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "median": float(np.median(x)),
        "ci_low": low,
        "ci_high": high,
        "n": int(x.size),
    }


# ----------------------------------------------------------------------------
# best_by
# ----------------------------------------------------------------------------
def _names(arg: str | Sequence[str] | None, argname: str) -> tuple[str, ...]:
    if arg is None:
        return ()
    if isinstance(arg, str):
        return (arg,)
    if isinstance(arg, Iterable) and all(isinstance(a, str) for a in arg):
        names = tuple(arg)
        if names:
            return names
    raise TypeError(f"{argname} must be a field name or a non-empty sequence of names, got {arg!r}")


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(u) for u in v)
    if isinstance(v, Mapping):
        return tuple(sorted((k, _hashable(u)) for k, u in v.items()))
    return v


def best_by(
    records: Iterable[Mapping[str, Any]],
    key: str,
    group_by: str | Sequence[str],
    minimize: bool = True,
    *,
    over: str | Sequence[str] | None = None,
    aggregate: Callable[[np.ndarray], float] = np.mean,
) -> dict[Any, dict[str, Any]]:
    """Best setting per group, e.g. the best learning rate of each method.

    Records whose ``'status'`` is present and not ``'ok'`` are ignored.
    Within each group (equal values of the ``group_by`` fields) the candidates
    are the distinct values of the ``over`` fields; a candidate's score is
    ``aggregate`` of ``key`` over its records (e.g. the mean final loss across
    seeds).  With ``over=None`` every record is its own candidate.

    Parameters
    ----------
    records : iterable of dict
        Sweep records (e.g. ``SweepResult.records``).
    key : str
        Numeric field to score by.
    group_by : str or sequence of str
        Fields defining the groups.
    minimize : bool, optional
        Pick the lowest score (default) or the highest.
    over : str or sequence of str, optional
        Fields whose values are the candidates (e.g. ``'lr'``).
    aggregate : callable, optional
        Reduces a candidate's 1-D array of ``key`` values to its score.

    Returns
    -------
    dict
        Keyed by the group value (a tuple when ``group_by`` has several
        fields), in order of first appearance.  With ``over`` given each value
        is a row ``{**group fields, **over fields, key: score, 'n': count,
        'values': [key of each record]}``; with ``over=None`` it is a copy of
        the best record.  NaN scores lose to any number; ties keep the
        candidate seen first.

    Raises
    ------
    ValueError, TypeError
        If a used record lacks a field, ``key`` is not numeric, or the names
        overlap.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a field name (str), got {key!r}")
    groups = _names(group_by, "group_by")
    cands = _names(over, "over")
    if not isinstance(minimize, bool):
        raise TypeError(f"minimize must be a bool, got {minimize!r}")
    if not callable(aggregate):
        raise TypeError(f"aggregate must be callable, got {aggregate!r}")
    overlap = set(groups) & set(cands)
    if key in groups or key in cands or overlap:
        raise ValueError(
            f"key {key!r}, group_by {groups} and over {cands} must name different fields"
        )
    if cands and key in ("n", "values"):
        raise ValueError(f"key {key!r} collides with the 'n'/'values' fields of the rows")

    # group -> candidate -> (first record, [values])
    table: dict[Any, dict[Any, tuple[Mapping[str, Any], list[float]]]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise TypeError(f"records[{i}] must be a dict, got {type(rec).__name__}")
        if rec.get("status", "ok") != "ok":
            continue
        missing = [f for f in (*groups, *cands, key) if f not in rec]
        if missing:
            raise ValueError(f"records[{i}] has no field(s) {missing}")
        value = rec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"records[{i}][{key!r}] must be a number, got {value!r}")
        gval = tuple(_hashable(rec[f]) for f in groups)
        cval = tuple(_hashable(rec[f]) for f in cands) if cands else i
        slot = table.setdefault(gval, {}).setdefault(cval, (rec, []))
        slot[1].append(float(value))

    def rank(score: float) -> tuple[bool, float]:
        return (math.isnan(score), score if minimize else -score)

    out: dict[Any, dict[str, Any]] = {}
    for gval, candidates in table.items():
        best = None
        for rec, vals in candidates.values():
            score = float(aggregate(np.asarray(vals)))
            if best is None or rank(score) < rank(best[0]):
                best = (score, rec, vals)
        score, rec, vals = best
        if cands:
            row = {f: rec[f] for f in groups}
            row.update({f: rec[f] for f in cands})
            row.update({key: score, "n": len(vals), "values": list(vals)})
        else:
            row = dict(rec)
        out[gval[0] if len(groups) == 1 else gval] = row
    return out


# ----------------------------------------------------------------------------
# format_table
# ----------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(
        v, (int, float, np.integer, np.floating)
    )


def format_table(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[str] | None = None,
    floatfmt: str | Mapping[str, str] = ".4g",
    *,
    headers: Sequence[str] | None = None,
    missing: str = "",
) -> str:
    """Plain-text table with aligned columns (numbers right, text left).

    Parameters
    ----------
    rows : iterable of dict or of sequence
        Table rows.  Dict rows are looked up by column name; sequence rows
        are positional and need ``columns``.
    columns : sequence of str, optional
        Column names, in order.  Default: every key of the dict rows, in
        first-seen order.
    floatfmt : str or dict, optional
        :func:`format` spec for floats (e.g. ``".3e"``), or a dict mapping
        column names to specs (others use ``".4g"``).
    headers : sequence of str, optional
        Header labels (default: the column names).
    missing : str, optional
        Text for absent fields and ``None``.

    Returns
    -------
    str
        Header line, a dashed rule and one line per row, joined by newlines.

    Raises
    ------
    ValueError, TypeError
        On a bad float format, mismatched headers or a short sequence row.
    """
    rows = list(rows)
    if columns is None:
        seen: dict[str, None] = {}
        for j, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise TypeError(f"rows[{j}] is not a dict; pass columns= for sequence rows")
            for k in row:
                seen.setdefault(k, None)
        columns = list(seen)
    else:
        if isinstance(columns, str):
            raise TypeError(f"columns must be a sequence of names, got the string {columns!r}")
        columns = list(columns)
    if headers is None:
        headers = [str(c) for c in columns]
    else:
        headers = [str(h) for h in headers]
        if len(headers) != len(columns):
            raise ValueError(f"headers has {len(headers)} labels for {len(columns)} columns")

    fmts: dict[str, str] = {}
    for c in columns:
        fmt = floatfmt.get(c, ".4g") if isinstance(floatfmt, Mapping) else floatfmt
        if not isinstance(fmt, str):
            raise TypeError(f"floatfmt must be a format string or a dict of them, got {fmt!r}")
        try:
            format(1.5, fmt)
        except ValueError as exc:
            raise ValueError(f"floatfmt {fmt!r} is not a valid float format") from exc
        fmts[c] = fmt

    cells: list[list[str]] = []
    numeric = [True] * len(columns)
    for j, row in enumerate(rows):
        if isinstance(row, Mapping):
            values = [row.get(c) for c in columns]
        else:
            values = list(row)
            if len(values) != len(columns):
                raise ValueError(f"rows[{j}] has {len(values)} values for {len(columns)} columns")
        line = []
        for col, (c, v) in enumerate(zip(columns, values)):
            if v is None:
                line.append(missing)
                continue
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float):
                line.append(format(v, fmts[c]))
            else:
                line.append(str(v))
            if not _is_number(v):
                numeric[col] = False
        cells.append(line)

    widths = [
        max([len(headers[col])] + [len(line[col]) for line in cells]) for col in range(len(columns))
    ]

    def render(line: list[str]) -> str:
        parts = [
            s.rjust(w) if num else s.ljust(w) for s, w, num in zip(line, widths, numeric)
        ]
        return "  ".join(parts)

    out = [render(headers), "  ".join("-" * w for w in widths)]
    out.extend(render(line) for line in cells)
    return "\n".join(out)
