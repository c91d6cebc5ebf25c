"""EcoNAS's hierarchical proxy evolution vs AmoebaNet's regularized evolution at an equal epoch budget.

A small CPU run on the NAS-Bench-201 space with real CIFAR-10 images (a per-class subset of ``../shared/data/cifar10``
unpacked into ``--workdir``): both searches train their children through ``train_child`` (a Lightning ``Trainer``) in
the same reduced setting ``c r s e`` (``e = 3E``). The hierarchical search runs first; its trained epochs become the
regularized search's ``max_epochs_budget``. For each, the script prints the top-5 networks found (validation accuracy
on the held-out split) with their NAS-Bench-201 ground truth (200-epoch CIFAR-10 test accuracy), looked up in
the NAS-Bench-201 table built into the package.

    OMP_NUM_THREADS=1 python benchmarks/econas_search.py                   # the default small run
    OMP_NUM_THREADS=1 python benchmarks/econas_search.py --seeds 0 1 2 --workers 2

With so few epochs and images the proxies are noisy; the run shows the pipeline and the budget accounting, not the
papers' figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.search import HierarchicalEvolution, ReducedSetting, RegularizedEvolution

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=None, help="folder for data, searches and checkpoints (default: a temp)")
    parser.add_argument("--train-per-class", type=int, default=200, help="CIFAR-10 training images per class")
    parser.add_argument("--channels", type=int, default=8, help="c: initial channels of the children")
    parser.add_argument("--resolution", type=int, default=8, help="r: input resolution")
    parser.add_argument("--fraction", type=float, default=1.0, help="s: sample ratio of the weight split")
    parser.add_argument("--stage-epochs", type=int, default=1, help="E (the setting trains 3E epochs)")
    parser.add_argument("--cells", type=int, default=1, help="NB201 cells per stage (N)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-init", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--draws", type=int, nargs=3, default=(3, 2, 2))
    parser.add_argument("--promote", type=int, nargs=2, default=(3, 2))
    parser.add_argument("--dead-age", type=int, default=10)
    parser.add_argument("--population", type=int, default=10, help="regularized evolution: P")
    parser.add_argument("--sample", type=int, default=3, help="regularized evolution: S")
    parser.add_argument("--parallel", type=int, default=7, help="regularized evolution: children per step")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=0, help="processes (0: train in this process)")
    return parser.parse_args()


def unpack(root: Path, per_class: int) -> Path:
    if not (root / "train").is_dir():
        subprocess.run(
            [
                sys.executable,
                str(SHARED / "cifar10" / "unpack.py"),
                "--root",
                str(root),
                "--train-per-class",
                str(per_class),
                "--test-per-class",
                "1",
            ],
            check=True,
            capture_output=True,
        )
    return root


def report(name: str, search, table: NASBench201Table, seconds: float) -> list[float]:
    history = search.history
    print(f"\n{name}: {len(history)} networks, {search.epochs_used} epochs trained, {seconds:.0f} s")
    found = search.lookup(table, "cifar10", k=5)
    for rank, record in enumerate(found, 1):
        print(
            f"  #{rank} id {record['id']:3d}  stage {record['stage']}  val {record['fitness']:5.1f} %  "
            f"NB201 test {record['test_accuracy']:5.2f} %  {record['genotype']}"
        )
    accuracies = [record["test_accuracy"] for record in found]
    print(f"  top-5 NB201 test accuracy: mean {statistics.mean(accuracies):.2f} %, best {max(accuracies):.2f} %")
    return accuracies


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # Lightning's own deprecation, once per fit
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="econas_search_"))
    table = NASBench201Table.default()
    all_cells = [table.test_accuracy(g) for g in table]
    best_cell, best_accuracy = table.best("cifar10")
    print(
        f"NAS-Bench-201 CIFAR-10 test accuracy: mean over the {len(table)} cells {statistics.mean(all_cells):.2f} %, "
        f"best {best_accuracy:.2f} %"
    )
    root = unpack(workdir / "cifar10", args.train_per_class)
    setting = ReducedSetting(c=args.channels, r=args.resolution, s=args.fraction, e=3 * args.stage_epochs)
    common = {
        "data": {
            "class_path": "lightning_nas.datamodules.ImageFolderSearchDataModule",
            "init_args": {
                "root": str(root),
                "batch_size": args.batch_size,
                "cache": True,
                "mean": CIFAR_MEAN,
                "std": CIFAR_STD,
            },
        },
        "search_space": "nasbench201",
        "setting": setting,
        "module": {"space_options": {"N": args.cells}, "num_classes": 10},
        "trainer": {"accelerator": "cpu", "logger": False},
        "progress": False,
    }
    print(f"setting {setting}, {args.train_per_class * 10} CIFAR-10 images (10 % held out for validation)")
    summary: dict[str, list[float]] = {"hierarchical": [], "regularized": []}
    for seed in args.seeds:
        executor: Executor | None = ProcessPoolExecutor(args.workers) if args.workers > 0 else None
        try:
            start = time.perf_counter()
            econas = HierarchicalEvolution(
                str(workdir / f"hierarchical_seed{seed}"),
                **common,
                stage_epochs=args.stage_epochs,
                num_init=args.num_init,
                cycles=args.cycles,
                draws=tuple(args.draws),
                promote=tuple(args.promote),
                dead_age=args.dead_age,
                seed=seed,
                executor=executor,
            )
            econas.run()
            summary["hierarchical"] += report(
                f"seed {seed} hierarchical (EcoNAS)", econas, table, time.perf_counter() - start
            )
            start = time.perf_counter()
            amoeba = RegularizedEvolution(
                str(workdir / f"regularized_seed{seed}"),
                **common,
                population_size=args.population,
                sample_size=args.sample,
                cycles=max(0, econas.epochs_used // setting.e - args.population),
                batch_size=args.parallel,
                max_epochs_budget=econas.epochs_used,
                seed=seed,
                executor=executor,
            )
            amoeba.run()
            summary["regularized"] += report(
                f"seed {seed} regularized (AmoebaNet)", amoeba, table, time.perf_counter() - start
            )
        finally:
            if executor is not None:
                executor.shutdown()
    print(f"\nover {len(args.seeds)} seed(s), NB201 CIFAR-10 test accuracy of the top-5 (equal epoch budget):")
    for name, accuracies in summary.items():
        print(f"  {name:12s} mean {statistics.mean(accuracies):.2f} %  best {max(accuracies):.2f} %")
    print(f"(best cell {best_cell}: {best_accuracy:.2f} %)")


if __name__ == "__main__":
    main()
