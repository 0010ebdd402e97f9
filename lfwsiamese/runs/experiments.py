"""A config's record: the stored one, or a training run that makes it."""
from __future__ import annotations

import os
from typing import Any, Callable

from ..config import ExperimentConfig
from ..records.store import Record, find_record


def load_or_run(cfg: ExperimentConfig, data: str | os.PathLike | None = None, results: str | os.PathLike | None = None,
                trainer: Callable[..., Record] | None = None, **train_kwargs: Any) -> Record:
    """The stored record for an identical config, else train it now and store it."""
    cfg.validate()
    rec = find_record(cfg, results)
    if rec is not None:
        return rec
    if trainer is None:
        from ..training.run import train_run as trainer
    return trainer(cfg, data=data, results=results, **train_kwargs)
