"""Numbers from outside this project, each with its source: the reference's report, peers, LFW's results page."""
from __future__ import annotations

#: Published numbers of the reference (nevoit/Siamese-Neural-Networks-for-One-shot-Image-Recognition,
#: its README), cited in the book next to our measurements; see ../shared/anchors.md.
REFERENCE_REPORTED = {"test_accuracy": 0.731, "val_accuracy": 0.734, "params_total": 38_954_049}


#: Other public implementations of the same exercise and their reported accuracy on the 1,000 DevTest pairs,
#: as collected in ../shared/anchors.md (GitHub repositories' READMEs). Cited, not measured here.
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


#: View 2 mean accuracies on the LFW results page that ../shared/anchors.md marks as verified.
LFW_VIEW2_VERIFIED = (
    ("Eigenfaces", 0.6002), ("Nowak (funneled)", 0.7393), ("Nowak, on LFW-a", 0.7912), ("V1-like/MKL", 0.7935),
)
