"""Training one run: setup, the compiled model, callbacks, scoring, and the run itself (prepare, fit, score, write)."""
