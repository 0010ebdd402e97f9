"""The record of a run: its files and schema, atomic writes, locks, reading, and the provenance of its code."""
