"""View 2: each fold trains on the nine other folds only, one record per fold, mean +- standard error."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lfwsiamese.records.folds import fold_table
from lfwsiamese.cli import main
from lfwsiamese.config import DataConfig
from lfwsiamese.data import protocols as P
from lfwsiamese.data.sampling import identity_groups
from lfwsiamese.errors import ConfigError, DataError
from lfwsiamese.evaluate import fold_summary
from lfwsiamese.runs.plans import run_configs, view2_configs
from lfwsiamese.training.run import protocol_data
from tests.synth import add_view2, make_dataset, tiny_config


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> str:
    root = make_dataset(tmp_path_factory.mktemp("synth"), n_people=40, per_person=4)
    return str(add_view2(root))


def _identities(cfg):
    return replace(cfg, data=replace(cfg.data, sampling="identities", pairs_per_epoch=16, val_pairs=8, val_fraction=0.25))


def test_fold_configs_differ_only_in_the_fold() -> None:
    cfgs = view2_configs(tiny_config(), folds=(0, 4, 9))
    assert [c.data.fold for c in cfgs] == [0, 4, 9] and {c.data.protocol for c in cfgs} == {"view2"}
    assert len({c.run_name for c in cfgs}) == 3 and tiny_config().run_name not in {c.run_name for c in cfgs}
    with pytest.raises(ConfigError, match="folds 0..9"):
        view2_configs(tiny_config(), folds=(10,))
    with pytest.raises(ConfigError, match="data.fold=3 with data.protocol='view1'"):
        DataConfig(fold=3).validate()
    with pytest.raises(ConfigError, match="data.protocol='view3'"):
        DataConfig(protocol="view3").validate()


@pytest.mark.parametrize("sampling", ["pairs", "identities"])
@pytest.mark.parametrize("fold", [0, 7])
def test_a_fold_trains_on_the_other_nine_and_tests_on_its_own_pairs(synth_data: str, sampling: str, fold: int) -> None:
    cfg = view2_configs(tiny_config() if sampling == "pairs" else _identities(tiny_config()), folds=(fold,))[0]
    store, split, test_pairs = protocol_data(cfg, synth_data, progress=False)
    sdir = Path(synth_data) / "splits"
    assert test_pairs == [p for p in P.load_pairs("pairs.txt", sdir) if p.fold == fold]
    sets = P.load_people("people.txt", sdir)
    test_people = set(sets[fold].names)
    others = set().union(*(s.names for s in sets if s.fold != fold))
    if sampling == "identities":
        used = {n for n, _ in split.train_people} | {n for n, _ in split.val_people}
        assert used == others
        rows = np.concatenate(identity_groups(store, split.train_people))
        assert not {store.paths[r].split("/")[0] for r in rows} & test_people
    else:
        used = {n for p in split.train + split.val for n in p.people}
        assert used <= others and not {n for p in split.train for n in p.people} & {n for p in split.val for n in p.people}
    assert not used & test_people


def test_pairs_sharing_a_test_person_are_refused(synth_data: str, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synth_data, tmp_path / "d"))
    pairs = P.load_pairs("pairs.txt", root / "splits")
    f0 = next(p for p in pairs if p.fold == 0 and not p.same)
    k = next(i for i, p in enumerate(pairs) if p.fold == 1 and not p.same)
    pairs[k] = P.Pair(f0.a, pairs[k].b, 1)  # a fold-0 person in a fold-1 pair
    (root / "splits" / "pairs.txt").write_text(P.format_pairs(pairs, folds=10))
    with pytest.raises(DataError, match="test people appear in the training pairs"):
        protocol_data(view2_configs(tiny_config(), folds=(0,))[0], str(root), progress=False)


@pytest.mark.slow
def test_fold_records_summarise_to_mean_and_standard_error(synth_data: str, tmp_path: Path, capsys) -> None:
    cfgs = view2_configs(tiny_config(epochs=1), folds=(2, 5))
    recs = run_configs(cfgs, "view2", data=synth_data, results=tmp_path, progress=False)
    assert [r.config.data.fold for r in recs] == [2, 5]
    again = run_configs(cfgs, "view2", data=synth_data, results=tmp_path, progress=False)  # resumable: nothing retrained
    assert [r.metrics for r in again] == [r.metrics for r in recs]
    assert "2 already recorded" in capsys.readouterr().err
    table = fold_table(recs)
    assert table.index.tolist() == [2, 5] and (table["test pairs"] == 8).all()
    s = fold_summary([r.metrics["test"] for r in recs])
    acc = table["test acc (val threshold)"].to_numpy()
    assert s["folds"] == 2 and s["accuracy"]["mean"] == pytest.approx(acc.mean())
    assert s["accuracy"]["se"] == pytest.approx(acc.std(ddof=1) / np.sqrt(2))


def test_cli_without_records_says_so_and_fails(tmp_path: Path, capsys) -> None:
    rc = main(["evaluate", "--protocol", "view2", "--config", "improved", "--no-train", "--results", str(tmp_path)])
    assert rc == 1
    out = capsys.readouterr()
    assert "no fold of improved is recorded yet" in out.out and "10 runs, 0 already recorded" in out.err


def test_fold_summary_refuses_nothing() -> None:
    from lfwsiamese.errors import LfwSiameseError
    with pytest.raises(LfwSiameseError, match="no folds"):
        fold_summary([])
