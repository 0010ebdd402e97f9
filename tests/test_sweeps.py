"""The book's plans: each sweep point differs from the reference in the swept field only."""
from __future__ import annotations

from dataclasses import replace

import pytest

from lfwsiamese.recipes import get_config
from lfwsiamese.runs.plans import BATCH_GRID, LR_GRID, PLANS, get_plan


def config_value(cfg: object, key: str) -> object:
    """A config field by dotted key (train.learning_rate)."""
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg



@pytest.mark.parametrize("plan, key, grid", [("lr", "train.learning_rate", LR_GRID), ("batch", "train.batch_size", BATCH_GRID)])
def test_sweep_points_change_one_field_and_reuse_the_reference_point(plan: str, key: str, grid: tuple) -> None:
    cfgs = get_plan(plan)
    assert sorted({config_value(c, key) for c in cfgs}) == sorted(grid)
    assert len(cfgs) == 2 * len(grid) and len({c.run_name for c in cfgs}) == len(cfgs)
    for c in cfgs:
        base = get_config("reference-fast", seed=c.seed)
        if config_value(c, key) == config_value(base, key):
            assert c == base  # trained once, shared with the precision plan
        else:
            section, field = key.split(".")
            back = replace(c, name=base.name, **{section: replace(getattr(c, section), **{field: config_value(base, key)})})
            assert back == base


def test_init_plan_is_three_schemes_by_bias_by_two_seeds_and_never_reused() -> None:
    cfgs = get_plan("init")
    assert len(cfgs) == 12 and len({c.run_name for c in cfgs}) == 12
    assert {c.name for c in cfgs} == {f"init-{s}-{b}" for s in ("koch", "glorot", "he") for b in ("bias", "nobias")}
    assert all(c.model.first_conv_bias == c.name.endswith("-bias") for c in cfgs)
    assert [c.model.first_conv_bias for c in cfgs[:6]] == [True] * 6  # the reference's layer first
    assert all(c.name.startswith("init-") for c in cfgs)


def test_every_plan_has_distinct_runs() -> None:
    for name in PLANS:
        cfgs = get_plan(name)
        assert len({c.run_name for c in cfgs}) == len(cfgs), name


def test_ablation_removes_one_component_of_the_improved_model_at_a_time() -> None:
    from lfwsiamese.runs.plans import (
        ABLATION_COMPONENTS,
        ABLATION_LABELS,
        ABLATION_STEPS,
    )
    assert ABLATION_STEPS.keys() == ABLATION_LABELS.keys() == ABLATION_COMPONENTS.keys()  # the book names every step
    improved = get_config("improved")
    cfgs = get_plan("ablation")
    assert len(cfgs) == 2 * len(ABLATION_STEPS) and len({c.run_name for c in cfgs}) == len(cfgs)
    n = len(ABLATION_STEPS)
    assert {c.seed for c in cfgs[:n]} == {0} and [c.name for c in cfgs[:n]] == [c.name for c in cfgs[n:]]  # seed-major
    for c in cfgs:
        step = c.name.removeprefix("improved-")
        (key, value), = ABLATION_STEPS[step].items()
        assert config_value(c, key) == value != config_value(improved, key)
        section, field = key.split(".")
        back = replace(c, name="improved", seed=improved.seed,
                       **{section: replace(getattr(c, section), **{field: config_value(improved, key)})})
        assert back == improved


def test_a_failed_run_does_not_stop_the_sweep(monkeypatch, tmp_path, capsys) -> None:
    import pytest

    from lfwsiamese.errors import LfwSiameseError, RunLockedError
    from lfwsiamese.runs import plans as sweeps
    cfgs = [get_config("reference", seed=s) for s in (0, 1, 2)]
    called = []

    def fake(cfg, **kw):
        called.append(cfg.seed)
        if cfg.seed == 0:
            raise LfwSiameseError("test: 1000 scores are NaN or infinite (training diverged?)")
        if cfg.seed == 2:
            raise RunLockedError("locked by another process")
        return "record"

    monkeypatch.setattr(sweeps, "load_or_run", fake)
    with pytest.raises(LfwSiameseError, match=r"(?s)1 run\(s\) failed.*reference-s0.*diverged") as e:
        sweeps.run_configs(cfgs, "plan t", results=tmp_path, progress=False)
    assert called == [0, 1, 2] and "reference-s2" not in str(e.value)  # the locked run is skipped, not failed
    err = capsys.readouterr().err
    assert "FAILED" in err and "skipped: locked" in err


def test_the_npair_recipe_is_the_chosen_candidate_and_the_search_plan_skips_abandoned_ones() -> None:
    from dataclasses import replace

    from lfwsiamese.recipes import get_config
    from lfwsiamese.runs.plans import (
        NPAIR_SEEDS,
        SEARCH_ABANDONED,
        SEARCH_CANDIDATES,
        get_plan,
        plan_search,
        search_configs,
    )
    assert replace(search_configs()[0], name="npair") == get_config("npair", seed=0)
    assert len(search_configs()) == len(SEARCH_CANDIDATES)
    assert len(plan_search()) == len(SEARCH_CANDIDATES) - len(SEARCH_ABANDONED)
    assert [c.seed for c in get_plan("npair")] == list(NPAIR_SEEDS) and 0 not in NPAIR_SEEDS  # fresh seeds only
    v2 = get_plan("npair-view2")
    assert [c.data.fold for c in v2] == list(range(10)) and {c.data.protocol for c in v2} == {"view2"}
    assert all(c.train.loss == "npair" for c in v2)
