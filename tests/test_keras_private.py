"""The private Keras attributes training relies on, pinned: if Keras renames one, this fails first (with the name).

Resuming a run bit-identically needs the random streams of dropout layers (`_flatten_layers`, `_seed_generators`),
and rebuilding EarlyStopping's counters from a log needs its comparison (`_set_monitor_op`, `_is_improvement`);
Keras has no public API for either.
"""
from __future__ import annotations

import keras

from lfwsiamese.models.towers import build_siamese
from lfwsiamese.training.callbacks import seed_generators
from tests.synth import tiny_config


def test_seed_generators_of_a_model_with_dropout() -> None:
    model = build_siamese(tiny_config().model, 32)  # dropout after the L1 distance
    assert hasattr(model, "_flatten_layers")
    dropout = model.get_layer("dropout")
    assert dropout._seed_generators and all(isinstance(g, keras.random.SeedGenerator) for g in dropout._seed_generators)
    gens = seed_generators(model)
    assert gens == dropout._seed_generators and hasattr(gens[0], "state")


def test_early_stopping_comparison() -> None:
    es = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.1)
    es._set_monitor_op()
    assert es.monitor_op is not None
    assert es._is_improvement(0.5, 0.7) and not es._is_improvement(0.65, 0.7)  # min_delta counts
    acc = keras.callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.0, mode="max")
    acc._set_monitor_op()
    assert acc._is_improvement(0.8, 0.7) and not acc._is_improvement(0.6, 0.7)
