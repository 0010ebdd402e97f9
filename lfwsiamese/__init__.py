"""lfwsiamese: one-shot face verification with Siamese networks on LFW-a (Koch et al., 2015)."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConfigError, DataError, LfwSiameseError, ProtocolError, RunError

__all__ = ["ConfigError", "DataError", "LfwSiameseError", "ProtocolError", "RunError", "__version__"]
