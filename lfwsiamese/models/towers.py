"""Siamese networks built from a `ModelConfig`: a shared tower, a distance, a head."""
from __future__ import annotations

import keras
from keras import layers

from ..config import ModelConfig
from ..errors import ConfigError
from .layers import AbsDiff, ScaledCosine, SplitPair, StackPair, batch_norm, initializer


def build_tower(cfg: ModelConfig, input_size: int) -> keras.Model:
    """The tower `cfg.arch` names: the reference's conv stack, or a small ResNet."""
    if cfg.arch == "resnet":
        return build_resnet_tower(cfg, input_size)
    return build_koch_tower(cfg, input_size)


def build_koch_tower(cfg: ModelConfig, input_size: int) -> keras.Model:
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
            x = batch_norm(cfg, f"bn{k + 1}")(x)
        x = layers.Activation(cfg.activation, name=f"act{k + 1}")(x)
        if pool:
            if x.shape[1] < 2:
                raise ConfigError(f"model: the feature map is {x.shape[1]}x{x.shape[2]} before pool {k + 1}; use a larger data.size or fewer/smaller convs")
            x = layers.MaxPooling2D(2, name=f"pool{k + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inp, _embedding(cfg, x), name="tower")


def _embedding(cfg: ModelConfig, x):
    """Dense embedding [-> BN]; the BN variant keeps a linear embedding's scale steady for the cosine head."""
    x = layers.Dense(
        cfg.dense_units, activation=cfg.dense_activation, kernel_initializer=initializer(cfg.dense_init),
        bias_initializer=initializer(cfg.bias_init),
        kernel_regularizer=keras.regularizers.L2(cfg.dense_l2) if cfg.dense_l2 else None, name="embedding",
    )(x)
    if cfg.embedding_bn:
        x = layers.BatchNormalization(name="embedding_bn")(x)
    return x


def build_resnet_tower(cfg: ModelConfig, input_size: int) -> keras.Model:
    """A small ResNet: 3x3 stem, stages of basic residual blocks, global average pooling, dense embedding.

    Stage k has width filters[k] and blocks[k] blocks (1 if blocks is empty); every stage after the first starts with a stride-2
    block (1x1 projection shortcut), so each stage halves the map. Convs feeding a BN carry no bias (BN's
    beta is one). Only built-in layers: the saved model loads with safe_mode=True.
    """
    reg = keras.regularizers.L2(cfg.conv_l2) if cfg.conv_l2 else None
    bn = cfg.batch_norm
    n_down = len(cfg.filters) - 1 + (cfg.stem_stride == 2)
    if input_size // (2 ** n_down) < 1:
        raise ConfigError(
            f"model: {n_down} stride-2 steps shrink the {input_size}x{input_size} input below 1x1; use a larger "
            f"data.size, fewer stages in model.filters/model.blocks, or model.stem_stride=1"
        )

    def conv(x, f, k, stride, name):
        return layers.Conv2D(f, k, strides=stride, padding="same", use_bias=not bn,
                             kernel_initializer=initializer(cfg.kernel_init), bias_initializer=initializer(cfg.bias_init),
                             kernel_regularizer=reg, name=name)(x)

    def norm_act(x, name, act=True):
        if bn:
            x = batch_norm(cfg, f"{name}_bn")(x)
        return layers.Activation(cfg.activation, name=f"{name}_act")(x) if act else x

    x = inp = keras.Input((input_size, input_size, 1), name="image")
    x = norm_act(conv(x, cfg.filters[0], 3, cfg.stem_stride, "stem"), "stem")
    for s, (f, n) in enumerate(zip(cfg.filters, cfg.blocks or (1,) * len(cfg.filters))):
        for b in range(n):
            name = f"s{s + 1}b{b + 1}"
            stride = 2 if (s > 0 and b == 0) else 1
            y = norm_act(conv(x, f, 3, stride, f"{name}_conv1"), f"{name}_1")
            y = norm_act(conv(y, f, 3, 1, f"{name}_conv2"), f"{name}_2", act=False)
            if stride != 1 or x.shape[-1] != f:
                x = norm_act(conv(x, f, 1, stride, f"{name}_proj"), f"{name}_proj", act=False)
            x = layers.Add(name=f"{name}_add")([x, y])
            x = layers.Activation(cfg.activation, name=f"{name}_out")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, _embedding(cfg, x), name="tower")


def tower_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one image through the tower (convs and dense layers; BN, adds and pooling ignored)."""
    tower = model.get_layer("tower") if any(l.name == "tower" for l in model.layers) else model
    macs = 0
    for layer in tower.layers:
        if isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            _, h, w, c_out = layer.output.shape
            macs += h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return 2 * int(macs)


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
