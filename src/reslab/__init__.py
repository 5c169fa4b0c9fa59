"""reslab: Deep Residual Learning for Image Recognition (He et al. 2015), reproduced."""

from reslab.errors import ReslabError
from reslab.models import create_model, list_models

__version__ = "0.1.0"

__all__ = ["ReslabError", "__version__", "create_model", "list_models"]
