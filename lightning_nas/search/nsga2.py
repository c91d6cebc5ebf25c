"""NSGA-II search over a trained single-path supernet under a hard FLOPs or parameter constraint (GreedyNAS).

After the supernet is trained (SPOS or GreedyNAS, :mod:`lightning_nas.methods.single_path`), it is used as a
performance estimator: every path of the search space is scored by the supernet's top-1 accuracy on the
architecture split, and NSGA-II (Deb et al., 2002) searches for paths that are accurate and cheap. GreedyNAS
initialises the population with the best paths of its candidate pool instead of random ones (its Sec. 4.2, Fig. 3).

The genetic machinery is pymoo's (``pip install 'lightning-nas[nsga2]'``): NSGA-II's binary tournament on
(non-domination rank, crowding distance) to pick parents, its rank-and-crowding environmental selection and
its duplicate elimination. This module adds the integer encoding of paths, the pool initialisation, the
SPOS-style operators and the hard constraint.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lightning_nas.methods.path_evaluation import evaluate_paths
from lightning_nas.search.bn_recalibration import preserved_batch_norm, recalibrate_batch_norm

if TYPE_CHECKING:
    from lightning import LightningDataModule, LightningModule

    from lightning_nas.spaces.base import Genotype

__all__ = ["Init", "NSGA2Search", "Objective", "load_result", "save_result", "supernet_accuracy"]

Init = Literal["pool", "random"]
"""How the first population is built: from the module's candidate pool (GreedyNAS) or at random (SPOS baseline)."""

Objective = Literal["flops", "params"]
"""The cost objective minimised next to the accuracy."""

_PYMOO_HINT = "pip install 'lightning-nas[nsga2]'"


def _require_pymoo() -> None:
    try:
        importlib.import_module("pymoo.algorithms.moo.nsga2")
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"`NSGA2Search` needs pymoo >= 0.6.2: {_PYMOO_HINT}. ({err})") from err


def _first_tensor(batch: Any) -> Tensor:
    """The input tensor of a batch: ``x`` of ``(x, y, ...)``, or of the ``"train"`` entry of a paired batch."""
    if isinstance(batch, dict):
        batch = batch["train"] if "train" in batch else next(iter(batch.values()))
    if isinstance(batch, Tensor):
        return batch
    return batch[0]


def _unpaired(loader: Any) -> Iterable[Any]:
    """The weight-split loader of a paired ``CombinedLoader`` (``SearchDataModule(paired=True)``), else ``loader``."""
    iterables = getattr(loader, "iterables", None)
    if isinstance(iterables, dict) and "train" in iterables:
        return iterables["train"]
    return loader


def supernet_accuracy(
    supernet: Callable[[Tensor, Any], Tensor],
    path: Any,
    batches: Iterable[Any],
    device: torch.device | str | None = None,
    max_batches: int | None = None,
) -> float:
    """Top-1 accuracy of ``supernet(x, path)`` over ``batches`` of ``(x, y, ...)``, without gradients.

    One path of :func:`~lightning_nas.methods.evaluate_paths`, the evaluation GreedyNAS and rank consistency use too.
    The caller sets eval mode (the accuracy of a path is measured with the supernet's running BatchNorm statistics,
    or with recalibrated ones, see :mod:`lightning_nas.search.bn_recalibration`).

    Args:
        supernet: called as ``supernet(x, path)``, returns logits ``(N, num_classes)``.
        path: the path (genotype) to evaluate.
        batches: an iterable of ``(x, y, ...)`` batches, e.g. ``datamodule.val_dataloader()``.
        device: where to move the batches; ``None`` leaves them where they are.
        max_batches: evaluate only the first ``max_batches`` batches; ``None`` evaluates all of them.

    Returns:
        The fraction of correctly classified samples, in [0, 1].

    Raises:
        ValueError: ``batches`` is empty.

    Example:
        >>> net = lambda x, path: x * path
        >>> batches = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))]
        >>> supernet_accuracy(net, 1.0, batches), supernet_accuracy(net, -1.0, batches)
        (0.5, 0.5)
    """
    return evaluate_paths(
        supernet, [path], batches, device=device, max_batches=max_batches, eval_mode=False
    ).accuracies[0]


class _Codec:
    """Integer encoding of a chain space's paths (variable ``i`` = index into ``space.choices(i)``) and their costs."""

    def __init__(self, space: Any, max_flops: float | None, max_params: float | None) -> None:
        self.space = space
        self.num_layers = int(space.num_layers)
        self.choices = [tuple(space.choices(i)) for i in range(self.num_layers)]
        self.sizes = np.array([len(c) for c in self.choices], dtype=np.int64)
        self.index = [{name: k for k, name in enumerate(c)} for c in self.choices]
        self.path_type = space.genotype_type
        self.max_flops = max_flops
        self.max_params = max_params
        self._costs: dict[tuple[int, ...], tuple[int, int | None]] = {}
        self.cheapest: dict[str, np.ndarray] = {}

    def decode(self, x: np.ndarray) -> Any:
        return self.path_type(choices=tuple(self.choices[i][int(k)] for i, k in enumerate(x)))

    def encode(self, path: Any) -> np.ndarray:
        path = self.path_type.from_string(path) if isinstance(path, str) else path
        names = tuple(path.choices)
        if len(names) != self.num_layers:
            raise ValueError(f"the path {str(path)!r} has {len(names)} layers; the space has {self.num_layers}.")
        try:
            return np.array([self.index[i][name] for i, name in enumerate(names)], dtype=np.int64)
        except KeyError as err:
            raise ValueError(
                f"the path {str(path)!r} uses the choice {err.args[0]!r}, not legal at its layer."
            ) from None

    def cost(self, x: np.ndarray, params: bool = False) -> tuple[int, int | None]:
        """``(flops, params)`` of the encoded path, ``params`` only computed when asked or constrained (cached)."""
        key = tuple(int(k) for k in x)
        flops, n_params = self._costs.get(key, (None, None))
        if flops is None:
            flops = int(self.space.flops(self.decode(x)))
        if n_params is None and (params or self.max_params is not None):
            n_params = int(self.space.params(self.decode(x)))
        self._costs[key] = (flops, n_params)
        return flops, n_params

    def feasible(self, x: np.ndarray) -> bool:
        flops, params = self.cost(x)
        if self.max_flops is not None and flops > self.max_flops:
            return False
        return not (self.max_params is not None and params is not None and params > self.max_params)

    def violated(self, x: np.ndarray) -> str | None:
        flops, params = self.cost(x)
        if self.max_flops is not None and flops > self.max_flops:
            return "flops"
        if self.max_params is not None and params is not None and params > self.max_params:
            return "params"
        return None

    def find_cheapest(self, metric: str) -> np.ndarray:
        """The path with each layer's cheapest choice: the minimum of ``metric`` when it is additive over layers.

        Each layer's choices are compared with the other layers fixed at their first choice, which gives the exact
        minimum for chain spaces whose FLOPs and parameters are sums of per-layer terms (the MobileNet space).
        """
        if metric not in self.cheapest:
            base = np.zeros(self.num_layers, dtype=np.int64)
            best = np.zeros(self.num_layers, dtype=np.int64)
            for i in range(self.num_layers):
                values = []
                for k in range(self.sizes[i]):
                    x = base.copy()
                    x[i] = k
                    values.append(self.cost(x, params=metric == "params")[0 if metric == "flops" else 1])
                best[i] = int(np.argmin(values))
            self.cheapest[metric] = best
        return self.cheapest[metric]

    def repair(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """Move random layers of an infeasible path to their cheapest choice until it is feasible, else ``None``."""
        x = x.copy()
        for i in rng.permutation(self.num_layers):
            metric = self.violated(x)
            if metric is None:
                return x
            x[i] = self.find_cheapest(metric)[i]
        return x if self.feasible(x) else None


def _pymoo_parts(search: NSGA2Search, codec: _Codec, initial: list[np.ndarray], evaluate: Callable) -> Any:
    """Build the pymoo problem, operators and NSGA-II algorithm (pymoo is imported here, lazily)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.crossover import Crossover
    from pymoo.core.duplicate import DefaultDuplicateElimination
    from pymoo.core.infill import InfillCriterion
    from pymoo.core.mutation import Mutation
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem
    from pymoo.core.sampling import Sampling
    from pymoo.util.misc import crossover_mask

    class PathProblem(Problem):
        """Integer variables ``x_i in [0, len(space.choices(i)) - 1]``; F = (-accuracy, cost)."""

        def __init__(self) -> None:
            super().__init__(
                n_var=codec.num_layers, n_obj=2, xl=np.zeros(codec.num_layers), xu=codec.sizes - 1, vtype=int
            )

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            out["F"] = np.array([evaluate(np.asarray(x, dtype=np.int64)) for x in X], dtype=float)

    class PathSampling(Sampling):
        """The initial population: the given (pool) paths, then random feasible paths for the shortfall."""

        def _do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> Any:
            rows = [x for x in initial[:n_samples]]
            seen = {tuple(x) for x in rows}

            def add(x: np.ndarray) -> None:
                if tuple(x) not in seen and len(rows) < n_samples:
                    seen.add(tuple(x))
                    rows.append(x)

            # rejection sampling: uniform over the feasible paths
            for _ in range(search.max_tries):
                if len(rows) >= n_samples:
                    break
                draws = np.floor(random_state.random((n_samples - len(rows), codec.num_layers)) * codec.sizes)
                for x in draws.astype(np.int64):
                    if codec.feasible(x):
                        add(x)
            # tight constraints: repair random paths towards the cheapest path instead
            for _ in range(search.max_tries):
                if len(rows) >= n_samples:
                    break
                for x in np.floor(random_state.random((n_samples - len(rows), codec.num_layers)) * codec.sizes):
                    repaired = codec.repair(x.astype(np.int64), random_state)
                    if repaired is not None:
                        add(repaired)
            if not rows:
                raise ValueError(
                    f"`NSGA2Search(max_flops={search.max_flops!r}, max_params={search.max_params!r})`: no path that "
                    f"satisfies both constraints was found in {search.max_tries} rounds of random draws and repairs."
                )
            return np.array(rows, dtype=np.int64).reshape(-1, codec.num_layers)

    class LayerMutation(Mutation):
        """SPOS / mmrazor mutation: resample each layer uniformly over its choices with probability ``prob_layer``."""

        def __init__(self, prob_layer: float) -> None:
            super().__init__(prob=1.0)
            self.prob_layer = prob_layer

        def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
            X = np.array(X, dtype=np.int64, copy=True)
            mask = random_state.random(X.shape) < self.prob_layer
            draws = np.floor(random_state.random(X.shape) * codec.sizes).astype(np.int64)
            X[mask] = draws[mask]
            return X

    class UniformCrossover(Crossover):
        """Uniform crossover with one child per pair of parents: each layer from either parent with probability 1/2."""

        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=1, prob=1.0)

        def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
            _, n_matings, n_var = X.shape
            mask = random_state.random((n_matings, n_var)) < 0.5
            return crossover_mask(X, mask)[:1]

    class Variation(InfillCriterion):
        """Per generation: ``num_mutations`` mutated and ``num_crossovers`` crossed-over children.

        Parents come from NSGA-II's binary tournament. Children that violate the constraint are discarded, and so are
        duplicates of the population or of earlier children; the discarded ones are redrawn, ``max_tries`` rounds at
        most, so a generation can come out short under a very tight constraint (never with an infeasible path).
        """

        def __init__(self, selection: Any) -> None:
            super().__init__(eliminate_duplicates=DefaultDuplicateElimination())
            self.selection = selection
            self.mutation = LayerMutation(search.mutation_prob)
            self.crossover = UniformCrossover()

        def do(self, problem: Any, pop: Any, n_offsprings: int, random_state: Any = None, **kwargs: Any) -> Any:
            off = Population.create()
            for kind, n in (("mutation", search.num_mutations), ("crossover", search.num_crossovers)):
                made = Population.create()
                for _ in range(search.max_tries):
                    remaining = n - len(made)
                    if remaining <= 0:
                        break
                    n_parents = 1 if kind == "mutation" else 2
                    parents = self.selection(
                        problem, pop, remaining, n_parents=n_parents, to_pop=False, random_state=random_state, **kwargs
                    )
                    if kind == "mutation":
                        children = Population.new("X", np.array(pop.get("X")[parents[:, 0]], dtype=np.int64))
                        children = self.mutation(problem, children, random_state=random_state)
                    else:
                        children = self.crossover(problem, pop, parents, random_state=random_state)
                    X = np.asarray(children.get("X"), dtype=np.int64)
                    children = children[np.array([codec.feasible(x) for x in X], dtype=bool)]
                    children = self.eliminate_duplicates.do(children, pop, off, made)
                    made = Population.merge(made, children[:remaining])
                off = Population.merge(off, made)
            return off

    from pymoo.algorithms.moo.nsga2 import binary_tournament
    from pymoo.operators.selection.tournament import TournamentSelection

    selection = TournamentSelection(func_comp=binary_tournament)
    algorithm = NSGA2(
        pop_size=search.population_size,
        n_offsprings=max(1, search.num_mutations + search.num_crossovers),
        sampling=PathSampling(),
        selection=selection,
        mating=Variation(selection),
        eliminate_duplicates=DefaultDuplicateElimination(),
        seed=search.resolved_seed,
    )
    return PathProblem(), algorithm


def _check_number(
    name: str, value: Any, *, integer: bool, minimum: float, inclusive: bool = True, optional: bool = False
) -> None:
    if value is None and optional:
        return
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = not isinstance(value, bool) and isinstance(value, kinds) and math.isfinite(value)
    ok = ok and (value >= minimum if inclusive else value > minimum)
    if not ok:
        what = "an int" if integer else "a number"
        bound = f">= {minimum}" if inclusive else f"> {minimum}"
        none = " or None" if optional else ""
        raise ValueError(
            f"`NSGA2Search({name}={value!r})`: `{name}` must be {what} {bound}{none}. Got {value!r} instead."
        )


class NSGA2Search:
    """NSGA-II search of a trained single-path supernet under a hard FLOPs / parameter constraint (GreedyNAS).

    Objectives: maximise the supernet's top-1 accuracy of a path on the architecture split
    (``datamodule.val_dataloader()``, the paper's D_val, eval mode, no gradients) and minimise its FLOPs (or its
    parameter count). The constraint is hard, as in the paper ("if a path violates the pre-defined hardware
    constraint, we just ditch it for good"): a violating path is never evaluated nor kept, so every path returned
    satisfies it.

    * **Initial population** (``init="pool"``, GreedyNAS): the first ``population_size`` paths of
      ``module.candidate_pool`` (best, i.e. lowest loss, first) that satisfy the constraint; any shortfall (e.g. SPOS,
      whose pool is empty) is filled with random feasible paths. ``init="random"``: random feasible paths only, the
      paper's baseline (its Fig. 3). Random feasible paths are drawn uniformly per layer and rejected while they
      violate the constraint (``max_tries`` rounds); under a constraint so tight that rejection fails, the rest are
      random paths repaired by moving random layers to their cheapest choice.
    * **Each generation** [inferred from SPOS / mmrazor, PAPERS-SPEC 9.6]: ``num_mutations`` children by mutation
      (each layer resampled uniformly with probability ``mutation_prob``) and ``num_crossovers`` by uniform crossover
      (one child per pair of parents), parents drawn by NSGA-II's binary tournament; children that violate the
      constraint or duplicate a member of the population are discarded and redrawn (``max_tries`` rounds). The next
      population is chosen from parents and children by non-dominated sorting plus crowding distance (pymoo's NSGA-II).
    * **Evaluation**: each distinct path is evaluated once (cached). With ``bn_batches > 0`` the BatchNorm statistics
      are recomputed for each path on the first ``bn_batches`` batches of ``datamodule.train_dataloader()`` (train
      mode, cumulative average) before it is evaluated; not in the paper (SPOS does it), off by default. The module's
      weights, BatchNorm statistics and train/eval flags are restored afterwards.
    * **Result** (``run`` returns it and keeps it as ``result_``): ``"best"``, the highest-accuracy path among all
      evaluated (ties: cheaper, then earlier), as GreedyNAS retrains it; ``"pareto"``, the paths of all evaluated ones
      that no other evaluated path dominates in (accuracy, cost), sorted by cost (FLOPs unless
      ``objective="params"``); ``"records"``: ``{"path", "accuracy", "flops", "params", "generation"}`` per evaluated
      path, in evaluation order (generation 0 is the initial population); ``"history"``: per generation, the best
      and mean accuracy of the population, its size and the number of paths evaluated so far.

    ``generations`` counts the generations of children after the initial population, so the paper's setting
    evaluates at most 50 + 20 x 50 paths. NSGA-II stops early if a generation produces no new feasible child.

    Args:
        max_flops: hard FLOPs limit (multiply-accumulates, ``space.flops``; the paper's 330M / 322M on ImageNet,
            rescale for the CIFAR variant of the space). ``None``: no FLOPs constraint.
        max_params: hard limit on the parameter count (``space.params``). ``None``: no parameter constraint.
        objective: the cost minimised next to the accuracy. ``None``: ``"params"`` when only ``max_params`` is given,
            else ``"flops"`` (the paper).
        population_size: NSGA-II population size (paper: 50).
        generations: generations of children after the initial population (paper: 20).
        num_mutations: mutated children per generation (25, inferred from SPOS / mmrazor).
        num_crossovers: crossed-over children per generation (25, inferred from SPOS / mmrazor).
        mutation_prob: per-layer resampling probability of the mutation (0.1, SPOS / mmrazor).
        init: ``"pool"`` (GreedyNAS: the candidate pool's best feasible paths) or ``"random"`` (baseline).
        max_val_batches: evaluate each path on the first ``max_val_batches`` validation batches only; ``None``: the
            full architecture split, as the paper.
        bn_batches: training batches for BatchNorm recalibration before each evaluation, the same first batches
            of ``datamodule.train_dataloader()`` for every path (loaded once, kept on the device); 0 (default, the
            paper): use the supernet's running statistics.
        cache_batches: keep the validation batches on the module's device after the first pass, which saves
            reloading and transforming them for each path; costs their memory (fine for CIFAR, not for an ImageNet
            D_val).
        max_tries: bound on the rounds of redrawing paths that violate the constraint or are duplicates.
        seed: seeds the initial random paths, parent selection and variation (a ``numpy.random.Generator``).
            ``None`` reads ``PL_GLOBAL_SEED`` (set by ``lightning.seed_everything``), 0 if unset.
        progress: show a progress bar over the generations.
        output_path: if set, ``run`` also writes the result there as JSON (:func:`save_result`).

    Raises:
        ValueError: an argument is out of range.

    References:
        You et al., "GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet", CVPR 2020, Sec. 4.2 and 5.1
        (population 50, 20 generations, pool initialisation, hard constraint). Deb et al., "A fast and elitist
        multiobjective genetic algorithm: NSGA-II", IEEE TEC 2002. Guo et al., "Single Path One-Shot NAS with Uniform
        Sampling", 2019 (mutation, crossover and BatchNorm recalibration).

    Example:
        >>> search = NSGA2Search(max_flops=330e6, population_size=50, generations=20, progress=False)
        >>> search.objective, search.num_mutations + search.num_crossovers
        ('flops', 50)
        >>> NSGA2Search(population_size=1)
        Traceback (most recent call last):
        ...
        ValueError: `NSGA2Search(population_size=1)`: `population_size` must be an int >= 2. Got 1 instead.
    """

    def __init__(
        self,
        max_flops: float | None = None,
        max_params: float | None = None,
        objective: Objective | None = None,
        population_size: int = 50,
        generations: int = 20,
        num_mutations: int = 25,
        num_crossovers: int = 25,
        mutation_prob: float = 0.1,
        init: Init = "pool",
        max_val_batches: int | None = None,
        bn_batches: int = 0,
        cache_batches: bool = False,
        max_tries: int = 100,
        seed: int | None = None,
        progress: bool = True,
        output_path: str | None = None,
    ) -> None:
        _check_number("max_flops", max_flops, integer=False, minimum=0, inclusive=False, optional=True)
        _check_number("max_params", max_params, integer=False, minimum=0, inclusive=False, optional=True)
        if objective is not None and objective not in ("flops", "params"):
            raise ValueError(
                f"`NSGA2Search(objective={objective!r})`: `objective` must be 'flops', 'params' or None. "
                f"Got {objective!r} instead."
            )
        _check_number("population_size", population_size, integer=True, minimum=2)
        _check_number("generations", generations, integer=True, minimum=0)
        _check_number("num_mutations", num_mutations, integer=True, minimum=0)
        _check_number("num_crossovers", num_crossovers, integer=True, minimum=0)
        if generations > 0 and num_mutations + num_crossovers == 0:
            raise ValueError(
                f"`NSGA2Search(num_mutations=0, num_crossovers=0)`: `num_mutations + num_crossovers` must be >= 1 when "
                f"`generations` > 0 (here {generations}). Got 0 instead."
            )
        _check_number("mutation_prob", mutation_prob, integer=False, minimum=0, inclusive=False)
        if mutation_prob > 1:
            raise ValueError(
                f"`NSGA2Search(mutation_prob={mutation_prob!r})`: `mutation_prob` must be in (0, 1]. "
                f"Got {mutation_prob!r} instead."
            )
        if init not in ("pool", "random"):
            raise ValueError(f"`NSGA2Search(init={init!r})`: `init` must be 'pool' or 'random'. Got {init!r} instead.")
        _check_number("max_val_batches", max_val_batches, integer=True, minimum=1, optional=True)
        _check_number("bn_batches", bn_batches, integer=True, minimum=0)
        _check_number("max_tries", max_tries, integer=True, minimum=1)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"`NSGA2Search(seed={seed!r})`: `seed` must be an int or None. Got {seed!r} instead.")
        for name, flag in (("cache_batches", cache_batches), ("progress", progress)):
            if not isinstance(flag, bool):
                raise ValueError(f"`NSGA2Search({name}={flag!r})`: `{name}` must be a bool. Got {flag!r} instead.")
        if output_path is not None and not isinstance(output_path, (str, os.PathLike)):
            raise ValueError(
                f"`NSGA2Search(output_path={output_path!r})`: `output_path` must be a file path or None. "
                f"Got {output_path!r} instead."
            )
        self.max_flops = max_flops
        self.max_params = max_params
        self.objective: Objective = objective or ("params" if max_params is not None and max_flops is None else "flops")
        self.population_size = population_size
        self.generations = generations
        self.num_mutations = num_mutations
        self.num_crossovers = num_crossovers
        self.mutation_prob = float(mutation_prob)
        self.init: Init = init
        self.max_val_batches = max_val_batches
        self.bn_batches = bn_batches
        self.cache_batches = cache_batches
        self.max_tries = max_tries
        self.seed = seed
        self.progress = progress
        self.output_path = None if output_path is None else str(output_path)
        self.result_: dict[str, Any] | None = None

    @property
    def resolved_seed(self) -> int:
        """``seed``, or ``PL_GLOBAL_SEED`` when it is ``None`` (0 if unset)."""
        return self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))

    # -----------------------------------------------------------------------------------------------------------------
    # the search
    # -----------------------------------------------------------------------------------------------------------------
    def _check_feasible(self, codec: _Codec) -> None:
        """Fail early when no path of the space can meet a limit (below the cheapest path's cost)."""
        for name, metric, limit in (("max_flops", "flops", self.max_flops), ("max_params", "params", self.max_params)):
            if limit is None:
                continue
            x = codec.find_cheapest(metric)
            value = codec.cost(x, params=True)[0 if metric == "flops" else 1]
            if value > limit:
                raise ValueError(
                    f"`NSGA2Search({name}={limit!r})`: no path of the search space meets the constraint: `{name}` must "
                    f"be >= {value}, the {metric} of the cheapest path {str(codec.decode(x))!r}. Got {limit!r} instead."
                )

    def _initial_paths(self, module: Any, codec: _Codec) -> list[np.ndarray]:
        if self.init == "random":
            return []
        pool = getattr(module, "candidate_pool", None) or []
        rows: list[np.ndarray] = []
        seen: set[tuple[int, ...]] = set()
        for entry in pool:
            path = entry[1] if isinstance(entry, (tuple, list)) else entry
            x = codec.encode(path)
            if tuple(x) in seen or not codec.feasible(x):
                continue
            seen.add(tuple(x))
            rows.append(x)
            if len(rows) == self.population_size:
                break
        if not rows:
            warnings.warn(
                f"`NSGA2Search(init='pool')`: `{type(module).__name__}.candidate_pool` holds no path that satisfies "
                f"the constraint ({len(pool)} paths in the pool); the initial population is random.",
                UserWarning,
                stacklevel=3,
            )
        return rows

    def run(self, module: LightningModule | Any, datamodule: LightningDataModule | Any) -> dict[str, Any]:
        """Search the space of ``module`` with its supernet as the performance estimator.

        Args:
            module: a trained single-path module: ``module.space`` (a chain space with ``num_layers``,
                ``choices(i)``, ``flops(path)``, ``params(path)``), ``module.supernet(x, path) -> logits`` and, for
                ``init="pool"``, ``module.candidate_pool`` (``(loss, path)`` pairs, best first), e.g. a
                :class:`~lightning_nas.methods.GreedyNAS`. It is left unchanged.
            datamodule: a search data module; its ``val_dataloader()`` (the architecture split, eval transform)
                scores the paths, its ``train_dataloader()`` feeds BatchNorm recalibration. ``setup("fit")`` is
                called first (a :class:`~lightning_nas.datamodules.SearchDataModule` sets up only once). Run the
                search in one process: a data module attached to a multi-process (DDP) Trainer shards its splits.

        Returns:
            ``{"best": path, "pareto": [paths], "records": [...], "history": [...]}`` (see the class docstring).

        Raises:
            ValueError: a limit is below the cost of the cheapest path, no path satisfies both limits, or a pool path
                does not belong to the space.
            ImportError: pymoo is not installed.
        """
        _require_pymoo()
        space = module.space
        codec = _Codec(space, self.max_flops, self.max_params)
        self._check_feasible(codec)
        datamodule.setup("fit")
        supernet = module.supernet
        # the module that owns the BatchNorm layers: the supernet, or the module when `supernet` is a method of it
        owner = supernet if isinstance(supernet, nn.Module) else module
        if self.bn_batches > 0 and not isinstance(owner, nn.Module):
            raise ValueError(
                f"`NSGA2Search(bn_batches={self.bn_batches})`: BatchNorm recalibration needs `module.supernet` (or "
                f"`module`) to be an `nn.Module`. Got {type(supernet).__name__} instead."
            )
        device = _device(module)

        val_cache: list[tuple[Tensor, Tensor]] | None = None
        bn_inputs = self._bn_inputs(datamodule, device) if self.bn_batches > 0 else None

        def val_batches() -> Iterable[Any]:
            nonlocal val_cache
            if val_cache is not None:
                return val_cache
            loader = datamodule.val_dataloader()
            if not self.cache_batches:
                return loader
            val_cache = []
            for i, batch in enumerate(loader):
                if self.max_val_batches is not None and i >= self.max_val_batches:
                    break
                val_cache.append((batch[0].to(device), batch[1].to(device)))
            return val_cache

        records: list[dict[str, Any]] = []
        paths: list[Any] = []
        scores: dict[tuple[int, ...], tuple[float, float]] = {}
        generation = 0

        def evaluate(x: np.ndarray) -> tuple[float, float]:
            key = tuple(int(k) for k in x)
            if key not in scores:
                path = codec.decode(x)
                flops, params = codec.cost(x, params=True)
                if bn_inputs is not None:
                    recalibrate_batch_norm(owner, lambda inputs: supernet(inputs, path), bn_inputs)
                accuracy = supernet_accuracy(supernet, path, val_batches(), device, self.max_val_batches)
                paths.append(path)
                records.append(
                    {
                        "path": str(path),
                        "accuracy": accuracy,
                        "flops": flops,
                        "params": params,
                        "generation": generation,
                    }
                )
                scores[key] = (-accuracy, float(flops if self.objective == "flops" else params))
            return scores[key]

        initial = self._initial_paths(module, codec)
        problem, algorithm = _pymoo_parts(self, codec, initial, evaluate)
        algorithm.setup(problem, termination=("n_gen", self.generations + 1), verbose=False)
        history: list[dict[str, Any]] = []
        bar = tqdm(total=self.generations + 1, desc="NSGA-II", disable=not self.progress)
        preserved = preserved_batch_norm(owner) if isinstance(owner, nn.Module) else contextlib.nullcontext()
        with preserved, _eval_mode(module):
            while algorithm.has_next():
                algorithm.next()
                children = len(algorithm.off) if algorithm.off is not None else 0
                if generation > 0 and children == 0:
                    warnings.warn(
                        f"`NSGA2Search`: stopped after {generation - 1} of {self.generations} generations: no new path "
                        f"that satisfies the constraint could be produced in {self.max_tries} rounds.",
                        UserWarning,
                        stacklevel=2,
                    )
                    break
                accuracy = -np.asarray(algorithm.pop.get("F"))[:, 0]
                if generation == 0 and len(accuracy) < self.population_size:
                    warnings.warn(
                        f"`NSGA2Search(population_size={self.population_size})`: only {len(accuracy)} distinct paths "
                        f"that satisfy the constraint were found for the initial population.",
                        UserWarning,
                        stacklevel=2,
                    )
                history.append(
                    {
                        "generation": generation,
                        "best_accuracy": float(accuracy.max()),
                        "mean_accuracy": float(accuracy.mean()),
                        "population": int(len(accuracy)),
                        "children": children,
                        "evaluated": len(records),
                    }
                )
                bar.update(1)
                bar.set_postfix(best=f"{accuracy.max():.4f}", evaluated=len(records))
                generation += 1
        bar.close()
        self.result_ = self._result(records, paths, codec, history)
        if self.output_path is not None:
            save_result(self.result_, self.output_path)
        return self.result_

    def _bn_inputs(self, datamodule: Any, device: torch.device) -> list[Tensor]:
        inputs: list[Tensor] = []
        for i, batch in enumerate(_unpaired(datamodule.train_dataloader())):
            if i >= self.bn_batches:
                break
            inputs.append(_first_tensor(batch).to(device))
        if not inputs:
            raise ValueError(f"`NSGA2Search(bn_batches={self.bn_batches})`: the training loader yielded no batch.")
        return inputs

    def _result(
        self, records: list[dict[str, Any]], paths: list[Any], codec: _Codec, history: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        space = codec.space
        accuracy = np.array([r["accuracy"] for r in records], dtype=float)
        cost = np.array([r[self.objective] for r in records], dtype=float)
        order = np.lexsort((np.arange(len(records)), cost, -accuracy))  # accuracy down, cost up, earlier first
        front = NonDominatedSorting().do(np.stack([-accuracy, cost], axis=1), only_non_dominated_front=True)
        front = sorted((int(i) for i in front), key=lambda i: (cost[i], -accuracy[i], i))
        return {
            "best": paths[int(order[0])],
            "pareto": [paths[i] for i in front],
            "records": records,
            "history": history,
            "space": getattr(space, "name", None) or getattr(codec.path_type, "space", None),
            "objective": self.objective,
            "constraints": {"max_flops": self.max_flops, "max_params": self.max_params},
        }

    def run_from_checkpoint(
        self,
        ckpt_path: str,
        datamodule: LightningDataModule | Any,
        module_class: str = "GreedyNAS",
        map_location: str | None = None,
    ) -> dict[str, Any]:
        """Load a trained module with ``module_class.load_from_checkpoint(ckpt_path)`` and :meth:`run` the search.

        For a ``lightning-nas nsga2 --ckpt_path ... --data ...`` command: the module's hyperparameters (space and its
        options) are in the checkpoint, so only its class is needed.

        Args:
            ckpt_path: a checkpoint written while training a :class:`~lightning_nas.methods.GreedyNAS` or
                :class:`~lightning_nas.methods.SPOS` supernet (Lightning's ``ModelCheckpoint``).
            datamodule: as in :meth:`run`.
            module_class: a class name of :mod:`lightning_nas.methods` (``"GreedyNAS"``, ``"SPOS"``) or a dotted
                ``"package.module.Class"`` path to a LightningModule.
            map_location: passed to ``load_from_checkpoint`` (``None``: where the tensors were saved).
        """
        return self.run(load_module(ckpt_path, module_class, map_location), datamodule)


def load_module(ckpt_path: str, module_class: str = "GreedyNAS", map_location: str | None = None) -> LightningModule:
    """``module_class.load_from_checkpoint(ckpt_path, map_location=map_location)``, in eval mode.

    Args:
        ckpt_path: the checkpoint file.
        module_class: a class name of :mod:`lightning_nas.methods` or a dotted ``"package.module.Class"`` path.
        map_location: where to load the tensors (``None``: where they were saved).

    Raises:
        ValueError: ``module_class`` names no LightningModule.
    """
    from lightning import LightningModule

    if "." in module_class:
        module_name, _, name = module_class.rpartition(".")
    else:
        module_name, name = "lightning_nas.methods", module_class
    cls = getattr(importlib.import_module(module_name), name, None)
    if not (isinstance(cls, type) and issubclass(cls, LightningModule)):
        raise ValueError(
            f"`load_module(module_class={module_class!r})`: `module_class` must name a LightningModule class "
            f"(e.g. 'GreedyNAS', 'SPOS' or 'package.module.Class'). Got {module_class!r} instead."
        )
    return cls.load_from_checkpoint(ckpt_path, map_location=map_location).eval()


def _device(module: Any) -> torch.device:
    for tensor in module.parameters() if isinstance(module, nn.Module) else ():
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Put ``module`` in eval mode and restore every submodule's train/eval flag on exit."""
    flags = [(m, m.training) for m in module.modules()] if isinstance(module, nn.Module) else []
    if isinstance(module, nn.Module):
        module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)  # genotypes: their canonical string


def save_result(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a search result as JSON, paths as their canonical strings (:func:`load_result` reads it back).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_result({"best": "k3e3-id", "pareto": ["k3e3-id"], "records": [], "history": []}, tmp + "/r.json")
        ...     sorted(load_result(tmp + "/r.json"))
        ['best', 'history', 'pareto', 'records']
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(_jsonable(result), indent=2) + "\n")


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result written by :func:`save_result`.

    ``"best"`` and ``"pareto"`` are parsed into the genotype type of the registered search space named under
    ``"space"``; without a registered space they stay strings.
    """
    result = json.loads(Path(path).read_text())
    space = result.get("space")
    if isinstance(space, str):
        from lightning_nas.spaces.base import get_search_space_class

        try:
            parse: Callable[[str], Genotype] = get_search_space_class(space).genotype_type.from_string
        except ValueError:
            return result
        result["best"] = parse(result["best"])
        result["pareto"] = [parse(p) for p in result["pareto"]]
    return result
