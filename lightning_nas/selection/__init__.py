"""Pure data-selection and scoring algorithms (numpy / torch / faiss, no Lightning)."""

from lightning_nas.selection.entropy import (
    DEFAULT_BIN_WIDTHS,
    ENTROPY_FLOOR,
    EntropyHistogram,
    entropy,
    entropy_beta_selection,
    entropy_bin_weights,
    entropy_histogram,
    entropy_proxy_selection,
    entropy_selection_probabilities,
)
from lightning_nas.selection.kcenter import (
    covering_radius,
    k_center_greedy,
    k_center_greedy_reference,
    nearest_centers,
)
from lightning_nas.selection.scores import el2n
from lightning_nas.selection.uniform import per_class_budgets, random_selection

__all__ = [
    "DEFAULT_BIN_WIDTHS",
    "ENTROPY_FLOOR",
    "EntropyHistogram",
    "covering_radius",
    "el2n",
    "entropy",
    "entropy_beta_selection",
    "entropy_bin_weights",
    "entropy_histogram",
    "entropy_proxy_selection",
    "entropy_selection_probabilities",
    "k_center_greedy",
    "k_center_greedy_reference",
    "nearest_centers",
    "per_class_budgets",
    "random_selection",
]

# BDP (Variance of Error, class-balance caps)
from lightning_nas.selection.voe import class_balance_degree, class_limits, select_prune, voe  # noqa: E402

__all__ += ["class_balance_degree", "class_limits", "select_prune", "voe"]
