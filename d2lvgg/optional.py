"""Optional dependencies, imported only by the commands that need them."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import D2LVGGError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or say in one line which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise D2LVGGError(f"{purpose} needs {module}, which is not installed: pip install 'd2lvgg[{extra}]'") from None
