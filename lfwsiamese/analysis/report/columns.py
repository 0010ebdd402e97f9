"""Column names of the report's tables: one definition each, so a table and its readers cannot drift apart."""
from __future__ import annotations

TEST_ACC = "test acc (val threshold)"  # test accuracy at the threshold chosen on validation: the headline metric
TEST_ACC_05 = "test acc @0.5"
TEST_AUC = "test AUC"
TEST_EER = "test EER"
VAL_ACC = "val acc"  # validation accuracy at its own chosen threshold: what every choice is made on
VAL_AUC = "val AUC"
EPOCHS = "epochs"
FIT_S = "fit s"  # seconds of training (the epochs' own times)
