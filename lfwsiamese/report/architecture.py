"""The architecture chapter: the reference network's layers and multiply-adds, and every model's parameters."""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from ..config import ExperimentConfig
from ..models.towers import build_siamese, layer_table, parameter_counts
from ..recipes import get_config
from .literature import REFERENCE_REPORTED
from .tables import recipe_name

SHOWN = {"Conv2D": "convolution", "MaxPooling2D": "max-pool", "Flatten": "flatten", "Dense": "dense",
         "InputLayer": "input"}


def layers(cfg: ExperimentConfig) -> pd.DataFrame:
    """One row per tower layer that changes the shape or holds weights (batch norm and ReLU are folded in)."""
    rows = [r for r in layer_table(build_siamese(cfg.model, cfg.data.size)) if r["type"] in SHOWN]
    return pd.DataFrame({"layer": [SHOWN[r["type"]] for r in rows],
                         "output": ["x".join(map(str, r["output"])) for r in rows],
                         "filters or units": [str(r["filters/units"]) or "–" for r in rows],
                         "window": [r["kernel"] or "–" for r in rows], "parameters": [r["params"] for r in rows]})


def multiply_adds(cfg: ExperimentConfig) -> dict[str, int]:
    """Multiply-adds per image of each convolution and dense layer (output positions x weights per output)."""
    out = {}
    for r in layer_table(build_siamese(cfg.model, cfg.data.size)):
        if r["type"] in ("Conv2D", "Dense"):
            c = r["output"][-1]  # output positions x channels x weights per output (bias left out)
            out[r["layer"]] = math.prod(r["output"]) * (r["params"] // c - 1)
    return out


def parameters() -> pd.DataFrame:
    """Total, trainable and fixed parameters: the reference's reported counts, then each model built here."""
    ref = get_config("reference")
    models = {"reference network, as reported": None, recipe_name("reference"): ref,
              "reference without the first convolution's bias":
                  replace(ref, model=replace(ref.model, first_conv_bias=False)),
              recipe_name("improved"): get_config("improved")}
    rows = []
    for label, cfg in models.items():
        c = ({k: REFERENCE_REPORTED[f"params_{k}"] for k in ("total", "trainable", "non_trainable")}
             if cfg is None else parameter_counts(build_siamese(cfg.model, cfg.data.size)))
        rows.append({"model": label, "parameters": c["total"], "trainable": c["trainable"],
                     "fixed (batch-norm statistics)": c["non_trainable"]})
    return pd.DataFrame(rows)
