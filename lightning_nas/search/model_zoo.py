"""EcoNAS's model zoo: random architectures trained under a reduced setting, to judge the setting's rank consistency.

EcoNAS (Section 3) judges a reduced setting by how well it keeps the ranking of a *model zoo* of random
architectures (50 in the paper): train every model under the reduced setting and under the original one, then
compare the two rankings with Spearman's ρ (:func:`~lightning_nas.benchmarks.rank_consistency`). Here the zoo is
drawn by :func:`random_architectures` (EcoNAS cells, DARTS cells or NAS-Bench-201 cells), trained under a setting by
:func:`train_model_zoo` (each model a :class:`~lightning_nas.search.ChildJob` run by
:func:`~lightning_nas.search.train_child`, through any :class:`concurrent.futures.Executor`), and compared with
another setting's accuracies or, on NAS-Bench-201, with the benchmark's 200-epoch test accuracies as the original
setting (:func:`~lightning_nas.benchmarks.table_accuracies`, no retraining).

Example:
    >>> from lightning_nas.benchmarks import NASBench201Table, rank_consistency, table_accuracies
    >>> from lightning_nas.spaces import NASBench201Genotype
    >>> zoo = random_architectures("nasbench201", 3, seed=0)
    >>> table = NASBench201Table({NASBench201Genotype.from_string(g): {"cifar10": 90.0 - i, "cifar100": 0.0,
    ...                           "imagenet16-120": 0.0} for i, g in enumerate(zoo)})
    >>> round(rank_consistency(table_accuracies(zoo, table), [70.0, 65.0, 60.0])["spearman"], 4)
    1.0

References:
    Dongzhan Zhou et al. EcoNAS: Finding Proxies for Economical Neural Architecture Search. CVPR 2020 (Section 3,
    Eq. 1, Appendix A2 and A3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from lightning_nas.search.children import ChildJob, ChildResult, train_child
from lightning_nas.search.genotypes import MUTABLE_SPACES, MutableSpace, random_genotype
from lightning_nas.search.reduced import ReducedSetting

__all__ = ["random_architectures", "train_model_zoo"]

Reduction = Literal["last", "best"]


def random_architectures(search_space: MutableSpace, k: int, seed: int = 0) -> list[str]:
    """``k`` distinct random architectures of a space, as canonical strings (the model zoo).

    Drawn with :func:`~lightning_nas.search.random_genotype` from ``numpy.random.default_rng(seed)``, duplicates
    redrawn (EcoNAS's zoo holds 50 different networks).

    Args:
        search_space: ``"econas"``, ``"darts"`` or ``"nasbench201"``.
        k: number of architectures, >= 1 (at most 15,625 on NAS-Bench-201).
        seed: seeds the draws.

    Raises:
        ValueError: if ``k`` is not a positive int or exceeds the space.

    Example:
        >>> zoo = random_architectures("econas", 4, seed=0)
        >>> len(set(zoo)), zoo == random_architectures("econas", 4, seed=0)
        (4, True)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`random_architectures(k={k!r})`: `k` must be a positive int. Got {k!r} instead.")
    if search_space == "nasbench201" and k > 5**6:
        raise ValueError(f"`random_architectures(k={k})`: NAS-Bench-201 holds 15,625 cells. Got {k} instead.")
    if search_space not in MUTABLE_SPACES:
        raise ValueError(
            f"`random_architectures(search_space={search_space!r})`: `search_space` must be one of "
            f"{list(MUTABLE_SPACES)}. Got {search_space!r} instead."
        )
    rng = np.random.default_rng(seed)
    zoo: dict[str, None] = {}
    while len(zoo) < k:
        zoo.setdefault(str(random_genotype(search_space, rng)))
    return list(zoo)


def train_model_zoo(
    genotypes: Sequence[str],
    setting: ReducedSetting | str,
    *,
    search_space: MutableSpace,
    data: Mapping[str, Any],
    workdir: str,
    module: Mapping[str, Any] | None = None,
    trainer: Mapping[str, Any] | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    reduction: Reduction = "last",
    progress: bool = True,
) -> list[float]:
    """Train every architecture of the zoo under ``setting`` and return their validation accuracies (percent).

    Each model is one :class:`~lightning_nas.search.ChildJob` for epochs ``[0, setting.e)`` in
    ``workdir/<setting>/model_<i>``, all with the same ``seed`` and the same data (the held-out split, subset, order
    and augmentation are shared, so the models differ only by their architecture).

    Args:
        genotypes: the zoo (canonical strings, e.g. from :func:`random_architectures`).
        setting: the reduced setting (or its name).
        search_space: the zoo's space.
        data: the base search data module, ``{"class_path": ..., "init_args": {...}}`` (see
            :class:`~lightning_nas.search.ChildJob`).
        workdir: where the models' checkpoints and logs go.
        module: extra :class:`~lightning_nas.methods.ArchitectureTraining` arguments.
        trainer: extra ``Trainer`` arguments.
        seed: every model's seed.
        executor: runs :func:`~lightning_nas.search.train_child` on the jobs (e.g. a ``ProcessPoolExecutor``);
            ``None`` trains them one after the other in this process.
        reduction: a model's accuracy is its accuracy after the ``"last"`` epoch (EcoNAS's final accuracy) or its
            ``"best"`` epoch.
        progress: show a progress bar.

    Returns:
        One accuracy per genotype, in order.

    Raises:
        ValueError: if the zoo is empty or ``reduction`` is unknown (and see :class:`~lightning_nas.search.ChildJob`).
    """
    if len(genotypes) == 0:
        raise ValueError("`train_model_zoo(genotypes=[])`: the zoo must hold at least one architecture.")
    if reduction not in ("last", "best"):
        raise ValueError(f"`train_model_zoo(reduction={reduction!r})`: must be 'last' or 'best'. Got {reduction!r}.")
    setting = ReducedSetting.coerce(setting)
    folder = os.path.join(workdir, setting.name or f"c{setting.c}_r{setting.r}_s{setting.s:g}_e{setting.e}")
    jobs = [
        ChildJob(
            child_id=i,
            genotype=str(genotype),
            search_space=search_space,
            setting=setting,
            start_epoch=0,
            stop_epoch=setting.e,
            workdir=os.path.join(folder, f"model_{i:04d}"),
            seed=seed,
            data=dict(data),
            module=dict(module or {}),
            trainer=dict(trainer or {}),
        )
        for i, genotype in enumerate(genotypes)
    ]
    bar = tqdm(total=len(jobs), desc=f"model zoo {setting}", disable=not progress)
    results: list[ChildResult] = []
    if executor is None:
        for job in jobs:
            results.append(train_child(job))
            bar.update()
    else:
        futures = [executor.submit(train_child, job) for job in jobs]
        for future in futures:
            results.append(future.result())
            bar.update()
    bar.close()
    pick = (lambda accs: accs[-1]) if reduction == "last" else max
    return [float(pick(result.val_accuracies)) for result in results]
