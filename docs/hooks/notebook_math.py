"""MkDocs hook: the notebooks' ``$ ... $`` and ``$$ ... $$`` formulas, marked up for MathJax 3.

mkdocs-jupyter renders a notebook's Markdown cells with nbconvert, which leaves the TeX between
dollar signs as text and adds a MathJax 2 configuration that MathJax 3 (the one the site loads)
ignores. The site's MathJax 3 typesets only elements of class ``arithmatex``, the markup that
``pymdownx.arithmatex`` (generic mode) gives the Markdown pages (``docs/javascripts/mathjax.js``).
This hook gives the notebooks the same markup: in the text of their Markdown cells (outside code),
``$$x$$`` becomes ``<span class="arithmatex">\\[x\\]</span>`` and ``$x$`` becomes
``<span class="arithmatex">\\(x\\)</span>``; the dead MathJax 2 block is dropped.
"""
from __future__ import annotations

import re

__all__ = ["mark_math", "on_post_page"]

_TOKEN_RE = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_TAG_RE = re.compile(r"<(?P<close>/)?(?P<name>[a-zA-Z][\w-]*)(?P<attrs>[^>]*?)(?P<self>/)?>", re.DOTALL)
_SKIP = {"pre", "code", "script", "style", "textarea", "kbd", "samp"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
         "wbr"}
_MARKDOWN_CELL = "jp-MarkdownOutput"
_DISPLAY_RE = re.compile(r"(?<!\\)\$\$(?P<tex>.+?)(?<!\\)\$\$", re.DOTALL)
_INLINE_RE = re.compile(r"(?<![\\$])\$(?![\s$])(?P<tex>(?:\\.|[^\\$])+?)(?<![\s\\])\$(?!\$)", re.DOTALL)
_MATHJAX2_RE = re.compile(r"<!-- Load mathjax -->\s*<script src=\"\">\s*</script>\s*"
                          r"<!-- MathJax configuration -->.*?<!-- End of mathjax configuration -->",
                          re.DOTALL)


def _mark_text(text: str) -> str:
    text = _DISPLAY_RE.sub(lambda m: rf'<span class="arithmatex">\[{m["tex"].strip()}\]</span>', text)
    # The display spans hold no dollar signs any more, so what pairs up now is inline math.
    return _INLINE_RE.sub(lambda m: rf'<span class="arithmatex">\({m["tex"]}\)</span>', text)


def mark_math(html: str) -> str:
    """Wrap the dollar-delimited math in the Markdown cells of a rendered notebook page.

    Parameters
    ----------
    html : str
        The page as mkdocs-jupyter wrote it.

    Returns
    -------
    str
        The page with each formula of a Markdown cell (not one inside ``pre``, ``code``,
        ``script`` or an existing ``arithmatex`` element) in an ``arithmatex`` span.
    """
    html = _MATHJAX2_RE.sub("", html)
    out: list[str] = []
    cell_depth = None  # div depth at which the current Markdown cell opened
    div_depth = 0
    skip: list[str] = []  # open elements whose text is left alone
    for token in _TOKEN_RE.split(html):
        if not token:
            continue
        if token.startswith("<!--"):
            out.append(token)
            continue
        tag = _TAG_RE.fullmatch(token)
        if tag is None:  # text (or a stray "<" in text)
            if skip and skip[-1] in ("script", "style") and not token.startswith("<"):
                out.append(token)
            elif cell_depth is not None and not skip and "$" in token:
                out.append(_mark_text(token))
            else:
                out.append(token)
            continue
        name = tag["name"].lower()
        if skip and skip[-1] in ("script", "style") and not (tag["close"] and name == skip[-1]):
            out.append(token)  # markup-looking text inside a script
            continue
        if tag["close"]:
            if skip and skip[-1] == name:
                skip.pop()
            if name == "div":
                div_depth -= 1
                if cell_depth is not None and div_depth < cell_depth:
                    cell_depth = None
        elif not tag["self"] and name not in _VOID:
            if name == "div":
                div_depth += 1
                if cell_depth is None and _MARKDOWN_CELL in tag["attrs"]:
                    cell_depth = div_depth
            if skip or name in _SKIP or re.search(r"class=\"[^\"]*\barithmatex\b", tag["attrs"]):
                skip.append(name)  # inside a skipped element every element is pushed, to pair up
        out.append(token)
    return "".join(out)


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return mark_math(output)
    return output
