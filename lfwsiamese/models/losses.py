"""Losses over a whole batch of embeddings, in backend-neutral `keras.ops`.

The reference's loss scores one pair at a time. The N-pair loss (Sohn, NeurIPS 2016; the symmetric form is CLIP's)
reads a batch of B same-person pairs of B distinct people as a B x B matrix of comparisons: B matches and
B(B-1) non-matches for the compute of B pairs, which is what a few thousand training identities need.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from .layers import PACKAGE, SplitPair, StackPair


@keras.saving.register_keras_serializable(package=PACKAGE)
class UnitPair(layers.Layer):
    """(h_a, h_b) -> [h_a / |h_a|, h_b / |h_b|] side by side, (B, 2D) in float32: what NPairLoss reads."""

    def call(self, inputs):
        a, b = (ops.cast(x, "float32") for x in inputs)
        a = a / (ops.norm(a, axis=-1, keepdims=True) + 1e-6)
        b = b / (ops.norm(b, axis=-1, keepdims=True) + 1e-6)
        return ops.concatenate([a, b], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 2 * input_shape[0][-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class NPairLoss(keras.losses.Loss):
    """Softmax cross-entropy of each row (and column) of s * (A B^T - m I) against the diagonal.

    `y_true` is ignored: every row of a batch is a same-person pair and the others are its negatives.
    """

    def __init__(self, scale: float = 16.0, margin: float = 0.0, name: str = "npair", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale, self.margin = float(scale), float(margin)

    def call(self, y_true, y_pred):
        d = ops.shape(y_pred)[-1] // 2
        a, b = y_pred[:, :d], y_pred[:, d:]
        n = ops.shape(y_pred)[0]
        eye = ops.eye(n, dtype=y_pred.dtype)
        logits = self.scale * (ops.matmul(a, ops.transpose(b)) - self.margin * eye)
        rows = keras.losses.categorical_crossentropy(eye, logits, from_logits=True)
        cols = keras.losses.categorical_crossentropy(eye, ops.transpose(logits), from_logits=True)
        return 0.5 * (rows + cols)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "margin": self.margin}


def npair_trainer(siamese: keras.Model) -> keras.Model:
    """A training model over the Siamese model's own tower: (a, b) -> unit embeddings side by side.

    The tower's variables are shared, so training this trains the scoring model; only the head (scale, offset)
    is left to fit afterwards.
    """
    tower = siamese.get_layer("tower")
    a, b = siamese.inputs
    ha, hb = SplitPair(name="split_pair")(tower(StackPair(name="stack_pair")([a, b])))
    return keras.Model([a, b], UnitPair(name="unit_pair", dtype="float32")([ha, hb]), name="npair_trainer")
