"""reslab: Deep Residual Learning for Image Recognition (He et al. 2015), reproduced.

Names are resolved lazily (PEP 562) so that ``import reslab`` and ``reslab --help`` do not
import torch (and a Ctrl-C during the seconds torch takes to import reaches the CLI's
handler instead of printing a traceback); ``reslab.create_model`` imports the model zoo on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reslab.errors import ReslabError

if TYPE_CHECKING:
    from reslab.models import create_model, list_models

__version__ = "0.1.0"

__all__ = ["ReslabError", "__version__", "create_model", "list_models"]

_LAZY = {"create_model": "reslab.models", "list_models": "reslab.models"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'reslab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
