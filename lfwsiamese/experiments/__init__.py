"""Experiments that write records of their own (one-shot, alignment, channels and fusion): above training, below the report."""
