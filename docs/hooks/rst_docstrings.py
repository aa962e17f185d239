"""Griffe extension: the package's reStructuredText markup in docstrings, as Markdown.

The docstrings follow the NumPy convention and write their mathematics and cross-references
with Sphinx roles (``:math:`x```, ``:class:`~dynopt.systems.NoseHoover```) and directives
(``.. math::``, ``.. code-block::``). mkdocstrings renders docstrings as Markdown, where those
roles would be printed as they are. This extension rewrites every docstring of the loaded
package before it is parsed:

* ``:math:`x``` becomes ``\\(x\\)`` and a ``.. math::`` block becomes a ``$$ ... $$`` block;
  ``pymdownx.arithmatex`` (generic mode) wraps both for MathJax. Several equations separated by
  blank lines, or lines broken with ``\\\\``, become the rows of one ``aligned`` display (one
  ``gathered`` display when no row has an ``&``).
* ``:class:``, ``:func:``, ``:meth:``, ``:mod:``, ``:data:``, ``:attr:``, ``:obj:``, ``:exc:``
  and ``:const:`` become optional cross-references (a link where the target has an entry in the
  site, inline code otherwise); ``~`` keeps the last component, ``title <target>`` sets the
  title, and functions and methods get ``()`` as in Sphinx. Names without a module are resolved
  in the scope of the documented object.
* double-backtick literals become single-backtick code; ``.. code-block:: lang`` and literal blocks introduced by
  ``::`` become fenced code; ``[1]_`` and ``.. [1]`` become plain ``[1]``.
* A class without a docstring, alone in the ``__all__`` of a module that has one (each integrator
  class, whose scheme is described by its module), is given the module's docstring.

Enabled in ``mkdocs.yml`` under the Python handler's ``extensions``.
"""
from __future__ import annotations

import html
import re
import textwrap
from typing import Callable

import griffe

__all__ = ["RstDocstrings", "rst_to_markdown"]

_XREF_ROLES = {"class", "func", "meth", "mod", "data", "attr", "obj", "exc", "const", "any"}
_CALLABLE_ROLES = {"func", "meth"}
_ROLE_RE = re.compile(r"(?<![\w`]):(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`(?!`)")
_LITERAL_RE = re.compile(r"``(?P<body>[^`\s](?:[^`]*[^`\s])?)``")
_CITATION_REF_RE = re.compile(r"\[(?P<label>[0-9]+|#\w*|\w+)\]_(?!\w)")
_TITLED_RE = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_DIRECTIVE_RE = re.compile(r"^(?P<indent>[ \t]*)\.\.[ \t]+(?P<name>math|code-block|code|sourcecode)::"
                           r"[ \t]*(?P<arg>.*)$")
_CITATION_RE = re.compile(r"^(?P<indent>[ \t]*)\.\.[ \t]+\[(?P<label>[^\]]+)\][ \t]+(?P<rest>.*)$")
_OPTION_RE = re.compile(r"^[ \t]*:[\w-]+:")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The lines from ``start`` on that are blank or indented deeper than ``indent``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent_of(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():  # trailing blank lines stay outside
        end -= 1
    return lines[start:end], end


def _display_math(parts: list[str]) -> str:
    """The TeX of a ``.. math::`` body (equations separated by blank lines), as one display."""
    parts = [p.strip() for p in parts if p.strip()]
    text = " \\\\\n".join(parts)
    if (len(parts) > 1 or "\\\\" in text) and r"\begin" not in text:
        env = "aligned" if "&" in text else "gathered"  # rows aligned at &, or centred
        return rf"\begin{{{env}}}" + text + rf"\end{{{env}}}"
    return text


def _math_block(indent: str, first: str, body: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(body)).split("\n")
    while body and _OPTION_RE.match(body[0]):  # :label:, :nowrap: ...
        body.pop(0)
    text = "\n".join(([first] if first.strip() else []) + body)
    tex = _display_math(re.split(r"\n[ \t]*\n", text))
    if not tex:
        return []
    return ["", f"{indent}$$", *(indent + line for line in tex.split("\n")), f"{indent}$$", ""]


def _code_block(indent: str, lang: str, body: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(body)).split("\n")
    while body and _OPTION_RE.match(body[0]):
        body.pop(0)
    while body and not body[0].strip():
        body.pop(0)
    fence = "```" + lang.strip()
    return ["", indent + fence, *((indent + line) if line.strip() else "" for line in body),
            indent + "```", ""]


def _xref(role: str, body: str, resolve: Callable[[str], str] | None) -> str:
    body = " ".join(body.split())
    titled = _TITLED_RE.match(body)
    if titled and titled["title"]:
        title, target, explicit = titled["title"], titled["target"], True
    else:
        title, target, explicit = body, body, False
    short = target.startswith("~")
    target = target.lstrip("~").lstrip(".")
    if target.startswith("!"):  # Sphinx: no link
        return f"`{target[1:]}`"
    if not explicit:
        title = target.rsplit(".", 1)[-1] if short else target
        if role in _CALLABLE_ROLES and not title.endswith(")"):
            title += "()"
    identifier = target
    if resolve is not None:
        try:
            identifier = resolve(target)
        except Exception:  # noqa: BLE001 - an unresolvable name stays as written
            identifier = target
    return (f'<autoref identifier="{html.escape(identifier, quote=True)}" optional>'
            f"`{title}`</autoref>")


def _inline(text: str, resolve: Callable[[str], str] | None) -> str:
    def role(match: re.Match) -> str:
        name, body = match["role"], match["body"]
        if name == "math":
            return r"\(" + " ".join(body.split()) + r"\)"
        if name in _XREF_ROLES:
            return _xref(name, body, resolve)
        return f"`{body}`"  # any other role: its text, as code

    text = _ROLE_RE.sub(role, text)
    text = _LITERAL_RE.sub(lambda m: f"`{m['body']}`", text)
    return _CITATION_REF_RE.sub(lambda m: f"[{m['label']}]", text)


def rst_to_markdown(text: str, resolve: Callable[[str], str] | None = None) -> str:
    """Rewrite the reStructuredText roles and directives of a docstring as Markdown.

    Parameters
    ----------
    text : str
        The docstring, dedented.
    resolve : callable, optional
        Maps a name as written in a cross-reference role to the full dotted path of its target;
        a name it cannot resolve (it raises) is kept as written.

    Returns
    -------
    str
        The docstring with math as arithmatex markup, cross-references as optional autorefs and
        literal or code blocks as fenced code.
    """
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose), resolve).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE_RE.match(line)
        if directive:
            flush()
            indent = directive["indent"]
            body, i = _take_block(lines, i + 1, len(indent.expandtabs()))
            if directive["name"] == "math":
                out.extend(_math_block(indent, directive["arg"], body))
            else:
                out.extend(_code_block(indent, directive["arg"], body))
            continue
        citation = _CITATION_RE.match(line)
        if citation:
            line = f"{citation['indent']}[{citation['label']}] {citation['rest']}"
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.lstrip().startswith(".."):
            nxt = i + 1
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            if nxt < len(lines) and nxt > i + 1 and _indent_of(lines[nxt]) > _indent_of(line):
                # A literal block: "text::" keeps one colon, a lone or spaced "::" goes.
                head = stripped[:-2]
                head = head.rstrip() if head.endswith((" ", "\t")) or not head.strip() else head + ":"
                if head.strip():
                    prose.append(head)
                flush()
                body, i = _take_block(lines, i + 1, _indent_of(line))
                out.extend(_code_block(" " * _indent_of(line), "", body))
                continue
        prose.append(line)
        i += 1
    flush()
    result = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", result).strip("\n")


def _resolver(obj: griffe.Object) -> Callable[[str], str]:
    def resolve(name: str) -> str:
        head, _, rest = name.partition(".")
        scope = obj if obj.is_module or obj.is_class else obj.parent
        try:
            full = scope.resolve(head)
        except Exception:  # noqa: BLE001
            if scope.is_class and scope.parent is not None:
                full = scope.parent.resolve(head)
            else:
                raise
        return f"{full}.{rest}" if rest else full

    return resolve


class RstDocstrings(griffe.Extension):
    """Rewrite each docstring of a loaded package from reStructuredText to Markdown."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:  # noqa: D102
        seen: set[int] = set()
        self._walk(pkg, seen)

    def _walk(self, obj: griffe.Object, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.is_class and obj.docstring is None:
            module = obj.parent
            exported = getattr(module, "exports", None)
            if (module is not None and module.is_module and module.docstring is not None
                    and exported is not None and [str(e) for e in exported] == [obj.name]):
                obj.docstring = griffe.Docstring(module.docstring.value, lineno=module.docstring.lineno,
                                                 endlineno=module.docstring.endlineno, parent=obj,
                                                 parser=module.docstring.parser,
                                                 parser_options=module.docstring.parser_options)
                # The module (walked before its members) has had its docstring converted.
                obj.docstring._rst_converted = getattr(module.docstring, "_rst_converted", False)
        if obj.docstring is not None and not getattr(obj.docstring, "_rst_converted", False):
            obj.docstring.value = rst_to_markdown(obj.docstring.value, _resolver(obj))
            obj.docstring._rst_converted = True
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)
