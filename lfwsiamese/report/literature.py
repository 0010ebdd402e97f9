"""Numbers from outside this project, each with its bibliography key, and the protocol labels of LFW.

Cited, never measured here: the reference's README, its peers' READMEs, LFW's results page.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..config import ExperimentConfig
# Short enough for a table cell: View 1 trains on the DevTrain pairs (restricted) or on the DevTrain people's
# identities (unrestricted); View 2 on the pairs or the people of the nine other folds.
VIEW1_RESTRICTED = "View 1 restricted (DevTrain pairs)"
VIEW1_UNRESTRICTED = "View 1 unrestricted (identities)"
VIEW2_RESTRICTED = "View 2 restricted (pairs)"
VIEW2_UNRESTRICTED = "View 2 unrestricted (identities)"

#: The results page's categories (its six headings, of which these are the ones this book meets).
STRICT = "image-restricted, no outside data"
RESTRICTED_LABEL_FREE = "image-restricted, label-free outside data"
UNRESTRICTED_LABEL_FREE = "unrestricted, label-free outside data"

#: Why a model trained on LFW-a is not "no outside data": the results page counts LFW-a's alignment, made by a
#: trained commercial system, as label-free outside training data.
LFWA_NOTE = "LFW-a's alignment, by a trained commercial system, counts as label-free outside data"


def protocol_of(cfg: "ExperimentConfig") -> str:
    """The protocol a run follows: View 1 or 2; restricted when it trains on the official pairs only (their names
    may group pairs for validation, never form new pairs), unrestricted when it forms pairs from identities."""
    restricted = cfg.data.sampling == "pairs"
    if cfg.data.protocol == "view2":
        return VIEW2_RESTRICTED if restricted else VIEW2_UNRESTRICTED
    return VIEW1_RESTRICTED if restricted else VIEW1_UNRESTRICTED


def category_of(cfg: "ExperimentConfig") -> str:
    """The results page's category of a run of this project: every run trains on LFW-a (label-free outside data)."""
    return RESTRICTED_LABEL_FREE if cfg.data.sampling == "pairs" else UNRESTRICTED_LABEL_FREE

#: The reference implementation and its bibliography key.
REFERENCE_REPO = "nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition"
REFERENCE_KEY = "nevoit_siamese"

#: Numbers the reference's README reports (one run, TensorFlow 2.0), cited next to our measurements. The one place
#: they are typed: chapters glue them from here.
REFERENCE_REPORTED = {
    "test_accuracy": 0.731,  # on the 1,000 DevTest pairs, Keras' "accuracy", i.e. at threshold 0.5
    "val_accuracy": 0.734,  # on its pair-level validation split
    "params_total": 38_954_049,
    "params_trainable": 38_952_897,
    "params_non_trainable": 1_152,
    "final_loss": 3.1,  # "about 3.1", mostly the L2 penalty
    "convergence_seconds": 30,  # "convergence time": the whole script's wall time on Colab, not a fit time
    "threshold": 0.5,
    "runs": 1,
    "framework": "TensorFlow 2.0",
}

#: Other public implementations of the same exercise (LFW-a, View 1: trained on the DevTrain pairs, tested on the
#: 1,000 DevTest pairs) and the accuracy their READMEs report. Cited, not measured here.
PEERS_DEVTEST = (
    ("Itay-Saig/Face-Recognition-using-Siamese-Neural-Networks", 0.765, "best of 8 runs, chosen on test (0.683-0.765)"),
    ("shaharoded/Siamese-Neural-Networks-One-Shot-Image-Recognition", 0.739, "250x250, 9x affine augmentation"),
    ("nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition (the reference)", 0.731, "one run, threshold 0.5"),
    ("OrBenNaim/FacialRecognition", 0.719, "128x128, BN, dropout, augmentation"),
    ("MaorSagi/SiameseCNN", 0.712, "person-disjoint validation, augmentation"),
    ("efratrvd/one-shot-face-recognition", 0.711, "/255, BN, lr decay"),
    ("eyalshub/One-shot-Face-Recognition-with-Siamese-Network", 0.706, "port of the reference"),
    ("nts-e/Siamese-Face-Detection-CNN", 0.706, "768-config grid search"),
    ("YuvalSabag/DeepLearning-2", 0.698, "Koch + BN + dropout"),
    ("denisrize/SiameseNN-for-FaceRecognition", 0.69, "contrastive loss, small net"),
    ("amitshakarchy/Deep-Learning", 0.687, "BN, dropout, flips"),
)

#: The bibliography key of each peer (by its name in PEERS_DEVTEST).
PEER_KEYS = {
    "Itay-Saig/Face-Recognition-using-Siamese-Neural-Networks": "itaysaig_siamese",
    "shaharoded/Siamese-Neural-Networks-One-Shot-Image-Recognition": "shaharoded_siamese",
    "nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition (the reference)": REFERENCE_KEY,
    "OrBenNaim/FacialRecognition": "orbennaim_facial",
    "MaorSagi/SiameseCNN": "maorsagi_siamesecnn",
    "efratrvd/one-shot-face-recognition": "efratrvd_oneshot",
    "eyalshub/One-shot-Face-Recognition-with-Siamese-Network": "eyalshub_oneshot",
    "nts-e/Siamese-Face-Detection-CNN": "ntse_siamese",
    "YuvalSabag/DeepLearning-2": "yuvalsabag_dl2",
    "denisrize/SiameseNN-for-FaceRecognition": "denisrize_siamesenn",
    "amitshakarchy/Deep-Learning": "amitshakarchy_dl",
}

#: The peers' protocol: they train on the DevTrain pairs only (restricted), on LFW-a (label-free outside data).
PEERS_PROTOCOL = VIEW1_RESTRICTED
PEERS_CATEGORY = RESTRICTED_LABEL_FREE


class ResultsPageEntry(NamedTuple):
    """A View 2 result as LFW's results page lists it: mean accuracy over the ten folds ± standard error."""

    method: str
    accuracy: float
    se: float | None  # None where the page gives no standard error for it
    category: str  # the page's category
    keys: tuple[str, ...]  # bibliography keys: the method's paper(s); the page itself is cited for every number
    note: str = ""


#: View 2 entries read on LFW's results page (the keys name the methods' papers; the numbers are the page's).
LFW_VIEW2_VERIFIED = (
    ResultsPageEntry("Eigenfaces, original", 0.6002, 0.0079, STRICT, ("turk1991eigenfaces",)),
    ResultsPageEntry("Nowak, funneled", 0.7393, 0.0049, STRICT, ("nowak2007similarity", "huang2007funneling")),
    ResultsPageEntry("3x3 multi-region histograms (1024)", 0.7295, 0.0055, STRICT, ("sanderson2009mrh",)),
    ResultsPageEntry("Hybrid descriptor-based, funneled", 0.7847, 0.0051, STRICT, ("wolf2008descriptor",)),
    ResultsPageEntry("V1-like/MKL, funneled", 0.7935, 0.0055, STRICT, ("pinto2009v1like",)),
    ResultsPageEntry("Nowak, on LFW-a", 0.7912, None, RESTRICTED_LABEL_FREE, ("nowak2007similarity", "wolf2011lfwa"),
                     "the page's example of outside data: " + LFWA_NOTE),
    # The strongest entries of the categories near ours, read in the page's source (results.html of the repository
    # umass-vis-lfw/umass-vis-lfw.github.io, 2025 version): none uses labeled outside data.
    ResultsPageEntry("Fisher vector faces", 0.8747, 0.0149, STRICT, ("simonyan2013fisher",)),
    ResultsPageEntry("Eigen-PEP", 0.8897, 0.0132, STRICT, ("li2014eigenpep",)),
    ResultsPageEntry("Hierarchical-PEP", 0.9110, 0.0147, STRICT, ("li2015hpep",)),
    ResultsPageEntry("Convolutional DBN", 0.8777, 0.0062, RESTRICTED_LABEL_FREE, ("huang2012cdbn",)),
    ResultsPageEntry("DDML", 0.9068, 0.0141, RESTRICTED_LABEL_FREE, ("hu2014ddml",), "on LFW-a"),
    ResultsPageEntry("Sub-SML", 0.9075, 0.0064, UNRESTRICTED_LABEL_FREE, ("cao2013subsml",)),
    ResultsPageEntry("ConvNet-RBM", 0.9175, 0.0048, UNRESTRICTED_LABEL_FREE, ("sun2013hybrid",)),
    ResultsPageEntry("VMRS", 0.9205, 0.0045, UNRESTRICTED_LABEL_FREE, ("barkan2013vmrs",)),
    ResultsPageEntry("Fisher vector faces, unrestricted", 0.9303, 0.0105, UNRESTRICTED_LABEL_FREE, ("simonyan2013fisher",)),
    ResultsPageEntry("high-dim LBP", 0.9318, 0.0107, UNRESTRICTED_LABEL_FREE, ("chen2013blessing",),
                     "features at landmarks found by a trained detector"),
)
#: The leaders of our category on the same page, above the entries cited beside our View 2 rows: the targets of
#: the fusion chapter (issue #33).
CATEGORY_LEADERS = (
    ResultsPageEntry("MDML-DCPs", 0.9558, 0.0034, UNRESTRICTED_LABEL_FREE, ("ding2016mdml",)),
    ResultsPageEntry("HPEN + HD-Gabor + JB", 0.9525, 0.0036, UNRESTRICTED_LABEL_FREE, ("zhu2015hpen",)),
    ResultsPageEntry("HPEN + HD-LBP + JB", 0.9487, None, UNRESTRICTED_LABEL_FREE, ("zhu2015hpen",)),
    ResultsPageEntry("combined Joint Bayesian", 0.9090, 0.0148, UNRESTRICTED_LABEL_FREE, ("chen2012bayesian",)),
)
LFW_RESULTS_KEY = "lfwresults"

#: The keys of every source above, for a chapter's {cite} of a table.
PEER_CITE = ",".join(PEER_KEYS.values())
VIEW2_CITE = ",".join(dict.fromkeys([LFW_RESULTS_KEY] + [k for e in LFW_VIEW2_VERIFIED for k in e.keys]))
