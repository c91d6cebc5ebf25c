"""Single-path one-shot supernet training: SPOS (uniform sampling) and GreedyNAS (greedy path filtering).

The parts live in :mod:`~lightning_nas.methods.spos` (:class:`SPOS`), :mod:`~lightning_nas.methods.greedynas`
(:class:`GreedyNAS`), :mod:`~lightning_nas.methods.surrogate` (the surrogate batch and its rank consistency) and
:mod:`~lightning_nas.methods.path_evaluation` (scoring paths); this module keeps their import path.
"""

from lightning_nas.methods.greedynas import GreedyNAS
from lightning_nas.methods.spos import SPOS
from lightning_nas.methods.surrogate import class_balanced_subset, surrogate_rank_consistency

__all__ = ["SPOS", "GreedyNAS", "class_balanced_subset", "surrogate_rank_consistency"]
