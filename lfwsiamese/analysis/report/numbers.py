"""The numbers chapters put in their prose, computed from where they are defined: configs, the protocol files and the
built models. A chapter glues them (`myst_nb.glue`); none is typed in a chapter."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .literature import REFERENCE_REPORTED

if TYPE_CHECKING:
    from ...config import ExperimentConfig


def count(n: int | float) -> str:
    """A count with thousands separators: 38,954,049."""
    return f"{int(n):,}"


def short(x: float) -> str:
    """A setting as the book writes it: 0.4, 0.05, 2e-4, 5e-5 (never 0.0002 or 5e-05)."""
    if x == 0 or abs(x) >= 1e-2:
        return f"{x:g}"
    mant, exp = f"{x:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def init_text(spec: str) -> str:
    """An initializer spec as the book writes it: "normal:0:0.01" -> "N(0, 0.01)"; a Keras name stays as it is."""
    if spec.startswith("normal:"):
        _, mean, std = spec.split(":")
        return f"N({float(mean):g}, {float(std):g})"
    return spec


def recipe_numbers(cfg: "ExperimentConfig", prefix: str = "") -> dict[str, str]:
    """A recipe's training numbers for prose: learning rate, batch, epochs, early-stopping rule, validation share,
    input size and initialization."""
    t, d, m = cfg.train, cfg.data, cfg.model
    out = {"lr": short(t.learning_rate), "batch": str(t.batch_size), "epochs": str(t.epochs),
           "es_delta": f"{t.es_min_delta:g}", "es_patience": str(t.es_patience), "val_pct": f"{d.val_fraction:.0%}",
           "size": str(d.size), "input": f"{d.size}x{d.size}", "kernel_init": init_text(m.kernel_init), "bias_init": init_text(m.bias_init),
           "dense_init": init_text(m.dense_init), "conv_l2": short(m.conv_l2), "dense_l2": short(m.dense_l2),
           "dropout": f"{m.dropout:g}", "dense_units": count(m.dense_units), "weight_decay": short(t.weight_decay),
           "warmup": str(t.warmup_epochs), "pairs_per_epoch": count(d.pairs_per_epoch), "val_pairs": count(d.val_pairs),
           "crop": f"{d.crop[2] - d.crop[0]}x{d.crop[3] - d.crop[1]}" if d.crop else "whole frame",
           "stages": str(len(m.filters))}
    return {prefix + k: v for k, v in out.items()}


def reported_numbers() -> dict[str, str]:
    """The reference's reported numbers, formatted for prose (`literature.REFERENCE_REPORTED`)."""
    r = REFERENCE_REPORTED
    return {"ref_test": f"{r['test_accuracy']:.1%}", "ref_test3": f"{r['test_accuracy']:.3f}",
            "ref_val": f"{r['val_accuracy']:.1%}", "ref_loss": f"{r['final_loss']:g}",
            "ref_seconds": f"{r['convergence_seconds']:g}", "ref_params": count(r["params_total"]),
            "ref_framework": r["framework"]}


def dataset_numbers() -> dict[str, str]:
    """Counts of LFW and of its protocol files, for the dataset chapter's prose."""
    from ...data import protocols as P
    from ...data.paths import FRAME
    counts = P.image_counts()
    train, test = P.load_pairs("pairsDevTrain.txt"), P.load_pairs("pairsDevTest.txt")
    view2 = P.load_pairs("pairs.txt")
    out = {"frame": f"{FRAME}x{FRAME}", "n_images": count(sum(counts.values())), "n_people": count(len(counts)),
           "n_single": count(sum(c == 1 for c in counts.values())), "n_max": count(max(counts.values()))}
    for key, pairs in (("train", train), ("test", test), ("view2", view2)):
        out |= {f"{key}_pairs": count(len(pairs)), f"{key}_same": count(sum(p.same for p in pairs)),
                f"{key}_diff": count(sum(not p.same for p in pairs)),
                f"{key}_people": count(len({n for p in pairs for n in p.people})),
                f"{key}_images": count(len({r for p in pairs for r in (p.a, p.b)}))}
    folds = len({p.fold for p in view2})
    out |= {"view2_folds": str(folds), "view2_fold_pairs": count(len(view2) // folds)}
    return out


def architecture_numbers(cfg: "ExperimentConfig") -> dict[str, str]:
    """The built reference network's numbers: its input, last feature map, flattened size, embedding, parameters,
    where the multiply-adds and the parameters are."""
    from ...models.towers import build_siamese, layer_table, parameter_counts
    model = build_siamese(cfg.model, cfg.data.size)
    rows = layer_table(model)
    convs = [r for r in rows if r["type"] == "Conv2D"]
    flat = next(r for r in rows if r["type"] == "Flatten")
    dense = next(r for r in rows if r["type"] == "Dense")
    macs = {r["layer"]: r["output"][0] * r["output"][1] * r["output"][2] * math.prod(map(int, r["kernel"].split("x")))
            * r["input"][-1] for r in convs}
    heavy = max(macs, key=macs.get)
    hr = next(r for r in convs if r["layer"] == heavy)
    bns = [r for r in rows if "BatchNorm" in r["type"]]
    bn_channels = [r["output"][-1] for r in bns]
    counts = parameter_counts(model)
    first = convs[0]
    return {
        "input": f"{cfg.data.size}x{cfg.data.size}", "last_map": "x".join(map(str, flat["input"])),
        "flat": count(math.prod(flat["input"])), "embedding": count(dense["filters/units"]),
        "dropout": f"{cfg.model.dropout:g}", "heavy_conv": heavy, "heavy_positions": f"{hr['output'][0]}x{hr['output'][1]}",
        "heavy_filters": str(hr["output"][2]), "heavy_kernel": f"{hr['kernel']}x{hr['input'][-1]}",
        "heavy_gmac": f"{macs[heavy] / 1e9:.1f}", "heavy_share": f"{macs[heavy] / sum(macs.values()):.0%}",
        "dense_params": count(dense["params"]), "dense_share": f"{dense['params'] / counts['total']:.0%}",
        "dense_millions": f"{dense['params'] / 1e6:.1f}", "dense_weights_millions": f"{math.prod(flat['input']) * dense['filters/units'] / 1e6:.1f}",
        "params": count(counts["total"]),
        "params_millions": f"{counts['total'] / 1e6:.0f}", "non_trainable": count(counts["non_trainable"]),
        "bn_layers": str(len(bns)), "bn_sum": " + ".join(map(str, bn_channels)),
        "first_bias": str(first["filters/units"]), "out_weights": count(dense["filters/units"]),
    }


def plan_seeds(plan: str) -> int:
    """How many seeds each point of a plan has (the largest number of seeds of any one recipe in it)."""
    from collections import Counter
    from dataclasses import replace

    from ...runs.plans import get_plan
    return max(Counter(replace(c, seed=0) for c in get_plan(plan)).values())


def render_numbers() -> dict[str, str]:
    """How the alignment experiment's unaligned photos stray from LFW-a's frame (`data.unaligned.Render`'s
    defaults, the ones the book's experiment used), for the verifier chapter's prose."""
    from ...data.unaligned import Render
    r = Render()
    return {"render_angle": f"{r.max_angle:g}", "render_scale": f"{r.scale[0]:g} to {r.scale[1]:g}",
            "render_shift": f"{r.max_shift:g}", "render_canvas": f"{r.canvas}x{r.canvas}"}
