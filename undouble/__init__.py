"""undouble: find duplicate and near-duplicate images by perceptual hash, group them,
show them, and move the extras out of the way without ever losing a file.

>>> from undouble import Undouble
>>> import undouble as ud

Public names are imported on first use, so ``import undouble`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Undouble": ".model",
    "compute_blur": ".keeper",
    "rank_keepers": ".keeper",
    "from_hex": ".hashes",
    "to_hex": ".hashes",
    "to_bits": ".hashes",
    "hash_image": ".hashes",
    "hash_images": ".hashes",
    "group_hashes": ".grouping",
    "import_example": ".examples",
    "wget": ".examples",
    "unzip": ".examples",
    "set_logger": "._logging",
    "undo": ".move",
    "evaluate": ".evaluate",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'undouble' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
