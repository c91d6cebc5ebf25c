"""The NAS-Bench-201 cell search space, as DARTS searches it in xautodl (``TinyNetworkDarts``).

A cell has 4 nodes: node 0 is the cell input and node ``i`` (1..3) sums one operation on every earlier node,
which gives 6 edges, ordered ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` (:data:`NB201_EDGES`). Every edge picks
one of 5 operations, in this order (:data:`NB201_OPS`): ``none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3``, so the space holds 5**6 = 15,625 cells. The cell output is node 3.

The macro network is a stem (Conv3x3 + BN), ``N`` cells at ``C`` channels, a residual reduction block to
``2C`` (stride 2), ``N`` cells, a block to ``4C``, ``N`` cells, and a head (BN, ReLU, global average pool,
Linear). The supernet replaces each edge by a mixed op, the sum of all 5 ops weighted by the softmax of the
edge's row of the architecture parameter ``arch_alpha`` (shape ``[6, 5]``, shared by all cells).

Two PC-DARTS options apply to the supernet: ``partial_channels=K`` computes each mixed edge on the first ``C / K``
channels only (the rest bypass the ops, then the channels are shuffled), and ``edge_normalization=True`` weighs
each node's incoming edges by the softmax of their entries of ``arch_beta`` (shape ``[6]``).

The supernet's search cells are *fused* by default (``fused=True``): they compute the edges leaving a node together
(shared ReLU, pooling and identity, the convs of those edges stacked into one conv per kernel size, BatchNorm scaled
by the mixing weights, one fused weighted sum per node) instead of edge by edge and op by op. ``fused=False`` builds
the per-edge cells of the research code, which stay as the reference: both hold the same modules and ``state_dict``
keys and give the same outputs and gradients up to rounding.

The ops are registered in the ``"nasbench201"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory
takes ``(C, *, affine, track_running_stats)`` and returns a module that maps ``[B, C, H, W]`` to the same shape.

Submodules: ``ops`` (candidate ops, residual reduction block), ``genotype`` (:class:`NASBench201Genotype`),
``reference`` (the per-edge search cell), ``fused`` (the fused search cell), ``macro`` (the macro skeleton, option
checks), ``supernet`` (:class:`NASBench201Supernet`), ``network`` (:class:`NASBench201Network`), ``space``
(:class:`NASBench201Space`). Import from this package: it re-exports every name the single ``nasbench201`` module
had (also ``SPACE_NAME`` and the search cells the tests compare).

References:
    Xuanyi Dong and Yi Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search.
    ICLR 2020 (Section 2.1 and Figure 1: cell, ops and macro skeleton).
    Hanxiao Liu, Karen Simonyan and Yiming Yang. DARTS: Differentiable Architecture Search. ICLR 2019
    (Eq. 2: the mixed op).
    Yuhui Xu et al. PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search. ICLR 2020
    (Eq. 2: partial channels; Eq. 4: edge normalization).
"""

from lightning_nas.spaces.nasbench201.fused import _FusedSearchCell as _FusedSearchCell
from lightning_nas.spaces.nasbench201.fused import _WeightedSum as _WeightedSum
from lightning_nas.spaces.nasbench201.genotype import NASBench201Genotype
from lightning_nas.spaces.nasbench201.network import NASBench201Network
from lightning_nas.spaces.nasbench201.ops import NB201_EDGES, NB201_OPS, ReLUConvBN, ResidualReductionBlock, Zero
from lightning_nas.spaces.nasbench201.ops import SPACE_NAME as SPACE_NAME
from lightning_nas.spaces.nasbench201.reference import _SearchCell as _SearchCell
from lightning_nas.spaces.nasbench201.space import NASBench201Space
from lightning_nas.spaces.nasbench201.supernet import NASBench201Supernet

__all__ = [
    "NB201_EDGES",
    "NB201_OPS",
    "NASBench201Genotype",
    "NASBench201Network",
    "NASBench201Space",
    "NASBench201Supernet",
    "ReLUConvBN",
    "ResidualReductionBlock",
    "Zero",
]
