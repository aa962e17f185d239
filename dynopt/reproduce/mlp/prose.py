"""The digits MLP report in words: protocol, each claim against the paired differences."""
from __future__ import annotations

from .protocol import GAMMA_C, HIDDEN, PLANS, ROWS, SENSITIVITY_SCALES, _spec

__all__ = ["notes", "measured_text", "verdict"]


def verdict(diff, better: str) -> str:
    """Words for a paired difference ``a - b``; ``better`` is 'higher' or 'lower'."""
    mean, se, n = diff["mean"], diff["se"], diff["n"]
    if mean is None:
        return "not measured"
    if n < 2:
        return "one seed only"
    if mean == 0.0 and (diff["std"] or 0.0) == 0.0:
        return "identical on every seed"
    side = "higher" if mean > 0 else "lower"
    word = "better" if side == better else "worse"
    if se == 0.0 or abs(mean) > 2.0 * se:
        return f"{side} beyond two standard errors: {word}"
    return "within two standard errors of zero"


def measured_text(row, paired) -> str:
    """The table's short form of a row's paired differences (mean over seeds)."""
    refs = paired.get(row) or {}
    parts = []
    for ref, d in refs.items():
        acc, cos = d["counted_accuracy"]["mean"], d["cos_W1"]["mean"]
        if acc is None:
            continue
        if _spec(row).get("base_row") == ref:
            parts.append(f"vs {ref} same lr: acc {100 * acc:+.2f} pp, cos {cos:+.1e}")
        else:
            parts.append(f"{ref} {100 * acc:+.2f}")
    if parts and _spec(row).get("base_row") is None:
        return "acc pp vs " + ", ".join(parts)
    return "; ".join(parts)


def _fmt(value, spec=".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def _pp(diff) -> str:
    """An accuracy difference in percentage points, with its standard error."""
    if diff["mean"] is None:
        return "n/a"
    se = "" if diff["se"] is None else f" ± {100 * diff['se']:.2f}"
    return f"{100 * diff['mean']:+.2f}{se} pp"


def _pm(diff, reference=None) -> str:
    """A difference with its standard error, and relative to ``reference`` (the base's mean)."""
    if diff["mean"] is None:
        return "n/a"
    se = "" if diff["se"] is None else f" ± {diff['se']:.1e}"
    rel = "" if not reference else f", {100 * diff['mean'] / reference:+.3g}% of the base's value"
    return f"{diff['mean']:+.2e}{se}{rel}"


def notes(table, records, plan, seeds, select_seeds, grids, chosen, paired,
           selection_complete, cells=()) -> list:
    by = {r["method"]: r for r in table}
    notes = [
        "Protocol: scikit-learn digits, stratified split per seed (25% test: 1347 train, 450 "
        f"test), network 64-{HIDDEN}-10 tanh, cross-entropy, no weight decay, Glorot-uniform "
        f"init; {plan['steps']} full-batch steps (every step sees the whole training split, so "
        f"'SGD' is gradient descent); {seeds} test seeds, {select_seeds} selection seeds.",
        "Rate selection: per optimizer the rate of its grid with the highest mean validation "
        "accuracy (20% of each class of the training split held out; ties: lower validation "
        "cross-entropy, then the smaller rate); grids: "
        + "; ".join(f"{r} {list(grids[r])}" for r in grids) + ". KO uses its base's grid; "
        f"gamma_c = {GAMMA_C}. A diverged run (status 3/4) scores accuracy 0.",
        "Diversity: cos_W1 = mean |cosine| over pairs of rows of the first weight matrix "
        "(lower = more diverse), erank_W1 = its effective rank (Roy & Vetterli 2007; higher = "
        "more diverse, at most 32); 'init' is the initial weights. acc_std, cos_std, erank_std: "
        "standard deviation over seeds. Paired differences below: mean ± standard error over "
        "the seeds (same split and initial weights). Final parameters of every test run: "
        "mlp_weights.npz.",
    ]
    if plan["steps"] != PLANS["default"]["steps"] or seeds < PLANS["default"]["seeds"]:
        notes.append(f"At this size ({seeds} seeds, {plan['steps']} steps, "
                     f"{len(next(iter(grids.values()), ()))} rates per grid) the figures are a "
                     f"smoke test, not a measurement.")
    for row, lr in chosen.items():
        if lr is not None and len(grids[row]) > 2 and lr in (grids[row][0], grids[row][-1]):
            notes.append(f"{row}: the chosen rate {lr:g} is at the edge of its grid; the best "
                         f"rate may lie outside it.")
    notes += _claim_notes(by, chosen, paired)
    notes += _sensitivity_notes(cells)
    init = by.get("init")
    if init and init["cos_W1"] is not None:
        trained = [r for r in table if r["method"] != "init" and r["cos_W1"] is not None]
        if trained:
            lo = min(trained, key=lambda r: r["cos_W1"])
            hi = max(trained, key=lambda r: r["cos_W1"])
            notes.append(f"Training raises cos_W1 from {init['cos_W1']:.4f} at initialisation "
                         f"to between {lo['cos_W1']:.4f} ({lo['method']}) and "
                         f"{hi['cos_W1']:.4f} ({hi['method']}): rows become more alike with "
                         f"every optimizer." if lo["cos_W1"] > init["cos_W1"] else
                         f"cos_W1 at initialisation {init['cos_W1']:.4f}; after training "
                         f"from {lo['cos_W1']:.4f} ({lo['method']}) to {hi['cos_W1']:.4f} "
                         f"({hi['method']}).")
    for rec in records:
        if rec["status"] == "failed":
            notes.append(f"FAILED: {rec['method']} at lr {rec['lr']:g}, seed {rec['seed']} "
                         f"({rec['phase']}): {rec['error']}")
    if not selection_complete:
        notes.append("Interrupted during the rate selection: no test runs were made; the "
                     "selection runs that finished are in the records.")
    elif any(r["status"] == "not run" for r in records):
        notes.append("Interrupted during the test runs: the rows use the runs that finished.")
    return notes


def _claim_notes(by, chosen, paired) -> list:
    """Each KO row against its base at the base's rate; FANoS and Frankenstein against
    SGD, momentum and Adam; with what the papers claim."""
    notes = []
    for row in ("ko_sgd", "ko_momentum", "ko_adam"):
        base = ROWS[row]["base_row"]
        pair = paired.get(row, {}).get(base)
        if pair is None:
            continue
        acc, cos, erank = pair["counted_accuracy"], pair["cos_W1"], pair["erank_W1"]
        notes.append(
            f"{row} vs {base}, both at {base}'s rate {chosen[base]:g} ({acc['n']} seeds): "
            f"accuracy {_pp(acc)} ({verdict(acc, 'higher')}); cos_W1 "
            f"{_pm(cos, by[base]['cos_W1'])} ({verdict(cos, 'lower')}); erank_W1 "
            f"{_pm(erank, by[base]['erank_W1'])} ({verdict(erank, 'higher')}). The KO "
            f"paper claims higher accuracy and more diverse rows.")
        own = by.get(row)
        if own and own["lr"] is not None and own["lr"] != chosen[base]:
            notes.append(f"{row} at its own chosen rate {own['lr']:g}: accuracy "
                         f"{_fmt(own['acc_mean'])} against {base}'s {_fmt(by[base]['acc_mean'])}.")
    for row in ("fanos", "frankenstein"):
        refs = paired.get(row, {})
        if not refs:
            continue
        parts = [f"vs {ref}: accuracy {_pp(d['counted_accuracy'])} "
                 f"({verdict(d['counted_accuracy'], 'higher')})" for ref, d in refs.items()]
        claim = ("The Frankenstein paper claims better generalization than Adam and SGD."
                 if row == "frankenstein" else "The FANoS paper makes no claim on classifiers.")
        notes.append(f"{row} at its rate {chosen[row]:g}, paired by seed, each at its own "
                     f"chosen rate: " + "; ".join(parts) + ". " + claim)
    return notes


def _sensitivity_notes(cells) -> list:
    """The sensitivity in words: the bound, then one line per cell."""
    if not cells:
        return []
    lr = cells[0]["lr"]
    notes = [
        f"Sensitivity of KO on SGD to the collision, at SGD's rate {lr:g}, paired with SGD by "
        f"seed: gamma_c in {sorted({c['gamma_c'] for c in cells})} x collision_scale in "
        f"{sorted({c['collision_scale'] for c in cells}, key=SENSITIVITY_SCALES.index)} "
        f"('mean': the sum over the other rows divided by their number, the method's default; "
        f"'sum': not divided). With 'mean' every gamma_c < 1 keeps a descent direction; with "
        f"'sum' the bound is gamma_c < 1/31 in W1 (32 rows) and < 1/9 in W2 (10 rows): 'sum' "
        f"at gamma_c is 'mean' at 31 gamma_c in W1 and 9 gamma_c in W2, so every 'sum' cell "
        f"is beyond the bound in W1. Beyond it, rows aligned in weight and gradient get the "
        f"gradient (1 - gamma_c P'/Z) g: zero at gamma_c = Z/P' and uphill above; 'mean' "
        f"with gamma_c >= 1 was not run."]
    for c in cells:
        d = c["paired"]
        notes.append(
            f"KO on SGD, {c['collision_scale']} scale, gamma_c {c['gamma_c']:g} ({c['n']} "
            f"seeds, {c['diverged']} diverged): accuracy {_fmt(c['acc_mean'])} ± "
            f"{_fmt(c['acc_std'])}, vs SGD {_pp(d['counted_accuracy'])} "
            f"({verdict(d['counted_accuracy'], 'higher')}); cos_W1 {_fmt(c['cos_W1'])}, vs SGD "
            f"{_pm(d['cos_W1'])} ({verdict(d['cos_W1'], 'lower')}); erank_W1 "
            f"{_fmt(c['erank_W1'])}, vs SGD {_pm(d['erank_W1'])} "
            f"({verdict(d['erank_W1'], 'higher')}); train loss {_fmt(c['train_loss'])}.")
    return notes
