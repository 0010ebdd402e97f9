"""Stopping rules on hand-made curves: Keras' EarlyStopping counting, Prechelt's GL, PQ and UP, best epochs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lfwsiamese.training import stopping as S


def _keras_replay(values, min_delta: float, patience: int, mode: str) -> tuple[int | None, int]:
    """Keras' own EarlyStopping callback driven epoch by epoch on `values` (1-based stop, best epoch)."""
    import keras

    class Model:  # EarlyStopping touches only these
        stop_training = False
        metrics: list = []

        def get_weights(self):
            return []

    cb = keras.callbacks.EarlyStopping(monitor="val_x", min_delta=min_delta, patience=patience, mode=mode,
                                       restore_best_weights=True)
    model = Model()
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {"val_x": float(v)})
        if model.stop_training:
            return epoch + 1, cb.best_epoch + 1
    return None, cb.best_epoch + 1


def test_keras_counting_on_a_hand_made_curve() -> None:
    # improvements by more than 0.1 at epochs 1, 2 and 4; epoch 3 (-0.05) and 5.. (-0.08 each) do not count,
    # although epoch 5 is the lowest value: patience 3 runs out after epoch 7
    loss = [1.0, 0.8, 0.75, 0.6, 0.52, 0.55, 0.58, 0.4]
    k = S.keras_early_stopping(loss, min_delta=0.1, patience=3)
    assert k == S.KerasStop(stopped_after=7, best_epoch=4)
    assert S.best_epoch(loss, upto=7) == 5  # the lowest loss is not the epoch Keras would restore
    # without min_delta epoch 5 improves, and the wait starts again there
    assert S.keras_early_stopping(loss, 0.0, 3) == S.KerasStop(None, 8)
    assert S.keras_early_stopping(loss, 0.0, 2) == S.KerasStop(7, 5)


def test_keras_patience_zero_never_stops_after_the_first_epoch() -> None:
    assert S.keras_early_stopping([0.5, 0.6], 0.0, 0) == S.KerasStop(2, 1)
    assert S.keras_early_stopping([0.5], 0.0, 0) == S.KerasStop(None, 1)


def test_keras_mode_max() -> None:
    acc = [0.6, 0.7, 0.7, 0.71, 0.69, 0.68, 0.7]
    assert S.keras_early_stopping(acc, 0.0, 2, "max") == S.KerasStop(6, 4)
    assert S.keras_early_stopping(acc, 0.0, 1, "max") == S.KerasStop(3, 2)  # a tie is no improvement


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["min", "max"])
def test_keras_replay_matches_keras_itself(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    curve = np.cumsum(rng.normal(0, 0.1, 30)) + (0 if mode == "max" else 5)
    steady = np.linspace(0, 3, 30) * (1 if mode == "max" else -1)  # improves by 0.1 an epoch
    for c in (curve, steady + 0.5 * curve / 10):
        for delta, patience in [(0.0, 0), (0.0, 3), (0.05, 2), (0.1, 5)]:
            k = S.keras_early_stopping(c, delta, patience, mode)
            assert (k.stopped_after, k.best_epoch) == _keras_replay(c, delta, patience, mode)
    assert S.keras_early_stopping(steady, 0.05, 1, mode).stopped_after is None  # never fires


def test_generalization_loss_and_gl_stop() -> None:
    e = [1.0, 0.5, 0.5625, 0.515625, 0.625, 0.25, 0.375]  # exact in binary, so GL is too
    gl = S.generalization_loss(e)
    np.testing.assert_array_equal(gl, [0, 0, 12.5, 3.125, 25, 0, 50])
    assert S.gl_stop(e, 3) == 3  # the first epoch with GL > 3, not a later larger one
    assert S.gl_stop(e, 12.5) == 5  # GL = alpha exactly does not stop
    assert S.gl_stop(e, 60) is None


def test_training_progress_over_strips() -> None:
    tr = [4.0, 3.0, 2.0, 1.0, 1.0, 1.0]
    p = S.training_progress(tr, k=3)
    assert np.isnan(p[:2]).all()
    np.testing.assert_allclose(p[2:], [1000 * (3 / 2 - 1), 1000 * (2 / 1 - 1), 1000 * (4 / 3 - 1), 0.0])


def test_pq_checks_only_strip_ends() -> None:
    e_va = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98]  # GL = 0, 0, 5.6, 6.7, 7.8, 8.9
    e_tr = [1.0, 0.9, 0.81, 0.8, 0.8, 0.8]  # P_3 at epoch 3: 1000 (0.9033 / 0.81 - 1) = 115; at 6: 0
    # PQ = 5.6 / 115 = 0.048 at epoch 3; at epoch 4 it would be 6.7 / 46 = 0.15, but 4 and 5 are not checked
    assert S.pq_stop(e_va, e_tr, alpha=0.1, k=3) == 6
    assert S.pq_stop(e_va, e_tr, alpha=0.04, k=3) == 3
    assert S.pq_stop([1.0, 0.9, 0.8, 0.7], [1.0, 0.9, 0.8, 0.7], alpha=0.5, k=2) is None  # GL stays 0


def test_up_needs_successive_strip_rises() -> None:
    # strips of 2: values at strip ends (epochs 2, 4, 6, 8, 10) are 0.5, 0.6, 0.55, 0.6, 0.7
    e = [0.6, 0.5, 0.4, 0.6, 0.5, 0.55, 0.5, 0.6, 0.65, 0.7]
    assert S.up_stop(e, s=1, k=2) == 4
    assert S.up_stop(e, s=2, k=2) == 10  # rises 6 -> 8 -> 10; 2 -> 4 -> 6 is broken at 6
    assert S.up_stop(e, s=3, k=2) is None
    assert S.up_stop(e[:5], s=2, k=2) is None  # the first check needs (s + 1) k epochs


def test_best_epoch_and_bad_curves() -> None:
    assert S.best_epoch([0.3, 0.2, 0.2, 0.1], upto=3) == 2
    assert S.best_epoch([0.6, 0.8, 0.8], mode="max") == 2
    with pytest.raises(ValueError):
        S.keras_early_stopping([0.1, float("nan")])
    with pytest.raises(ValueError):
        S.generalization_loss([0.0, 0.1])
    with pytest.raises(ValueError):
        S.keras_early_stopping([0.1], mode="auto")


def test_report_outcomes_on_a_synthetic_history() -> None:
    from types import SimpleNamespace

    from lfwsiamese.report import stopping as R
    n = 12
    ce = np.r_[np.linspace(0.7, 0.5, 6), np.linspace(0.52, 0.7, 6)]
    test = np.r_[np.linspace(0.6, 0.8, 6), np.linspace(0.79, 0.7, 6)]
    h = pd.DataFrame({"epoch": range(n), "loss": np.linspace(2, 0.5, n), "l2_penalty": 0.1, "val_loss": ce + 0.1,
                      "val_accuracy": test + 0.01, R.TEST: test, "epoch_seconds": 60.0})
    rec = SimpleNamespace(history=h, config=SimpleNamespace(name="toy", seed=0))
    out = R.outcomes([rec]).set_index("rule")
    assert "patience 5, validation AUC" not in out.index  # no val_auc in this history
    gl = out.loc["GL, α = 2"]
    assert (gl["stop"], gl["kept"]) == (7, 6) and gl["saved_min"] == pytest.approx(5.0)
    assert gl["regret"] == pytest.approx(1.0) and gl["regret_kept"] == pytest.approx(0.0)
    assert out.loc["all epochs (budget)", "stop"] == n and out.loc["all epochs (budget)", "saved_min"] == 0
    table = R.summary(out.reset_index(), "rule")
    assert list(table["rule"])[:2] == ["all epochs (budget)", "reference's EarlyStopping"]
    assert not table.isna().any().any()
