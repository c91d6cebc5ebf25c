"""Speed and memory of one DARTS-family search step: fused supernet, per-edge reference, per-op bound, Trainer.

For every configuration (search space x method x order x batch) this script builds the method's LightningModule
twice, with the fused supernet (the default) and with the per-edge reference supernet (``space_options={"fused":
False}``), and runs in **one process, interleaved step by step on the same batches**:

* **Trainer**: the fused module in a ``lightning.Trainer`` (``max_epochs=1``, no logger, progress bar, checkpoint
  or validation), i.e. ``training_step`` with its logging, metrics and per-sample EL2N outputs;
* **fused**: the same fused module's bare loop, the module's own step math (``DARTS._search_step``: architecture
  step + weight step, exactly what ``training_step`` runs) with torch's own optimizers, ``loss.backward()`` and
  ``clip_grad_norm_`` in place of Lightning's ``manual_backward`` and ``clip_gradients``;
* **reference**: the per-edge supernet's bare loop (skipped, and reported as ``1.00 x reference (no fused
  implementation yet)``, when the space has no ``fused`` option: then the current implementation is both);
* **bound**: the per-op lower bound below.

One step is one search iteration of the method: first order (``o1``) = architecture step on the ``val`` batch +
weight step on the ``train`` batch (2 forward/backward passes); second order (``o2``) = the unrolled architecture
step (virtual step, validation at ``w'``, two finite-difference passes) + the weight step (5 passes). PC-DARTS runs
with ``K = 4`` and edge normalization and its architecture warm-up off; β-DARTS with ``λ`` of epoch 25 of its ramp
(at epoch 0 ``λ = 0`` and the regularizer would not be back-propagated).

Printed per configuration, one line:

* ``ms/step`` and ``img/s`` of the fused bare loop: the median over the timed steps; images per second count the
  weight-split (``train``) images, ``batch / step time``, so that an epoch over ``n`` training images takes
  ``n / img/s`` seconds;
* ``peak``: the most tensor memory the step holds beyond what was live when it started (activations, gradients,
  temporaries; the optimizer state when it is created). On CUDA ``torch.cuda.max_memory_allocated()`` minus
  ``torch.cuda.memory_allocated()`` before the step, the maximum over the timed steps. On a CPU the same quantity
  from the allocation events of ``torch.profiler.profile(profile_memory=True)`` (running sum of allocated and freed
  bytes, in time order), on the last warm-up step (the profiler slows the step, so it never runs on a timed one).
* ``x reference``: the speed-up of the fused step over the per-edge reference (reference time / fused time, > 1:
  fused faster), the median of the per-step ratios;
* ``x bound``: the fused step time over the per-op lower bound (>= 1 up to noise; the issue's target is <= 1.3);
* ``guard``: the divergence guard's share of the fused step (watching both losses and ``α``, checking them), timed
  apart after each bare step (target <= 1 %);
* ``targets``: each of the issue's targets that applies to the row, ``met`` or ``MISSED`` (:func:`targets`).
* ``Trainer ... x bare``: the Trainer step over the fused bare step (the issue's target: within 3 %, <= 1.03). The
  Trainer step is the time between two consecutive ``on_train_batch_start`` calls minus the time this script's
  callback spends running the other implementations in between, so it holds everything Lightning does per batch
  (data fetch and transfer, hooks, ``training_step`` with its logging, torchmetrics updates and EL2N outputs, output
  handling, loop bookkeeping). The Trainer keeps ``log_every_n_steps=50``: the step loss is logged (and written)
  on one batch in 50, as in a search.

Times are wall-clock (``--clock wall``, the default), synchronized with the GPU on CUDA. On a CPU shared with other
jobs, ``--clock cpu --threads 1`` times the process's CPU time instead, which the other jobs barely disturb (with
more threads it also counts their spin-waits); the ratios are then ratios of work.

The per-op lower bound
    The forward and backward of a network that does, for every search cell, only the primitive work that no
    implementation of the mixed edges can avoid, with the supernet's own stem, cell preprocessing, reduction blocks,
    head and loss; timed on the same batches, passes x (the ``train`` pass + the ``val`` pass) / 2 per step
    (optimizer updates and gradient clipping are not included). For each source node of a cell and its edges
    ``E`` (with partial channels ``K``: on the first ``C / K`` channels, ``c`` of them):

    * one ReLU of the node, shared by all convolutions of all its edges;
    * per convolution kind (NAS-Bench-201 ``nor_conv_1x1``, ``nor_conv_3x3``; DARTS ``sep_conv_3x3``,
      ``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5``, stride-2 ``skip_connect``'s factorized reduce), one call
      per layer of the op for all edges of ``E`` that hold it: the dense convs with their output channels stacked,
      the depthwise ones as one grouped conv (channel multiplier ``|E|``), the pointwise ones as one conv with
      ``|E|`` groups, and one batch norm per layer over the stacked channels;
    * per pooling kind one pool of the node (and, in the DARTS space, one affine-free batch norm of it), shared by
      all edges: identical for all of them;
    * identity and ``none``: nothing; with ``K > 1`` one 2 x 2 max-pool of the bypassed channels for stride-2 edges.

    Nothing else: no weighting by ``α``, no sums over ops or edges, no per-edge Python, no channel shuffle. Each
    intermediate node is a slice of an op output of its edge from the previous node (with ``K > 1`` concatenated
    with the bypassed channels: one copy per node), the cell output the concatenation of its nodes (DARTS space) or
    its last node (NAS-Bench-201); outputs that feed no node get a fixed random gradient through
    ``torch.autograd.backward``, so every primitive is differentiated too. Every pass computes all input and weight
    gradients (the two finite-difference passes of a second-order step need only the gradients of ``α``: there the
    bound is a little high). The bound runs in whichever memory format, ``contiguous`` or ``channels_last``, is
    faster for it (both are timed on the warm-up steps; the choice is printed next to its time).

    python benchmarks/search_step.py                                   # CPU, 2 threads, every configuration
    python benchmarks/search_step.py --configs nb201 --steps 10        # NAS-Bench-201 rows only, 10 timed steps
    python benchmarks/search_step.py --configs 'darts/PC*/o1,*/o2/b16' --steps 5
    python benchmarks/search_step.py --device cuda --steps 20 --warmup 3
    python benchmarks/search_step.py --configs nb201/DARTS/o1 --steps 30 --clock cpu --threads 1   # a busy machine
    python benchmarks/search_step.py --quick                           # tiny supernets: checks the script runs
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import gc
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning import Callback, Trainer
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, BetaDARTS
from lightning_nas.spaces import DARTS_EDGES, NB201_EDGES, get_search_space
from lightning_nas.spaces.nasbench201 import ResidualReductionBlock

PASSES_PER_STEP = {1: 2, 2: 5}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = [time.perf_counter]  # what the implementations are timed with (--clock)
SPACE_SHORT = {"nasbench201": "nb201", "darts": "darts"}
METHODS = ("DARTS", "PC-DARTS", "beta-DARTS")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepTimer(Callback):
    """Wall time of every training batch after ``warmup`` batches (``on_train_batch_start`` to ``..._end``).

    Not used here any more; ``benchmarks/darts_variants.py`` imports it.
    """

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device, self.times = warmup, device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.device)
        if batch_idx >= self.warmup:
            self.times.append(time.perf_counter() - self.start)


# ------------------------------------------------------------------------------------------------ configurations
@dataclass(frozen=True)
class Config:
    space: str
    method: str
    order: int
    batch: int

    @property
    def name(self) -> str:
        return f"{SPACE_SHORT[self.space]}/{self.method}/o{self.order}/b{self.batch}"


def all_configs(quick: bool) -> list[Config]:
    """NAS-Bench-201 at batch 64 and the DARTS space at batch 16 and 64 (``--quick``: one tiny batch everywhere)."""
    batches = {"nasbench201": (64,), "darts": (16, 64)}
    configs = []
    for space in ("nasbench201", "darts"):
        for batch in (4,) if quick else batches[space]:
            configs.extend(Config(space, method, order, batch) for method in METHODS for order in (1, 2))
    return configs


def select(configs: list[Config], patterns: str | None) -> list[Config]:
    """Configurations whose name starts with one of the comma-separated glob patterns (case-insensitive).

    Names are ``space/method/order/batch``, e.g. ``nb201/PC-DARTS/o2/b64``: ``nb201`` selects the NAS-Bench-201
    rows, ``darts/PC*`` the DARTS-space PC-DARTS ones, ``*/o1`` the first-order ones.
    """
    if not patterns:
        return configs
    wanted = [p.strip().lower() + "*" for p in patterns.split(",") if p.strip()]
    return [c for c in configs if any(fnmatch.fnmatchcase(c.name.lower(), p) for p in wanted)]


def space_options(space: str, quick: bool) -> dict[str, Any]:
    if space == "nasbench201":
        return {"C": 4, "N": 1} if quick else {"C": 16, "N": 5}
    return {"C": 4, "layers": 3} if quick else {"C": 16, "layers": 8}


def has_fused_option(space: str, options: dict[str, Any]) -> bool:
    """Whether the space takes ``fused`` (the per-edge reference is ``fused=False``)."""
    try:
        get_search_space(space, **options, fused=False)
    except TypeError as error:
        if "fused" in str(error):
            return False
        raise
    return True


class _BetaDARTSMidRamp(BetaDARTS):
    """β-DARTS with ``λ`` of epoch 25 (12.5 with the defaults): at epoch 0 ``λ = 0`` skips the regularizer."""

    def beta_lambda(self, epoch: int | None = None) -> float:
        return super().beta_lambda(25 if epoch is None else epoch)


def build_module(config: Config, options: dict[str, Any]) -> DARTS:
    kwargs = {"search_space": config.space, "space_options": options, "num_classes": 10, "order": config.order}
    if config.method == "DARTS":
        return DARTS(**kwargs)
    if config.method == "PC-DARTS":
        return PCDARTS(**kwargs, arch_warmup_epochs=0)
    return _BetaDARTSMidRamp(**kwargs)


# ------------------------------------------------------------------------------------------------ implementations
class BareLoop:
    """The module's own step math without a Trainer: ``DARTS._search_step`` with torch's optimizers.

    ``manual_backward`` becomes ``loss.backward()``, ``clip_gradients`` ``torch.nn.utils.clip_grad_norm_`` over the
    optimizer's parameters (what Lightning's 32-bit precision plugin calls), and the cross-process mean of the
    second-order step the identity (one process). The optimizers are the module's (``DARTS.build_optimizers``).
    """

    def __init__(self, module: DARTS) -> None:
        self.module = module
        self.weight_opt, self.arch_opt = module.build_optimizers()
        self.guard_times: list[float] = []
        module.manual_backward = lambda loss, *args, **kwargs: loss.backward(*args, **kwargs)
        module.clip_gradients = self._clip
        module._mean_across_processes = lambda tensors: tensors

    @staticmethod
    def _clip(optimizer: torch.optim.Optimizer, gradient_clip_val: float, gradient_clip_algorithm: str) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)

    def __call__(self, batch: dict[str, Sequence[Tensor]]) -> None:
        (x_t, y_t, *_), (x_v, y_v, *_) = batch["train"], batch["val"]
        weight_result, arch_result = self.module._search_step((x_t, y_t), (x_v, y_v), self.weight_opt, self.arch_opt)
        self._guard(weight_result[0], None if arch_result is None else arch_result[0])

    def _guard(self, weight_loss: Tensor, arch_loss: Tensor | None) -> None:
        """The divergence guard's work of ``training_step`` (watch both levels and α, check), timed apart."""
        _sync(str(weight_loss.device))
        start = CLOCK[0]()
        guard = self.module.divergence
        guard.watch("weight loss", 0, weight_loss)
        if arch_loss is not None:
            guard.watch("architecture loss", 0, arch_loss)
            guard.watch("architecture parameters", 0, *self.module.arch_parameters())
        guard.check()  # every step on a CPU; on CUDA every `log_every_n_steps` steps (timed here every step)
        self.guard_times.append(CLOCK[0]() - start)


class _Grads:
    """Fixed random output gradients, one tensor per shape, for the outputs that feed nothing.

    Random, not constant: a constant gradient through a batch norm gives exactly zero input gradients.
    """

    def __init__(self) -> None:
        self.tensors: dict[tuple[Any, ...], Tensor] = {}
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, t: Tensor) -> Tensor:
        key = (tuple(t.shape), t.dtype, t.device, _memory_format(t))
        if key not in self.tensors:  # in the output's memory format: a mismatch sends the backward to slow kernels
            self.tensors[key] = torch.empty_like(t).copy_(1e-3 * torch.randn(t.shape, generator=self.generator))
        return self.tensors[key]


def _memory_format(t: Tensor) -> torch.memory_format:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class _ChannelSlice(torch.autograd.Function):
    """``x[:, start:stop]`` whose backward pads the gradient in ``x``'s memory format (PyTorch's pads it contiguous,
    which sends the batch-norm and pooling backward of a ``channels_last`` network to slow kernels)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, start: int, stop: int) -> Tensor:
        ctx.start, ctx.stop, ctx.shape, ctx.format = start, stop, x.shape, _memory_format(x)
        return x[:, start:stop]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        padded = grad.new_zeros(ctx.shape).contiguous(memory_format=ctx.format)
        padded[:, ctx.start : ctx.stop] = grad
        return padded, None, None


def _bn(x: Tensor) -> Tensor:
    return F.batch_norm(x, None, None, training=True)


def _conv_weight(out_channels: int, in_per_group: int, k: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(out_channels, in_per_group, k, k) * (in_per_group * k * k) ** -0.5)


class _SourceWork(nn.Module):
    """The unavoidable work on one source node of a cell for the edges that leave it (see the module docstring).

    ``edges`` are the indices of those edges, ``ops`` the candidate op names of each. ``forward`` returns, for each
    edge whose output can be taken from the work, ``(tensor, slice)``: the stacked output that holds the edge's ``c``
    channels and those channels; and every output tensor of the work.
    """

    _NB201_CONV = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
    _SEP = {"sep_conv_3x3": (3, 1), "sep_conv_5x5": (5, 2)}  # kernel, padding
    _DIL = {"dil_conv_3x3": (3, 2), "dil_conv_5x5": (5, 4)}  # kernel, padding (dilation 2)

    def __init__(self, space: str, c: int, stride: int, edges: Sequence[int], ops: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.space, self.c, self.stride = space, c, stride
        self.kinds: dict[str, list[int]] = {}  # op kind -> the edges holding it, in order
        for edge, names in zip(edges, ops, strict=True):
            for name in names:
                self.kinds.setdefault(name, []).append(edge)
        self.weights = nn.ParameterDict()
        self.needs_relu = False
        for kind, holders in self.kinds.items():
            n = len(holders)
            if kind in self._NB201_CONV:
                self.weights[kind] = _conv_weight(n * c, c, self._NB201_CONV[kind])
            elif kind in self._SEP:
                k = self._SEP[kind][0]
                for layer in ("1", "2"):
                    self.weights[f"{kind}_dw{layer}"] = _conv_weight(n * c, 1, k)
                    self.weights[f"{kind}_pw{layer}"] = _conv_weight(n * c, c, 1)
            elif kind in self._DIL:
                self.weights[f"{kind}_dw"] = _conv_weight(n * c, 1, self._DIL[kind][0])
                self.weights[f"{kind}_pw"] = _conv_weight(n * c, c, 1)
            elif kind == "skip_connect" and stride == 2:  # factorized reduce
                self.weights["reduce_1"] = _conv_weight(n * c // 2, c, 1)
                self.weights["reduce_2"] = _conv_weight(n * c // 2, c, 1)
            else:
                continue
            self.needs_relu = True

    def forward(self, x: Tensor) -> tuple[dict[int, tuple[Tensor, Tensor]], list[Tensor]]:
        c, s, w = self.c, self.stride, self.weights
        by_edge: dict[int, tuple[Tensor, Tensor]] = {}
        outputs: list[Tensor] = []
        r = F.relu(x) if self.needs_relu else x
        for kind, holders in self.kinds.items():
            n = len(holders)
            if kind in self._NB201_CONV:
                out = _bn(F.conv2d(r, w[kind], padding=self._NB201_CONV[kind] // 2))
            elif kind in self._SEP:
                pad = self._SEP[kind][1]
                y = F.conv2d(r, w[f"{kind}_dw1"], stride=s, padding=pad, groups=c)
                y = F.relu(_bn(F.conv2d(y, w[f"{kind}_pw1"], groups=n)))
                y = F.conv2d(y, w[f"{kind}_dw2"], padding=pad, groups=n * c)
                out = _bn(F.conv2d(y, w[f"{kind}_pw2"], groups=n))
            elif kind in self._DIL:
                y = F.conv2d(r, w[f"{kind}_dw"], stride=s, padding=self._DIL[kind][1], dilation=2, groups=c)
                out = _bn(F.conv2d(y, w[f"{kind}_pw"], groups=n))
            elif kind == "skip_connect" and s == 2:
                outputs.append(_bn(F.conv2d(r, w["reduce_1"], stride=2)))
                outputs.append(_bn(F.conv2d(r[:, :, 1:, 1:], w["reduce_2"], stride=2)))
                continue
            elif kind in ("avg_pool_3x3", "max_pool_3x3"):  # identical for every edge: once, shared
                if kind == "avg_pool_3x3":
                    out = F.avg_pool2d(x, 3, stride=s, padding=1, count_include_pad=False)
                else:
                    out = F.max_pool2d(x, 3, stride=s, padding=1)
                out = _bn(out) if self.space == "darts" else out
                outputs.append(out)
                for edge in holders:
                    by_edge.setdefault(edge, (out, out))
                continue
            else:  # identity (stride 1) and none: nothing to compute
                continue
            outputs.append(out)
            for i, edge in enumerate(holders):
                if edge not in by_edge:
                    by_edge[edge] = (out, _ChannelSlice.apply(out, i * c, (i + 1) * c) if n > 1 else out)
        return by_edge, outputs


class _BoundCell(nn.Module):
    """A search cell reduced to the unavoidable primitive work of its mixed edges (see the module docstring).

    ``extras`` holds, after a forward pass, the outputs that feed no node.
    """

    def __init__(
        self,
        space: str,
        C: int,
        partial_channels: int,
        edge_ops: Sequence[Sequence[str]],
        reduction: bool = False,
        preprocess: tuple[nn.Module, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.space, self.C, self.k, self.reduction = space, C, partial_channels, reduction
        self.edge_list = NB201_EDGES if space == "nasbench201" else DARTS_EDGES
        self.num_inputs = 1 if space == "nasbench201" else 2
        num_nodes = 4 if space == "nasbench201" else 6
        if preprocess is not None:
            self.preprocess0, self.preprocess1 = preprocess
        self.sources = nn.ModuleList()
        for source in range(num_nodes - 1):
            edges = [e for e, (_, src) in enumerate(self.edge_list) if src == source]
            stride = 2 if reduction and source < 2 else 1
            self.sources.append(_SourceWork(space, C // partial_channels, stride, edges, [edge_ops[e] for e in edges]))
        self.extras: list[Tensor] = []

    def forward(self, *inputs: Tensor) -> Tensor:
        if self.space == "nasbench201":
            states = [inputs[0]]
        else:
            states = [self.preprocess0(inputs[0]), self.preprocess1(inputs[1])]
        c = self.C // self.k
        for source, work in enumerate(self.sources):
            x = states[source]
            by_edge, outputs = work(x if self.k == 1 else x[:, :c])
            node = source + 1
            stride = 2 if self.reduction and source < 2 else 1
            if node < self.num_inputs:  # DARTS: node 1 is the other cell input
                self.extras.extend(outputs)
                if self.k > 1 and stride == 2:
                    self.extras.append(F.max_pool2d(x[:, c:], 2, 2))
                continue
            used, part = by_edge.get(self.edge_list.index((node, source)), (None, None))
            if part is None:  # identity or none only: the source itself
                part = x[:, :c, ::stride, ::stride]
            self.extras.extend(t for t in outputs if t is not used)
            if self.k > 1:  # the bypassed channels (max-pooled on stride-2 edges), one copy per node
                rest = x[:, c:]
                part = torch.cat([part, F.max_pool2d(rest, 2, 2) if stride == 2 else rest], dim=1)
            states.append(part)
        return states[-1] if self.space == "nasbench201" else torch.cat(states[2:], dim=1)


class BoundNetwork(nn.Module):
    """The per-op lower bound network of a per-edge (reference) supernet; it shares nothing with it.

    The stem, cell preprocessing, reduction blocks, head and classifier are copies of the supernet's; each search
    cell becomes a :class:`_BoundCell`.
    """

    def __init__(self, supernet: nn.Module, space: str, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        import copy

        self.space = space
        widths = self._cell_widths(supernet, image_shape)
        k = getattr(supernet, "partial_channels", 1)
        self.stem = copy.deepcopy(supernet.stem)
        self.cells = nn.ModuleList()
        for index, cell in enumerate(supernet.cells):
            if space == "nasbench201":
                if isinstance(cell, ResidualReductionBlock):
                    self.cells.append(copy.deepcopy(cell))
                else:
                    self.cells.append(_BoundCell(space, widths[index], k, supernet.edge_ops("cell")))
            else:
                cell_type = "reduce" if cell.reduction else "normal"
                preprocess = (copy.deepcopy(cell.preprocess0), copy.deepcopy(cell.preprocess1))
                self.cells.append(
                    _BoundCell(space, widths[index], k, supernet.edge_ops(cell_type), cell.reduction, preprocess)
                )
        if space == "nasbench201":
            self.head = copy.deepcopy(supernet.head)
        else:
            self.global_pooling = copy.deepcopy(supernet.global_pooling)
        self.classifier = copy.deepcopy(supernet.classifier)
        self.grads = _Grads()

    @staticmethod
    def _cell_widths(supernet: nn.Module, image_shape: tuple[int, int, int]) -> dict[int, int]:
        """The channels each search cell works at: its input (NAS-Bench-201) or its preprocessed inputs (DARTS)."""
        widths: dict[int, int] = {}
        hooks = []
        for index, cell in enumerate(supernet.cells):
            target = getattr(cell, "preprocess1", cell)

            def record(module: nn.Module, args: tuple, output: Any, index: int = index, cell: nn.Module = cell) -> None:
                widths[index] = (output if module is not cell else args[0]).shape[1]

            hooks.append(target.register_forward_hook(record))
        was_training = supernet.training
        supernet.eval()
        with torch.no_grad():
            supernet(torch.zeros(2, *image_shape, device=next(supernet.parameters()).device))
        supernet.train(was_training)
        for hook in hooks:
            hook.remove()
        return widths

    def forward(self, x: Tensor) -> Tensor:
        for cell in self.cells:
            if isinstance(cell, _BoundCell):
                cell.extras = []
        if self.space == "nasbench201":
            h = self.stem(x)
            for cell in self.cells:
                h = cell(h)
            return self.classifier(self.head(h))
        s0, s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def pass_(self, x: Tensor, y: Tensor) -> None:
        """One forward and backward pass (all weight and input gradients)."""
        for p in self.parameters():
            p.grad = None
        loss = F.cross_entropy(self(x), y)
        extras = [t for cell in self.cells if isinstance(cell, _BoundCell) for t in cell.extras]
        torch.autograd.backward([loss, *extras], [None, *(self.grads(t) for t in extras)])
        for cell in self.cells:
            if isinstance(cell, _BoundCell):
                cell.extras = []


class BoundStep:
    """The bound's step: the ``train`` pass and the ``val`` pass (scaled to the step's passes when printed).

    The bound runs in the faster memory format for it, ``contiguous`` or ``channels_last``: on every warm-up step
    both are timed, and the first timed step fixes the faster. Without warm-up it takes
    ``channels_last`` on a CPU (where the convolutions' backward and the pooling are several times faster in it) and
    ``contiguous`` on CUDA.
    """

    FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}

    def __init__(self, network: BoundNetwork, device: str) -> None:
        self.network, self.device = network, device
        self.format: str | None = None
        self.trials: dict[str, list[float]] = {name: [] for name in self.FORMATS}

    def _passes(self, batch: dict[str, Sequence[Tensor]], memory_format: torch.memory_format) -> None:
        for split in ("train", "val"):
            x, y = batch[split][0], batch[split][1]
            self.network.pass_(x.contiguous(memory_format=memory_format), y)

    def warm_up(self, batch: dict[str, Sequence[Tensor]]) -> None:
        for name, memory_format in self.FORMATS.items():
            _sync(self.device)
            start = CLOCK[0]()
            self._passes(batch, memory_format)
            _sync(self.device)
            self.trials[name].append(CLOCK[0]() - start)

    def __call__(self, batch: dict[str, Sequence[Tensor]]) -> None:
        if self.format is None:
            if all(self.trials.values()):
                self.format = min(self.trials, key=lambda name: min(self.trials[name]))
            else:
                self.format = "channels_last" if self.device == "cpu" else "contiguous"
        self._passes(batch, self.FORMATS[self.format])


# --------------------------------------------------------------------------------------------------- measurement
def _cpu_peak_bytes(prof: torch.profiler.profile) -> int | None:
    """The peak of the running sum of CPU allocations and frees the profiler recorded (``None`` if unavailable)."""
    try:
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        memory = sorted((e.start_ns(), e.nbytes()) for e in events if e.device_type() == torch.device("cpu").type)
    except AttributeError:
        return None
    if not memory:
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        memory = sorted((e.start_ns(), e.nbytes()) for e in events)
    live = peak = 0
    for _, nbytes in memory:
        live += nbytes
        peak = max(peak, live)
    return peak


class Probe:
    """Times a call (and measures its peak memory) on ``device``."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device == "cuda"

    def start(self, memory: bool) -> None:
        _sync(self.device)
        self.prof = None
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        elif memory:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
            self.prof.__enter__()
        self.t0 = CLOCK[0]()

    def stop(self) -> tuple[float, int | None]:
        _sync(self.device)
        seconds = CLOCK[0]() - self.t0
        peak = None
        if self.cuda:
            peak = torch.cuda.max_memory_allocated() - self.base
        elif self.prof is not None:
            self.prof.__exit__(None, None, None)
            peak = _cpu_peak_bytes(self.prof)
            self.prof = None
        return seconds, peak

    def run(self, fn: Callable[[], Any], memory: bool) -> tuple[float, int | None]:
        self.start(memory)
        fn()
        return self.stop()


@dataclass
class Record:
    times: list[float] = field(default_factory=list)
    peak: int | None = None

    def add(self, seconds: float, peak: int | None, timed: bool) -> None:
        if timed:
            self.times.append(seconds)
        if peak is not None:
            self.peak = peak if self.peak is None else max(self.peak, peak)


class _Finished(Exception):
    """Raised at the start of the batch after the last timed one, to end ``trainer.fit`` there."""


class Interleaved(Callback):
    """Runs the other implementations on each Trainer batch, in rotating order, and times everything.

    The Trainer step ``i`` is the time from ``on_train_batch_start(i)`` to ``on_train_batch_start(i + 1)`` minus the
    time spent here running the other implementations.
    """

    def __init__(self, runners: dict[str, Callable[[Any], None]], warmup: int, steps: int, probe: Probe) -> None:
        self.runners, self.warmup, self.steps, self.probe = runners, warmup, steps, probe
        self.records = {name: Record() for name in ("Trainer", *runners)}
        self.started: float | None = None
        self.work = 0.0

    def _memory_step(self, batch_idx: int) -> bool:  # CPU: the profiler runs on the last warm-up step only
        return not self.probe.cuda and batch_idx == self.warmup - 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.probe.device)
        now = CLOCK[0]()
        if self.started is not None and batch_idx - 1 >= self.warmup:
            self.records["Trainer"].add(now - self.started - self.work, None, timed=True)
        if batch_idx >= self.warmup + self.steps:
            raise _Finished
        self.started, self.work = now, 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.probe.device)
        entered = CLOCK[0]()
        names = list(self.runners)
        shift = batch_idx % len(names)
        timed = batch_idx >= self.warmup
        for name in names[shift:] + names[:shift]:
            memory = (self.probe.cuda and timed) or self._memory_step(batch_idx)
            runner = self.runners[name]
            if not timed and hasattr(runner, "warm_up"):
                runner = runner.warm_up
            seconds, peak = self.probe.run(lambda runner=runner: runner(batch), memory)
            self.records[name].add(seconds, peak, timed)
        _sync(self.probe.device)
        self.work = CLOCK[0]() - entered


def _median_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def measure(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Runs one configuration; returns its records and whether a fused implementation exists."""
    device = args.device
    options = space_options(config.space, args.quick)
    fused = has_fused_option(config.space, options)
    size = 16 if args.quick else 32
    torch.manual_seed(0)
    trainer_module = build_module(config, options)
    torch.manual_seed(0)
    bare = build_module(config, options).to(device)
    runners: dict[str, Callable[[Any], None]] = {"fused": BareLoop(bare)}
    torch.manual_seed(0)
    reference_module = build_module(config, {**options, "fused": False} if fused else options).to(device)
    if fused:
        runners["reference"] = BareLoop(reference_module)
    runners["bound"] = BoundStep(BoundNetwork(reference_module.supernet, config.space, (3, size, size)), device)
    if not fused:
        del reference_module
    runners["bound"].network.to(device)

    batches = args.warmup + args.steps + 2
    n = 2 * config.batch * batches
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 3, size, size, generator=generator), torch.randperm(n, generator=generator) % 10
    datamodule = ArraySearchDataModule(x, y, batch_size=config.batch, augment=False, seed=0)
    callback = Interleaved(runners, args.warmup, args.steps, Probe(device))
    trainer = Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[callback],
    )
    with contextlib.suppress(_Finished):
        trainer.fit(trainer_module, datamodule)
    return {
        "config": config,
        "fused": fused,
        "records": callback.records,
        "bound_format": runners["bound"].format,
        "device": device,
        "guard_times": getattr(runners.get("fused"), "guard_times", None),
    }


def _mib(peak: int | None) -> str:
    return "   n/a" if peak is None else f"{peak / 2**20:6.0f}"


def format_row(result: dict[str, Any]) -> str:
    config, records = result["config"], result["records"]
    fused, bound, trainer = records["fused"], records["bound"], records["Trainer"]
    ms = 1000 * statistics.median(fused.times)
    row = f"{config.name:22s} {ms:9.1f} ms/step {1000 * config.batch / ms:7.1f} img/s  peak {_mib(fused.peak)} MiB"
    if result["fused"]:
        reference = records["reference"]
        row += (
            f" | reference {1000 * statistics.median(reference.times):9.1f} ms  peak {_mib(reference.peak)} MiB"
            f"  {_median_ratio(reference.times, fused.times):5.2f} x reference"
        )
    else:
        row += f" | reference = fused  {1.0:5.2f} x reference (no fused implementation yet)"
    row += (
        f" | bound {1000 * statistics.median(bound.times) * PASSES_PER_STEP[config.order] / 2:8.1f} ms"
        f" {result['bound_format']:13s}"
        f"  {_median_ratio(fused.times, [t * PASSES_PER_STEP[config.order] / 2 for t in bound.times]):5.2f} x bound"
    )
    row += (
        f" | Trainer {1000 * statistics.median(trainer.times):9.1f} ms"
        f"  {_median_ratio(trainer.times, fused.times):6.3f} x bare"
    )
    guard = result.get("guard_times") or [0.0]
    row += f" | guard {100 * statistics.median(guard) / statistics.median(fused.times):.3f} %"
    return row + " | targets " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in targets(result))


def targets(result: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's targets for one configuration: ``(name, met)`` pairs.

    Against the per-edge reference, 2 CPU threads: NAS-Bench-201 >= 2.5x, the DARTS space (DARTS, PC-DARTS,
    β-DARTS) >= 2x, second order >= 2x; on CUDA NAS-Bench-201 >= 3x; peak memory no higher; within 1.3x of the
    per-op bound; the Trainer step within 3 % of the bare loop.
    """
    config, records = result["config"], result["records"]
    fused, bound, trainer = records["fused"], records["bound"], records["Trainer"]
    checks: list[tuple[str, bool]] = []
    if result["fused"]:
        reference = records["reference"]
        cuda = result.get("device") == "cuda"
        speedup = 3.0 if cuda and config.space == "nasbench201" else 2.5 if config.space == "nasbench201" else 2.0
        if not cuda or config.space == "nasbench201":
            ratio = _median_ratio(reference.times, fused.times)
            checks.append((f">={speedup:g}x reference", ratio >= speedup))
        if fused.peak is not None and reference.peak is not None:
            checks.append(("memory <= reference", fused.peak <= reference.peak))
    bound_times = [t * PASSES_PER_STEP[config.order] / 2 for t in bound.times]
    checks.append(("<=1.3x bound", _median_ratio(fused.times, bound_times) <= 1.3))
    checks.append(("Trainer <=1.03x bare", _median_ratio(trainer.times, fused.times) <= 1.03))
    guard = result.get("guard_times")
    if guard:
        checks.append(("guard <=1%", statistics.median(guard) <= 0.01 * statistics.median(fused.times)))
    return checks


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 2; --quick: 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 2; quick 1)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 1; quick 0); CPU memory: on the last"
    )
    parser.add_argument(
        "--configs", default=None, help="comma-separated glob patterns of name starts: 'nb201', 'darts/PC*', '*/o1'"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny supernets (C=4; NAS-Bench-201 N=1, DARTS 3 cells), batch 4, 16x16, no warm-up (no CPU memory)",
    )
    parser.add_argument(
        "--clock",
        default="wall",
        choices=sorted(CLOCKS),
        help="wall: elapsed time (default); cpu: the process's CPU time, steadier on a machine shared with other "
        "jobs when run with --threads 1 (with more threads it also counts their spin-waiting)",
    )
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 1 if args.quick else 2
    if args.threads is None:
        args.threads = 1 if args.quick else 2
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    CLOCK[0] = CLOCKS[args.clock]
    configs = select(all_configs(args.quick), args.configs)
    if not configs:
        parser.error(f"--configs {args.configs!r} matches none of {[c.name for c in all_configs(args.quick)]}")
    warnings.filterwarnings("ignore", message=".*(self.log|does not have many workers|LeafSpec).*")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} clock={args.clock} "
        f"warmup={args.warmup} "
        f"steps={args.steps}{' quick' if args.quick else ''}; medians; x reference = reference / fused time, "
        "x bound = fused / bound time, Trainer x bare = Trainer / fused bare time",
        flush=True,
    )
    begin = time.perf_counter()
    for config in configs:
        result = measure(config, args)
        print(format_row(result), flush=True)
        del result
        gc.collect()
    print(f"total {time.perf_counter() - begin:.0f} s", flush=True)


if __name__ == "__main__":
    main()
