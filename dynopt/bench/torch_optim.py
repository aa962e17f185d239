"""``dynopt.torch.Optimizer`` against ``torch.optim.Adam(fused=True)``, step for step.

What a PyTorch user runs: ``opt.step()`` on one large parameter tensor whose
gradient is set, for ``dynopt.torch.Optimizer`` with ``method='adam'`` and
``method='fanos'`` on each of its CPU backends (``'numba'``: the compiled
kernels in place; ``'torch'``: the program printed as torch operations) and
for torch's fused Adam, all on the same tensor size and dtype, interleaved
(:func:`dynopt.bench.timing.interleaved`), with the ratios of minima and of
medians. Targets: Adam within 1.2x of fused Adam, FANoS within 1.5x.

Run ``python -m dynopt.bench.torch_optim [--sizes 1e6,1e7] [--rounds 7] [--json PATH]``
or ``dynopt bench --part torch``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .timing import interleaved, ratio

__all__ = ["measure", "print_report", "main", "TARGETS"]

#: contender -> the largest ratio to fused Adam the issue accepts
TARGETS = {"adam (numba)": 1.2, "fanos (numba)": 1.5}


def _step(opt, reps):
    def run():
        for _ in range(reps):
            opt.step()
    return run


def measure(sizes=(10**6, 10**7), rounds: int = 7, dtype: str = "float32",
            steps_per_round: int = 3, threads: int | None = None) -> dict | None:
    """The per-step times and ratios, or ``None`` without PyTorch (or fused Adam)."""
    try:
        import torch
    except ImportError:
        return None
    import dynopt.torch as dynopt_torch
    if threads is not None:
        torch.set_num_threads(threads)
    tdtype = getattr(torch, dtype)
    rows = []
    for n in sizes:
        gen = torch.Generator().manual_seed(0)
        start = torch.randn(n, generator=gen, dtype=tdtype)
        grad = torch.randn(n, generator=gen, dtype=tdtype) * 1e-3

        def param():
            p = torch.nn.Parameter(start.clone())
            p.grad = grad.clone()
            return p

        try:
            fused_p = param()
            fused = torch.optim.Adam([fused_p], lr=1e-3, fused=True)
        except (RuntimeError, TypeError):
            return None
        contenders = {"torch Adam (fused)": _step(fused, steps_per_round)}
        params = {}
        for method in ("adam", "fanos"):
            for backend in ("numba", "torch"):
                p = params[method, backend] = param()
                opt = dynopt_torch.Optimizer([p], method=method, backend=backend, lr=1e-3)
                contenders[f"{method} ({backend})"] = _step(opt, steps_per_round)
        times = interleaved(contenders, rounds=rounds, warmup=1)
        # like with like: after the same number of steps, dynopt's Adam is where torch's is
        # (to float32 round-off: the kernels are different code)
        same = max(float((params["adam", b] - fused_p).abs().max()) for b in ("numba", "torch"))
        row = {"n": n, "dtype": dtype, "adam_max_difference": same,
               "per_step": {k: {q: t[q] / steps_per_round for q in ("min", "median")}
                            for k, t in times.items()},
               "over_fused_adam": {k: ratio(times, k, "torch Adam (fused)")
                                   for k in times if k != "torch Adam (fused)"}}
        rows.append(row)
    targets = []
    for row in rows:
        for name, limit in TARGETS.items():
            r = row["over_fused_adam"][name]
            targets.append({"target": f"dynopt.torch n = {row['n']:.0e} {row['dtype']}: "
                                      f"{name} / fused Adam (min)",
                            "value": r["min"], "median": r["median"], "goal": limit,
                            "met": r["min"] <= limit})
    return {"rows": rows, "targets": targets, "threads": torch.get_num_threads()}


def _ms(t):
    return f"{1e3 * t:8.2f} ms"


def print_report(report) -> None:
    if report is None:
        print("PyTorch (with a fused CPU Adam) is not installed: the torch rows are skipped")
        return
    print(f"\ndynopt.torch.Optimizer vs torch.optim.Adam(fused=True), per step "
          f"({report['threads']} torch threads; min and median of interleaved rounds)")
    for row in report["rows"]:
        print(f"  n = {row['n']:,d} ({row['dtype']}; after the timed steps dynopt's Adam "
              f"differs from torch's by at most {row['adam_max_difference']:.1e})")
        for name, t in row["per_step"].items():
            extra = ""
            if name in row["over_fused_adam"]:
                r = row["over_fused_adam"][name]
                extra = f"   x fused: {r['min']:5.2f} (median {r['median']:5.2f})"
            print(f"    {name:<20}{_ms(t['min'])}{_ms(t['median'])}{extra}")


def main(argv=None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m dynopt.bench.torch_optim",
                                     description="dynopt.torch.Optimizer against torch's "
                                                 "fused Adam, interleaved")
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="parameter dtype (default float32)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH")
    args = parser.parse_args(argv)
    try:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be comma-separated numbers, got {args.sizes!r}")
    if any(s < 1 for s in sizes) or args.rounds < 1:
        parser.error("--sizes and --rounds must be positive")
    report = measure(sizes, args.rounds, args.dtype, threads=args.threads)
    print_report(report)
    if report is not None:
        from .kernels import _print_targets
        _print_targets(report["targets"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=lambda o: np.asarray(o).tolist())
    return report


if __name__ == "__main__":
    main()
