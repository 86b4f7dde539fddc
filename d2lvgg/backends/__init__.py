"""Backends: one module per framework, imported only when asked for.

Each module compiles the layer IR into its framework's network and provides the few verbs
the trainer needs (see ``torch_backend`` for the reference set). Adding a backend means adding
one module and one line to ``MODULES``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from ..errors import BackendError

# backend name -> (module inside this package, the framework it imports, the pip extra)
MODULES = {
    "torch": ("torch.backend", "torch", "torch"),
    "mindspore": ("mindspore.backend", "mindspore", "mindspore"),
}


def available() -> list[str]:
    """Backends whose framework is installed here."""
    return [name for name, (_, module, _) in MODULES.items() if importlib.util.find_spec(module)]


def get_backend(name: str) -> ModuleType:
    """The backend module for ``name``; a clear error if it is unknown or not installed."""
    if name not in MODULES:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(MODULES)}")
    module, framework, extra = MODULES[name]
    if importlib.util.find_spec(framework) is None:
        raise BackendError(
            f"the {name} backend needs {framework}, which is not installed: pip install 'd2lvgg[{extra}]'"
        )
    try:
        return importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module}":
            raise BackendError(f"the {name} backend is not part of this d2lvgg version yet") from None
        raise


def build(arch, backend: str = "torch", **reshape):
    """The framework network for a spec, preset name or spec file (``reshape`` as in ``resolve_spec``).

    ``build("d2l_vgg11", backend="torch")`` is an ``nn.Sequential`` with one nested
    ``nn.Sequential`` per block, then ``Flatten``, ``Linear``, ``ReLU``, ``Dropout`` ...
    """
    from ..model.ir import lower
    from ..model.specfile import resolve_spec

    return get_backend(backend).compile_network(lower(resolve_spec(arch, **reshape)))
