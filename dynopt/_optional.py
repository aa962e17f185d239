"""Optional dependencies, imported when first needed, with an error naming the extra."""
from __future__ import annotations

__all__ = ["import_torch"]

#: how to install PyTorch with dynopt
TORCH_INSTALL = "pip install 'dynopt-physics[torch]'"


def import_torch(who: str):
    """``torch``, or an :class:`ImportError` saying that ``who`` needs it and how to
    install it (the ``[torch]`` extra, or a build for the platform from pytorch.org)."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{who} needs PyTorch, which is not installed: run "
                          f"`{TORCH_INSTALL}` (or see https://pytorch.org for a build for "
                          "your platform)") from exc
    return torch
