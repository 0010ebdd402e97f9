"""Siamese networks built from a `ModelConfig`: a shared tower, a distance, a head.

Custom layers are registered so that saved models load with `safe_mode=True` (no Lambda layers).
"""
from __future__ import annotations

import keras
from keras import layers, ops

from .config import ModelConfig
from .errors import ConfigError

PACKAGE = "lfwsiamese"


@keras.saving.register_keras_serializable(package=PACKAGE)
class AbsDiff(layers.Layer):
    """|h1 - h2|, Koch et al.'s component-wise L1 distance between the twin embeddings."""

    def call(self, inputs):
        a, b = inputs
        return ops.abs(a - b)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledCosine(layers.Layer):
    """s * cos(h1, h2) + b with a learned scale and offset: a logit for a sigmoid."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(10.0))
        self.offset = self.add_weight(name="offset", shape=(), initializer=keras.initializers.Constant(-5.0))

    def call(self, inputs):
        a, b = inputs
        a = a / (ops.norm(a, axis=-1, keepdims=True) + 1e-6)
        b = b / (ops.norm(b, axis=-1, keepdims=True) + 1e-6)
        cos = ops.sum(a * b, axis=-1, keepdims=True)
        return ops.cast(self.scale, cos.dtype) * cos + ops.cast(self.offset, cos.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class StackPair(layers.Layer):
    """Both images of each pair as one batch of 2B, so the tower runs once with larger matrix products."""

    def call(self, inputs):
        return ops.concatenate(inputs, axis=0)

    def compute_output_shape(self, input_shape):
        b = input_shape[0][0]
        return (None if b is None else 2 * b,) + tuple(input_shape[0][1:])


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitPair(layers.Layer):
    """The inverse of StackPair: first half (image a), second half (image b)."""

    def call(self, x):
        n = ops.shape(x)[0] // 2
        return x[:n], x[n:]

    def compute_output_shape(self, input_shape):
        shape = (None,) + tuple(input_shape[1:])
        return shape, shape


def initializer(spec: str) -> keras.initializers.Initializer:
    """'normal:mean:std' (Koch et al.'s scheme) or any Keras initializer name (glorot_uniform, he_normal, zeros)."""
    if spec.startswith("normal:"):
        try:
            _, mean, std = spec.split(":")
            return keras.initializers.RandomNormal(mean=float(mean), stddev=float(std))
        except ValueError:
            raise ConfigError(f"initializer {spec!r}: expected 'normal:MEAN:STD', e.g. 'normal:0:0.01'") from None
    try:
        return keras.initializers.get(spec)
    except ValueError:
        raise ConfigError(f"initializer {spec!r}: expected 'normal:MEAN:STD' or a Keras initializer name such as glorot_uniform, he_normal, zeros") from None


def build_tower(cfg: ModelConfig, input_size: int) -> keras.Model:
    """Conv blocks (conv -> [BN] -> activation -> [pool]), flatten, dense embedding."""
    reg = keras.regularizers.L2(cfg.conv_l2) if cfg.conv_l2 else None
    x = inp = keras.Input((input_size, input_size, 1), name="image")
    for k, (f, ks, pool) in enumerate(zip(cfg.filters, cfg.kernels, cfg.pools)):
        use_bias = cfg.first_conv_bias if k == 0 else True
        if x.shape[1] < ks:
            raise ConfigError(
                f"model: conv {k + 1} (kernel {ks}x{ks}) does not fit the {x.shape[1]}x{x.shape[2]} feature map left at "
                f"input size {input_size}; use a larger data.size or smaller/fewer convs"
            )
        x = layers.Conv2D(
            f, ks, padding="valid", use_bias=use_bias, kernel_initializer=initializer(cfg.kernel_init),
            bias_initializer=initializer(cfg.bias_init), kernel_regularizer=reg, name=f"conv{k + 1}",
        )(x)
        if cfg.batch_norm:
            x = layers.BatchNormalization(name=f"bn{k + 1}")(x)
        x = layers.Activation(cfg.activation, name=f"act{k + 1}")(x)
        if pool:
            if x.shape[1] < 2:
                raise ConfigError(f"model: the feature map is {x.shape[1]}x{x.shape[2]} before pool {k + 1}; use a larger data.size or fewer/smaller convs")
            x = layers.MaxPooling2D(2, name=f"pool{k + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        cfg.dense_units, activation=cfg.dense_activation, kernel_initializer=initializer(cfg.dense_init),
        bias_initializer=initializer(cfg.bias_init),
        kernel_regularizer=keras.regularizers.L2(cfg.dense_l2) if cfg.dense_l2 else None, name="embedding",
    )(x)
    return keras.Model(inp, x, name="tower")


def build_siamese(cfg: ModelConfig, input_size: int = 105) -> keras.Model:
    """Two inputs through one shared tower; the head turns the pair into P(same person)."""
    cfg.validate()
    tower = build_tower(cfg, input_size)
    a = keras.Input((input_size, input_size, 1), name="image_a")
    b = keras.Input((input_size, input_size, 1), name="image_b")
    if cfg.fused_towers:
        ha, hb = SplitPair(name="split_pair")(tower(StackPair(name="stack_pair")([a, b])))
    else:  # the reference's way: two calls of the tower (batch-norm statistics per branch)
        ha, hb = tower(a), tower(b)
    if cfg.head == "l1_sigmoid":
        d = AbsDiff(name="l1_distance")([ha, hb])
        if cfg.dropout:
            d = layers.Dropout(cfg.dropout, name="dropout")(d)
        out = layers.Dense(
            1, activation="sigmoid", kernel_initializer=initializer(cfg.dense_init),
            bias_initializer=initializer(cfg.bias_init), dtype="float32", name="same_probability",
        )(d)
    else:  # cosine
        logit = ScaledCosine(name="scaled_cosine", dtype="float32")([ha, hb])
        out = layers.Activation("sigmoid", dtype="float32", name="same_probability")(logit)
    return keras.Model([a, b], out, name="siamese")


def parameter_counts(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


def layer_table(model: keras.Model) -> list[dict]:
    """One row per tower layer: shapes, filters, kernel, activation, parameters (for the architecture chapter)."""
    tower = model.get_layer("tower")
    rows = []
    for layer in tower.layers:
        cfg = layer.get_config()
        try:
            out_shape = tuple(layer.output.shape[1:])
        except (AttributeError, ValueError):
            out_shape = ()
        try:
            in_shape = tuple(layer.input.shape[1:])
        except (AttributeError, ValueError):
            in_shape = out_shape  # an input layer's input is its output
        rows.append({
            "layer": layer.name, "type": type(layer).__name__, "input": in_shape, "output": out_shape,
            "filters/units": cfg.get("filters", cfg.get("units", "")),
            "kernel": "x".join(map(str, cfg["kernel_size"])) if "kernel_size" in cfg else ("x".join(map(str, cfg["pool_size"])) if "pool_size" in cfg else ""),
            "activation": cfg.get("activation", ""), "params": layer.count_params(),
        })
    return rows


def load_model(path: str) -> keras.Model:
    """Load a saved Siamese model; `safe_mode=True` refuses any arbitrary code in the file."""
    return keras.models.load_model(path, safe_mode=True, compile=False)
