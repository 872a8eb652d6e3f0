"""Lazy exports for a package whose names live in private modules that are costly to import.

``aiforge.nlp``, ``aiforge.deep`` and ``aiforge.pipeline`` list each public name beside the module that
defines it, and import that module on the name's first use (PEP 562), so that importing the package loads no
heavy library::

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"load_pipeline": "_spacy"})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any],
                                                                     Callable[[], list[str]]]:
    """``__all__`` (the names, sorted), ``__getattr__`` and ``__dir__`` of ``package``, whose name ``X`` is
    ``package.<exports[X]>.X``."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return names

    return names, __getattr__, __dir__
