"""Runs of configs: the stored record or a new training, and the plans (sweeps) of many runs."""
