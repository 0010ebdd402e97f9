"""The shipped model's card (`lfwsiamese model-card`, the book's verifier chapter): every number read from model.json,
which `ship-model` filled from the record and from scoring the record's pairs with the shipped runtime."""
from __future__ import annotations

from typing import Any

LIMITS = (
    "**Who is in the data.** LFW's people are public figures photographed by the press around 2000-2007: mostly adults, "
    "mostly men, and mostly light-skinned. The accuracies above describe faces like those. On children, older people, "
    "darker-skinned people and other groups that are rare in LFW the error rates are unmeasured and likely higher, "
    "and the threshold was chosen for LFW's mix of people, not theirs. Measure on your own population before relying "
    "on a decision.",
    "**What the task is.** LFW pairs are near-frontal, well-lit press photos, and View 1's DevTest has only 1,000 pairs "
    "(a 95% interval of about +-2 points around its accuracy). Profile views, occlusion (masks, sunglasses), low "
    "resolution, strong lighting and age gaps are harder and not measured here.",
    "**Not for consequential decisions.** {wrong} of the DevTest decisions are wrong, on LFW itself. Do not use it "
    "to identify people without their consent, for surveillance, or for any decision about a person without human "
    "review.",
    "**Images.** The model sees grayscale only. Photos that are not LFW-a crops go through OpenCV's Haar face detector "
    "(frontal faces, in-plane rotation up to about 45 degrees) and the alignment above; a face it misses is an "
    "error, and a poorly aligned face scores lower.",
    "**Calibration.** The probability was calibrated on LFW-a faces rendered as photos (turned, relit, blurred, "
    "colour-cast, JPEG-compressed), not on photos taken by cameras; on your own photos it may be over- or "
    "under-confident. Decide on a few labelled pairs of your own before trusting 0.5.",
)


_COUNT = {2: "Two", 3: "Three", 4: "Four"}


def reference_name(card: dict[str, Any]) -> str:
    """What the shipped runtime's scores were checked against: the record's own, or an ensemble's members run one by
    one (each of them checked against its Keras model)."""
    return "the members' towers run one by one" if card.get("members") else "the record's"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def _f(x: Any, nd: int = 4) -> str:
    return "n/a" if x is None else f"{float(x):.{nd}f}"


def card_numbers(card: dict[str, Any]) -> dict[str, Any]:
    """The card's headline numbers, flat (for the book's glue and for tests)."""
    v2 = card.get("view2") or {}
    return {
        "run": card["run"], "threshold": card["threshold"], "record_threshold": card["record"]["threshold"],
        "raw_threshold": card.get("raw_threshold", card["threshold"]),
        "record_val_accuracy": card["record"]["val"]["accuracy"], "record_test_accuracy": card["record"]["test"]["accuracy"],
        "record_test_auc": card["record"]["test"].get("auc"),
        "shipped_val_accuracy": card["shipped"]["val"]["accuracy"],
        "shipped_test_accuracy": card["shipped"]["test"]["accuracy"], "shipped_test_auc": card["shipped"]["test"].get("auc"),
        "val_max_abs_diff": card["shipped"]["val_max_abs_diff"], "view2_accuracy": v2.get("accuracy_mean"),
        "view2_se": v2.get("accuracy_se"), "view2_folds": v2.get("folds"), "megabytes": card["bytes"] / 1e6,
    }


def model_card_markdown(card: dict[str, Any]) -> str:
    n = card_numbers(card)
    cfg, tr, rec, sh = card["config"], card["training"], card["record"], card["shipped"]
    data, model = cfg["data"], cfg["model"]
    v2 = card.get("view2")
    crop = data["crop"]
    view2 = (f"{_pct(v2['accuracy_mean'])} +- {_pct(v2['accuracy_se'])} (mean +- standard error over {v2['folds']} of "
             f"10 folds; same config, one model trained per fold)" if v2 else
             "not measured for this config (`lfwsiamese evaluate --protocol view2` with the same settings would)")
    members = card.get("members") or []
    title = " + ".join(f"`{m['run']}`" for m in members) if members else f"`{card['run']}`"
    if members:
        seeds = " and ".join(str(m["seed"]) for m in members)
        model_lines = [
            f"- {_COUNT.get(len(members), str(len(members)))} Siamese towers of one recipe, trained from seeds {seeds} "
            f"on the same people, each a {model['arch']} tower (filters {model['filters']}) giving a "
            f"{card['embedding_dim'] // len(members)}-d embedding. Each face's embeddings are scaled to unit length and joined ({card['embedding_dim']}-d), so "
            f"the cosine of two faces is the mean of the towers' cosines; a {card['head']['kind']} head with the "
            f"towers' mean scale and offset gives P(same person). Loss `{tr['loss']}`.",
            f"- Shipped as one ONNX file ({n['megabytes']:.1f} MB, sha256 `{card['sha256'][:16]}...`), run with "
            f"{card['runtime']}; exported from the members' weights in float32 and checked against their Keras towers "
            f"(the members were trained in {', '.join(sorted({str(m['precision']) for m in members}))}).",
        ]
        epochs = " and ".join(str(e) for e in tr["epochs"])
        chosen = ("- Nothing was chosen on DevTest: two towers replaced one tower and its mirror image by a rule fixed "
                  "beforehand, on the validation people's photos (`lfwsiamese ensemble-experiment`), and the threshold "
                  "(maximum accuracy on the 1,000 validation pairs) on validation people too.")
        first_row = "members' towers, one by one"
    else:
        model_lines = [
            f"- Siamese network: a {model['arch']} tower (filters {model['filters']}) giving a {card['embedding_dim']}-d "
            f"embedding, and a {card['head']['kind']} head giving P(same person); loss `{tr['loss']}`, seed {tr['seed']}.",
            f"- Shipped as ONNX ({n['megabytes']:.1f} MB, sha256 `{card['sha256'][:16]}...`), run with {card['runtime']}; "
            f"exported from the record's weights in float32 (the record was trained and scored in {rec['precision']}).",
        ]
        epochs = str(tr["epochs"])
        chosen = ("- Nothing was chosen on DevTest: the record (by validation accuracy) and the threshold (maximum "
                  "accuracy on the 1,000 validation pairs) were chosen on validation people only.")
        first_row = "record (training runtime)"
    flip = card.get("tta_flip", cfg["train"]["tta_flip"])
    against = reference_name(card)
    lines = [
        f"# Model card: {title}",
        "",
        "## Model",
        *model_lines,
        "",
        "## Training data and protocol",
        f"- {tr['protocol']}. {tr['people']} people / {tr['images']} images for training "
        f"({tr['sampling']} sampling), {tr['validation_people']} other DevTrain people held out for validation; "
        f"{epochs} epochs.",
        *(["- Images: each training image as its LFW-a crop or, with probability one half, as a photo rendered and "
           "aligned by the verifier's own pipeline (`data.images=\"mixed\"`); the validation and DevTest "
           "pairs in the table below are scored on such photos."]
          if data.get("images") == "mixed" else []),
        chosen,
        "",
        "## Results",
        "| | threshold | validation accuracy | DevTest accuracy | DevTest AUC |",
        "|---|---|---|---|---|",
        f"| {first_row} | {_f(rec['threshold'])} | {_pct(rec['val']['accuracy'])} | "
        f"{_pct(rec['test']['accuracy'])} | {_f(rec['test'].get('auc'), 3)} |",
        f"| shipped (ONNX Runtime) | {_f(n['raw_threshold'])} | {_pct(sh['val']['accuracy'])} | "
        f"{_pct(sh['test']['accuracy'])} | {_f(sh['test'].get('auc'), 3)} |",
        "",
        f"- View 2 (LFW's 10-fold test): {view2}.",
        f"- The shipped runtime's validation scores differ from {against} by at most {_f(n['val_max_abs_diff'], 5)}; "
        f"its threshold on the head's score, {_f(n['raw_threshold'])}, was {card['threshold_source']}.",
        "",
        *_alignment_lines(card),
        *_calibration_lines(card),
        "## Input expectations",
        f"- Any photo with one roughly frontal face: it is detected and aligned to LFW-a's frame (`--align auto` leaves "
        f"250x250 grayscale LFW-a crops untouched). Then grayscale, the box {crop} of the 250x250 frame resized to "
        f"{data['size']}x{data['size']}, pixels times {data['pixel_scale']:.6g}"
        + (", and the score averaged with the mirrored pair's." if flip else
           ", each tower seeing the face once (no mirror image)." if members else "."),
        (f"- `score` is the calibrated probability of the same person; `same` is score > {_f(card['threshold'])}; "
         f"`raw_score` is the head's." if card.get("calibration") else f"- `same` is score > {_f(card['threshold'])}."),
        "",
        "## Known limits",
        *[f"- {t}".replace("{wrong}", _pct(1 - _decided(card)["accuracy"])) for t in LIMITS],
        "",
    ]
    return "\n".join(lines)


def _decided(card: dict[str, Any]) -> dict[str, Any]:
    """DevTest crops' metrics at the decision users get: the calibrated one where there is a calibration."""
    ev = card.get("evaluation")
    return ev["test"]["crops"] if ev else card["shipped"]["test"]


#: The model files the pipeline runs besides the network, and their licences (read from the files and packages).
MODEL_FILES = (
    "OpenCV's Haar cascades `haarcascade_frontalface_default.xml`, `haarcascade_frontalface_alt2.xml` and "
    "`haarcascade_eye.xml` (face and eye detection), inside the `opencv-python-headless` wheel (Apache 2.0): each file "
    "carries the Intel License Agreement for the Open Source Computer Vision Library, a BSD-style licence that allows "
    "redistribution and use, commercial included.",
    "dlib's `shape_predictor_5_face_landmarks.dat` (the landmark step of the `landmarks5` alignment), inside "
    "`face_recognition_models` (whose licence file is CC0 1.0), run by `dlib-bin` (Boost Software License). dlib's "
    "author released the file into the public domain and trained it on his own 5-point face landmark dataset, "
    "itself released under CC0 1.0: free for any use, commercial included.",
    "dlib's `shape_predictor_68_face_landmarks.dat` (the landmark step of the `landmarks` alignment, measured beside "
    "the others at calibration and never chosen for shipping), in the same package. The model was trained on the "
    "iBUG 300-W annotations, whose terms exclude commercial use, so dlib's author advises asking Imperial College "
    "London before any commercial use of this file. Without the `landmarks` extra either landmark step is skipped, "
    "and photos are aligned by the Haar cascades alone.",
)


def _alignment_lines(card: dict[str, Any]) -> list[str]:
    """Which alignment the calibration was fitted with, chosen on validation photos, and the licences of its files."""
    cal = card.get("calibration") or {}
    cands = cal.get("alignment_candidates")
    if not cands:
        return []
    names = {"landmarks5": "Haar cascades, then dlib's 5 landmark points",
             "landmarks": "Haar cascades, then dlib's 68 landmark points", "cascade": "Haar cascades alone"}
    lines = ["## Alignment",
             f"- Chosen on the validation people's photos ({len(cands)} measured; by AUC among those whose files "
             f"allow any use): **{names.get(cal['alignment'], cal['alignment'])}**. The verifier aligns photos "
             "this way; the calibration below holds for photos aligned so.",
             "", "| alignment | validation AUC | validation accuracy (its own Platt fit, at 0.5) |", "|---|---|---|"]
    lines += [f"| {names.get(k, k)} | {_f(v['auc'], 3)} | {_pct(v['accuracy'])} |" for k, v in cands.items()]
    lines += ["", "Model files and their licences:", *[f"- {t}" for t in MODEL_FILES], ""]
    return lines


def _calibration_lines(card: dict[str, Any]) -> list[str]:
    """The calibration and its measurement on DevTest: LFW-a crops next to the same pairs as photos."""
    cal, ev = card.get("calibration"), card.get("evaluation")
    if not cal or not ev:
        return []
    r = cal["render"]
    lines = [
        "## Calibrated for photos",
        f"- `score` = sigmoid({cal['a']:.3f} * logit(head score) + {cal['b']:.3f}) (Platt scaling), fitted on the "
        f"{cal['n_pairs']} validation pairs whose faces were found, rendered as photos (turns up to {r['max_turn']:g} "
        f"degrees out of plane and {r['max_angle']:g} in plane, lighting, blur, colour casts, JPEG quality "
        f"{r['jpeg_quality'][0]}-{r['jpeg_quality'][1]}) and aligned by the pipeline; decisions at {cal['threshold']:g}.",
        "- Measured on the 1,000 DevTest pairs (never used to fit or choose), at that threshold. A pair whose face was "
        "not found counts as a wrong decision; TAR at FAR 0.1% on 500 different-person pairs means no false accept.",
        "",
        "| DevTest | faces found | accuracy | true accepts | true rejects | TAR @ FAR 1% | TAR @ FAR 0.1% | calibration "
        "error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cond, label in (("crops", "LFW-a crops"), ("photos", "photos")):
        m = ev["test"][cond]
        lines.append(f"| {label} | {_pct(m['images_found'] / m['images'])} | {_pct(m['accuracy'])} | {_pct(m['tpr'])} | "
                     f"{_pct(m['tnr'])} | {_pct(m['tar_at_far_1e-2'])} | {_pct(m['tar_at_far_1e-3'])} | "
                     f"{_f(m['ece'], 3)} |")
    lines += ["", "Calibration error: the expected calibration error over 10 equal-width bins of the probability.", ""]
    return lines
