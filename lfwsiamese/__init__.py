"""lfwsiamese: one-shot face verification with Siamese networks on LFW-a (Koch et al., 2015).

`lfwsiamese.verify(a, b)`, `lfwsiamese.embed(images)` and `lfwsiamese.identify(img, gallery)` use the model shipped
inside the package; they (and NumPy, ONNX Runtime, OpenCV) are imported on first use, so `import lfwsiamese` is light.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import ConfigError, DataError, LfwSiameseError, ProtocolError, RunError

_API = ("verify", "embed", "identify", "model_card", "load_model", "Verification", "Identification")

__all__ = ["ConfigError", "DataError", "LfwSiameseError", "ProtocolError", "RunError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'lfwsiamese' has no attribute {name!r}")
