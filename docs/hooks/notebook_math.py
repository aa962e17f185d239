"""MkDocs hook: the notebooks' ``$ ... $`` and ``$$ ... $$`` formulas, marked up for MathJax 3.

mkdocs-jupyter renders a notebook's Markdown cells with nbconvert, which leaves the TeX between
dollar signs as text and adds a MathJax 2 configuration that MathJax 3 (the one the site loads)
ignores. The site's MathJax 3 typesets only elements of class ``arithmatex``, the markup that
``pymdownx.arithmatex`` (generic mode) gives the Markdown pages (``docs/javascripts/mathjax.js``).
This hook gives the notebooks the same markup: ``$$x$$`` becomes
``<span class="arithmatex">\\[x\\]</span>`` and ``$x$`` becomes
``<span class="arithmatex">\\(x\\)</span>``.

It does so twice. Before a Markdown cell is parsed (a wrapper of nbconvert's
``MarkdownWithMath.render``), each formula outside code is set aside and put back, marked up, in
the HTML, as JupyterLab does: otherwise the Markdown parser reads the formula's text, and a line of
an inline formula that starts with ``>`` becomes a block quote and ``\\;`` loses its backslash.
After the page is written, formulas still bare in the text of a Markdown cell (a heading's, left to
nbconvert so that its anchor stays plain) or of a ``text/latex`` output (SymPy's
``$\\displaystyle ...$``) are marked up too, and the dead MathJax 2 block is dropped. mkdocs-jupyter's cache is off in ``mkdocs.yml``: a cached page would skip the first pass.
"""
from __future__ import annotations

import html as _html
import re

__all__ = ["mark_math", "on_config", "on_post_page", "protect_math"]

_TOKEN_RE = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_TAG_RE = re.compile(r"<(?P<close>/)?(?P<name>[a-zA-Z][\w-]*)(?P<attrs>[^>]*?)(?P<self>/)?>", re.DOTALL)
_SKIP = {"pre", "code", "script", "style", "textarea", "kbd", "samp"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
         "wbr"}
# Markdown cells, and the text/latex outputs (SymPy's "$\\displaystyle ...$")
_MATH_CONTAINERS = re.compile(r"class=\"[^\"]*\b(?:jp-MarkdownOutput|jp-RenderedLatex)\b")
_DISPLAY_RE = re.compile(r"(?<!\\)\$\$(?P<tex>.+?)(?<!\\)\$\$", re.DOTALL)
_INLINE_RE = re.compile(r"(?<![\\$])\$(?![\s$])(?P<tex>(?:\\.|[^\\$])+?)(?<![\s\\])\$(?!\$)", re.DOTALL)
_MATHJAX2_RE = re.compile(r"<!-- Load mathjax -->\s*<script src=\"\">\s*</script>\s*"
                          r"<!-- MathJax configuration -->.*?<!-- End of mathjax configuration -->",
                          re.DOTALL)


def _mark_text(text: str) -> str:
    text = _DISPLAY_RE.sub(lambda m: rf'<span class="arithmatex">\[{m["tex"].strip()}\]</span>', text)
    # The display spans hold no dollar signs any more, so what pairs up now is inline math.
    return _INLINE_RE.sub(lambda m: rf'<span class="arithmatex">\({m["tex"]}\)</span>', text)


_CODE_RE = re.compile(r"^(?P<fence>[ ]{0,3}(?:`{3,}|~{3,})).*?(?:^(?P=fence)[ \t]*$|\Z)"
                      r"|(?P<ticks>`+).+?(?P=ticks)", re.DOTALL | re.MULTILINE)
_SOURCE_INLINE_RE = re.compile(r"(?<![\\$])\$(?![\s$])(?P<tex>(?:\\.|[^\\$])+?)(?<![\s\\])\$(?!\$)",
                               re.DOTALL)
_TOKEN = "DYNOPTMATHTOKEN{}X"


def _span(tex: str, display: bool) -> str:
    tex = _html.escape(tex.strip() if display else tex, quote=False)
    return rf'<span class="arithmatex">\[{tex}\]</span>' if display \
        else rf'<span class="arithmatex">\({tex}\)</span>'


def protect_math(source: str) -> tuple[str, list[str]]:
    """Set the formulas of a Markdown cell aside before it is parsed.

    Parameters
    ----------
    source : str
        The cell's Markdown.

    Returns
    -------
    str
        The Markdown with each formula outside code spans, fenced code and headings replaced by
        a plain token (``DYNOPTMATHTOKEN<i>X``).
    list of str
        The HTML that replaces token ``i`` after parsing: the formula, escaped, in an
        ``arithmatex`` span (``\\[...\\]`` for ``$$...$$``, ``\\(...\\)`` for ``$...$``).
    """
    spans: list[str] = []

    def keep(tex: str, display: bool) -> str:
        spans.append(_span(tex, display))
        return _TOKEN.format(len(spans) - 1)

    def text_part(text: str) -> str:
        lines = []
        for chunk in re.split(r"(^[ ]{0,3}#[^\n]*$)", text, flags=re.MULTILINE):
            if chunk.lstrip().startswith("#"):  # a heading: left alone
                lines.append(chunk)
                continue
            for para in re.split(r"(\n[ \t]*\n)", chunk):  # a formula stays within a paragraph
                para = _DISPLAY_RE.sub(lambda m: keep(m["tex"], True), para)
                para = _SOURCE_INLINE_RE.sub(lambda m: keep(m["tex"], False), para)
                lines.append(para)
        return "".join(lines)

    out, pos = [], 0
    for code in _CODE_RE.finditer(source):
        out.append(text_part(source[pos:code.start()]))
        out.append(code.group())
        pos = code.end()
    out.append(text_part(source[pos:]))
    return "".join(out), spans


def _restore(html: str, spans: list[str]) -> str:
    return re.sub(r"DYNOPTMATHTOKEN(\d+)X", lambda m: spans[int(m[1])], html)


def on_config(config):
    """Wrap nbconvert's Markdown rendering (once) so that formulas bypass the Markdown parser."""
    from nbconvert.filters import markdown_mistune

    cls = markdown_mistune.MarkdownWithMath
    if not getattr(cls.render, "_dynopt_protects_math", False):
        original = cls.render

        def render(self, source: str) -> str:
            protected, spans = protect_math(source)
            return _restore(original(self, protected), spans)

        render._dynopt_protects_math = True
        cls.render = render
    return config


def mark_math(html: str) -> str:
    """Wrap the dollar-delimited math in the Markdown cells and LaTeX outputs of a notebook page.

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
                if cell_depth is None and _MATH_CONTAINERS.search(tag["attrs"]):
                    cell_depth = div_depth
            if skip or name in _SKIP or re.search(r"class=\"[^\"]*\barithmatex\b", tag["attrs"]):
                skip.append(name)  # inside a skipped element every element is pushed, to pair up
        out.append(token)
    return "".join(out)


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return mark_math(output)
    return output
