"""The model shipped inside the package: `lfwsiamese/shipped/model.onnx` (the tower) and `model.json` (its card:
checksum, config, head, thresholds and the record's accuracies), written by `lfwsiamese ship-model`."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import RunError

ENV_SHIPPED = "LFWSIAMESE_SHIPPED"
MODEL_FILE = "model.onnx"
CARD_FILE = "model.json"
CARD_FORMAT = 1
SHIP_HINT = "lfwsiamese ship-model --run results/runs/<RUN>"


class ShippedModelError(RunError):
    """The shipped model is missing or damaged."""


def shipped_dir() -> Path:
    """The package's shipped/ folder, or $LFWSIAMESE_SHIPPED (another shipped model, e.g. for tests)."""
    env = os.environ.get(ENV_SHIPPED)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "shipped"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """model.json of the shipped model; a missing or unreadable one is a clear error."""
    d = Path(folder) if folder else shipped_dir()
    f = d / CARD_FILE
    if not f.is_file():
        raise ShippedModelError(f"no shipped model at {d} ({CARD_FILE} missing): reinstall lfwsiamese, pass --run RUN_DIR "
                                f"to use a stored record, or ship one with `{SHIP_HINT}`")
    try:
        card = json.loads(f.read_text())
        fmt = card["format"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ShippedModelError(f"{f}: damaged ({e}); reinstall lfwsiamese or ship again with `{SHIP_HINT}`") from None
    if fmt != CARD_FORMAT:
        raise ShippedModelError(f"{f}: format {fmt}, this lfwsiamese reads format {CARD_FORMAT}; ship again with `{SHIP_HINT}`")
    return card


def checked_model_file(folder: str | os.PathLike | None = None, card: dict[str, Any] | None = None) -> Path:
    """The shipped model file, after its sha256 was checked against the card's."""
    d = Path(folder) if folder else shipped_dir()
    card = card or read_card(d)
    f = d / card.get("file", MODEL_FILE)
    if not f.is_file():
        raise ShippedModelError(f"{f}: missing; reinstall lfwsiamese (pip install --force-reinstall lfwsiamese) or ship "
                                f"again with `{SHIP_HINT}`")
    digest = sha256_file(f)
    if digest != card["sha256"]:
        raise ShippedModelError(f"{f}: damaged (sha256 {digest[:12]}..., expected {card['sha256'][:12]}... from "
                                f"{d / CARD_FILE}); reinstall lfwsiamese or ship again with `{SHIP_HINT}`")
    return f
