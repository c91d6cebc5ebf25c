"""The MobileNet-like chain search space of ProxylessNAS, FairNAS, SPOS-mobile and GreedyNAS.

The network is a chain: a stem (Conv3x3, 32 channels, BN, activation), a fixed first block (MBConv k3 e1, 16
channels), 21 searchable layers in 6 stages, and a head (Conv1x1 to 1280 channels, BN, activation, global average
pool, dropout, Linear). The stages have (output channels, layers, stride of the first layer) = ``(24, 4, 2)``,
``(40, 4, 2)``, ``(80, 4, 2)``, ``(96, 4, 1)``, ``(192, 4, 2)``, ``(320, 1, 1)`` (:data:`STAGES`).

Each searchable layer picks one block (:data:`MOBILENET_CHOICES`): an inverted bottleneck ``"k{3,5,7}e{3,6}"``
(kernel size times expansion ratio, :class:`MBConv`), the identity ``"id"``, and, with ``se=True``, an
MBConv with squeeze-and-excitation ``"k{3,5,7}e{3,6}_se"``. The identity is legal only where a layer keeps its
input shape, i.e. not at the 6 stage-first layers (:data:`STAGE_FIRST_LAYERS`), which choose among the MBConvs
only. The plain space thus has 6 or 7 choices per layer (nominally 7**21 paths, really 6**6 * 7**15); the SE space
has 12 or 13 (nominally 13**21).

A path is a :class:`MobileNetPath`, one choice name per layer, written ``"k3e3-k5e6-id-..."``. The weight-sharing
supernet (:class:`SinglePathSupernet`, SPOS style) holds every candidate block of every layer and runs exactly one
per layer: ``supernet(x, path)``. The discrete network of a path (:class:`MobileNetNetwork`) has the same module
structure, so the supernet's weights of a path can be copied into it (:meth:`MobileNetNetwork.load_from_supernet`).
:meth:`MobileNetSpace.flops` and :meth:`MobileNetSpace.params` compute the multiply-accumulates and the parameter
count of a path analytically, without building or running a network.

Full-width ImageNet figures (``MobileNetSpace()``, 224 x 224, 1000 classes), as computed by ``flops``/``params``:

==============  ============  ==========
path            MACs          params
==============  ============  ==========
all ``k3e3``    257,422,208   3,191,928
all ``k3e6``    472,620,800   4,684,776
all ``k7e6``    606,590,720   5,103,336
==============  ============  ==========

ProxylessNAS-mobile (a mixed path of this space) is about 320M MACs and GreedyNAS's searched net 320M (FLOPs
constraint 322M); the papers' "FLOPs" are multiply-accumulates, as here.

The blocks are registered in the ``"mobilenet"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory
takes ``(C_in, C_out, stride, *, residual, activation)`` and maps ``[B, C_in, H, W]`` to
``[B, C_out, ceil(H / stride), ceil(W / stride)]``.

The differentiable form (:class:`MixedOpSupernet`, built by :meth:`MobileNetSpace.build_mixed_supernet`, what
DARTS, β-DARTS and BDP search) holds the same candidates with one ``arch_alpha`` row per layer over its legal
choices; every candidate of a layer reads the same input and the layer outputs their softmax-weighted sum.

Submodules: ``blocks`` (candidate blocks, layout constants), ``path`` (:class:`MobileNetPath`,
:class:`MobileNetLayer`), ``space`` (:class:`MobileNetSpace`, :class:`SinglePathSupernet`,
:class:`MobileNetNetwork`), ``mixed`` (:class:`MixedOpSupernet`). Import from this package: it re-exports every
name the single ``mobilenet`` module had.

References:
    Han Cai, Ligeng Zhu and Song Han. ProxylessNAS: Direct Neural Architecture Search on Target Task and
    Hardware. ICLR 2019 (the mobile macro structure and its MBConv choices; "zero" in a residual block is the
    identity).
    Xiangxiang Chu, Bo Zhang and Ruijun Xu. FairNAS: Rethinking Evaluation Fairness of Weight Sharing Neural
    Architecture Search. ICCV 2021 (the same macro structure).
    Zichao Guo et al. Single Path One-Shot Neural Architecture Search with Uniform Sampling. ECCV 2020
    (the single-path supernet).
    Shan You et al. GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet. CVPR 2020 (Section 5.1, "Search
    space", and supplementary Table 5: this space, with identity and the SE option).
    Mark Sandler et al. MobileNetV2: Inverted Residuals and Linear Bottlenecks. CVPR 2018 (the inverted bottleneck
    and the width multiplier); Andrew Howard et al. Searching for MobileNetV3. ICCV 2019 (h-swish, hard sigmoid
    squeeze-and-excitation).
"""

from lightning_nas.spaces.mobilenet.blocks import CIFAR_STAGE_STRIDES as CIFAR_STAGE_STRIDES
from lightning_nas.spaces.mobilenet.blocks import FIRST_BLOCK_CHANNELS as FIRST_BLOCK_CHANNELS
from lightning_nas.spaces.mobilenet.blocks import IDENTITY as IDENTITY
from lightning_nas.spaces.mobilenet.blocks import (
    MBCONV_CHOICES,
    MOBILENET_CHOICES,
    SE_CHOICES,
    STAGE_FIRST_LAYERS,
    STAGES,
    Activation,
    MBConv,
    MobileNetVariant,
    SqueezeExcite,
    make_divisible,
)
from lightning_nas.spaces.mobilenet.blocks import NUM_LAYERS as NUM_LAYERS
from lightning_nas.spaces.mobilenet.blocks import SPACE_NAME as SPACE_NAME
from lightning_nas.spaces.mobilenet.blocks import STEM_CHANNELS as STEM_CHANNELS
from lightning_nas.spaces.mobilenet.mixed import MixedOpSupernet
from lightning_nas.spaces.mobilenet.path import MobileNetLayer, MobileNetPath
from lightning_nas.spaces.mobilenet.space import MobileNetNetwork, MobileNetSpace, SinglePathSupernet

__all__ = [
    "MBCONV_CHOICES",
    "MOBILENET_CHOICES",
    "SE_CHOICES",
    "STAGES",
    "STAGE_FIRST_LAYERS",
    "Activation",
    "MBConv",
    "MixedOpSupernet",
    "MobileNetLayer",
    "MobileNetNetwork",
    "MobileNetPath",
    "MobileNetSpace",
    "MobileNetVariant",
    "SinglePathSupernet",
    "SqueezeExcite",
    "make_divisible",
]
