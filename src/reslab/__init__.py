"""reslab: Deep Residual Learning for Image Recognition (He et al. 2015), reproduced."""

from __future__ import annotations

from typing import Any

from reslab.errors import ReslabError

__version__ = "0.1.0"

__all__ = ["ReslabError", "__version__", "create_model", "list_models"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import reslab.cli` does not import torch: a Ctrl-C during the seconds
    # torch takes to import then reaches the CLI's handler instead of printing a traceback.
    if name in ("create_model", "list_models"):
        from reslab import models

        return getattr(models, name)
    raise AttributeError(f"module 'reslab' has no attribute {name!r}")
