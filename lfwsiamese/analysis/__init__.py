"""Using trained runs: verification and identification, one-shot tests, the report's tables and the plots."""
