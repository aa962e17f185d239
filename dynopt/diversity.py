"""Diversity of the rows of a weight matrix (the quantity KO claims to protect).

"Parameter condensation" is the collapse of the rows of a weight matrix onto a few
directions (M. Feng et al., KO, arXiv:2505.14777, 2025). Two measures of it:

:func:`mean_abs_cosine`
    the mean absolute cosine similarity over distinct row pairs (0 for mutually
    orthogonal rows, 1 when all rows are parallel);
:func:`effective_rank`
    the effective rank of O. Roy and M. Vetterli, "The effective rank: a measure of
    effective dimensionality", EUSIPCO 2007 (1 for a rank-one matrix, ``min(m, n)`` when
    all singular values are equal).
"""
from __future__ import annotations

import numpy as np

__all__ = ["mean_abs_cosine", "effective_rank"]


def _matrix(W, name: str = "W") -> np.ndarray:
    a = np.asarray(W)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    a = a.astype(float)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def mean_abs_cosine(W) -> float:
    """Mean absolute cosine similarity over distinct pairs of rows.

    .. math::

        \\bar c(W) = \\frac{2}{m(m-1)} \\sum_{i<j}
        \\frac{\\lvert w_i \\cdot w_j \\rvert}{\\lVert w_i\\rVert\\, \\lVert w_j\\rVert}

    Parameters
    ----------
    W : array_like, shape (m, n)
        Matrix whose rows are compared; ``m >= 2`` and no zero rows (the cosine of a
        zero vector is undefined).

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    a = _matrix(W)
    m = a.shape[0]
    if m < 2:
        raise ValueError(f"W needs at least 2 rows to form a pair, got {m}")
    norms = np.linalg.norm(a, axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise ValueError(f"W has zero rows {zero.tolist()}; their cosine is undefined")
    u = a / norms[:, None]
    c = np.abs(u @ u.T)
    iu = np.triu_indices(m, k=1)
    return float(np.clip(c[iu].mean(), 0.0, 1.0))


def effective_rank(W) -> float:
    """Effective rank of Roy & Vetterli (2007).

    With singular values :math:`\\sigma_k` and :math:`p_k = \\sigma_k / \\sum_l \\sigma_l`,

    .. math::

        \\operatorname{erank}(W) = \\exp\\Big(-\\sum_k p_k \\log p_k\\Big),
        \\qquad 0 \\log 0 = 0.

    Parameters
    ----------
    W : array_like, shape (m, n)
        Non-zero matrix.

    Returns
    -------
    float
        In ``[1, min(m, n)]``.
    """
    a = _matrix(W)
    s = np.linalg.svd(a, compute_uv=False)
    total = s.sum()
    if total == 0.0:
        raise ValueError("W is the zero matrix; its effective rank is undefined")
    p = s / total
    p = p[p > 0.0]
    return float(np.exp(-np.sum(p * np.log(p))))
