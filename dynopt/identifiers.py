"""Names that may be printed into generated code.

The code generators print every symbol of a step program under its own name
(or that name with an ``_<n>`` suffix), into source that is then executed.
:func:`check_identifier` is the last check before that happens: a name must be
a Python identifier, must not be a keyword, and must not be one of the names
the generated modules use themselves (:data:`RESERVED`, or any name starting
with an underscore, the prefix of their own temporaries and helpers).
:class:`~dynopt.program.StepProgram` checks the same when a program is built;
the code generators check again, so that a program changed after it was built
cannot put text of its own into a module either.
"""
from __future__ import annotations

import keyword

__all__ = ["RESERVED", "check_identifier"]

#: names the generated modules bind themselves (modules, the state and
#: hyperparameter dicts, helpers the kernels call)
RESERVED = frozenset({"numpy", "np", "math", "numba", "cupy", "prange", "S", "P"})


def check_identifier(name, where: str = "", reserved: bool = True) -> str:
    """Return ``name`` if it is safe to print into generated code, else raise.

    Parameters
    ----------
    name : str
        The symbol's name.
    where : str, optional
        Where the name comes from, for the message (``"program 'p': parameter"``).
    reserved : bool, default True
        Also refuse the names in :data:`RESERVED`. Temporaries, which the code
        generators print only with a suffix (``P`` as ``P_1``), may take them.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    TypeError
        When ``name`` is not a string.
    ValueError
        When ``name`` is not a Python identifier, is a keyword, starts with an
        underscore or (with ``reserved``) is one of :data:`RESERVED`. The
        message quotes the name and ``where``.
    """
    ctx = f" ({where})" if where else ""
    if not isinstance(name, str):
        raise TypeError(f"symbol name{ctx} must be a string, got {name!r}")
    if not name.isidentifier():
        raise ValueError(f"symbol name {name!r}{ctx} is not a valid Python identifier "
                         "(letters, digits and underscores, not starting with a digit); "
                         "it would be printed into generated code")
    if keyword.iskeyword(name):
        raise ValueError(f"symbol name {name!r}{ctx} is a Python keyword")
    if name.startswith("_"):
        raise ValueError(f"symbol name {name!r}{ctx} starts with an underscore, which the "
                         "generated code keeps for its own names")
    if reserved and name in RESERVED:
        raise ValueError(f"symbol name {name!r}{ctx} is a name the generated code uses "
                         f"itself ({', '.join(sorted(RESERVED))}); rename the symbol")
    return name
