"""The DARTS cell search space, with the PC-DARTS (partial channels, edge normalization) and P-DARTS options.

A cell takes two inputs, the outputs ``c_{k-2}`` and ``c_{k-1}`` of the two previous cells (nodes 0 and 1),
and has 4 intermediate nodes (2..5). Node ``i`` sums one operation on each of the ``i`` earlier nodes, which
gives 2 + 3 + 4 + 5 = 14 edges, ordered ``(2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0), ...``
(:data:`DARTS_EDGES`); the cell output is the channel concatenation of the intermediate nodes. Every edge picks
one of 8 operations, in this order (:data:`DARTS_OPS`): ``none, max_pool_3x3, avg_pool_3x3, skip_connect,
sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5``. Normal cells keep the resolution; reduction cells
(at layers ``layers // 3`` and ``2 * layers // 3``) double the channels and halve the resolution, their edges
from the two inputs having stride 2. A discrete cell (:class:`DARTSGenotype`) keeps 2 incoming edges per node.

The supernet (:class:`DARTSSupernet`) mixes all candidate ops of an edge with the softmax of that edge's row of
``arch_alpha_normal`` or ``arch_alpha_reduce`` (shape ``[14, 8]``, shared by all cells of the type). Options:

* ``partial_channels=K`` (PC-DARTS): only the first ``C / K`` channels of an edge's input go through its ops;
  the rest bypass them and the result is channel-shuffled (:func:`channel_shuffle`).
* ``edge_normalization=True`` (PC-DARTS): node ``i`` weighs its incoming edges by the softmax of their
  ``arch_beta_normal`` / ``arch_beta_reduce`` entries over the node's ``i`` edges.
* ``candidate_ops`` (P-DARTS): each edge mixes its own subset of the ops; the supernet attribute
  ``skip_dropout`` applies dropout to the identity ``skip_connect`` outputs in training mode.

The discrete network of a genotype (:class:`DARTSNetwork`) is DARTS's evaluation network (``NetworkCIFAR``, or
``NetworkImageNet`` with ``stem="imagenet"``), with optional auxiliary head and drop-path.

The ops are registered in the ``"darts"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory takes
``(C, stride, affine)`` and maps ``[B, C, H, W]`` to ``[B, C, H / stride, W / stride]``. Spatial sizes must be
even at every reduction (as in DARTS, whose ``FactorizedReduce`` needs them so).

Submodules: ``ops`` (candidate ops, op and edge constants), ``genotype`` (:class:`DARTSGenotype`,
:func:`derive_genotype`), ``macro`` (option checks, stems, cell widths), ``reference`` (the per-edge search cell),
``fused`` (the fused search cell), ``supernet`` (:class:`DARTSSupernet`), ``network`` (:class:`DARTSNetwork`),
``space`` (:class:`DARTSNetworkSpace`, :class:`DARTSSpace`). Import from this package: it re-exports every name
the single ``darts`` module had (also ``SPACE_NAME`` and the search cells the tests compare).

References:
    Hanxiao Liu, Karen Simonyan and Yiming Yang. DARTS: Differentiable Architecture Search. ICLR 2019
    (Section 2.1: the cell; Eq. 2: the mixed op; Section 2.4: deriving the discrete cell; Appendix A.1).
    Yuhui Xu et al. PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search. ICLR 2020
    (Eq. 2: partial channels; Eq. 4: edge normalization; Section 3.3: channel shuffle).
    Xin Chen, Lingxi Xie, Jun Wu and Qi Tian. Progressive Differentiable Architecture Search: Bridging the Depth
    Gap between Search and Evaluation. ICCV 2019 (Section 3.2: search-space approximation, dropout on skips).
"""

from lightning_nas.spaces.darts.fused import _FusedSearchCell as _FusedSearchCell
from lightning_nas.spaces.darts.genotype import DARTSGenotype, derive_genotype
from lightning_nas.spaces.darts.network import DARTSNetwork
from lightning_nas.spaces.darts.ops import (
    DARTS_EDGES,
    DARTS_OPS,
    GENOTYPE_OPS,
    CellType,
    DilConv,
    FactorizedReduce,
    ReLUConvBN,
    SepConv,
    StemType,
    Zero,
    channel_shuffle,
)
from lightning_nas.spaces.darts.ops import SPACE_NAME as SPACE_NAME
from lightning_nas.spaces.darts.reference import _SearchCell as _SearchCell
from lightning_nas.spaces.darts.space import DARTSNetworkSpace, DARTSSpace
from lightning_nas.spaces.darts.supernet import DARTSSupernet

__all__ = [
    "DARTS_EDGES",
    "DARTS_OPS",
    "GENOTYPE_OPS",
    "CellType",
    "DARTSGenotype",
    "DARTSNetwork",
    "DARTSNetworkSpace",
    "DARTSSpace",
    "DARTSSupernet",
    "DilConv",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "StemType",
    "Zero",
    "channel_shuffle",
    "derive_genotype",
]
