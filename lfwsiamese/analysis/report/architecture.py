"""The architecture chapter's tables: the reference's choices read from its config, and its parameter counts."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .literature import REFERENCE_REPORTED
from .numbers import init_text, short

if TYPE_CHECKING:
    from ...config import ExperimentConfig


def reference_choices(cfg: "ExperimentConfig") -> pd.DataFrame:
    """Each design choice of the reference network, its value read from `cfg`, and where it comes from."""
    from ...data.paths import FRAME
    m, d, t = cfg.model, cfg.data, cfg.train
    convs = ", ".join(f"{f}@{k}x{k}" for f, k in zip(m.filters, m.kernels))
    pooled = sum(m.pools)
    rows = [
        ("input", f"whole {FRAME}x{FRAME} frame resized to {d.size}x{d.size}, "
         + ("raw 0..255 values" if d.pixel_scale == 1 else f"values x {d.pixel_scale:.4g}"),
         "the reference (Koch et al. used 105x105 Omniglot characters)"),
        ("convolutions", f"{convs}, stride 1, valid padding", "Koch et al.'s network, kept by the reference"),
        ("pooling", f"2x2 max-pool after the first {pooled} convolutions", "Koch et al."),
        ("batch normalisation", "after every convolution, before ReLU" if m.batch_norm else "none",
         "the reference's addition (not in Koch et al.)"),
        ("embedding", f"dense {m.dense_units:,}, {m.dense_activation}", "Koch et al."),
        ("distance and head", f"|h1 - h2|, dropout {m.dropout:g}, dense 1 sigmoid",
         "Koch et al. (the dropout is the reference's)"),
        ("regularisation", f"L2 {short(m.conv_l2)} on conv kernels, {short(m.dense_l2)} on the dense kernel",
         "the reference (Koch et al. tuned per-layer values)"),
        ("initialisation", f"weights {init_text(m.kernel_init)}, biases {init_text(m.bias_init)}",
         "Koch et al. (see the initialization chapter)"),
        ("loss, optimiser", f"binary cross-entropy, {t.optimizer.capitalize()} {short(t.learning_rate)}, batch {t.batch_size}",
         "the reference (Koch et al. used SGD with momentum)"),
    ]
    return pd.DataFrame(rows, columns=["choice", "value", "where it comes from"]).set_index("choice")


def parameter_table(cfg: "ExperimentConfig") -> pd.DataFrame:
    """Total, trainable and non-trainable parameters: the reference's reported counts, ours, and ours without the
    first convolution's bias."""
    from dataclasses import replace

    from ...models.towers import build_siamese, parameter_counts
    ours = parameter_counts(build_siamese(cfg.model, cfg.data.size))
    no_bias = parameter_counts(build_siamese(replace(cfg.model, first_conv_bias=False), cfg.data.size))
    reported = {"total": REFERENCE_REPORTED["params_total"], "trainable": REFERENCE_REPORTED["params_trainable"],
                "non_trainable": REFERENCE_REPORTED["params_non_trainable"]}
    return pd.DataFrame({"reference (reported)": reported, "ours, reference config": ours, "ours, no bias in conv1": no_bias})
