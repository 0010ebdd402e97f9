"""The region candidates of the ensemble (issue #33): the N-pair recipe with only the crop and size changed."""
from __future__ import annotations

from dataclasses import replace

from lfwsiamese.recipes import REGION_SIZE, REGIONS, get_config
from lfwsiamese.runs.plans import PLANS, get_plan


def test_each_region_changes_only_the_crop_and_the_size() -> None:
    npair = get_config("npair")
    cfgs = get_plan("regions")
    assert "regions" in PLANS and len(cfgs) == len(REGIONS) and len({c.run_name for c in cfgs}) == len(REGIONS)
    for cfg, (name, box) in zip(cfgs, REGIONS.items()):
        assert cfg.name == f"npair-region-{name}" and cfg.data.crop == box and cfg.data.size == REGION_SIZE
        assert cfg.data.protocol == "view1" and cfg.data.validation == "person"
        same = replace(cfg, name="npair", data=replace(cfg.data, crop=npair.data.crop, size=npair.data.size))
        assert same == npair
        left, top, right, bottom = box
        assert 0 <= left < right <= 250 and 0 <= top < bottom <= 250


def test_the_region_kept_for_view2_is_the_eye_band_on_all_ten_folds_and_outside_the_books_plans() -> None:
    from lfwsiamese.recipes import REGIONS
    from lfwsiamese.runs.plans import PLANS, get_plan
    cfgs = get_plan("regions-view2")
    assert [c.data.fold for c in cfgs] == list(range(10)) and {c.data.protocol for c in cfgs} == {"view2"}
    assert {c.data.crop for c in cfgs} == {REGIONS["eyes"]} and "regions-view2" not in PLANS
    assert not {c.run_name for c in cfgs} & {c.run_name for c in get_plan("all")}
