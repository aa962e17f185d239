"""The notes beside the PINN table: protocol, rates, the verdict in plain words."""
from __future__ import annotations

from .protocol import CLAIM, DEPTH, LBFGS_HISTORY, SPIKE, VARIANCE_FACTOR, WARM_LR, WIDTH

__all__ = ["notes"]


def notes(table, verdicts, plan, seeds, problems, grids, line_search, complete) -> list:
    """Plain-words remarks on a run."""
    out = [
        (f"Protocol: tanh network {DEPTH} x {WIDTH}, float64, full batch; warm start "
         f"torch.optim.Adam(lr={WARM_LR:g}) for {plan['warm_steps']} steps from seed s "
         f"(weights and collocation points); then each optimizer runs {plan['evaluations']} "
         f"gradient evaluations from the same warm start. {seeds} seeds per problem."),
        ("Rates: " + "; ".join(f"{m} {', '.join('-' if v is None else f'{v:g}' for v in g)}"
                               for m, g in grids.items())
         + ". Per problem and optimizer the rate with the lowest mean final loss is shown "
           "(diverged runs count 1e9), chosen on the reported seeds."),
        (f"L-BFGS: torch.optim.LBFGS(lr=1, history_size={LBFGS_HISTORY}, line_search_fn="
         f"{line_search!r}), every closure evaluation counted in the budget. FANoS: "
         f"dynopt.torch.Optimizer(method='fanos') at its defaults (grad_clip 1, RMS mass), "
         f"one parameter group."),
        (f"Columns: loss = mean final loss [95% bootstrap CI]; sd_log10 = standard deviation "
         f"over seeds of log10 final loss; rel_l2 = relative L2 error against the exact "
         f"(Poisson, heat) or Cole-Hopf reference (Burgers) solution; worse = fraction of "
         f"runs that ended above the warm start's loss or diverged; spiked = fraction whose "
         f"largest evaluated loss exceeded {SPIKE:g} x the warm start's (for L-BFGS its "
         f"line-search trial points count too, so its spikes are not comparable)."),
        (f"Verdict per problem, at the chosen rates: 'high variance' when FANoS's sd_log10 is "
         f"at least {VARIANCE_FACTOR:g} x every other optimizer's; 'unstable' when some FANoS "
         f"runs diverged or ended worse than the warm start, a larger fraction than every "
         f"other optimizer's; held = both, partly = one, not held = neither."),
    ]
    for prob in problems:
        v = verdicts.get(prob)
        if v is None:
            out.append(f"{prob}: no verdict (runs missing).")
        else:
            out.append(f"Paper: {CLAIM}. {prob}: {v['text']}.")
    for prob in problems:
        mine = {r["method"]: r for r in table if r["problem"] == prob and r["runs_all"]}
        fanos = mine.pop("fanos", None)
        if fanos:
            others = ", ".join(f"{m} {r['bad_all']} of {r['runs_all']}" for m, r in mine.items())
            out.append(f"{prob}: over FANoS's whole grid {fanos['bad_all']} of "
                       f"{fanos['runs_all']} runs ended worse than the warm start"
                       + (f" (over theirs: {others})." if others else "."))
    if not complete:
        out.append("The sweep was interrupted: rows may rest on fewer seeds.")
    return out
