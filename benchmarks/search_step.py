"""Speed and memory of a DARTS search step on the NAS-Bench-201 supernet, against a per-op lower bound.

Prints, for the supernet (default C=16, N=5, batch 64, 32x32 inputs, 10 classes):
* ms per search step for first- and second-order DARTS (one step = architecture step + weight step),
  train-split images per second, and peak memory (CUDA allocator peak on a GPU, process peak RSS on a CPU);
* a lower bound: every candidate operation of the supernet run once on its own, forward and backward, on the
  input it sees inside the supernet, summed; and the ratio of the measured time per forward/backward pass of the
  supernet to that bound (first order makes 2 passes per step, second order 5: weight step, virtual step,
  validation at w', and the two finite-difference passes).

    python benchmarks/search_step.py                 # CPU, a few steps
    python benchmarks/search_step.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from lightning import Callback, Trainer, seed_everything
from torch import nn

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS

PASSES_PER_STEP = {1: 2, 2: 5}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepTimer(Callback):
    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device, self.times = warmup, device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        _sync(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.device)
        if batch_idx >= self.warmup:
            self.times.append(time.perf_counter() - self.start)


def candidate_ops(supernet: nn.Module) -> list[nn.Module]:
    """The candidate operation modules of every mixed edge (modules listed in a MixedOp's ``ops``)."""
    return [op for module in supernet.modules() if type(module).__name__.endswith("MixedOp") for op in module.ops]


def lower_bound_ms(model: DARTS, x: torch.Tensor, device: str, repeats: int) -> float:
    """Sum over candidate ops of one forward+backward on their own supernet input."""
    ops = candidate_ops(model.supernet)
    shapes: dict[int, torch.Size] = {}

    def record(module: nn.Module, args: tuple) -> None:
        shapes.setdefault(id(module), args[0].shape)

    hooks = [op.register_forward_pre_hook(record) for op in ops]
    with torch.no_grad():
        model.supernet(x)
    for h in hooks:
        h.remove()
    total = 0.0
    for op in ops:
        if id(op) not in shapes:  # an op the supernet skips (NAS-Bench-201's `none` contributes nothing)
            continue
        inp = torch.randn(shapes[id(op)], device=device, requires_grad=True)
        for i in range(repeats + 1):
            _sync(device)
            start = time.perf_counter()
            out = op(inp)
            if out.requires_grad:
                out.sum().backward()
            _sync(device)
            if i > 0:  # first call is warm-up
                total += (time.perf_counter() - start) / repeats
    return 1000 * total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--N", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    n = 2 * args.batch_size * (args.steps + args.warmup)
    x = torch.rand(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))
    print(f"device={args.device} C={args.C} N={args.N} batch={args.batch_size} steps={args.steps}")
    bound = None
    for order in (1, 2):
        seed_everything(0)
        model = DARTS(space_options={"C": args.C, "N": args.N}, num_classes=10, order=order)
        if bound is None:
            model.to(args.device)
            bound = lower_bound_ms(model, x[: args.batch_size].to(args.device), args.device, repeats=3)
        timer = StepTimer(args.warmup, args.device)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer = Trainer(
            accelerator="gpu" if args.device == "cuda" else "cpu",
            devices=1,
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            callbacks=[timer],
        )
        datamodule = ArraySearchDataModule(x, y, batch_size=args.batch_size, augment=False)
        trainer.fit(model, datamodule)
        ms = 1000 * sum(timer.times) / len(timer.times)
        if args.device == "cuda":
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB (CUDA peak allocated)"
        else:
            peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB (process peak RSS)"
        per_pass = ms / PASSES_PER_STEP[order]
        print(
            f"order {order}: {ms:.1f} ms/step, {1000 * args.batch_size / ms:.1f} train images/s, peak {peak}, "
            f"{per_pass:.1f} ms per fwd+bwd pass = {per_pass / bound:.2f}x the per-op lower bound"
        )
    print(f"lower bound (every candidate op once, fwd+bwd, on its own): {bound:.1f} ms")


if __name__ == "__main__":
    main()
