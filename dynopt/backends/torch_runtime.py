"""The namespace the printed PyTorch kernels run in, and the kernels of a program.

:func:`dynopt.backends.torch_source.generate_source` writes text; this module
executes it (:func:`kernels`, once per program) with the helpers it calls
(:func:`helpers`), and gives CPU groups the Numba backend's kernels instead
(:func:`numba_kernels`). Used by :mod:`dynopt.torch`; imports ``torch`` only
when a kernel is built.
"""
from __future__ import annotations

import numpy as np

__all__ = ["helpers", "kernels", "numba_kernels", "BACKENDS"]

#: generated kernels: program key -> namespace
_KERNELS: dict = {}

def helpers(torch):
    """The names the generated kernels call besides ``torch`` (see
    :func:`dynopt.backends.torch_source.generate_source`)."""

    def as_tensor(value, like):
        # a boolean (a branch of a Piecewise that selects a condition) stays boolean
        if torch.is_tensor(value):
            return value if value.dtype in (like.dtype, torch.bool) else value.to(like.dtype)
        if isinstance(value, bool):
            return torch.tensor(value, device=like.device)
        return torch.tensor(value, dtype=like.dtype, device=like.device)

    def _vector(value, like):
        if torch.is_tensor(value) and value.shape == like.shape and value.dtype == like.dtype:
            return value
        return torch.broadcast_to(as_tensor(value, like), like.shape).clone()

    def _scalar(value, like):
        value = as_tensor(value, like)
        return value if value.dim() == 0 else value.reshape(())

    def _tensors(a, b):
        ta, tb = torch.is_tensor(a), torch.is_tensor(b)
        like = a if ta else b
        return (a if ta else as_tensor(a, like)), (b if tb else as_tensor(b, like))

    def _where(cond, a, b, like):
        if not torch.is_tensor(cond):
            return a if cond else b
        return torch.where(cond, as_tensor(a, like), as_tensor(b, like))

    def _fmax(a, b):
        return torch.maximum(*_tensors(a, b))

    def _fmin(a, b):
        return torch.minimum(*_tensors(a, b))

    def _sign(a):
        return torch.sign(a)

    def _standard_normal(key, step, stream, like):
        from ._noise import standard_normal
        draws = standard_normal(float(key), float(step), stream, like.numel(), np.float64)
        return torch.from_numpy(draws.reshape(-1)).to(dtype=like.dtype, device=like.device)

    def _custom(fn, S, P, reads, vector_writes, scalar_writes, like):
        # a Custom stage sees what it sees under dynopt.minimize: NumPy arrays of one
        # member, (1, n) per coordinate and (1, 1) for scalars, copies (a stage may write
        # them in place), the run's generator and the hyperparameters as numbers
        arrays = {"rng": S.get("rng"), "N": float(like.numel())}
        for name in (*reads, "k"):
            value = S[name].detach().to("cpu").numpy().copy()
            arrays[name] = value.reshape(1, -1) if value.ndim else value.reshape(1, 1)
        values = {name: (float(v) if torch.is_tensor(v) else v) for name, v in P.items()}
        fn(arrays, values)
        for names, shape in ((vector_writes, like.shape), (scalar_writes, ())):
            for name in names:
                out = np.ascontiguousarray(arrays[name], dtype=np.float64)
                S[name] = torch.from_numpy(out).to(dtype=like.dtype,
                                                   device=like.device).reshape(shape)

    return {"torch": torch, "_vector": _vector, "_scalar": _scalar, "_where": _where,
            "_fmax": _fmax, "_fmin": _fmin, "_sign": _sign,
            "_standard_normal": _standard_normal, "_custom": _custom}


def kernels(program, torch) -> dict:
    """The namespace with ``init``, ``before``, ``after`` of ``program`` (built once)."""
    from .codegen import program_key
    from .numpy_backend import load_source
    from .torch_source import generate_source
    key = program_key(program, "torch")
    ns = _KERNELS.get(key)
    if ns is None:
        customs: dict = {}
        source = generate_source(program, customs)
        ns = load_source(source, f"{program.name}-torch-{key}",
                         {**helpers(torch), **customs})
        ns["source"] = source
        _KERNELS[key] = ns
    return ns



#: the ways a CPU group is stepped (see the Optimizer's ``backend``)
BACKENDS = ("auto", "numba", "torch")


def numba_kernels(program, backend):
    """The Numba backend's kernels of ``program`` for CPU groups, or ``None`` (``'auto'``
    without Numba)."""
    try:
        from .numba_backend import NumbaBackend
    except ImportError:
        if backend == "numba":
            raise ImportError("dynopt.torch.Optimizer(backend='numba') needs Numba, which is "
                              "not installed: pip install numba") from None
        return None
    # small_threshold only concerns dynopt.minimize's own loop; kernels run as compiled
    return NumbaBackend().compile(program)
