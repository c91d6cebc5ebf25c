"""Rank consistency of EcoNAS reduced settings on NAS-Bench-201, against the benchmark's 200-epoch accuracies.

Draws a model zoo of ``K`` random NAS-Bench-201 cells, trains every cell under a few reduced settings on a small real
CIFAR-10 subset (``../shared/data/cifar10/unpack.py``; ``--train-per-class`` images per class, of which
``--val-fraction`` is held out as the validation split the children are scored on, as EcoNAS holds out 5k), and
compares each setting's ranking with the NAS-Bench-201 CIFAR-10 test accuracies (200 epochs, the "original setting",
looked up, not retrained). Prints, per setting: Spearman's ρ (plain and EcoNAS's tolerant variant, b = 0.15
points), Kendall's τ, the mean and spread of the validation accuracies and the training time; then the ρ between the
settings. The network is NAS-Bench-201's skeleton with ``--cells`` cells per stage (5 in the benchmark) and ``C = c``.

CPU-sized defaults (about 8 minutes on one thread): K = 16 cells, 250 images per class, one cell per stage, and the
settings c4r4s0e3 (8 channels, 8 x 8), c4r2s0e3 (16 x 16) and c4r4s1e6 (half the samples, twice the epochs: the
same number of iterations as c4r4s0e3).

    OMP_NUM_THREADS=1 python benchmarks/econas_proxies.py
    python benchmarks/econas_proxies.py --k 50 --train-per-class 5000 --cells 5 --settings c4r4s0e60 c0r0s0e60 \\
        --device cuda --workers 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from lightning_nas.benchmarks import NASBench201Table, rank_consistency, table_accuracies
from lightning_nas.reproduce.data import find_data, pack_arrays
from lightning_nas.search import ReducedSetting, random_architectures, train_model_zoo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_cifar10(train_per_class: int, folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``train_per_class`` training images of each class, as uint8 ``(N, 3, 32, 32)`` and int64 labels."""
    source = find_data("cifar10", SHARED)
    if source is None or source.kind != "pack":
        raise FileNotFoundError(f"the CIFAR-10 pack was not found at {SHARED}")
    return pack_arrays(source, train_per_class, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=16, help="architectures in the model zoo")
    parser.add_argument("--settings", nargs="+", default=["c4r4s0e3", "c4r2s0e3", "c4r4s1e6"])
    parser.add_argument("--train-per-class", type=int, default=250)
    parser.add_argument("--val-fraction", type=float, default=0.2, help="held-out share the children are scored on")
    parser.add_argument("--cells", type=int, default=1, help="NAS-Bench-201 cells per stage (N)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0, help="> 0: train the zoo on a process pool")
    parser.add_argument("--table", default=None, help="a NAS-Bench-201 CSV export (default: the built-in table)")
    args = parser.parse_args()

    settings = [ReducedSetting.parse(name) for name in args.settings]
    table = NASBench201Table.from_csv(args.table) if args.table else NASBench201Table.default()
    zoo = random_architectures("nasbench201", args.k, seed=args.seed)
    reference = table_accuracies(zoo, table, "cifar10")
    with tempfile.TemporaryDirectory() as tmp:
        x, y = load_cifar10(args.train_per_class, tmp)
        data = {
            "class_path": "lightning_nas.datamodules.ArraySearchDataModule",
            "init_args": {
                "x_train": x,
                "y_train": y,
                "batch_size": args.batch_size,
                "val_fraction": args.val_fraction,
                "crop_padding": 4,
            },
        }
        print(
            f"model zoo: {args.k} random NAS-Bench-201 cells (CIFAR-10 200-epoch test accuracy {min(reference):.1f} .. "
            f"{max(reference):.1f}); data: {len(y)} real CIFAR-10 images, {args.val_fraction:.0%} held out; "
            f"N={args.cells}, batch {args.batch_size}, lr {args.lr}, device {args.device}, torch threads "
            f"{torch.get_num_threads()}"
        )
        executor = ProcessPoolExecutor(args.workers) if args.workers > 0 else None
        results = {}
        try:
            for setting in settings:
                start = time.perf_counter()
                accuracies = train_model_zoo(
                    zoo,
                    setting,
                    search_space="nasbench201",
                    data=data,
                    workdir=tmp,
                    module={"space_options": {"N": args.cells}, "lr": args.lr},
                    trainer={"accelerator": args.device, "devices": 1},
                    seed=args.seed,
                    executor=executor,
                    progress=False,
                )
                results[str(setting)] = (accuracies, time.perf_counter() - start)
        finally:
            if executor is not None:
                executor.shutdown()

    print(f"\n{'setting':<12} {'rho_sp':>7} {'rho_sp,b':>8} {'tau':>7} {'mean acc':>9} {'min..max':>13} {'time':>8}")
    for name, (accuracies, seconds) in results.items():
        plain = rank_consistency(reference, accuracies)
        tolerant = rank_consistency(reference, accuracies, tolerance=0.15)
        print(
            f"{name:<12} {plain['spearman']:7.3f} {tolerant['spearman']:8.3f} {plain['kendall']:7.3f} "
            f"{np.mean(accuracies):8.2f}% {min(accuracies):6.1f}..{max(accuracies):<5.1f} {seconds:7.1f}s"
        )
    names = list(results)
    if len(names) > 1:
        print("\nrho_sp between settings:")
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                print(f"  {a} vs {b}: {rank_consistency(results[a][0], results[b][0])['spearman']:.3f}")


if __name__ == "__main__":
    main()
