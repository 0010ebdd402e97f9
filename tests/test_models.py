"""The reference network's parameter count, config-driven variations, and safe save/load."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lfwsiamese.config import ModelConfig
from lfwsiamese.errors import ConfigError
from lfwsiamese.models.towers import (
    build_siamese,
    layer_table,
    load_model,
    parameter_counts,
)
from lfwsiamese.recipes import get_config


@pytest.fixture(scope="module")
def reference_model() -> keras.Model:
    keras.mixed_precision.set_global_policy("float32")
    return build_siamese(get_config("reference").model, 105)


def test_reference_parameter_count_matches_the_reference(reference_model: keras.Model) -> None:
    assert parameter_counts(reference_model) == {"total": 38_954_049, "trainable": 38_952_897, "non_trainable": 1_152}


def test_first_conv_bias_is_exactly_the_64_parameter_difference() -> None:
    m = build_siamese(ModelConfig(first_conv_bias=False), 105)
    assert parameter_counts(m)["total"] == 38_954_049 - 64


def test_layer_table_describes_the_tower(reference_model: keras.Model) -> None:
    rows = {r["layer"]: r for r in layer_table(reference_model)}
    assert rows["conv1"]["kernel"] == "10x10" and rows["conv1"]["filters/units"] == 64
    assert rows["conv4"]["output"] == (6, 6, 256)
    assert rows["embedding"]["params"] == 9216 * 4096 + 4096


def test_save_and_load_with_safe_mode_gives_identical_predictions(tmp_path) -> None:
    cfg = ModelConfig(filters=(4, 8), kernels=(3, 3), pools=(1, 1), dense_units=8)
    for head in ("l1_sigmoid", "cosine"):
        m = build_siamese(ModelConfig(**{**cfg.__dict__, "head": head}), 24)
        path = tmp_path / f"{head}.keras"
        m.save(path)
        m2 = load_model(str(path))
        x = np.random.default_rng(0).random((3, 24, 24, 1)).astype("float32")
        np.testing.assert_allclose(m.predict([x, x[::-1]], verbose=0), m2.predict([x, x[::-1]], verbose=0), rtol=1e-6)


def test_impossible_architecture_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="does not fit|feature map"):
        build_siamese(ModelConfig(), 16)
    with pytest.raises(ConfigError, match="same non-zero length"):
        build_siamese(ModelConfig(filters=(4,), kernels=(3, 3), pools=(1,)), 32)


def test_fused_towers_compute_the_same_function_at_inference() -> None:
    small = ModelConfig(filters=(4, 8), kernels=(3, 3), pools=(1, 1), dense_units=8)
    fused = build_siamese(small, 24)
    twice = build_siamese(ModelConfig(**{**small.__dict__, "fused_towers": False}), 24)
    twice.set_weights(fused.get_weights())
    x = np.random.default_rng(1).random((5, 24, 24, 1)).astype("float32")
    np.testing.assert_allclose(fused.predict([x, x[::-1]], verbose=0), twice.predict([x, x[::-1]], verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_matches_keras_batch_norm(policy: str, tmp_path) -> None:
    from lfwsiamese.models.layers import FusedBatchNorm
    keras.mixed_precision.set_global_policy(policy)
    try:
        x = np.random.default_rng(2).normal(3.0, 2.0, (8, 6, 6, 5)).astype("float32")
        ours, theirs = FusedBatchNorm(), keras.layers.BatchNormalization()
        ours.build(x.shape)
        theirs.build(x.shape)
        rng = np.random.default_rng(3)
        w = [rng.random(5).astype("float32") + 0.5, rng.random(5).astype("float32"), rng.random(5).astype("float32"),
             rng.random(5).astype("float32") + 0.5]
        ours.set_weights(w)
        theirs.set_weights(w)
        tol = 1e-4 if policy == "float32" else 5e-2
        np.testing.assert_allclose(np.asarray(ours(x, training=False), "float32"), np.asarray(theirs(x, training=False), "float32"), rtol=tol, atol=tol)
        np.testing.assert_allclose(np.asarray(ours(x, training=True), "float32"), np.asarray(theirs(x, training=True), "float32"), rtol=tol, atol=tol)
        # moving statistics move the same way (Keras: biased batch variance; fused kernel: unbiased, n = 288)
        np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy(), rtol=1e-2, atol=1e-2)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_model_with_fused_batch_norm_saves_and_loads_safely(tmp_path) -> None:
    cfg = ModelConfig(filters=(4, 8), kernels=(3, 3), pools=(1, 1), dense_units=8, bn_fused=True)
    m = build_siamese(cfg, 24)
    assert parameter_counts(m) == parameter_counts(build_siamese(ModelConfig(**{**cfg.__dict__, "bn_fused": False}), 24))
    m.save(tmp_path / "m.keras")
    m2 = load_model(str(tmp_path / "m.keras"))
    x = np.random.default_rng(4).random((3, 24, 24, 1)).astype("float32")
    np.testing.assert_allclose(m.predict([x, x[::-1]], verbose=0), m2.predict([x, x[::-1]], verbose=0), rtol=1e-6)
    assert parameter_counts(build_siamese(get_config("reference-fast").model, 105))["total"] == 38_954_049


def test_weight_histograms_share_edges_and_count_every_weight() -> None:
    from lfwsiamese.models.weights import weight_histograms
    rng = np.random.default_rng(0)
    before = {"conv1/kernel": rng.normal(0, 0.01, (3, 3, 1, 4)).astype(np.float32), "conv1/bias": np.zeros(4, np.float32)}
    after = {"conv1/kernel": before["conv1/kernel"] * 3, "conv1/bias": np.zeros(4, np.float32)}
    h = weight_histograms(before, after, bins=10)
    k = h["conv1/kernel"]
    assert sum(k["before"]) == sum(k["after"]) == 36 and len(k["edges"]) == 11
    assert k["edges"][0] <= float(after["conv1/kernel"].min()) and k["edges"][-1] >= float(after["conv1/kernel"].max())
    assert k["after_std"] == pytest.approx(3 * k["before_std"], rel=1e-5)
    assert sum(h["conv1/bias"]["before"]) == 4  # a constant variable still gets a valid range
    with pytest.raises(ValueError, match="different variables"):
        weight_histograms(before, {"conv1/kernel": after["conv1/kernel"]})
