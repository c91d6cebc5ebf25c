"""Search spaces: candidate ops, weight-sharing supernets, discrete networks and genotypes.

Spaces are registered by name (``list_search_spaces()``) and built with ``get_search_space(name, **options)``;
each space's candidate ops live in its own op registry (``get_op(name, space=...)``).
"""

from lightning_nas.spaces.base import (
    Genotype,
    SearchSpace,
    StepOrder,
    Supernet,
    get_op,
    get_search_space,
    get_search_space_class,
    list_ops,
    list_search_spaces,
    register_op,
    register_search_space,
)
from lightning_nas.spaces.darts import (
    DARTS_EDGES,
    DARTS_OPS,
    GENOTYPE_OPS,
    DARTSGenotype,
    DARTSNetwork,
    DARTSSpace,
    DARTSSupernet,
    channel_shuffle,
    derive_genotype,
)
from lightning_nas.spaces.econas import ECONAS_OPS, EcoNASGenotype, EcoNASSpace, loose_ends
from lightning_nas.spaces.mobilenet import (
    MOBILENET_CHOICES,
    MBConv,
    MobileNetLayer,
    MobileNetNetwork,
    MobileNetPath,
    MobileNetSpace,
    SinglePathSupernet,
)
from lightning_nas.spaces.nasbench201 import (
    NB201_EDGES,
    NB201_OPS,
    NASBench201Genotype,
    NASBench201Network,
    NASBench201Space,
    NASBench201Supernet,
)

__all__ = [
    "DARTS_EDGES",
    "DARTS_OPS",
    "GENOTYPE_OPS",
    "MOBILENET_CHOICES",
    "NB201_EDGES",
    "NB201_OPS",
    "DARTSGenotype",
    "DARTSNetwork",
    "DARTSSpace",
    "DARTSSupernet",
    "ECONAS_OPS",
    "EcoNASGenotype",
    "EcoNASSpace",
    "Genotype",
    "MBConv",
    "MobileNetLayer",
    "MobileNetNetwork",
    "MobileNetPath",
    "MobileNetSpace",
    "NASBench201Genotype",
    "NASBench201Network",
    "NASBench201Space",
    "NASBench201Supernet",
    "SearchSpace",
    "SinglePathSupernet",
    "StepOrder",
    "Supernet",
    "channel_shuffle",
    "derive_genotype",
    "get_op",
    "get_search_space",
    "get_search_space_class",
    "list_ops",
    "list_search_spaces",
    "loose_ends",
    "register_op",
    "register_search_space",
]
