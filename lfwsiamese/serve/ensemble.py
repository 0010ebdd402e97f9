"""Several towers served as one (issue #34): two towers trained from different seeds, each seeing a face once, cost
what one tower and its mirror image cost. Each member's embedding is scaled to unit length, the embeddings are
concatenated and divided by the square root of their number, so the cosine of two faces' embeddings is the mean of
the members' cosines; the cosine head takes the members' mean scale and offset. `join_towers` builds this as one ONNX
model from the members' ONNX files; `EnsembleScorer` computes it from the members' scorers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import RunError
from .scorer import Head, Scorer


def mean_head(heads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ensemble's head: a cosine head with the members' mean scale and offset (its scores rank pairs as the mean
    cosine does; a shipped ensemble is calibrated on photos like any model)."""
    if not heads or any(h["kind"] != "cosine" for h in heads):
        raise RunError("an ensemble averages cosines: every member needs a cosine head "
                       f"(got {[h['kind'] for h in heads]}); combine records trained with model.head='cosine'")
    return {"kind": "cosine", "scale": float(np.mean([h["scale"] for h in heads])),
            "offset": float(np.mean([h["offset"] for h in heads]))}


class EnsembleScorer(Scorer):
    """Several scorers' towers as one scorer (see the module's docstring); `tta_flip` adds each image's mirror."""

    def __init__(self, members: Sequence[Scorer], tta_flip: bool = False) -> None:
        if len(members) < 2:
            raise RunError(f"an ensemble needs at least two towers, got {len(members)}")
        first = members[0]
        self.head = Head(mean_head([m.head.spec for m in members]))
        if any(m.pre != first.pre or m.pixel_scale != first.pixel_scale for m in members):
            raise RunError("the members see their faces differently (crop, size or pixel scale): "
                           f"{[(m.pre, m.pixel_scale) for m in members]}; combine towers trained on the same inputs")
        self.members = list(members)
        self.name = "ensemble:" + "+".join(m.name for m in members)
        self.model_id = "+".join(m.model_id for m in members) + f"|flip={tta_flip}"
        self.pre, self.pixel_scale, self.tta_flip = first.pre, first.pixel_scale, tta_flip
        self.threshold, self.calibration, self.landmarks = 0.5, None, first.landmarks
        self.dim = sum(m.dim for m in members)

    def tower(self, x: np.ndarray) -> np.ndarray:
        parts = [m.tower(x) for m in self.members]
        parts = [e / (np.linalg.norm(e, axis=-1, keepdims=True) + 1e-6) for e in parts]
        return (np.concatenate(parts, axis=-1) / np.sqrt(len(parts))).astype(np.float32)


def join_towers(paths: Sequence[str | os.PathLike], out: str | os.PathLike, eps: float = 1e-6) -> Path:
    """Several towers' ONNX files as one ONNX model computing `EnsembleScorer.tower`: one input image batch, each
    tower's embedding divided by (its length + `eps`), concatenated, times 1/sqrt(number of towers). Built with ONNX's
    own graph helpers, so a member can be a file already shipped (its bytes unchanged) or a new export. Each tower's
    names get a prefix of its own; the towers must share the input shape and the opset."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper
    if len(paths) < 2:
        raise RunError(f"joining towers needs at least two ONNX files, got {len(paths)}")
    models = [compose.add_prefix(onnx.load(str(p)), f"m{k}_") for k, p in enumerate(paths)]
    opsets = {tuple(sorted((o.domain, o.version) for o in m.opset_import)) for m in models}
    shapes = {tuple(d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]) for m in models}
    if len(opsets) != 1 or len(shapes) != 1:
        raise RunError(f"the towers differ in opset {sorted(opsets)} or input shape {sorted(shapes)}: export them "
                       f"with the same tools from records trained on the same crop and size")
    nodes, inits, parts, dims = [], [], [], []
    inits += [numpy_helper.from_array(np.array(eps, np.float32), "ens_eps"),
              numpy_helper.from_array(np.array(len(models) ** -0.5, np.float32), "ens_scale")]
    for k, m in enumerate(models):
        g, x = m.graph, f"ens_unit{k}"
        nodes.append(helper.make_node("Identity", ["image"], [g.input[0].name]))
        nodes += list(g.node)
        inits += list(g.initializer)
        y = g.output[0].name
        nodes += [helper.make_node("ReduceL2", [y], [f"{x}_norm"], axes=[-1], keepdims=1),
                  helper.make_node("Add", [f"{x}_norm", "ens_eps"], [f"{x}_den"]),
                  helper.make_node("Div", [y, f"{x}_den"], [x])]
        parts.append(x)
        dims.append(g.output[0].type.tensor_type.shape.dim[-1].dim_value)
    nodes += [helper.make_node("Concat", parts, ["ens_joined"], axis=-1),
              helper.make_node("Mul", ["ens_joined", "ens_scale"], ["embedding"])]
    graph = helper.make_graph(
        nodes, "ensemble", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", *shapes.pop()])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", sum(dims)])], inits)
    model = helper.make_model(graph, opset_imports=list(models[0].opset_import), producer_name="lfwsiamese")
    model.ir_version = models[0].ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return Path(out)
