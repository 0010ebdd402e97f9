"""The front chapters' library (introduction, dataset, architecture): tables the book can show, figures in words.

The introduction's tables read the committed records of results/; the dataset's tables read the packaged
protocol files; only the example-pair figure needs the images."""
from __future__ import annotations

import re

import matplotlib
import pytest

from lfwsiamese.recipes import get_config
from lfwsiamese.report import architecture as A
from lfwsiamese.report import dataset as D
from lfwsiamese.report import introduction as I
from lfwsiamese.report.tables import recipe_name, show

matplotlib.use("Agg")


def _words(label: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z ,'()-]*", label)) and "_" not in label


def test_headline_is_short_complete_and_states_each_protocol_once() -> None:
    df = I.headline()
    assert len(df.columns) <= 5 and not df.isna().any().any()
    show(df)  # refuses empty cells
    protocols = [p for p in df["protocol"] if p]
    assert len(protocols) == len(set(protocols)) == 3  # View 1 restricted, unrestricted, View 2
    assert len(df) == len(I.HEADLINE)
    assert df["test accuracy"].str.fullmatch(r"\d+\.\d% ± \d+\.\d").all()
    assert set(df["runs"]) == {"3 seeds", "10 folds"}


def test_full_table_covers_every_model_and_the_reported_number() -> None:
    df = I.full_table()
    assert len(df.columns) <= 6 and not df.isna().any().any()
    assert {recipe_name(name) for _, _, name in I.FULL} <= set(df["model"])
    assert len(df) == len(I.FULL) + 1  # plus the reference's reported row
    reported = df[df["model"] == "reference network, as reported"].iloc[0]
    assert reported["accuracy at 0.5"].startswith("73.1%")
    assert df["protocol"].iloc[0] != "" and (df["protocol"] != "").sum() == 3


def test_reported_interval_is_binomial_over_the_devtest_pairs() -> None:
    iv = I.reported()
    assert iv["pairs"] == 1000 and iv["runs"] == 1
    assert iv["half"] == pytest.approx(1.96 * (0.731 * 0.269 / 1000) ** 0.5, rel=0.01)


def test_pair_files_counted_and_balanced() -> None:
    df = D.pairs_summary()
    assert df["pairs"].tolist() == [2200, 1000, 6000]
    assert (df["same"] == df["different"]).all() and not df.isna().any().any()


def test_person_disjoint_split_does_not_leak_and_pair_split_does() -> None:
    df = D.split_leakage(seeds=(0,))
    person, pair = df.iloc[0], df.iloc[1]
    assert person["sharing a person with training"] == "0.0%" == person["sharing an image"]
    assert float(pair["sharing a person with training"].rstrip("%")) > 50
    show(df)


def test_images_per_person_axes_in_words() -> None:
    ax = D.images_per_person().axes[0]
    assert _words(ax.get_xlabel()) and _words(ax.get_ylabel())
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_pair_grid_shows_same_above_different(real_data) -> None:
    fig = D.pair_grid(n=2, seed=0)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["same person"] * 2 + ["different people"] * 2
    assert sum(1 for ax in fig.axes if ax.images) == 8


def test_reference_layers_and_parameters_match_the_reference() -> None:
    cfg = get_config("reference")
    layers = A.layers(cfg)
    assert not layers.isna().any().any() and len(layers.columns) <= 5
    assert layers[layers["layer"] == "convolution"]["window"].tolist() == ["10x10", "7x7", "4x4", "4x4"]
    params = A.parameters().set_index("model")
    assert (params.loc["reference network"] == params.loc["reference network, as reported"]).all()
    assert params.loc["reference network", "trainable"] == layers["parameters"].sum() + 1 + 4096 + 2 * 576
    macs = A.multiply_adds(cfg)
    assert max(macs, key=macs.get) == "conv2" and macs["conv2"] == 42 * 42 * 128 * 7 * 7 * 64
