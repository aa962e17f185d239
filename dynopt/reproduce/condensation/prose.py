"""The condensation report in words: the protocol, then each KO row against its base."""
from __future__ import annotations

from .protocol import BATCH, CLAIM, COMPARABLE_PP, MATERIAL_PERCENT, PLANS, ROWS, TEST_FRACTION

__all__ = ["notes"]


def _fmt(value, spec=".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def notes(table, records, plan, seeds, grids, complete) -> list:
    hidden, epochs = plan["hidden"], plan["epochs"]
    out = [
        f"Protocol: scikit-learn digits, stratified split per seed ({100 * TEST_FRACTION:g}% "
        f"test), network 64-{hidden}-10 tanh (dynopt.problems.mlp.MLPProblem's, Glorot-uniform "
        f"weights, zero biases), cross-entropy, float64, minibatches of {BATCH} in a seeded "
        f"random order, {epochs} epochs, no weight decay, no schedule; {seeds} seeds (each "
        f"fixes split, initial weights and minibatch order for every optimizer). SGD and Adam "
        f"are torch.optim's; KO is dynopt.torch.Optimizer(method='ko', base='sgd' or 'adam', "
        f"backend='torch') with the soft collision on the rows of W1 and of W2 "
        f"('mean' scale). Every row runs at every rate of its pair's grid: "
        + "; ".join(f"{r} {list(grids[r])}" for r in grids if not r.startswith("ko_")) + ".",
        "Diversity of the hidden layer's weights W1 (rows: the hidden units' input weights): "
        "cos_W1 = mean |cosine| over row pairs (lower = more diverse), erank_W1 = effective "
        "rank (Roy & Vetterli 2007; higher = more diverse). Intervals: 95% percentile "
        "bootstrap of the mean over seeds; d_* = KO minus its base at the same rate, paired by "
        "seed (d_acc in percentage points). 'undone': percent of the base's rise of cos_W1 "
        "over initialisation that KO takes back.",
        f"The paper's claim: {CLAIM}. 'held' is 'yes' when the interval of d_cos is below 0, "
        f"that of d_erank above 0, that of d_acc above -{COMPARABLE_PP:g} pp (comparable "
        f"accuracy) and KO undoes at least {MATERIAL_PERCENT:g}% of its base's condensation; "
        f"'direction only' when all but the last hold (or the base shows no condensation); "
        f"else 'no'. A percentile bootstrap over few seeds is narrow.",
    ]
    if seeds < PLANS["default"]["seeds"] or epochs < PLANS["default"]["epochs"]:
        out.append(f"At this size ({seeds} seeds, {epochs} epochs, hidden {hidden}) the "
                   f"figures are a smoke test, not a measurement.")
    by = {(r["method"], r["lr"]): r for r in table}
    init = by.get(("init", None))
    for row in table:
        if "held" not in row or row.get("d_cos") is None:
            continue
        base = ROWS[row["method"]]["base_row"]
        base_row = by.get((base, row["lr"]), {})
        out.append(
            f"{row['method']} vs {base} at lr {row['lr']:g} ({row['paired']['cos_W1']['n']} "
            f"seeds): accuracy {_fmt(row['d_acc_pp'], '+.2f')} pp {row['d_acc_ci']}; cos_W1 "
            f"{_fmt(row['d_cos'], '+.2e')} {row['d_cos_ci']} (base {_fmt(base_row.get('cos_W1'))}"
            f", initial {_fmt(init and init['cos_W1'])}; {_fmt(row['undone'], '.2g')}% of the "
            f"rise undone); erank_W1 {_fmt(row['d_erank'], '+.2e')} {row['d_erank_ci']}: rows "
            f"{row['diverse']} diverse, accuracy comparable: {row['comparable']}; claim held: "
            f"{row['held']}.")
    for rec in records:
        if rec["status"] == "failed":
            out.append(f"FAILED: {rec['method']} at lr {rec['lr']:g}, seed {rec['seed']}: "
                       f"{rec['error']}")
    if not complete:
        out.append("Interrupted: the rows use the runs that finished.")
    return out
