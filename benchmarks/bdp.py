"""BDP (VoEPruning) on a small real CIFAR-10 NAS-Bench-201 search: overhead, remaining data, time, ground truth.

Runs first-order DARTS on the NAS-Bench-201 supernet twice from the same seed, on an ImageFolder subset of the real
CIFAR-10 images (``../shared/data/cifar10/unpack.py``; a random 50/50 weight/architecture split, since an ImageFolder
lists the images class by class), without and with ``VoEPruning`` (defaults: T = 2, 10 % / 20 %, Low/High, class
balance), both with ``SearchCost``. Prints

* the callbacks' overhead: the time spent in VoEPruning's (and SearchCost's) hooks, recording included, as a fraction
  of the time of the training steps (target <= 2 %), and VoEPruning's hook times on a CIFAR-10-sized pool (50,000
  ids, 391 paired batches per epoch, a module without a network) projected onto a full epoch;
* the remaining data per epoch (weight / architecture split) of the BDP run;
* the search time (training steps; the supernet validation loop is off, it plays no part in the search) and the
  wall time of ``fit`` of both runs, and SearchCost's effective data fraction;
* the looked-up NAS-Bench-201 CIFAR-10 test accuracy (200 epochs) of both final genotypes.

    python benchmarks/bdp.py                                   # 50 images per class, C=4, N=1, 10 epochs, CPU
    python benchmarks/bdp.py --train-per-class 250 --epochs 20 --device cuda
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning import Callback, LightningModule, Trainer, seed_everything
from torch import nn

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.callbacks import SearchCost, VoEPruning
from lightning_nas.datamodules import ArraySearchDataModule, ImageFolderSearchDataModule
from lightning_nas.methods import DARTS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HOOKS = ("on_train_epoch_start", "on_train_batch_end", "on_train_epoch_end", "on_fit_start")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(cls: type[Callback]) -> type[Callback]:
    """A subclass of a callback that adds up the wall time spent in its training hooks (``hook_times[name]``)."""

    def wrap(name: str):
        def hook(self, trainer, *args, **kwargs):
            _sync(self.device)
            start = time.perf_counter()
            getattr(super(sub, self), name)(trainer, *args, **kwargs)
            _sync(self.device)
            self.hook_times[name] = self.hook_times.get(name, 0.0) + time.perf_counter() - start

        return hook

    def init(self, *args, device: str = "cpu", **kwargs):
        cls.__init__(self, *args, **kwargs)
        self.device, self.hook_times = device, {}

    sub = type(f"Timed{cls.__name__}", (cls,), {"__init__": init, **{name: wrap(name) for name in HOOKS}})
    sub.hook_time = property(lambda self: sum(self.hook_times.values()))
    return sub


class ScriptedSearch(LightningModule):
    """A search module without a network: random per-sample errors for both splits, a trivial loss."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        outputs = {"loss": (self.weight - 1).pow(2)}
        for split in ("train", "val"):
            ids = batch[split][2]
            outputs[split] = {"ids": ids, "el2n": torch.rand(len(ids), device=ids.device)}
        return outputs

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def full_scale_hook_cost(pool: int, batch_size: int) -> dict[str, float]:
    """VoEPruning's hook times on a CIFAR-10-sized pool (two epochs, one pruning), with no network to train."""
    seed_everything(0)
    datamodule = ArraySearchDataModule(
        torch.zeros(pool, 1, 1, 1), torch.arange(pool) % 10, batch_size=batch_size, augment=False, seed=0
    )
    pruning = timed(VoEPruning)()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            accelerator="cpu",
            max_epochs=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            callbacks=[pruning],
            default_root_dir=tmp,
        )
        trainer.fit(ScriptedSearch(), datamodule)
    steps = 2 * math.ceil(pool // 2 / batch_size)
    return {
        "steps_per_epoch": steps / 2,
        "batch_end_us": 1e6 * pruning.hook_times["on_train_batch_end"] / steps,
        "epoch_end_ms": 1e3 * pruning.hook_times["on_train_epoch_end"] / 2,
    }


class StepTimer(Callback):
    """Time of each training step (placed first: its batch-end hook runs before the other callbacks')."""

    def __init__(self, device: str) -> None:
        self.device, self.total, self.cpu, self.steps, self.remaining = device, 0.0, 0.0, 0, []

    def on_train_epoch_start(self, trainer, pl_module):
        dm = trainer.datamodule
        self.remaining.append((len(dm.active_ids("train")), len(dm.active_ids("val"))))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.device)
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.device)
        self.total += time.perf_counter() - self.start
        self.cpu += time.process_time() - self.cpu_start
        self.steps += 1


def search(args: argparse.Namespace, root: str, bdp: bool) -> dict:
    seed_everything(args.seed)
    model = DARTS(search_space="nasbench201", space_options={"C": args.C, "N": args.N}, num_classes=10)
    datamodule = ImageFolderSearchDataModule(
        root=root, batch_size=args.batch_size, split="random", cache=True, seed=args.seed
    )
    timer = StepTimer(args.device)
    cost = timed(SearchCost)(device=args.device)
    callbacks: list[Callback] = [timer, cost]
    pruning = None
    if bdp:
        pruning = timed(VoEPruning)(
            interval=args.interval, train_ratio=args.train_ratio, val_ratio=args.val_ratio, device=args.device
        )
        callbacks.append(pruning)
    trainer = Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=callbacks,
        default_root_dir=args.out,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(model, datamodule)
    fit_time, fit_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "genotype": str(model.genotype()),
        "fit_time": fit_time,
        "fit_cpu": fit_cpu,
        "step_time": timer.total,
        "step_cpu": timer.cpu,
        "steps": timer.steps,
        "remaining": timer.remaining,
        "cost": cost.summary(),
        "cost_hooks": cost.hook_time,
        "pruning_hooks": pruning.hook_time if pruning is not None else 0.0,
        "pruning_hook_times": pruning.hook_times if pruning is not None else {},
        "pool": datamodule.pool_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--train-per-class", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--C", type=int, default=4)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--train-ratio", type=float, default=0.1)
    parser.add_argument("--val-ratio", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-pool", type=int, default=50000, help="pool size of the hook-cost measurement")
    parser.add_argument("--table", default=None, help="a NAS-Bench-201 CSV export (default: the built-in table)")
    parser.add_argument("--root", default=None, help="an unpacked ImageFolder tree; default: unpack into a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        args.out = tmp
        root = args.root
        if root is None:
            root = str(Path(tmp) / "cifar10")
            subprocess.run(
                [
                    sys.executable,
                    str(SHARED / "cifar10" / "unpack.py"),
                    "--root",
                    root,
                    "--train-per-class",
                    str(args.train_per_class),
                    "--test-per-class",
                    "1",
                ],
                check=True,
                capture_output=True,
            )
        print(
            f"device={args.device} torch threads={torch.get_num_threads()} NAS-Bench-201 C={args.C} N={args.N} "
            f"batch={args.batch_size} epochs={args.epochs} CIFAR-10 {args.train_per_class}/class "
            f"({10 * args.train_per_class} images, random 50/50 split); BDP T={args.interval} "
            f"p_t={args.train_ratio} p_v={args.val_ratio} Low/High, class balance on"
        )
        runs = {"DARTS": search(args, root, bdp=False), "DARTS + BDP": search(args, root, bdp=True)}

    table = NASBench201Table.from_csv(args.table) if args.table else NASBench201Table.default()
    bdp = runs["DARTS + BDP"]
    print("\nremaining data at the start of each epoch (BDP run), weight / architecture split:")
    for epoch, (train, val) in enumerate(bdp["remaining"]):
        print(f"  epoch {epoch:2d}: {train:5d} / {val:5d}  ({(train + val) / bdp['pool']:.1%} of the pool)")
    print("\noverhead (hook time / training-step time):")
    print(
        f"  VoEPruning: {1000 * bdp['pruning_hooks']:.1f} ms over {bdp['steps']} steps of {bdp['step_time']:.1f} s "
        f"= {bdp['pruning_hooks'] / bdp['step_time']:.3%}"
    )
    hooks = bdp["pruning_hook_times"]
    print(
        f"    of which per step (recording): {1e6 * hooks['on_train_batch_end'] / bdp['steps']:.0f} us, "
        f"per epoch end (gather, VoE, pruning every {args.interval}, logging): "
        f"{1e3 * hooks['on_train_epoch_end'] / args.epochs:.1f} ms"
    )
    print(
        f"  SearchCost: {1000 * bdp['cost_hooks']:.1f} ms = {bdp['cost_hooks'] / bdp['step_time']:.3%} "
        f"(baseline run: {runs['DARTS']['cost_hooks'] / runs['DARTS']['step_time']:.3%})"
    )
    full = full_scale_hook_cost(args.full_pool, args.batch_size)
    step = bdp["step_time"] / bdp["steps"]
    projected = (full["steps_per_epoch"] * full["batch_end_us"] * 1e-6 + full["epoch_end_ms"] * 1e-3) / (
        full["steps_per_epoch"] * step
    )
    print(
        f"  VoEPruning at CIFAR-10 scale (pool {args.full_pool}, {full['steps_per_epoch']:.0f} paired batches of "
        f"{args.batch_size} per epoch, no network): {full['batch_end_us']:.0f} us per step, "
        f"{full['epoch_end_ms']:.1f} ms per epoch end; with this run's step time ({1e3 * step:.0f} ms) that is "
        f"{projected:.3%} of an epoch, and {projected * step / 0.05:.3%} at a 50 ms GPU step"
    )
    print(
        "\nrun            steps  steps wall / CPU time     fit wall / CPU time   data fraction  passes  NB201 C10 test"
    )
    for name, run in runs.items():
        accuracy = table.test_accuracy(run["genotype"], dataset="cifar10")
        print(
            f"{name:13s}  {run['steps']:5d}  {run['step_time']:11.1f} s / {run['step_cpu']:6.1f} s  "
            f"{run['fit_time']:6.1f} s / {run['fit_cpu']:6.1f} s  {run['cost']['cost/data_fraction']:13.3f}  "
            f"{run['cost']['cost/optimization']:6.0f}  {accuracy:12.2f} %"
        )
    for name, run in runs.items():
        print(f"{name} genotype: {run['genotype']}")
    base = runs["DARTS"]
    print(
        f"\nBDP / DARTS search time (training steps): {bdp['step_time'] / base['step_time']:.3f} wall, "
        f"{bdp['step_cpu'] / base['step_cpu']:.3f} CPU; fit: {bdp['fit_time'] / base['fit_time']:.3f} wall, "
        f"{bdp['fit_cpu'] / base['fit_cpu']:.3f} CPU (CPU time is less sensitive to other processes on the machine)"
    )


if __name__ == "__main__":
    main()
