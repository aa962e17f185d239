"""The documentation renders: no reST markup left over, every formula marked up for MathJax.

The site is built once (``mkdocs build --strict`` into a temporary folder, about 15 s) and its
HTML is read back. The docstrings are written in reStructuredText (``:math:``, ``:class:``,
``.. math::``) and the notebooks with ``$...$``; the build converts both (``docs/hooks/``) to the
markup that the site's MathJax 3 typesets (elements of class ``arithmatex``, see
``docs/javascripts/mathjax.js``). The reference counts come from the sources (the docstrings, the
notebooks' JSON), not from the converter.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["api", "analysis", "systems", "methods"]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "docs" / "notebooks").glob("*.ipynb"))
ROLE_RE = re.compile(r"(?<![\w:]):(?:py:)?(math|class|func|meth|mod|data|attr|obj|exc|const|ref):(?=\S)")
DIRECTIVE_RE = re.compile(r"\.\.\s+(math|code-block|code|note|warning)::")
SKIPPED = {"script", "style", "pre", "code", "kbd", "samp", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Page(HTMLParser):
    """A page's prose (outside code and math), its formulas, and the text under each id."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str], str | None]] = []
        self.prose: list[str] = []
        self.code: list[str] = []
        self.words: list[str] = []  # prose and code in page order (no math)
        self.math: list[str] = []   # text of each arithmatex element
        self.scripts: list[str] = []  # src of each script
        self._math: list[str] | None = None
        self._math_depth = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs.get("src") or "")
        if tag in VOID:
            return
        classes = set((attrs.get("class") or "").split())
        if "clipboard-copy-txt" in classes:  # the copy button's hidden copy of a code cell
            tag = "pre"
        self.stack.append((tag, classes, attrs.get("id")))
        if "arithmatex" in classes and self._math is None:
            self._math, self._math_depth = [], len(self.stack)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            open_tag, classes, _ = self.stack.pop()
            if self._math is not None and len(self.stack) < self._math_depth:
                self.math.append("".join(self._math))
                self._math = None
            if open_tag == tag or (open_tag == "pre" and "clipboard-copy-txt" in classes):
                break

    def handle_data(self, data):
        if self._math is not None:
            self._math.append(data)
        elif any(tag in SKIPPED for tag, _, _ in self.stack):
            if not any(tag in ("script", "style") for tag, _, _ in self.stack):
                self.code.append(data)
                self.words.append(data)
        else:
            self.prose.append(data)
            self.words.append(data)

    @property
    def text(self) -> str:
        return "".join(self.prose)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once for the module."""
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed")
    for module in ("mkdocstrings", "mkdocs_jupyter", "material"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                          "--site-dir", str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def _html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def _parsed(site: Path, page: str) -> Page:
    return Page(_html(site, page))


ALL_PAGES = PAGES + [f"notebooks/{nb}" for nb in NOTEBOOKS]


@pytest.mark.parametrize("page", ALL_PAGES)
def test_no_raw_rest_markup(site, page):
    parsed = _parsed(site, page)
    text = parsed.text + "".join(parsed.code if page in PAGES else [])
    roles = [text[max(0, m.start() - 40):m.end() + 40] for m in ROLE_RE.finditer(text)]
    assert not roles, f"{page}: raw reST roles: {roles[:5]}"
    directives = [m.group() for m in DIRECTIVE_RE.finditer(text)]
    assert not directives, f"{page}: raw reST directives: {directives[:5]}"
    ticks = [parsed.text[max(0, m.start() - 40):m.end() + 40] for m in re.finditer("``", parsed.text)]
    assert not ticks, f"{page}: double backticks in the rendered text: {ticks[:5]}"
    cites = re.findall(r"\[\d+\]_", parsed.text)
    assert not cites, f"{page}: reST citation references: {cites[:5]}"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_math_is_marked_up_for_mathjax(site, page):
    parsed = _parsed(site, page)
    text = parsed.text
    bare = [text[max(0, m.start() - 40):m.end() + 40] for m in re.finditer(r"\$|\\\(|\\\[", text)]
    assert not bare, f"{page}: math outside an arithmatex element: {bare[:5]}"
    assert parsed.math, f"{page}: no formula at all"
    for tex in parsed.math:
        tex = tex.strip()
        assert (tex.startswith(r"\(") and tex.endswith(r"\)")) or \
            (tex.startswith(r"\[") and tex.endswith(r"\]")), f"{page}: badly delimited {tex!r}"
        assert len(tex) > 4, f"{page}: empty formula {tex!r}"
        assert "$" not in tex and ":math:" not in tex, f"{page}: {tex!r}"
    # MathJax 3 is configured (before it loads) to typeset exactly these elements.
    srcs = [s for s in parsed.scripts if s]
    config = [i for i, s in enumerate(srcs) if s.endswith("javascripts/mathjax.js")]
    mathjax = [i for i, s in enumerate(srcs) if "mathjax@3" in s]
    assert config and mathjax and config[0] < mathjax[0], srcs
    assert "x-mathjax-config" not in _html(site, page)  # MathJax 2 configuration: ignored by 3


def test_mathjax_configuration(site):
    js = (site / "javascripts" / "mathjax.js").read_text(encoding="utf-8")
    assert re.search(r"processHtmlClass:\s*\"arithmatex\"", js)
    assert re.search(r"inlineMath:\s*\[\[\"\\\\\(\",\s*\"\\\\\)\"\]\]", js)
    assert re.search(r"displayMath:\s*\[\[\"\\\\\[\",\s*\"\\\\\]\"\]\]", js)


def _entry(site: Path, page: str, identifier: str) -> tuple[str, list[str]]:
    """The docstring text of an API entry (without its bases line and members) and its formulas."""
    html = _html(site, page)
    start = html.find(f'id="{identifier}"')
    assert start >= 0, f"no entry for {identifier} on {page}"
    body = html[html.find('<div class="doc doc-contents', start):]
    end = body.find('<div class="doc doc-children">')
    if end < 0:
        end = body.find('<div class="doc doc-object')
    body = body[:end if end >= 0 else len(body)]
    body = re.sub(r'<p class="doc doc-class-bases">.*?</p>', "", body, flags=re.DOTALL)
    parsed = Page(body)
    return " ".join("".join(parsed.words).split()), parsed.math


def _integrators():
    from dynopt import integrators
    classes = {cls for cls in integrators.INTEGRATORS.values()} | {integrators.Composition}
    return sorted(classes, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _integrators(), ids=lambda c: c.__name__)
def test_integrator_entries_have_their_docstring(site, cls):
    text, math = _entry(site, "api", f"dynopt.integrators.{cls.__name__}")
    # The class's own docstring, else its module's (one module per scheme); not the base class's.
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or sys.modules[cls.__module__].__doc__ or "")
    assert doc, f"{cls.__name__} has no docstring"
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.sub(r":\w+:`~?([^`]+)`", lambda m: m[1].rsplit(".", 1)[-1], first).replace("``", "")
    assert len(text) > 60, f"{cls.__name__}: empty entry {text!r}"
    if ":math:" not in first:
        assert first in text, f"{cls.__name__}: {first!r} not in {text[:300]!r}"
    # Every formula of the source docstring is in the entry, marked up.
    expected = len(re.findall(r":math:`", doc)) + len(re.findall(r"^\s*\.\. math::", doc, re.M))
    assert len(math) == expected, f"{cls.__name__}: {len(math)} formulas, docstring has {expected}"


def test_docstring_formulas_all_rendered(site):
    """Each ``:math:`` role and ``.. math::`` block of the documented objects becomes one formula."""
    from dynopt import systems
    names = ["DampedOscillator", "GradientFlow", "NesterovODE", "NoseHoover", "NoseHooverChain",
             "LagrangianSystem", "BregmanLagrangian"]
    for name in names:
        doc = inspect.getdoc(getattr(systems, name)) or ""
        _, math = _entry(site, "api", f"dynopt.systems.{name}")
        expected = len(re.findall(r":math:`", doc)) + len(re.findall(r"^\s*\.\. math::", doc, re.M))
        assert len(math) == expected, f"{name}: {len(math)} formulas, docstring has {expected}"


def _markdown_dollars(nb: str) -> int:
    """Dollar signs in the notebook's Markdown cells (outside code) and ``text/latex`` outputs."""
    cells = json.loads((ROOT / "docs" / "notebooks" / f"{nb}.ipynb").read_text(encoding="utf-8"))
    count = 0
    for cell in cells["cells"]:
        for output in cell.get("outputs", []):
            latex = output.get("data", {}).get("text/latex")
            if latex and "text/html" not in output["data"]:  # shown as LaTeX
                count += "".join(latex).count("$")
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        source = re.sub(r"^```.*?^```", "", source, flags=re.S | re.M)
        source = re.sub(r"(`+).+?\1", "", source, flags=re.S)
        count += source.count("$") - source.count(r"\$")
    return count


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_notebook_formulas_all_marked_up(site, nb):
    parsed = _parsed(site, f"notebooks/{nb}")
    # a $...$ formula is two dollar signs in the source, a $$...$$ one four
    dollars = sum(2 if tex.strip().startswith(r"\(") else 4 for tex in parsed.math)
    assert dollars == _markdown_dollars(nb), (dollars, _markdown_dollars(nb))
    for tex in parsed.math:  # a formula that the Markdown parser broke up would show here
        assert tex.count(r"\(") + tex.count(r"\[") == 1, tex


# The modules whose public classes and functions make the documented API (internals such as
# the CLI, the benchmark and the kernel plumbing are left out).
API_MODULES = ["dynopt", "dynopt.methods", "dynopt.systems", "dynopt.integrators", "dynopt.program",
               "dynopt.stepper", "dynopt.backends", "dynopt.objective", "dynopt.ase", "dynopt.sweep",
               "dynopt.stats", "dynopt.curvature", "dynopt.tuning", "dynopt.collisions",
               "dynopt.diversity", "dynopt.problems", "dynopt.reproduce", "dynopt.analysis"]


def _documented(site: Path) -> dict[int, str]:
    """The objects with an entry in the site: id(object) -> the entry's identifier."""
    found = {}
    for page in site.rglob("index.html"):
        for ident in re.findall(r'<h\d id="(dynopt[\w.]*)" class="doc doc-heading"',
                                page.read_text(encoding="utf-8")):
            parts = ident.split(".")
            for cut in range(len(parts), 0, -1):  # longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                try:
                    for name in parts[cut:]:
                        obj = getattr(obj, name)
                except AttributeError:
                    break
                found[id(obj)] = ident
                break
    return found


def test_every_public_object_has_an_entry(site):
    documented = _documented(site)
    missing = []
    for modname in API_MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and SymPy symbols
            if id(obj) not in documented:
                missing.append(f"{modname}.{name}")
    assert not missing, f"public objects without an API entry: {missing}"


# Objects whose docstring is still to be written in the package (the docs cannot supply it):
# dynopt.backends.base.Kernels (a dataclass whose fields only are commented).
NO_DOCSTRING_YET = {"dynopt.backends.Kernels"}


def test_entries_are_not_empty(site):
    """Each top-level API entry shows a docstring (the class's, or its module's for a scheme)."""
    html = _html(site, "api")
    idents = re.findall(r'<h3 id="(dynopt[\w.]*)" class="doc doc-heading"', html)
    assert len(idents) > 80, len(idents)
    empty = [ident for ident in idents if len(_entry(site, "api", ident)[0]) < 20
             and ident not in NO_DOCSTRING_YET]
    assert not empty, f"API entries without a docstring: {empty}"
