"""`lfwsiamese bench`: both loops and the ablation run end to end and report consistent figures (tiny data)."""
from __future__ import annotations

import json

import pytest

from lfwsiamese import cli
from lfwsiamese.training.bench import ABLATION, REFERENCE_STYLE, Variant, run_ablation
from tests.synth import make_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> str:
    return str(make_dataset(tmp_path_factory.mktemp("synth")))


def test_bench_json_has_the_figures_the_issue_asks_for(synth_data: str, tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    rc = cli.main(["bench", "--data", synth_data, "--steps", "1", "--batch-size", "4", "--json", "--out", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res == json.loads(out.read_text())
    for side in ("reference_style", "ours"):
        assert res[side]["train_pairs_per_s"] > 0 and res[side]["predict_pairs_per_s"] > 0
        assert res[side]["forward_gflop_per_image"] == pytest.approx(res["forward_gflop_per_image"])
    assert res["reference_style"]["precision"] == "float32"
    assert res["train_speedup"] == pytest.approx(res["ours"]["train_pairs_per_s"] / res["reference_style"]["train_pairs_per_s"])
    assert res["peak_rss_mib"] > 0 and res["env"]["tensorflow"]
    assert 1.5 < res["forward_gflop_per_image"] < 2.0  # the reference tower: ~0.9 GMAC per 105x105 image


def test_ablation_compares_each_variant_with_the_first_and_the_row_above(synth_data: str) -> None:
    variants = (REFERENCE_STYLE, Variant("+ tf.data", precision="float32", fused_towers=False, bn_fused=False),
                Variant("+ fused towers", precision="float32", fused_towers=True, bn_fused=False))
    res = run_ablation(steps=1, batch_size=4, warmup=1, data=synth_data, progress=False, variants=variants)
    rows = res["variants"]
    assert [r["label"] for r in rows] == [v.label for v in variants]
    assert rows[0]["train_speedup_vs_reference_style"] == 1.0 and rows[0]["train_gain_vs_compared"] is None
    for k in (1, 2):
        assert rows[k]["compared_with"] == rows[k - 1]["label"]
        assert rows[k]["train_gain_vs_compared"] == pytest.approx(rows[k]["train_pairs_per_s"] / rows[k - 1]["train_pairs_per_s"])
    assert rows[0]["input"] == "numpy" and rows[1]["input"] == "tfdata"


def test_the_ablation_chain_adds_one_change_per_row() -> None:
    fields = ("input", "precision", "fused_towers", "bn_fused", "jit_compile")
    chain = ABLATION[:5]
    for prev, cur in zip(chain, chain[1:]):
        changed = [f for f in fields if getattr(prev, f) != getattr(cur, f)]
        assert len(changed) == 1, (cur.label, changed)
    assert ABLATION[4] == Variant("+ bfloat16 (= ours)", precision="auto")  # the last step is the default path


def test_each_ablation_row_is_compared_with_a_row_one_change_away() -> None:
    from dataclasses import asdict

    from lfwsiamese.training.bench import ABLATION_FIELDS, one_change_parents
    rows = [asdict(v) for v in ABLATION]
    parents = one_change_parents(rows)
    assert parents[0] is None and parents[1:5] == [0, 1, 2, 3]  # the chain: each row adds one change
    assert parents[5:] == [4, 4, 4]  # ours minus fused BN, minus fused towers, plus XLA: each against ours
    for k, p in enumerate(parents[1:], start=1):
        assert sum(rows[k][f] != rows[p][f] for f in ABLATION_FIELDS) == 1


def test_bench_recipe_times_a_named_recipe_and_estimates_its_training_time(synth_data: str, capsys) -> None:
    rc = cli.main(["bench", "--data", synth_data, "--recipe", "smoke", "--steps", "2", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    from lfwsiamese.recipes import get_config
    cfg = get_config("smoke")
    assert res["recipe"] == "smoke" and res["batch_size"] == cfg.train.batch_size and res["steps"] == 2
    assert res["train_pairs_per_s"] > 0
    minutes = cfg.data.pairs_per_epoch * cfg.train.epochs / res["train_pairs_per_s"] / 60
    assert res["estimated_fit_minutes"] == pytest.approx(minutes)
    assert res["train_gflop_per_s"] == pytest.approx(res["train_pairs_per_s"] * 6 * res["forward_gflop_per_image"])
    assert res["env"]["precision_policy"] == res["precision"]


def test_bench_recipe_refuses_a_fixed_pairs_recipe_and_names_the_other_benchmark(synth_data: str) -> None:
    from lfwsiamese.training.recipe_bench import run_recipe_bench
    with pytest.raises(ValueError, match="time it with `lfwsiamese bench`"):
        run_recipe_bench("reference", steps=1, data=synth_data, progress=False)
    with pytest.raises(ValueError, match="steps=0"):
        run_recipe_bench("smoke", steps=0, data=synth_data, progress=False)


def test_cpu_features_are_read_from_the_processor_flags(monkeypatch, tmp_path) -> None:
    """One reader of /proc/cpuinfo's flags names what speed depends on; bf16 training follows it on a CPU."""
    from lfwsiamese.training import setup
    flags = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 fma\n"
    real_read = setup.Path.read_text
    monkeypatch.setattr(setup.Path, "read_text",
                        lambda self, *a, **k: flags if str(self) == "/proc/cpuinfo" else real_read(self, *a, **k))
    assert setup.cpu_features() == ["avx2", "avx512f", "avx512_bf16"]
    flags = "flags\t\t: fpu sse2 avx2 fma\n"
    assert setup.cpu_features() == ["avx2"]
    assert set(setup.CPU_FEATURES) >= {"amx_bf16", "avx512_bf16"}


def test_a_bench_leaves_the_global_precision_policy_as_it_found_it(synth_data: str) -> None:
    """A bf16 variant set Keras' global policy and kept it, so the next model built in the process (an ONNX export
    in another test, say) came out in bfloat16."""
    import keras

    from lfwsiamese.training.bench import _prepare, time_variant
    from lfwsiamese.training.setup import precision_policy
    assert keras.mixed_precision.global_policy().name == "float32"
    work = _prepare(steps=1, batch_size=4, warmup=1, data=synth_data, progress=False)
    assert time_variant(work, Variant("bf16", precision="mixed_bfloat16"))["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(RuntimeError), precision_policy("mixed_bfloat16"):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError("the block fails")
    assert keras.mixed_precision.global_policy().name == "float32"
