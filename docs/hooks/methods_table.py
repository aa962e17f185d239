"""MkDocs hook: fill ``<!-- methods-table -->`` with the live method registry."""
from __future__ import annotations

MARKER = "<!-- methods-table -->"


def _table() -> str:
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's dynopt
    import dynopt
    lines = ["| method | integrator | hyperparameters (defaults) | what it is |",
             "|---|---|---|---|"]
    for name, info in dynopt.describe_methods().items():
        hyper = ", ".join(f"`{k}={v!r}`" for k, v in info["hyperparameters"].items())
        integ = f"`{info['integrator']}`" if info["integrator"] else "discrete rule"
        what = info["summary"] + (f" — {info['physical']}" if info["physical"] else "")
        lines.append(f"| `{name}` | {integ} | {hyper} | {what.replace('|', '/')} |")
    return "\n".join(lines)


SETTINGS_MARKER = "<!-- settings-table -->"


def _settings_table() -> str:
    _table()  # puts the checkout on the path
    from dynopt.methods.settings import EXAMPLE_SETTINGS, GTOL, PROBLEMS
    head = " | ".join(f"{p} (gtol {GTOL[p]:g}): options, steps, max abs error" for p in PROBLEMS)
    lines = [f"| method | {head} |", "|---|" + "---|" * len(PROBLEMS)]
    for name, entry in EXAMPLE_SETTINGS.items():
        cells = []
        for p in PROBLEMS:
            opts, steps, atol = entry[p]
            shown = ", ".join(f"`{k}={v!r}`" for k, v in opts.items()) or "defaults"
            cells.append(f"{shown}; {steps}; {atol:g}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, _table())
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, _settings_table())
    return markdown
