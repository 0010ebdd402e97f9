"""Which protocol a result follows, in the words of LFW's README and results page, so that every comparison
table says what it compares: View 1 or View 2, restricted pairs or unrestricted identities, and the results page's
category (which also counts outside data, such as LFW-a's commercial alignment)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...config import ExperimentConfig

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
